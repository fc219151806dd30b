#!/usr/bin/env bash
# Interop: the suite against real third-party MCP servers, and real MCP clients through mock-as.
#
#   bash ci/interop.sh [NAME...]      # default: every server and client below
#
# Servers run concurrently (each with its own mock-as on its own ports); their output is printed
# per server when it finishes.
#
# Installs the pinned packages (fixtures/third-party/*) into the cache, like ci/sdk-compat.sh:
#   ${MCP_AUTHCHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-authcheck}/interop/
# For each server: `mcp-authcheck run --url http://127.0.0.1:<free port>/mcp --profile
# fixtures/profiles/NAME.toml -- COMMAND`: an in-process mock-as, the server on a free loopback
# port, the probe, the suite; the profile holds only what the wire cannot tell (JWKS cache
# windows; for the servers that speak several revisions, the one the row tests: ts-sdk-v2 and
# python-sdk-2026 run at 2026-07-28) and the real defects (expected_failures); reports in
# target/authcheck/NAME/; the
# server stopped by process id. For each client: mock-as + the reference server, then the client's full
# OAuth flow. Then target/authcheck/interop.md: server × MUST passed/failed, SHOULD warnings, skipped,
# XFAIL, from each row's summary.md and checks.json. Exits non-zero if anything fails; the last line
# is "interop: N passed, N failed".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE_LOG_NAME=interop
# shellcheck source=ci/lib/cache.sh
. "$ROOT/ci/lib/cache.sh"
INTEROP="$CACHE_ROOT/interop"
PEERS_PY="$INTEROP/python-peers/bin/python"
DESCOPE_PY="$INTEROP/python-descope/bin/python"
NODE_DIR="$INTEROP/node"
NODE_SDK_DIR="$INTEROP/node-sdk"
TS_SDK_V2_DIR="$INTEROP/ts-sdk-v2"
FASTAPI_MCP_PY="$INTEROP/python-fastapi-mcp/bin/python"
VERCEL_DIR="$INTEROP/vercel-mcp-handler"

# name | profile | command (runs under sh -c with the variables mcp-authcheck exports)
SERVERS=(
  "fastmcp-jwt|fixtures/profiles/fastmcp-jwt.toml|MCP_ISSUER=\"\$MOCK_AS_ISSUER\" MCP_JWKS_URL=\"\$MOCK_AS_JWKS_URL\" MCP_RESOURCE=\"\$MCP_RESOURCE\" exec '$PEERS_PY' fixtures/third-party/fastmcp-jwt/server.py"
  "fastmcp-jwt-inbound|fixtures/profiles/fastmcp-jwt-inbound.toml|exec '$PEERS_PY' fixtures/third-party/fastmcp-jwt-inbound/server.py"
  "fastmcp-descope|fixtures/profiles/fastmcp-descope.toml|MCP_ISSUER=\"\$MOCK_AS_ISSUER\" MCP_JWKS_URL=\"\$MOCK_AS_JWKS_URL\" MCP_RESOURCE=\"\$MCP_RESOURCE\" DESCOPE_CONFIG_URL=\"\$MOCK_AS_WELL_KNOWN\" exec '$PEERS_PY' fixtures/third-party/fastmcp-descope/server.py"
  "python-sdk|fixtures/profiles/python-sdk.toml|MCP_ISSUER=\"\$MOCK_AS_ISSUER\" MCP_JWKS_URL=\"\$MOCK_AS_JWKS_URL\" MCP_RESOURCE=\"\$MCP_RESOURCE\" exec '$PEERS_PY' fixtures/third-party/python-sdk/server.py"
  "python-sdk-2026|fixtures/profiles/python-sdk-2026.toml|MCP_ISSUER=\"\$MOCK_AS_ISSUER\" MCP_JWKS_URL=\"\$MOCK_AS_JWKS_URL\" MCP_RESOURCE=\"\$MCP_RESOURCE\" exec '$PEERS_PY' fixtures/third-party/python-sdk/server.py"
  "ts-sdk|fixtures/profiles/ts-sdk.toml|MCP_ISSUER=\"\$MOCK_AS_ISSUER\" MCP_JWKS_URL=\"\$MOCK_AS_JWKS_URL\" MCP_RESOURCE=\"\$MCP_RESOURCE\" NODE_PATH='$NODE_DIR/node_modules' exec node fixtures/third-party/ts-sdk/server.mjs"
  "descope-mcp|fixtures/profiles/descope-mcp.toml|exec '$DESCOPE_PY' fixtures/third-party/descope-mcp/server.py --base-url \"\$MOCK_AS_URL\" --project-id \"\$MOCK_AS_PROJECT_ID\" --well-known-url \"\$MOCK_AS_WELL_KNOWN\" --resource \"\$MCP_RESOURCE\""
  "node-sdk|fixtures/profiles/node-sdk.toml|NODE_PATH='$NODE_SDK_DIR/node_modules' exec node fixtures/third-party/node-sdk/server.mjs"
  "ts-sdk-v2|fixtures/profiles/ts-sdk-v2.toml|MCP_ISSUER=\"\$MOCK_AS_ISSUER\" MCP_JWKS_URL=\"\$MOCK_AS_JWKS_URL\" MCP_RESOURCE=\"\$MCP_RESOURCE\" NODE_PATH='$TS_SDK_V2_DIR/node_modules' exec node fixtures/third-party/ts-sdk-v2/server.mjs"
  # Descope's guides' stacks (issue 16): FastAPI-MCP, the Vercel MCP adapter, the Express SDK's wiring.
  "fastapi-mcp|fixtures/profiles/fastapi-mcp.toml|exec '$FASTAPI_MCP_PY' fixtures/third-party/fastapi-mcp/server.py"
  "vercel-mcp-handler|fixtures/profiles/vercel-mcp-handler.toml|NODE_PATH='$VERCEL_DIR/node_modules' exec node fixtures/third-party/vercel-mcp-handler/server.mjs"
  "express-descope|fixtures/profiles/express-descope.toml|NODE_PATH='$NODE_SDK_DIR/node_modules' exec node fixtures/third-party/express-descope/server.mjs"
)
CLIENTS=(ts-oauth-client)

