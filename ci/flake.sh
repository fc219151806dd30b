#!/usr/bin/env bash
# Flake check: the conformance suite's self-test with no profile (mock-as and the in-process
# reference server on real loopback listeners; the probe learns the server, which validates JWTs,
# then by introspection, then keeps no sessions — and in each run one more of the other
# no-profile passes in turn: project-level issuers, 2025-03-26, OAuth proxy, 2026-07-28), 16
# scenarios in flight, RUNS times in a row (default 20). The profile runs of the self-test are the same
# scenarios minus the probe; `cargo test` runs them once. Passes only if every run passes every scenario; prints each run's wall time and
# the spread (min / median / max).
#
#   bash ci/flake.sh [RUNS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RUNS="${1:-20}"
case "$RUNS" in
  '' | *[!0-9]* | 0) echo "flake: RUNS must be a positive number, got '${1:-}'" >&2; exit 2 ;;
esac

# Build once (the profile `cargo test` uses) and find the test binary.
BIN="$(cargo test -p harness --test conformance --no-run --message-format=json </dev/null 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "conformance" and m.get("executable"):
        print(m["executable"])')"
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "flake: could not build the conformance test" >&2; exit 1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
TIMES=(); FAILED=0
BASE=(--pass no-profile --pass no-profile-introspection --pass stateless)
OTHERS=(no-profile-inbound-app no-profile-project no-profile-2025-03-26 no-profile-oauth-proxy no-profile-2026-07-28)
for i in $(seq 1 "$RUNS"); do
  extra="${OTHERS[$(( (i - 1) % ${#OTHERS[@]} ))]}"
  start=$(date +%s%N)
  # cargo runs test binaries from the package directory; so do we.
  if (cd harness && "$BIN" --no-profile "${BASE[@]}" --pass "$extra" --concurrency 16 --report-dir "$WORK/run-$i") >"$WORK/out-$i.txt" 2>&1; then
    status=pass
  else
    status=FAIL; FAILED=$((FAILED + 1))
  fi
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  TIMES+=("$ms")
  printf 'run %2d: %-4s %6d ms  %s (+ %s)\n' "$i" "$status" "$ms" "$(tail -n 1 "$WORK/out-$i.txt")" "$extra"
  if [ "$status" = FAIL ]; then
    grep -E 'FAIL|MUST|SHOULD' "$WORK/out-$i.txt" | head -n 20 || true
  fi
done
sorted=($(printf '%s\n' "${TIMES[@]}" | sort -n))
n=${#sorted[@]}
echo "flake: $RUNS runs, $FAILED failed; wall time min ${sorted[0]} ms, median ${sorted[$((n / 2))]} ms, max ${sorted[$((n - 1))]} ms"
[ "$FAILED" -eq 0 ]
