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
# The web app's slice views need Slicer's layer displayable manager. Its wheel declares
# slicer-core 5.11 only, yet works with the 5.13 libraries pinned in pyproject.toml (the
# browser test checks it), so pip is told not to resolve its dependencies.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "slicer-layer-dm==2.0.0"
# The browser tests drive Debian's chromium: installed in CI (CI=true) or when asked
# (LESIONGAN_BROWSER=1); without it they are skipped.
if [ "${CI:-}" = "true" ] || [ "${LESIONGAN_BROWSER:-0}" = "1" ]; then
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi
echo "setup: ready ($(.venv/bin/python -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__)'))"
