#!/usr/bin/env bash
# The performance benchmark: prints one Markdown table (start-up, RS256/ES256 tokens/s beside
# `openssl speed`, RSS idle and after 100k tokens, suite and kill-matrix wall time) with the
# targets beside each number, and writes it to target/bench/perf.md.
#
#   bash ci/bench.sh                  # the full run (about 3 minutes after the build)
#   bash ci/bench.sh --quick          # smoke run: 1 s per rate point, 5 starts, no kill matrix
#   bash ci/bench.sh --write-readme   # full run, then replace README.md's table with the result
#
# Builds the release mock-as and the bench (cargo's bench profile) first. Timings live here,
# never in tests: a missed target is reported in the table ("met: no"), not as a failure. The
# script fails only when the bench itself cannot run (build error, mock-as not starting, the
# suite failing against the reference server).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ARGS=(); WRITE_README=""
for a in "$@"; do
  case "$a" in
    --quick) ARGS+=(--quick) ;;
    --write-readme) WRITE_README=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown option $a" >&2; exit 2 ;;
  esac
done
if [ -n "$WRITE_README" ] && [ "${#ARGS[@]}" -gt 0 ]; then
  echo "bench: --write-readme needs a full run (not --quick)" >&2; exit 2
fi

cargo build --release -q -p mock-as </dev/null
cargo bench -q -p harness --bench perf -- "${ARGS[@]}" </dev/null

if [ -n "$WRITE_README" ]; then
  python3 - "$ROOT/README.md" "$ROOT/target/bench/perf.md" <<'PY'
import sys
readme, table = sys.argv[1], open(sys.argv[2]).read().strip()
text = open(readme).read()
begin, end = "<!-- perf-table:begin -->", "<!-- perf-table:end -->"
if begin not in text or end not in text:
    sys.exit("bench: README.md has no perf-table markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(readme, "w").write(f"{head}{begin}\n{table}\n{end}{tail}")
print("bench: README.md table updated")
PY
fi
