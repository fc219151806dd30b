#!/usr/bin/env bash
# Long malformed-input fuzz of mock-as: the generator of mock-as/tests/fuzz/ with a large case
# count, optimised.
#
#   bash ci/fuzz-long.sh [CASES] [SEED]    # default 1000000 in-process requests, the fixed seed
#
# CASES goes to MOCK_AS_FUZZ_CASES; SEED (decimal or 0x...) to MOCK_AS_FUZZ_SEED. The real-listener
# part gets MOCK_AS_FUZZ_LISTENER_CASES (default CASES/100, at most 20000). The regression tests
# are not rerun. Prints one summary line per run; exits non-zero on any 5xx, error body in the
# wrong shape for its path family, or a server that stops answering valid requests, and prints
# the failing requests with the seed to reproduce them (`cargo test -p mock-as --test fuzz` with
# the same MOCK_AS_FUZZ_* variables).
#
# Release mode, but with overflow checks and debug assertions kept on: without them an integer
# overflow wraps silently instead of panicking, and the fuzz could not see it. The profile is a
# separate one (`fuzz-release`, inheriting `release`, built in target/fuzz-release) so ordinary
# release builds are not rebuilt.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CASES="${1:-1000000}"
CASES="${CASES//_/}"
case "$CASES" in
  '' | *[!0-9]*) echo "fuzz-long: CASES must be a number, got '${1:-}'" >&2; exit 2 ;;
esac
export MOCK_AS_FUZZ_CASES="$CASES"
if [ -n "${2:-}" ]; then
  export MOCK_AS_FUZZ_SEED="$2"
fi
if [ -z "${MOCK_AS_FUZZ_LISTENER_CASES:-}" ]; then
  listener=$((CASES / 100))
  [ "$listener" -gt 20000 ] && listener=20000
  [ "$listener" -lt 300 ] && listener=300
  MOCK_AS_FUZZ_LISTENER_CASES="$listener"
fi
export MOCK_AS_FUZZ_LISTENER_CASES

export CARGO_PROFILE_FUZZ_RELEASE_INHERITS=release
export CARGO_PROFILE_FUZZ_RELEASE_OVERFLOW_CHECKS=true
export CARGO_PROFILE_FUZZ_RELEASE_DEBUG_ASSERTIONS=true

echo "fuzz-long: $MOCK_AS_FUZZ_CASES in-process requests, $MOCK_AS_FUZZ_LISTENER_CASES over a listener, seed ${MOCK_AS_FUZZ_SEED:-default}"
start=$(date +%s)
cargo test --profile fuzz-release -p mock-as --test fuzz -- --nocapture --test-threads 1 malformed_requests </dev/null
echo "fuzz-long: passed in $(($(date +%s) - start)) s (build included)"
