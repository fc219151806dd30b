#!/usr/bin/env bash
# The front door as a user meets it: `cargo install --path harness` into a fresh root, then the
# installed `mcp-authcheck`, run from an empty directory outside the checkout, runs the whole
# suite against the reference server started through `-- COMMAND`, with no profile, and passes.
#
#   bash ci/install-check.sh           # the user's command: a release build
#   bash ci/install-check.sh --debug   # the same install in the dev profile (.ci/run)
#
# The install builds into the workspace's target/ (CARGO_TARGET_DIR), so a rerun reuses what is
# built; the install root and the run directory are temporary and removed. `.ci/run` passes
# --debug: the install then reuses most of what `cargo test` built (about a minute instead of
# six for a release build of the suite on 2 cores), and what it checks — the binary installs,
# carries its feature files and mock-as, and passes from an empty directory — does not depend
# on the profile. The release build of mock-as is exercised by ci/load.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROFILE=()
case "${1:-}" in
  "") ;;
  --debug) PROFILE=(--debug) ;;
  *) echo "install-check: unknown option $1 (expected --debug or nothing)" >&2; exit 2 ;;
esac
# shellcheck source=ci/lib/cache.sh
. "$ROOT/ci/lib/cache.sh"
INSTALL_ROOT="$(mktemp -d)"
RUN_DIR="$(mktemp -d)"
trap 'rm -rf "$INSTALL_ROOT" "$RUN_DIR"' EXIT

echo "install-check: cargo install ${PROFILE[*]:-}${PROFILE:+ }--path harness --root $INSTALL_ROOT"
CARGO_TARGET_DIR="$ROOT/target" cargo install -q --locked "${PROFILE[@]}" --path harness --root "$INSTALL_ROOT" </dev/null
BIN="$INSTALL_ROOT/bin/mcp-authcheck"
[ -x "$BIN" ] || { echo "install-check: no $BIN after cargo install" >&2; exit 1; }
cargo build -q -p reference-server </dev/null
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps </dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
REF="$TARGET_DIR/debug/reference-server"
PORT="$(free_port)"

echo "install-check: $BIN run (from $RUN_DIR, no profile) against the reference server"
cd "$RUN_DIR"
set +e
"$BIN" run --url "http://127.0.0.1:$PORT/mcp" -- \
  "'$REF' --issuer \"\$MOCK_AS_ISSUER\" --listen 127.0.0.1:$PORT" </dev/null
rc=$?
set -e
[ -f "$RUN_DIR/authcheck-report/checks.json" ] || { echo "install-check: no report in $RUN_DIR/authcheck-report" >&2; exit 1; }
if [ "$rc" -ne 0 ]; then echo "install-check: the installed binary failed (exit $rc)" >&2; exit "$rc"; fi
echo "install-check: passed"
