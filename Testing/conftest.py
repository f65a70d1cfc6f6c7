"""Shared fixtures. Tests run on the CPU with few threads, so two pytest workers share 2 cores."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The Slicer module libraries are plain packages inside the module folders, as in Slicer;
# LesionGANLib (the package the modules share) is at the top, beside lesiongan.
for module_dir in ("PseudoHealthy", "LesionSynthesis", "LesionGANTraining"):
    sys.path.insert(0, str(ROOT / module_dir))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
