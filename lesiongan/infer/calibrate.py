"""The mask threshold a model ships with, calibrated on healthy volumes.

A pseudo-healthy generator changes a healthy brain a little everywhere; how much depends on
the model, so a fixed threshold (ANT-GAN's 0.1) marks 0.1% of one model's healthy brain and
10% of another's. As unsupervised anomaly detection does (PHANES and others), the threshold
is chosen on healthy validation volumes: the smallest value that marks at most a given share
(1%) of the brain on every one of them. `calibrate_model` does it for a model file and a data
folder (`lesiongan calibrate`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from .modelfile import DEFAULT_THRESHOLD, ModelFile

if TYPE_CHECKING:  # the engine imports torch; `threshold_argument` and the arithmetic here do not need it
    from .engine import InferenceResult

# Named thresholds `--threshold` accepts besides a number and the model's own ("model").
THRESHOLD_PRESETS = {"antgan": DEFAULT_THRESHOLD}
DEFAULT_FRACTION = 0.01


def threshold_argument(text: str) -> float | None:
    """argparse type of `--threshold`: a number >= 0, 'model' (None: the model's own) or a preset."""
    if text == "model":
        return None
    if text in THRESHOLD_PRESETS:
        return THRESHOLD_PRESETS[text]
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number, 'model' or one of {', '.join(THRESHOLD_PRESETS)}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def marked_fraction(difference: np.ndarray, foreground: np.ndarray, threshold: float) -> float:
    """Share of the foreground whose difference exceeds `threshold` (what the mask marks)."""
    inside = foreground > 0
    return float(np.count_nonzero(difference[inside] > threshold)) / max(1, int(np.count_nonzero(inside)))


def calibrated_threshold(differences: Sequence[np.ndarray], foregrounds: Sequence[np.ndarray],
                         fraction: float = DEFAULT_FRACTION) -> float:
    """The smallest threshold that marks at most `fraction` of the foreground of every volume.

    Per volume that is the (1 - fraction) quantile of its difference map in the foreground;
    the largest of those holds for all of them.
    """
    if not 0 < fraction < 1:
        raise InputError("fraction", f"must lie in (0, 1), got {fraction}")
    if not differences:
        raise InputError("healthy volumes", "none given to calibrate on")
    values = []
    for difference, foreground in zip(differences, foregrounds):
        inside = difference[foreground > 0]
        if inside.size == 0:
            raise InputError("healthy volume", "has an empty foreground")
        values.append(float(np.quantile(inside, 1 - fraction, method="higher")))
    return max(values)


def calibration_record(model: ModelFile, threshold: float, fraction: float, subjects: Sequence[str],
                       fractions: Sequence[float]) -> dict:
    """What a calibrated model file records beside its threshold, so a reader knows where it came from."""
    return {"threshold": threshold, "fraction": fraction, "subjects": list(subjects),
            "marked": [round(f, 5) for f in fractions], "previous": model.threshold}


def post_processing(smooth_mm: float | None = None, min_size: int | None = None) -> dict[str, Any]:
    """The post-processing a threshold is calibrated with and a model file then records: the
    difference map's smoothing (Gaussian sigma, mm) and the smallest mask component (voxels)."""
    settings: dict[str, Any] = {}
    if smooth_mm is not None:
        if not (math.isfinite(smooth_mm) and 0 <= smooth_mm <= 10):
            raise InputError("--smooth-mm", f"must lie in [0, 10] mm, got {smooth_mm}")
        settings["smooth_mm"] = smooth_mm
    if min_size is not None:
        if min_size < 0:
            raise InputError("--min-size", f"must be >= 0 voxels, got {min_size}")
        settings["min_component_size"] = min_size
    return settings


@dataclass
class Calibration:
    """A calibrated threshold, the healthy subjects it was set on and the share of the brain it
    marks on each; `previous` is the model's threshold before."""

    threshold: float
    fraction: float
    subjects: list[str]
    marked: list[float]
    previous: float
    out: Path


def calibrate_model(model_path: Path, data: Path, out: Path | None = None, fraction: float = DEFAULT_FRACTION,
                    device: str = "auto", settings: dict[str, Any] | None = None,
                    on_subject: Callable[[str, InferenceResult], None] | None = None) -> Calibration:
    """Calibrate the threshold of the model at `model_path` on the healthy subjects of `data`
    (those whose mask has no lesion voxel) and write the model with it to `out` (default: in
    place, atomically). `settings` (see `post_processing`) are applied before and recorded;
    `on_subject(id, result)` hears of each healthy subject as it is run."""
    from ..data import readers
    from ..device import resolve_device
    from .cases import subject_inputs
    from .engine import SliceInferer
    from .modelfile import load_model, repack_model

    if not 0 < fraction < 1:
        raise InputError("--fraction", f"must lie in (0, 1), got {fraction}")
    settings = dict(settings or {})
    model = load_model(model_path)
    model.conventions.update(settings)
    inferer = SliceInferer(device=resolve_device(device))
    differences, foregrounds, names = [], [], []
    for subject in readers.discover(data):
        volumes, mask = subject_inputs(subject, model)
        if mask is not None and readers.lesion_mask(mask.array, subject).any():
            continue
        result = inferer(volumes, model)
        differences.append(result.difference.array)
        foregrounds.append(result.foreground.array)
        names.append(subject.id)
        if on_subject is not None:
            on_subject(subject.id, result)
    if not names:
        raise InputError(data, "has no healthy subject (one whose mask has no lesion voxel) to calibrate on")
    threshold = calibrated_threshold(differences, foregrounds, fraction)
    fractions = [marked_fraction(d, f, threshold) for d, f in zip(differences, foregrounds)]
    out = out or model_path
    record = calibration_record(model, threshold, fraction, names, fractions)
    repack_model(model_path, out, half=None, conventions={**settings, "threshold": threshold, "calibration": record})
    return Calibration(threshold, fraction, names, fractions, model.threshold, out)