SELECTED="$*"
selected() { [ -z "$SELECTED" ] && return 0; case " $SELECTED " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

passed=0; failed=0; results=()
record() { # name rc
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); results+=("PASS  $1"); else failed=$((failed + 1)); results+=("FAIL  $1"); fi
}

echo "interop: installing pinned peers"
ensure_venv "$INTEROP/python-peers" fixtures/third-party/python/requirements.txt fastmcp mcp
ensure_venv "$INTEROP/python-descope" fixtures/third-party/descope-mcp/requirements.txt descope descope_mcp mcp
ensure_npm "$NODE_DIR" fixtures/third-party/ts-sdk
ensure_npm "$NODE_SDK_DIR" fixtures/third-party/node-sdk
ensure_npm "$TS_SDK_V2_DIR" fixtures/third-party/ts-sdk-v2
ensure_venv "$INTEROP/python-fastapi-mcp" fixtures/third-party/fastapi-mcp/requirements.txt fastapi_mcp jwt
ensure_npm "$VERCEL_DIR" fixtures/third-party/vercel-mcp-handler
echo "interop: building mock-as, the reference server and mcp-authcheck"
cargo build -q -p mock-as -p reference-server -p harness --bins </dev/null
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps </dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && { kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; }; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

RUNS=()
for entry in "${SERVERS[@]}"; do
  IFS='|' read -r name profile cmd <<<"$entry"
  selected "$name" || continue
  srv_port="$(free_port)"
  echo "interop: == $name started (server :$srv_port, mock-as in-process on a free port)"
  # Concurrently: each run has its own mock-as and ports, and most of its time is spent
  # waiting out the server's JWKS cache window in the key-rotation scenarios. The profile holds
  # only what the wire cannot tell (and the known defects); the rest is learned by the probe.
  "$TARGET_DIR/debug/mcp-authcheck" run --url "http://127.0.0.1:$srv_port/mcp" --profile "$profile" \
    --report-dir "$ROOT/target/authcheck/$name" -- "$cmd" \
    </dev/null >"$WORK/$name.out" 2>&1 &
  RUNS+=("$name:$!")
done
for run in "${RUNS[@]:-}"; do
  [ -n "$run" ] || continue
  name="${run%%:*}"; pid="${run##*:}"
  set +e
  wait "$pid"
  rc=$?
  set -e
  echo "interop: == $name (exit $rc)"
  cat "$WORK/$name.out"
  record "$name" "$rc"
