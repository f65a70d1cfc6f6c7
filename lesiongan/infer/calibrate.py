"""The mask threshold a model ships with, calibrated on healthy volumes.

A pseudo-healthy generator changes a healthy brain a little everywhere; how much depends on
the model, so a fixed threshold (ANT-GAN's 0.1) marks 0.1% of one model's healthy brain and
10% of another's. As unsupervised anomaly detection does (PHANES and others), the threshold
is chosen on healthy validation volumes: the smallest value that marks at most a given share
(1%) of the brain on every one of them. `calibrate_model` does it for a model file and a data
folder (`lesiongan calibrate`).

That bound says nothing about the tissue around a lesion. A better generator changes healthy
brain less, so the bound falls, and the faint rim the generator leaves around each lesion then
enters the mask (docs/ablation.md: four GPU-trained models at bounds of 0.03-0.08 gave lower
Dice than at 0.10). Where labelled validation cases exist, objective "dice" keeps the healthy
bound as a floor and takes, from the thresholds above it, the one whose masks have the best
mean Dice on them.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
OBJECTIVES = ("healthy", "dice")
# Objective "dice" tries thresholds from the healthy bound up to DICE_SPAN times it, evenly in log.
DICE_SPAN, DICE_STEPS = 4.0, 29


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


def best_dice_threshold(cases: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], floor: float,
                        min_component_size: int = 0) -> tuple[float, float]:
    """(threshold, mean Dice): of the thresholds from `floor` (the healthy bound) to DICE_SPAN
    times it, the lowest one whose masks have the best mean Dice on the lesion `cases`, each
    (difference, foreground, true lesion mask), the masks made as the engine makes them."""
    from ..metrics.detection import dice
    from .engine import mask_array

    cases = [case for case in cases if np.any(case[2])]
    if not cases:
        raise InputError("lesion cases", "none with a lesion voxel to choose a threshold by Dice on")
    # A model that leaves healthy brain untouched has a bound of 0: try the usual range instead.
    candidates = floor * np.geomspace(1, DICE_SPAN, DICE_STEPS) if floor > 0 else np.geomspace(0.01, 1, DICE_STEPS)
    scores = [float(np.mean([dice(mask_array(d, t, f, min_component_size), truth > 0, within=f > 0)
                             for d, f, truth in cases])) for t in candidates]
    best = int(np.argmax(scores))
    return float(candidates[best]), scores[best]


def foreground_crop(difference: np.ndarray, foreground: np.ndarray,
                    lesion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three cut to the foreground's bounding box (less to label per threshold tried)."""
    from scipy import ndimage

    boxes = ndimage.find_objects((foreground > 0).astype(np.uint8))
    if not boxes:
        return difference, foreground, lesion
    return difference[boxes[0]], foreground[boxes[0]], lesion[boxes[0]]


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
    objective: str = "healthy"
    lesion_subjects: list[str] = field(default_factory=list)
    dice: float | None = None  # mean Dice on the lesion subjects (objective "dice")


def calibrate_model(model_path: Path, data: Path, out: Path | None = None, fraction: float = DEFAULT_FRACTION,
                    device: str = "auto", settings: dict[str, Any] | None = None,
                    on_subject: Callable[[str, InferenceResult], None] | None = None,
                    objective: str = "healthy") -> Calibration:
    """Calibrate the threshold of the model at `model_path` on the healthy subjects of `data`
    (those whose mask has no lesion voxel) and write the model with it to `out` (default: in
    place, atomically). With `objective` "dice" the threshold is then raised to the one with
    the best mean Dice on the lesion subjects of `data` (`best_dice_threshold`). `settings`
    (see `post_processing`) are applied before and recorded; `on_subject(id, result)` hears of
    each subject as it is run."""
    from ..data import readers
    from ..device import resolve_device
    from .cases import subject_inputs
    from .engine import SliceInferer
    from .modelfile import load_model, repack_model

    if not 0 < fraction < 1:
        raise InputError("--fraction", f"must lie in (0, 1), got {fraction}")
    if objective not in OBJECTIVES:
        raise InputError("--objective", f"must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    settings = dict(settings or {})
    model = load_model(model_path)
    model.conventions.update(settings)
    inferer = SliceInferer(device=resolve_device(device))
    differences, foregrounds, names = [], [], []
    lesion_cases, lesion_names = [], []
    for subject in readers.discover(data):
        volumes, mask = subject_inputs(subject, model)
        lesion = None if mask is None else readers.lesion_mask(mask.array, subject)
        has_lesion = lesion is not None and bool(lesion.any())
        if has_lesion and objective != "dice":
            continue
        result = inferer(volumes, model)
        if on_subject is not None:
            on_subject(subject.id, result)
        if has_lesion:
            lesion_cases.append(foreground_crop(result.difference.array, result.foreground.array, lesion))
            lesion_names.append(subject.id)
        else:
            differences.append(result.difference.array)
            foregrounds.append(result.foreground.array)
            names.append(subject.id)
    if not names:
        raise InputError(data, "has no healthy subject (one whose mask has no lesion voxel) to calibrate on")
    if objective == "dice" and not lesion_cases:
        raise InputError(data, "has no lesion subject (a mask with lesion voxels) to choose the threshold by Dice on")
    threshold = calibrated_threshold(differences, foregrounds, fraction)
    extra: dict[str, Any] = {}
    dice = None
    if objective == "dice":
        healthy_bound = threshold
        threshold, dice = best_dice_threshold(lesion_cases, healthy_bound,
                                              int(model.conventions.get("min_component_size", 0)))
        extra = {"objective": "dice", "healthy_threshold": healthy_bound, "lesion_subjects": lesion_names,
                 "dice": round(dice, 4)}
    fractions = [marked_fraction(d, f, threshold) for d, f in zip(differences, foregrounds)]
    out = out or model_path
    record = {**calibration_record(model, threshold, fraction, names, fractions), **extra}
    repack_model(model_path, out, half=None, conventions={**settings, "threshold": threshold, "calibration": record})
    return Calibration(threshold, fraction, names, fractions, model.threshold, out, objective, lesion_names, dice)
