#!/usr/bin/env bash
# SDK compatibility check: Descope's own SDKs, unmodified, against a fresh mock-as.
#
#   bash ci/sdk-compat.sh
#
# - Installs the pinned SDKs into the cache (never into the checkout):
#     ${MCP_AUTHCHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-authcheck}/sdk-compat/
#       python/   venv with fixtures/sdk-compat/python/requirements.txt (descope, descope-mcp, mcp)
#       node/     npm ci of fixtures/sdk-compat/node/package{,-lock}.json (@descope/node-sdk)
#   Each install is keyed by a hash of its pin file (plus the interpreter version) stored in a
#   marker that is written last; a missing marker, a changed hash or a failing import check means
#   "reinstall from scratch", so a half-written cache only costs time.
# - Builds mock-as (debug), starts it on a free port with --ready-file, runs
#   fixtures/sdk-compat/python/check_descope.py, .../check_descope_mcp.py and
#   fixtures/sdk-compat/node/check_node_sdk.cjs against it (the mock is reset before each), and
#   stops it by process id on exit.
# - Exits non-zero if any program fails. Runs with CI=true and no stdin.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIX="$ROOT/fixtures/sdk-compat"
PY_REQ="$FIX/python/requirements.txt"
NODE_SRC="$FIX/node"
CACHE="${MCP_AUTHCHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-authcheck}"
SDK_CACHE="$CACHE/sdk-compat"
VENV="$SDK_CACHE/python"
NODE_DIR="$SDK_CACHE/node"
READY_TIMEOUT_SECS=30
PROGRAM_TIMEOUT_SECS=300

log() { printf 'sdk-compat: %s\n' "$*"; }
die() { printf 'sdk-compat: ERROR: %s\n' "$*" >&2; exit 1; }

for tool in python3 node npm cargo sha256sum timeout; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not on PATH"
done
mkdir -p "$SDK_CACHE"
SECONDS=0

# One installer at a time per cache (two CI runs sharing a cache must not interleave).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$SDK_CACHE/.lock"
  flock -w 600 9 || die "could not lock $SDK_CACHE/.lock within 600 s"
fi

# ---------------------------------------------------------------------------------------------
# Pinned installs into the cache (ci/lib/cache.sh: hash marker written last, reinstall on doubt)
# ---------------------------------------------------------------------------------------------
CACHE_LOG_NAME=sdk-compat
# shellcheck source=ci/lib/cache.sh
. "$ROOT/ci/lib/cache.sh"
ensure_venv "$VENV" "$PY_REQ" descope descope_mcp mcp httpx
ensure_npm "$NODE_DIR" "$NODE_SRC"

# The package's "exports" hide its package.json from require(): read the file.
node_sdk_version() {
  node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version' \
    "$NODE_DIR/node_modules/@descope/node-sdk/package.json" 2>/dev/null
}
[ "$(node_sdk_version)" = "$(node -p 'require(process.argv[1]).dependencies["@descope/node-sdk"]' "$NODE_SRC/package.json")" ] \
  || die "node: @descope/node-sdk in $NODE_DIR is not the pinned version"
install_secs=$SECONDS

