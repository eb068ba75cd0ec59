#!/usr/bin/env bash
# Install what phi3ray needs, once per machine, and reuse it afterwards:
#   - a virtual environment under $PHI3RAY_CACHE/venv with the pinned packages (torch first:
#     PyPI's Linux wheel is the multi-GB CUDA build, so it is installed alone and cached by pip);
#   - this checkout installed into it (editable, re-pointed at every call: cheap);
#   - the weaviate-server binary built from its Go module into $PHI3RAY_CACHE/bin;
#   - Debian's chromium when missing and this runs as root (the report's browser tests render report.html).
# Source it (`. scripts/install.sh`) to get PHI3RAY_PY and PHI3RAY_CACHE exported.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PHI3RAY_CACHE=${PHI3RAY_CACHE:-$HOME/.cache/phi3ray}
WEAVIATE_VERSION=1.39.0
VENV=$PHI3RAY_CACHE/venv
# a linked venv (CI links the machine's into a fresh cache) is used under its real path: compiled extensions
# (DeepSpeed's CPU comm op, ~40 s to build) are cached by the paths they were built from
[ -L "$VENV" ] && VENV=$(cd "$VENV" && pwd -P)
PY=${PYTHON:-python3}
mkdir -p "$PHI3RAY_CACHE/bin"

say() { printf '[phi3ray install] %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip "setuptools>=77" wheel
fi

stamp=$VENV/.phi3ray-deps
# the pins only (dependencies and extras): editing pytest markers or a description reinstalls nothing
want=$(sed -n '/^dependencies = \[/,/^\]/p; /^\[project.optional-dependencies\]/,/^\[tool/p' "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  torch_pin=$(grep -o '"torch==[^"]*"' "$ROOT/pyproject.toml" | tr -d '"')
  say "installing $torch_pin (CUDA wheel from PyPI, several GB, once)"
  "$VENV/bin/pip" install --progress-bar off "$torch_pin"
  say "installing phi3ray's dependencies"
  "$VENV/bin/pip" install --progress-bar off -e "$ROOT[test]"
  echo "$want" > "$stamp"
fi
# Point the editable install at this checkout when it points elsewhere (CI clones into a new folder each run).
# Asked from / : from inside a checkout, Python would find that checkout's phi3ray by its working directory.
if [ "$(cd / && "$VENV/bin/python" -c 'import phi3ray, os; print(os.path.dirname(os.path.dirname(phi3ray.__file__)))' 2>/dev/null)" != "$ROOT" ]; then
  log=$(mktemp)
  "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$ROOT" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  rm -f "$log"
fi

WEAVIATE_BIN=$PHI3RAY_CACHE/bin/weaviate-server-v$WEAVIATE_VERSION
if [ ! -x "$WEAVIATE_BIN" ]; then
  command -v go >/dev/null || { say "Go is needed to build weaviate-server (apt-get install golang-go)"; exit 1; }
  say "building weaviate-server v$WEAVIATE_VERSION from its Go module (once, several minutes)"
  tmp=$(mktemp -d)
  GOBIN=$tmp GOFLAGS=-trimpath go install "github.com/weaviate/weaviate/cmd/weaviate-server@v$WEAVIATE_VERSION"
  # verified before it is moved into place: a binary that does not run is never cached
  "$tmp/weaviate-server" --help >/dev/null 2>&1 || { say "the built weaviate-server does not run"; exit 1; }
  mv "$tmp/weaviate-server" "$WEAVIATE_BIN.tmp" && mv "$WEAVIATE_BIN.tmp" "$WEAVIATE_BIN"
  rm -rf "$tmp"
fi

if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium (the report's browser tests render report.html headless)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } ||
      say "could not install chromium: tests/eval/test_report_browser.py will skip (and fail where CI=true)"
  else
    say "no chromium: tests/eval/test_report_browser.py will skip (as root: apt-get install chromium)"
  fi
fi

export PHI3RAY_PY=$VENV/bin/python
# the venv's tools first, as in `. scripts/env.sh` and on Ray's workers: its ninja (1.13) builds DeepSpeed's CPU comm
# op; a system ninja of another version discards that build's log and rebuilds it (~1 min) at every switch
export PATH="$VENV/bin:$PATH"
export PHI3RAY_WEAVIATE_BIN=$WEAVIATE_BIN
say "ready: $PHI3RAY_PY, $WEAVIATE_BIN"
