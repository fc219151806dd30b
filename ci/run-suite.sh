#!/usr/bin/env bash
# Run the conformance suite against a server you start with a command:
#
#   ci/run-suite.sh PROFILE [--report-dir DIR] [--strict] [--mock-as-config FILE] -- SERVER COMMAND...
#
# 1. starts mock-as on the host:port of the profile's [mock_as] url (embedded default config, or
#    --mock-as-config), and waits for it;
# 2. starts SERVER COMMAND with these variables exported, so the command can point the server
#    at mock-as:  MOCK_AS_URL, MOCK_AS_ISSUER (the issuer of [mock_as] mcp_server_id),
#    MOCK_AS_WELL_KNOWN, MOCK_AS_JWKS_URL, MOCK_AS_PROJECT_ID, MCP_SERVER_URL, MCP_RESOURCE;
# 3. waits (≤ 60 s) until the profile's [server] url answers HTTP at all;
# 4. runs `cargo test -p harness --test conformance -- --profile PROFILE --report-dir DIR`;
# 5. stops both by process id, whatever happened. Exits with the suite's status.
#
# Example (the reference server):
#   ci/run-suite.sh fixtures/profiles/reference.toml -- \
#     cargo run -q -p reference-server -- --issuer '$MOCK_AS_ISSUER'
# (the command runs under `sh -c`, so $VARIABLES in single quotes expand there).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
PROFILE="$1"; shift
REPORT_DIR=""; STRICT=""; MOCK_CONFIG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --report-dir) REPORT_DIR="$2"; shift 2 ;;
    --strict) STRICT="--strict"; shift ;;
    --mock-as-config) MOCK_CONFIG="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "run-suite: unknown option $1" >&2; usage ;;
  esac
done
[ $# -ge 1 ] || { echo "run-suite: give the server command after --" >&2; usage; }
[ -f "$PROFILE" ] || { echo "run-suite: no profile at $PROFILE" >&2; exit 2; }
PROFILE="$(realpath "$PROFILE")"
SERVER_CMD="$*"

# Read the profile (Python 3.11 has tomllib).
eval "$(python3 - "$PROFILE" <<'PY'
import sys, tomllib, shlex, urllib.parse
p = tomllib.load(open(sys.argv[1], "rb"))
m, s = p["mock_as"], p["server"]
u = urllib.parse.urlsplit(m["url"])
base = m["url"].rstrip("/")
iss = f"{base}/v1/apps/agentic/{m['project_id']}/{m['mcp_server_id']}"
out = {
  "MOCK_AS_URL": base, "MOCK_AS_HOST": u.hostname or "127.0.0.1", "MOCK_AS_PORT": str(u.port or 80),
  "MOCK_AS_ISSUER": iss, "MOCK_AS_WELL_KNOWN": iss + "/.well-known/openid-configuration",
  "MOCK_AS_JWKS_URL": f"{base}/{m['project_id']}/.well-known/jwks.json", "MOCK_AS_PROJECT_ID": m["project_id"],
  "MCP_SERVER_URL": s["url"], "MCP_RESOURCE": s.get("resource", s["url"]),
}
for k, v in out.items():
    print(f"export {k}={shlex.quote(v)}")
PY
)"
NAME="$(basename "$PROFILE" .toml)"
REPORT_DIR="$(realpath -m "${REPORT_DIR:-$ROOT/target/authcheck/$NAME}")"
WORK="$(mktemp -d)"
MOCK_PID=""; SERVER_PID=""
cleanup() {
  for pid in $SERVER_PID $MOCK_PID; do
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "run-suite: building mock-as and the suite"
cargo build -q -p mock-as
cargo test -q -p harness --test conformance --no-run 2>/dev/null
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

echo "run-suite: starting mock-as on $MOCK_AS_HOST:$MOCK_AS_PORT"
MOCK_ARGS=(--bind "$MOCK_AS_HOST" --port "$MOCK_AS_PORT" --ready-file "$WORK/mock-ready.json")
[ -n "$MOCK_CONFIG" ] && MOCK_ARGS+=(--config "$MOCK_CONFIG")
setsid "$TARGET_DIR/debug/mock-as" "${MOCK_ARGS[@]}" >"$WORK/mock-as.log" 2>&1 &
MOCK_PID=$!
for _ in $(seq 1 300); do [ -f "$WORK/mock-ready.json" ] && break; kill -0 "$MOCK_PID" 2>/dev/null || break; sleep 0.1; done
[ -f "$WORK/mock-ready.json" ] || { echo "run-suite: mock-as did not start:" >&2; cat "$WORK/mock-as.log" >&2; exit 1; }

echo "run-suite: starting the server: $SERVER_CMD"
setsid sh -c "$SERVER_CMD" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
up=""
for i in $(seq 1 600); do
  if curl -s -o /dev/null -m 2 -X POST -H 'content-type: application/json' -d '{}' "$MCP_SERVER_URL"; then up=1; break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  [ $((i % 50)) -eq 0 ] && echo "run-suite: waiting for $MCP_SERVER_URL ($((i / 10)) s)"
  sleep 0.1
done
if [ -n "$up" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
  # Something answers on the port, but not the server we started (it exited: port taken?).
  echo "run-suite: the server command exited; something else answers at $MCP_SERVER_URL. Its output:" >&2
  tail -50 "$WORK/server.log" >&2
  exit 1
fi
if [ -z "$up" ]; then
  echo "run-suite: the server did not answer at $MCP_SERVER_URL; its output:" >&2
  tail -50 "$WORK/server.log" >&2
  exit 1
fi

echo "run-suite: running the suite (reports in $REPORT_DIR)"
set +e
cargo test -q -p harness --test conformance -- --profile "$PROFILE" --report-dir "$REPORT_DIR" $STRICT
rc=$?
set -e
if [ $rc -ne 0 ]; then echo "run-suite: server output (last 30 lines):"; tail -30 "$WORK/server.log"; fi
exit $rc