# ---------------------------------------------------------------------------------------------
# mock-as: build, start on a free port, wait for the ready file
# ---------------------------------------------------------------------------------------------
log "building mock-as (cargo build -q -p mock-as)"
(cd "$ROOT" && cargo build -q -p mock-as </dev/null)
target_dir="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps </dev/null \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
MOCK_BIN="$target_dir/debug/mock-as"
[ -x "$MOCK_BIN" ] || die "no mock-as binary at $MOCK_BIN"
build_secs=$((SECONDS - install_secs))

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sdk-compat.XXXXXX")"
MOCK_PID=""
cleanup() {
  local rc=$?
  if [ -n "$MOCK_PID" ] && kill -0 "$MOCK_PID" 2>/dev/null; then
    kill "$MOCK_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$MOCK_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -s "$WORK/mock-as.log" ]; then
    echo "---- mock-as log (last 40 lines) ----" >&2
    tail -n 40 "$WORK/mock-as.log" >&2 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$MOCK_BIN" --port 0 --ready-file "$WORK/ready.json" >"$WORK/mock-as.log" 2>&1 </dev/null &
MOCK_PID=$!

deadline=$((SECONDS + READY_TIMEOUT_SECS))
until [ -s "$WORK/ready.json" ]; do
  kill -0 "$MOCK_PID" 2>/dev/null || die "mock-as (pid $MOCK_PID) exited before it was ready"
  [ "$SECONDS" -lt "$deadline" ] || die "mock-as not ready within ${READY_TIMEOUT_SECS} s"
  sleep 0.1
done

# Everything the programs need, from the ready file and the control API's /_mock/info.
mock_env="$(python3 - "$WORK/ready.json" <<'EOF'
import json, shlex, sys, urllib.request
ready = json.load(open(sys.argv[1]))
base = ready["base_url"]
with urllib.request.urlopen(base + "/_mock/info", timeout=10) as r:
    info = json.load(r)
server = ready["servers"][0]
env = {
    "MOCK_AS_BASE_URL": base,
    "MOCK_AS_PROJECT_ID": ready["project_id"],
    "MOCK_AS_JWKS_URI": ready["jwks_uri"],
    "MOCK_AS_MANAGEMENT_KEY": info["management_keys"][0]["secret"],
    "MOCK_AS_SERVER_ID": server["id"],
    "MOCK_AS_ISSUER": server["issuer"],
    "MOCK_AS_WELL_KNOWN": server["well_known"],
    "MOCK_AS_RESOURCE": server["resource"],
}
for k, v in env.items():
    print(f"export {k}={shlex.quote(v)}")
EOF
)" || die "could not read the ready file or GET /_mock/info"
eval "$mock_env"
log "mock-as pid $MOCK_PID ready at $MOCK_AS_BASE_URL (project $MOCK_AS_PROJECT_ID)"

reset_mock() {
  python3 -c 'import sys, urllib.request as u
u.urlopen(u.Request(sys.argv[1] + "/_mock/reset", data=b"{}", method="POST",
          headers={"content-type": "application/json"}), timeout=10).read()' "$MOCK_AS_BASE_URL"
}

# ---------------------------------------------------------------------------------------------
# The programs
# ---------------------------------------------------------------------------------------------
SUMMARY=()
FAILED=0
TOTAL_OK=0
TOTAL_FAIL=0
run_program() { # name, then the command
  local name="$1"; shift
  local out="$WORK/$(echo "$name" | tr -c 'A-Za-z0-9\n' '_').out" rc=0 start=$SECONDS
  log "== $name"
  if ! reset_mock; then
    SUMMARY+=("FAIL  $name: could not reset mock-as (POST /_mock/reset)")
    FAILED=1; TOTAL_FAIL=$((TOTAL_FAIL + 1))
    return 0
  fi
  set +e
  timeout "$PROGRAM_TIMEOUT_SECS" "$@" </dev/null 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  set -e
  local oks fails
  oks=$(grep -c '^ok: ' "$out" || true)
  fails=$(grep -c '^FAIL: ' "$out" || true)
  TOTAL_OK=$((TOTAL_OK + oks))
  # A crash (or a run with no check at all) counts as one failure.
  if { [ "$rc" -ne 0 ] || [ "$oks" -eq 0 ]; } && [ "$fails" -eq 0 ]; then fails=1; fi
  TOTAL_FAIL=$((TOTAL_FAIL + fails))
  if [ "$rc" -eq 0 ] && [ "$fails" -eq 0 ] && [ "$oks" -gt 0 ]; then
    SUMMARY+=("PASS  $name: $oks checks ok ($((SECONDS - start)) s)")
  else
    SUMMARY+=("FAIL  $name: $oks ok, $fails failed, exit $rc ($((SECONDS - start)) s)")
    FAILED=1
  fi
}

pyver() { "$VENV/bin/python" -c 'import sys; from importlib.metadata import version as v
print(" ".join(f"{p}=={v(p)}" for p in sys.argv[1:]))' "$@"; }

run_program "python $(pyver descope)" \
  "$VENV/bin/python" "$FIX/python/check_descope.py"
run_program "python $(pyver descope-mcp mcp)" \
  "$VENV/bin/python" "$FIX/python/check_descope_mcp.py"
run_program "node @descope/node-sdk@$(node_sdk_version)" \
  env NODE_PATH="$NODE_DIR/node_modules" DESCOPE_NODE_MODULES="$NODE_DIR/node_modules" \
  node "$NODE_SRC/check_node_sdk.cjs"

echo
log "summary (install/check ${install_secs} s, build ${build_secs} s, total ${SECONDS} s):"
for line in "${SUMMARY[@]}"; do
  log "  $line"
done
echo "sdk-compat: $TOTAL_OK passed, $TOTAL_FAIL failed"
if [ "$FAILED" -ne 0 ]; then
  log "FAILED"
  exit 1
fi
log "all SDKs passed"
