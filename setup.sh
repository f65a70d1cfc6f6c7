#!/usr/bin/env bash
# Sets up .venv with LesionGAN and everything its demo and tests need. Safe to run again.
#  - If the python3 on PATH can already import torch (say a CUDA build), the venv sees
#    that torch through --system-site-packages and nothing replaces it.
#  - Otherwise torch==2.13.0 is installed: the standard wheel for the platform.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "setup: using the torch that $PY already has: $("$PY" -c 'import torch; print(torch.__version__)')"
    "$PY" -m venv --system-site-packages .venv
  else
    "$PY" -m venv .venv
  fi
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
echo "setup: ready ($(.venv/bin/python -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__)'))"
