"""Per-volume intensity normalization to [0, 1], kept as plain data that a model file stores.

MR (Xia et al.): clip to [0, V_p], V_p the p-th percentile (99.5 by default) of the
foreground voxels (the nonzero ones unless a mask is given), then divide by V_p. A volume
with negative values has its minimum, not 0, as the bottom of that range.
CT: a Hounsfield window given by level and width (default liver 40/400, so -160..240 HU).
Values clipped away cannot come back from `denormalize`; everything inside the window does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError

MR_DEFAULTS = {"percentile": 99.5}
CT_DEFAULTS = {"level": 40.0, "width": 400.0}
KINDS = ("mr", "ct")


def fit_normalization(array: np.ndarray, kind: str = "mr", foreground: np.ndarray | None = None,
                      **options: Any) -> dict[str, Any]:
    """The parameters that map this volume to [0, 1]: {"kind", options..., "low", "high"}."""
    if kind == "mr":
        settings = {**MR_DEFAULTS, **options}
        if set(settings) != set(MR_DEFAULTS) or not 0 < settings["percentile"] <= 100:
            raise InputError(options, "MR normalization takes only percentile in (0, 100]")
        inside = np.asarray(foreground, dtype=bool) if foreground is not None else array != 0
        if inside.shape != array.shape:
            raise InputError("foreground", f"mask shape {inside.shape} differs from the volume's {array.shape}")
        values = array[inside]
        # MR intensities start at 0; a volume shifted below it (z-scored, say) has its background
        # at its minimum, which then maps to 0 as a plain volume's 0 does (clipping at 0 would
        # make all its darker tissue background)
        low = min(0.0, float(array.min())) if array.size else 0.0
        high = float(np.percentile(values, settings["percentile"])) if values.size else low
        if not high > low:
            raise InputError("array", "holds no foreground intensity above its background (is it constant?)")
        return {"kind": "mr", "percentile": float(settings["percentile"]), "low": low, "high": high}
    if kind == "ct":
        settings = {**CT_DEFAULTS, **options}
        if set(settings) != set(CT_DEFAULTS) or not settings["width"] > 0:
            raise InputError(options, "CT normalization takes only level and a positive width (HU)")
        level, width = float(settings["level"]), float(settings["width"])
        return {"kind": "ct", "level": level, "width": width, "low": level - width / 2, "high": level + width / 2}
    raise InputError(kind, f"unknown normalization kind; choose one of {', '.join(KINDS)}")


def foreground_mask(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Voxels above each modality's background (its minimum) in any modality.

    Skull-stripped MR has a constant background at its minimum, CT air too; training and
    inference fit the MR percentile inside this same mask.
    """
    mask = np.zeros(arrays[0].shape, dtype=bool)
    for array in arrays:
        mask |= array > array.min()
    return mask


def _bounds(params: dict[str, Any]) -> tuple[float, float]:
    try:
        low, high = float(params["low"]), float(params["high"])
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(params, "normalization parameters need numeric 'low' and 'high'") from error
    if not high > low:
        raise InputError(params, "normalization needs high > low")
    return low, high


def normalize(array: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Map [low, high] to [0, 1], clipping outside; float32, the input untouched."""
    low, high = _bounds(params)
    scaled = (np.asarray(array, dtype=np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(scaled, 0.0, 1.0)


def denormalize(array: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """The inverse of `normalize` for values that were inside [low, high]."""
    low, high = _bounds(params)
    return (np.asarray(array, dtype=np.float32) * np.float32(high - low) + np.float32(low)).astype(np.float32)
