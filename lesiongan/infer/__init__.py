"""Model files and slice-wise batched inference.

    from lesiongan.infer import SliceInferer, load_model
    result = SliceInferer(device="auto")(read_volume("case_flair.nii.gz"), load_model("model.pt"))

(`run_model(volume, model, **settings)` is the same for one run.)

Names are imported on first use, so `lesiongan.infer.catalog` and `.dependencies` stay
importable in a Slicer that has no torch yet.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "InferenceResult": ".engine", "resolve_device": "..device", "run_model": ".engine",
    "SliceInferer": ".engine", "threshold_difference": ".engine", "ModelFrame": ".frame", "model_frame": ".frame",
    "FORMAT": ".modelfile", "VERSION": ".modelfile", "ModelFile": ".modelfile", "load_model": ".modelfile",
    "save_model": ".modelfile",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
