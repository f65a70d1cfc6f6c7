"""The mask threshold a model ships with, calibrated on healthy volumes.

A pseudo-healthy generator changes a healthy brain a little everywhere; how much depends on
the model, so a fixed threshold (ANT-GAN's 0.1) marks 0.1% of one model's healthy brain and
10% of another's. As unsupervised anomaly detection does (PHANES and others), the threshold
is chosen on healthy validation volumes: the smallest value that marks at most a given share
(1%) of the brain on every one of them.

    lesiongan calibrate --model run/model.pt --data healthy_validation/ [--fraction 0.01]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from .modelfile import DEFAULT_THRESHOLD, ModelFile

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model file to calibrate")
    parser.add_argument("--data", type=Path, required=True,
                        help="data folder; its subjects without a lesion voxel are the healthy volumes used")
    parser.add_argument("--fraction", type=float, default=DEFAULT_FRACTION,
                        help="share of the brain the mask may mark on each healthy volume (default 0.01)")
    parser.add_argument("--smooth-mm", type=float, default=None,
                        help="also set the model's smoothing of the difference map (Gaussian sigma in mm; 0 = none)")
    parser.add_argument("--min-size", type=int, default=None,
                        help="also set the model's minimum mask component, in voxels of the input")
    parser.add_argument("--out", type=Path, default=None,
                        help="calibrated model file to write (default: replace --model, atomically)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")


def run(args: argparse.Namespace) -> int:
    from ..data import readers
    from ..device import resolve_device
    from .engine import SliceInferer
    from .modelfile import load_model, repack_model

    if not 0 < args.fraction < 1:
        raise InputError("--fraction", f"must lie in (0, 1), got {args.fraction}")
    model = load_model(args.model)
    # Post-processing the threshold is calibrated with, written into the model beside it.
    settings = {}
    if args.smooth_mm is not None:
        if not (math.isfinite(args.smooth_mm) and 0 <= args.smooth_mm <= 10):
            raise InputError("--smooth-mm", f"must lie in [0, 10] mm, got {args.smooth_mm}")
        settings["smooth_mm"] = args.smooth_mm
    if args.min_size is not None:
        if args.min_size < 0:
            raise InputError("--min-size", f"must be >= 0 voxels, got {args.min_size}")
        settings["min_component_size"] = args.min_size
    model.conventions.update(settings)
    inferer = SliceInferer(device=resolve_device(args.device))
    differences, foregrounds, names = [], [], []
    for subject in readers.discover(args.data):
        volumes, mask = readers.load_subject(subject, model.modalities)
        if mask is not None and readers.lesion_mask(mask.array, subject).any():
            continue
        result = inferer([volumes[m] for m in model.modalities], model)
        differences.append(result.difference.array)
        foregrounds.append(result.foreground.array)
        names.append(subject.id)
        print(f"{subject.id}: healthy, {result.slices_run} slices in {result.seconds:.1f} s")
    if not names:
        raise InputError(args.data, "has no healthy subject (one whose mask has no lesion voxel) to calibrate on")
    threshold = calibrated_threshold(differences, foregrounds, args.fraction)
    fractions = [marked_fraction(d, f, threshold) for d, f in zip(differences, foregrounds)]
    out = args.out or args.model
    record = calibration_record(model, threshold, args.fraction, names, fractions)
    repack_model(args.model, out, half=None,
                 conventions={**settings, "threshold": threshold, "calibration": record})
    print(f"threshold {threshold:.4f} (was {model.threshold:g}): marks at most "
          f"{100 * max(fractions):.2f}% of the brain on {len(names)} healthy volume(s); written to {out}")
    return 0
