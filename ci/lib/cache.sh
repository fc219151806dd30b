# Shared by the ci/ scripts: pinned installs into the cache directory, never the checkout.
#
#   CACHE_ROOT=${MCP_AUTHCHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-authcheck}
#   ensure_venv DIR REQUIREMENTS [PYTHON-MODULE...]   a venv with the exact pins of REQUIREMENTS
#   ensure_npm DIR SOURCE_DIR                         `npm ci` of SOURCE_DIR/package{,-lock}.json
#
# Each install is keyed by a hash of its pin files (and the interpreter) in a marker written
# last; a missing marker, a changed hash or a failing check reinstalls from scratch, so an
# interrupted install only costs time. npm installs go to a temp dir renamed into place.

CACHE_ROOT="${MCP_AUTHCHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-authcheck}"

cache_log() { printf '%s: %s\n' "${CACHE_LOG_NAME:-cache}" "$*"; }

_hash_of() { cat "$@" | sha256sum | cut -c1-64; }

ensure_venv() {
  local dir="$1" req="$2"; shift 2
  local h; h="$( { python3 -c 'import sys; print(sys.version)'; cat "$req"; } | sha256sum | cut -c1-64)"
  if [ -f "$dir/.pins-hash" ] && [ "$(cat "$dir/.pins-hash")" = "$h" ] \
     && "$dir/bin/python" - "$req" "$@" >/dev/null 2>&1 <<'PY'
import importlib, re, sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if line:
        name, pin = re.split(r"==", line, maxsplit=1)
        if version(name.strip()) != pin.strip():
            sys.exit(1)
for m in sys.argv[2:]:
    importlib.import_module(m)
PY
  then
    cache_log "python: cached venv $dir is current"
    return 0
  fi
  cache_log "python: installing $(grep -cE '^[A-Za-z]' "$req") pinned packages into $dir"
  # In place (a venv's scripts name its own path); the marker, written last, vouches for it.
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --no-input --disable-pip-version-check -r "$req" </dev/null
  printf '%s\n' "$h" >"$dir/.pins-hash"
}

ensure_npm() {
  local dir="$1" src="$2"
  local h; h="$(_hash_of "$src/package.json" "$src/package-lock.json")"
  if [ -f "$dir/.pins-hash" ] && [ "$(cat "$dir/.pins-hash")" = "$h" ] && [ -d "$dir/node_modules" ]; then
    cache_log "node: cached node_modules in $dir is current"
    return 0
  fi
  cache_log "node: npm ci into $dir"
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir".tmp.*
  local tmp; tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
  cp "$src/package.json" "$src/package-lock.json" "$tmp/"
  (cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error </dev/null)
  printf '%s\n' "$h" >"$tmp/.pins-hash"
  rm -rf "$dir"
  mv "$tmp" "$dir"
}

# A free TCP port on 127.0.0.1 (the kernel picks; the race until reuse is acceptable here).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
