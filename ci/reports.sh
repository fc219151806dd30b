#!/usr/bin/env bash
# The report files CI reads, checked where they are read:
#
#   bash ci/reports.sh
#   bash ci/reports.sh --install-browser   # only make sure chromium and chromedriver are there
#                                          # (.ci/run does this before `cargo test`, so the cargo
#                                          # tests use them: report.html, mock-as's browser tests)
#
# - report.html in a real browser: Debian's chromium, installed with apt-get when missing (CI
#   runs as root; non-interactive). harness/tests/ci_reports.rs and ci_gating.rs render the
#   reports of a reference-server run and of the no-audience-check mutant with
#   `chromium --headless --dump-dom` and assert on the rendered DOM (every scenario shown, the
#   verdict and area filters, failures expandable to their exchange); here they run with
#   MCP_AUTHCHECK_REQUIRE_BROWSER=1, so a missing browser fails instead of skipping. The same
#   tests validate results.sarif against the vendored SARIF 2.1.0 schema and check the
#   annotations, the job summary and the baselines of `mcp-authcheck run`.
# - The baselines in the other entry point, `cargo test -p harness --test conformance --`: the
#   no-audience-check mutant writes its baseline and passes against its own checks.json; the
#   no-exp-check mutant still fails against it (a new failure, and the baselined items STALE).
set -euo pipefail
INSTALL_ONLY=""
[ "${1:-}" = "--install-browser" ] && INSTALL_ONLY=1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Debian's chromium, and chromium-driver (chromedriver) for mock-as's browser tests
# (mock-as/tests/browser.rs drive the consent page and the dashboard over WebDriver).
PKGS=""
if ! command -v chromium >/dev/null 2>&1 && [ -z "${MCP_AUTHCHECK_CHROMIUM:-}" ]; then PKGS="chromium"; fi
if ! command -v chromedriver >/dev/null 2>&1 && [ -z "${MCP_AUTHCHECK_CHROMEDRIVER:-}" ]; then PKGS="$PKGS chromium-driver"; fi
if [ -n "$PKGS" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "reports: installing Debian's$PKGS (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    # shellcheck disable=SC2086  # the package list is meant to split
    apt-get install -y -qq --no-install-recommends $PKGS </dev/null >/dev/null
  else
    echo "reports: missing$PKGS, and apt-get as root is not available to install it: install Debian's chromium and chromium-driver (or set MCP_AUTHCHECK_CHROMIUM / MCP_AUTHCHECK_CHROMEDRIVER)" >&2
    exit 1
  fi
fi
echo "reports: browser $(command -v chromium || echo "$MCP_AUTHCHECK_CHROMIUM"), driver $(command -v chromedriver || echo "$MCP_AUTHCHECK_CHROMEDRIVER")"
[ -n "$INSTALL_ONLY" ] && exit 0

# .ci/run ran these in its `cargo test` with the browser required already (it says so with
# MCP_AUTHCHECK_BROWSER_TESTED=1); alone, this script runs them itself.
if [ "${MCP_AUTHCHECK_BROWSER_TESTED:-}" != 1 ]; then
  echo "reports: rendered report.html, SARIF schema, annotations, job summary, baselines (mcp-authcheck run)"
  MCP_AUTHCHECK_REQUIRE_BROWSER=1 cargo test -q -p harness --test ci_reports --test ci_gating </dev/null
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
conformance() { cargo test -q -p harness --test conformance -- "$@" </dev/null; }

echo "reports: conformance --flaw no-audience-check --write-baseline (must fail)"
if conformance --flaw no-audience-check --report-dir "$WORK/mutant" --write-baseline "$WORK/baseline.json" >"$WORK/mutant.out" 2>&1; then
  cat "$WORK/mutant.out"; echo "reports: the no-audience-check mutant passed" >&2; exit 1
fi
for f in junit.xml checks.json results.sarif summary.md report.html; do
  [ -s "$WORK/mutant/$f" ] || { echo "reports: conformance wrote no $f" >&2; exit 1; }
done
grep -q '"req-24' "$WORK/baseline.json" || { echo "reports: the written baseline has no req-24 failure" >&2; exit 1; }

echo "reports: conformance --flaw no-audience-check --baseline its own checks.json (must pass)"
if ! conformance --flaw no-audience-check --baseline "$WORK/mutant/checks.json" --report-dir "$WORK/known" >"$WORK/known.out" 2>&1; then
  cat "$WORK/known.out"; echo "reports: the mutant failed against its own baseline" >&2; exit 1
fi
grep -q 'XFAIL \[req-24 MUST\]' "$WORK/known.out" || { cat "$WORK/known.out"; echo "reports: no XFAIL for req-24" >&2; exit 1; }

echo "reports: conformance --flaw no-exp-check --baseline the written baseline (must fail)"
if conformance --flaw no-exp-check --baseline "$WORK/baseline.json" --report-dir "$WORK/other" >"$WORK/other.out" 2>&1; then
  cat "$WORK/other.out"; echo "reports: no-exp-check passed against another mutant's baseline" >&2; exit 1
fi
grep -q 'FAIL \[req-39 MUST\]' "$WORK/other.out" && grep -q 'STALE \[req-24 MUST\]' "$WORK/other.out" \
  || { cat "$WORK/other.out"; echo "reports: expected a new req-39 failure and a STALE req-24" >&2; exit 1; }

echo "reports: conformance --baseline on a file that is not a checks.json (must refuse, naming it)"
echo '{"not": "checks"}' >"$WORK/bad.json"
if conformance --flaw no-exp-check --baseline "$WORK/bad.json" >"$WORK/bad.out" 2>&1; then
  echo "reports: a bad baseline was accepted" >&2; exit 1
fi
grep -q "error: baseline $WORK/bad.json: not a checks.json" "$WORK/bad.out" || { cat "$WORK/bad.out"; exit 1; }
echo "reports: passed"
