#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and the pinned requirements, and
# node_modules with the pinned front-end packages. Each is re-installed only
# when its pin file changes.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP=$VENV/.requirements.sha256
# The pins and the project's own metadata (its MkDocs plugin entry point).
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)

# Interpreters to try, best first: $PYTHON, then what is on PATH, then every
# version pyenv has installed even where it is not the default (pyenv's shims
# for a version that is not selected fail when run, and are skipped).
candidates() {
  printf '%s\n' "${PYTHON:-}" python3.12 python3.13 python3
  local root
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  ls -d "$root"/versions/3.*/bin/python3 2>/dev/null | sort -V
}

find_python() {
  local candidate
  while read -r candidate; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done < <(candidates)
  return 1
}

# MathJax and its font are served by the site itself; axe-core is for the
# browser tests. package-lock.json pins them; npm ci installs exactly that.
NPM_STAMP=node_modules/.package-lock.sha256
npm_want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$NPM_STAMP" 2>/dev/null)" != "$npm_want" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is needed to install MathJax for the site; install Node.js (with npm)." >&2
    exit 1
  fi
  echo "Installing the pinned front-end packages into node_modules" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$npm_want" >"$NPM_STAMP"
fi

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
# The build machinery as an editable package: MkDocs loads its plugin by name.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
echo "$want" >"$STAMP"
