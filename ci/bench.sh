#!/usr/bin/env bash
# The performance benchmark: prints one Markdown table (start-up, RS256/ES256 tokens/s beside
# `openssl speed`, RSS idle and after 100k tokens, suite and kill-matrix wall time) with the
# targets beside each number, and writes it to target/bench/perf.md.
#
#   bash ci/bench.sh                  # the full run (about 3 minutes after the build)
#   bash ci/bench.sh --quick          # smoke run: 1 s per rate point, 5 starts, no kill matrix
#   bash ci/bench.sh --write-readme   # full run, then replace ci/README.md's table with the result
#   bash ci/bench.sh --compare REF    # the front-door row against REF's build (default below)
#   bash ci/bench.sh --no-compare     # the front-door row for this tree only
#
# The front-door rows time `mcp-authcheck run --url … -- reference-server …` (release builds, no
# profile, median of 3, interleaved) for this tree and for REF's (default: the commit before the
# first "(issue 19)" commit — the suite before its timeouts, preflight and circuit breaker), so
# the table says whether a run against a conforming server is as fast as before. REF is built
# from `git archive` under target/bench/base (no checkout, no worktree). --quick skips REF.
#
# Builds the release mock-as and the bench (cargo's bench profile) first. Timings live here,
# never in tests: a missed target is reported in the table ("met: no"), not as a failure. The
# script fails only when the bench itself cannot run (build error, mock-as not starting, the
# suite failing against the reference server).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ARGS=(); WRITE_README=""; COMPARE=default; QUICK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) ARGS+=(--quick); QUICK=1 ;;
    --write-readme) WRITE_README=1 ;;
    --compare) COMPARE="${2:?--compare needs a git ref}"; shift ;;
    --no-compare) COMPARE="" ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$WRITE_README" ] && [ "${#ARGS[@]}" -gt 0 ]; then
  echo "bench: --write-readme needs a full run (not --quick)" >&2; exit 2
fi

cargo build --release -q -p mock-as </dev/null
cargo bench -q -p harness --bench perf -- "${ARGS[@]}" </dev/null

# -- the front door against the reference server, this tree vs before -------------------------
if [ "$COMPARE" = default ]; then
  first="$(git log --reverse --format=%H --grep='(issue 19)$' | head -n1 || true)"
  COMPARE="${first:+$first^}"
  [ -z "$QUICK" ] || COMPARE=""
fi
BENCH="$ROOT/target/bench"; mkdir -p "$BENCH"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# One run: the wall seconds on stdout; fails the bench if the run does not pass.
front_door_run() {
  local bin="$1" ref_server="$2" port dir start end
  port="$(free_port)"; dir="$(mktemp -d)"
  start="$(date +%s.%N)"
  if ! "$bin" run --url "http://127.0.0.1:$port/mcp" --mock-as-port 0 --report-dir "$dir/r" \
      -- "'$ref_server' --issuer \"\$MOCK_AS_ISSUER\" --listen 127.0.0.1:$port" >"$dir/out" 2>&1 </dev/null; then
    echo "bench: $bin run against the reference server failed:" >&2; tail -n 30 "$dir/out" >&2
    rm -rf "$dir"; return 1
  fi
  end="$(date +%s.%N)"; rm -rf "$dir"
  python3 -c "print(f'{$end - $start:.2f}')"
}
median() { python3 -c 'import sys, statistics; v = sorted(float(x) for x in sys.argv[1:]); print(f"median {statistics.median(v):.2f} s (min {v[0]:.2f}, max {v[-1]:.2f})")' "$@"; }

cargo build --release -q -p harness -p reference-server --bins </dev/null
mkdir -p "$BENCH/head"
cp target/release/mcp-authcheck target/release/reference-server "$BENCH/head/"
if [ -n "$COMPARE" ]; then
  base_sha="$(git rev-parse --short "$COMPARE")"
  rm -rf "$BENCH/base/src"; mkdir -p "$BENCH/base/src" "$BENCH/base/bin"
  git archive "$COMPARE" | tar -x -C "$BENCH/base/src"
  # The same target dir: the dependencies are built once for both.
  (cd "$BENCH/base/src" && CARGO_TARGET_DIR="$ROOT/target" \
    cargo build --release -q -p harness -p reference-server --bins </dev/null)
  cp target/release/mcp-authcheck target/release/reference-server "$BENCH/base/bin/"
  # target/release holds this tree's build again for whoever uses it next.
  cargo build --release -q -p harness -p reference-server --bins </dev/null
fi
head_t=(); base_t=()
for _ in 1 2 3; do
  head_t+=("$(front_door_run "$BENCH/head/mcp-authcheck" "$BENCH/head/reference-server")")
  if [ -n "$COMPARE" ]; then
    base_t+=("$(front_door_run "$BENCH/base/bin/mcp-authcheck" "$BENCH/base/bin/reference-server")")
  fi
done
{
  echo
  echo "| front door: \`mcp-authcheck run --url … -- reference-server …\` (release, no profile, 3 runs) | result | target | met |"
  echo "|---|---|---|---|"
  head_m="$(median "${head_t[@]}")"
  if [ -n "$COMPARE" ]; then
    base_m="$(median "${base_t[@]}")"
    ratio="$(python3 -c 'import sys, statistics as s; h = s.median(map(float, sys.argv[1].split())); b = s.median(map(float, sys.argv[2].split())); print(f"{h / b:.2f}")' "${head_t[*]}" "${base_t[*]}")"
    met="$(python3 -c "print('yes' if $ratio <= 1.10 else '**no**')")"
    echo "| this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- harness || echo ', modified')) | $head_m | ≤ 1.10 × before | $met ($ratio ×) |"
    echo "| before: $base_sha (\`--compare\`) | $base_m | (the reference) | — |"
  else
    echo "| this tree ($(git rev-parse --short HEAD)) | $head_m | — (\`--compare REF\` to compare) | — |"
  fi
} | tee -a "$BENCH/perf.md"

if [ -n "$WRITE_README" ]; then
  python3 - "$ROOT/ci/README.md" "$ROOT/target/bench/perf.md" <<'PY'
import sys
readme, table = sys.argv[1], open(sys.argv[2]).read().strip()
text = open(readme).read()
begin, end = "<!-- perf-table:begin -->", "<!-- perf-table:end -->"
if begin not in text or end not in text:
    sys.exit("bench: ci/README.md has no perf-table markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(readme, "w").write(f"{head}{begin}\n{table}\n{end}{tail}")
print("bench: ci/README.md table updated")
PY
fi
