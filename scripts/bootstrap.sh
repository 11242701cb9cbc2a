#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and the pinned requirements, once.
# Re-installs only when requirements.txt changes. Prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP=$VENV/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  if ! python=$(find_python); then
    echo "error: this project needs Python 3.12 or newer, and none was found." >&2
    echo "Install one (python.org, your package manager, or 'pyenv install 3.12')," >&2
    echo "or point PYTHON at it: PYTHON=/path/to/python3.12 make test" >&2
    exit 1
  fi
  echo "Creating $VENV with $("$python" --version)" >&2
  "$python" -m venv "$VENV"
fi

echo "Installing the pinned requirements into $VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
echo "$want" >"$STAMP"
