"""Where model files live: the shipped demo model, the download cache and registered models."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
DEMO_MODEL_FILE = "demo_antgan_flair.pt"


def models_dir() -> Path:
    """The package's own model folder (shipped with the extension and the wheel)."""
    return PACKAGE_DIR / "resources" / "models"


def default_model_path() -> Path:
    """The small demo model that ships with LesionGAN (the panels' default)."""
    return models_dir() / DEMO_MODEL_FILE


def cache_dir() -> Path:
    """Downloaded and registered models: $LESIONGAN_CACHE, else ~/.cache/lesiongan."""
    configured = os.environ.get("LESIONGAN_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "lesiongan"
