#!/usr/bin/env bash
# Run the conformance suite against a server you start with a command — a thin wrapper over
# `mcp-authcheck run` for use from a checkout (it builds the binary first):
#
#   ci/run-suite.sh PROFILE [--url URL] [--report-dir DIR] [--strict] [--mock-as-config FILE] -- SERVER COMMAND...
#
# 1. builds `mcp-authcheck` (cargo build -p harness --bin mcp-authcheck);
# 2. it starts mock-as in-process on a free loopback port (embedded default config, or
#    --mock-as-config), then SERVER COMMAND with these variables exported, so the command can
#    point the server at mock-as: MOCK_AS_URL, MOCK_AS_ISSUER (the issuer of the profile's
#    mock_as.mcp_server_id, else of the first server entry), MOCK_AS_WELL_KNOWN, MOCK_AS_JWKS_URL,
#    MOCK_AS_PROJECT_ID, MCP_SERVER_URL, MCP_RESOURCE;
# 3. waits (≤ 60 s) until the URL (--url, else the profile's [server] url) answers HTTP at all;
# 4. probes the server, lays the profile over what it learned, runs the suite, reports in DIR
#    (default target/authcheck/<profile name>);
# 5. stops the server by process id, whatever happened. Exits with the suite's status
#    (0 pass, 1 failures, 2 could not run).
#
# Example (the reference server):
#   ci/run-suite.sh fixtures/profiles/reference.toml -- \
#     'cargo run -q -p reference-server -- --issuer "$MOCK_AS_ISSUER"'
# (the command runs under `sh -c`, so $VARIABLES in single quotes expand there).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
PROFILE="$1"; shift
ARGS=()
REPORT_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --report-dir) REPORT_DIR="$2"; shift 2 ;;
    --url|--mock-as-config) ARGS+=("$1" "$2"); shift 2 ;;
    --strict) ARGS+=("$1"); shift ;;
    --) shift; break ;;
    *) echo "run-suite: unknown option $1" >&2; usage ;;
  esac
done
[ $# -ge 1 ] || { echo "run-suite: give the server command after --" >&2; usage; }
[ -f "$PROFILE" ] || { echo "run-suite: no profile at $PROFILE" >&2; exit 2; }
NAME="$(basename "$PROFILE" .toml)"
REPORT_DIR="$(realpath -m "${REPORT_DIR:-$ROOT/target/authcheck/$NAME}")"

echo "run-suite: building mcp-authcheck"
cargo build -q -p harness --bin mcp-authcheck </dev/null
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps </dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
exec "$TARGET_DIR/debug/mcp-authcheck" run --profile "$PROFILE" --report-dir "$REPORT_DIR" "${ARGS[@]}" -- "$@"