done

start_mock_and_reference() { # sets MOCK_URL, REF_URL
  local mp rp; mp="$(free_port)"; rp="$(free_port)"
  MOCK_URL="http://127.0.0.1:$mp"; REF_URL="http://127.0.0.1:$rp/mcp"
  setsid "$TARGET_DIR/debug/mock-as" --port "$mp" --ready-file "$WORK/mock-ready.json" >"$WORK/mock.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do [ -f "$WORK/mock-ready.json" ] && break; sleep 0.1; done
  curl -sf -X PATCH "$MOCK_URL/_mock/servers/MS2calendar" -H 'content-type: application/json' -d "{\"url\": \"$REF_URL\"}" >/dev/null
  setsid "$TARGET_DIR/debug/reference-server" --issuer "$MOCK_URL/v1/apps/agentic/P2mockAsDefaultProject000001/MS2calendar" \
    --listen "127.0.0.1:$rp" >"$WORK/ref.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do curl -s -o /dev/null -X POST "$REF_URL" && break; sleep 0.1; done
}

for client in "${CLIENTS[@]}"; do
  selected "$client" || continue
  echo "interop: == $client"
  rm -f "$WORK/mock-ready.json"
  start_mock_and_reference
  set +e
  case "$client" in
    ts-oauth-client) NODE_PATH="$NODE_DIR/node_modules" MCP_URL="$REF_URL" node fixtures/third-party/ts-sdk/oauth-client.mjs "$REF_URL" </dev/null ;;
  esac
  rc=$?
  set -e
  record "$client" "$rc"
  for pid in "${PIDS[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  PIDS=()
done

# The results table (linked from harness/README.md): one line per server run here, from its
# report's summary.md (the suite's own counts) and checks.json (which requirements are XFAIL or
# STALE); one line per client. Written for the rows of this invocation only.
write_results_table() {
  local out="$ROOT/target/authcheck/interop.md"
  mkdir -p "$(dirname "$out")"
  python3 - "$ROOT/target/authcheck" "$out" "${SELECTED:-all}" "${results[@]}" <<'PY'
import json, re, sys, time
from pathlib import Path

reports, out, selection, rows = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4:]
COLS = ["MUST passed", "MUST failed", "SHOULD warnings", "skipped", "xfail (expected)", "stale expectations"]
lines = [
    "# Interop results",
    "",
    f"Written by `bash ci/interop.sh` ({selection}) at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; each server's",
    "reports are in `target/authcheck/<server>/`. XFAIL: a MUST or SHOULD failure the server's profile",
    "lists in `[expected_failures]` (a known defect of that stack, fixtures/third-party/README.md).",
    "",
    "| server | run | MUST passed | MUST failed | SHOULD warnings | skipped | XFAIL | stale |",
    "|---|---|---:|---:|---:|---:|---|---:|",
]
clients = []
for row in rows:
    verdict, name = row.split(None, 1)
    summary = reports / name / "summary.md"
    if not summary.is_file():
        clients.append((name, verdict))
        continue
    counts = dict(re.findall(r"^\| ([A-Za-z/() ]+?) \| (\d+) \|$", summary.read_text(), re.M))
    xfail = []
    try:
        for check in json.loads((reports / name / "checks.json").read_text()):
            d = check.get("details") or {}
            if d.get("state") == "XFAIL" and d.get("requirement") not in xfail:
                xfail.append(d.get("requirement"))
    except (OSError, ValueError):
        pass
    n = [counts.get(c, "?") for c in COLS]
    ids = ", ".join(x.removeprefix("req-") for x in xfail if x)
    lines.append(f"| `{name}` | {verdict} | {n[0]} | {n[1]} | {n[2]} | {n[3]} | {n[4]}{f' ({ids})' if ids else ''} | {n[5]} |")
if clients:
    lines += ["", "| client | run |", "|---|---|"] + [f"| `{c}` | {v} |" for c, v in clients]
out.write_text("\n".join(lines) + "\n")
PY
  echo "interop: results table: $out"
}

echo "interop: results"
for r in "${results[@]}"; do echo "interop:   $r"; done
write_results_table
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
