#!/usr/bin/env bash
# Create .venv-hf: PyTorch (CPU build) and Hugging Face transformers, the
# reference that tests/test_llama_hf.py checks the Llama model against.
# Re-installed only when requirements-hf.txt changes (a hash stamp).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-hf
REQ=requirements-hf.txt
STAMP=$VENV/.requirements.sha256
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

# torch wheels exist for Python 3.10 to 3.13; 3.11 first, for the CPU wheel
# that some machines keep on disk (pip's find-links), pyenv's 3.11 too when
# PYENV_VERSION selects another.
find_python() {
  local candidate pyenv_311=()
  if command -v pyenv >/dev/null 2>&1; then
    pyenv_311=("$(pyenv root)"/versions/3.11*/bin/python3.11)
  fi
  for candidate in "${PYTHON_HF:-}" python3.11 "${pyenv_311[@]}" python3.12 python3.13 \
    python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info < (3, 14))' \
        2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  if ! python=$(find_python); then
    echo "error: the transformers reference needs Python 3.10 to 3.13 for torch;" >&2
    echo "none was found. Point PYTHON_HF at one: PYTHON_HF=/path/to/python3.11" >&2
    exit 1
  fi
  echo "Creating $VENV with $("$python" --version) (reference for the Llama tests)" >&2
  "$python" -m venv "$VENV"
fi

pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
torch=$(grep '^torch==' "$REQ" | cut -d' ' -f1)
# A CPU wheel on disk (find-links) if there is one; else PyTorch's CPU index.
# PyPI's own torch for Linux is the CUDA build, several GB.
if ! "${pip[@]}" --no-index --no-deps "$torch" 2>/dev/null; then
  echo "No local wheel for $torch: taking it from PyTorch's CPU index" >&2
  "${pip[@]}" "$torch" --index-url https://download.pytorch.org/whl/cpu \
    --extra-index-url https://pypi.org/simple
fi
echo "Installing $REQ into $VENV" >&2
"${pip[@]}" -r "$REQ"
echo "$want" >"$STAMP"
