"""Rules per connected component of a model's difference map, measured on labelled cases.

The model runs once per subject (the engine's map, smoothed as the model asks, and its
foreground); then, for each rule (scale, k, rho), the mask is the map above scale x the
model's threshold inside the foreground, kept only in components whose peak reaches k times
that (hysteresis) and, within each, above rho x its peak; with a fourth value r, only the
components whose peak reaches r times the subject's highest component peak are kept (a rule
relative to the subject rather than to the threshold); components under the model's minimum
size are dropped first. Prints the mean Dice on the subjects with a lesion and the
largest share of a healthy brain marked, best first (docs/ablation.md keeps the output).

    .venv/bin/python scripts/component_rules.py --model model.pt --data work/demo-model/val-dice
    .venv/bin/python scripts/component_rules.py --model model.pt --data work/demo-model/test-id \
        --rules 1,0,0 0.7,3,0.2 1,2,0.2
    .venv/bin/python scripts/component_rules.py --model model.pt --data work/demo-model/val-dice --relative
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from scipy import ndimage

from lesiongan.data import readers
from lesiongan.infer.calibrate import foreground_crop
from lesiongan.infer.cases import subject_inputs
from lesiongan.infer.engine import SliceInferer, mask_array
from lesiongan.infer.modelfile import load_model
from lesiongan.metrics.detection import dice

GRID = list(itertools.product((0.7, 1.0, 1.5, 2.0), (0, 2, 3, 4, 6), (0, 0.2, 0.3, 0.4, 0.5), (0,)))
RELATIVE_GRID = list(itertools.product((0.8, 1.0, 1.2), (0,), (0,), (0, 0.3, 0.4, 0.5, 0.6, 0.7)))


def rule_mask(difference: np.ndarray, foreground: np.ndarray, threshold: float, min_size: int,
              k: float, rho: float, relative: float = 0.0) -> np.ndarray:
    """The mask of one rule (`threshold` already scaled)."""
    labels, count = ndimage.label(mask_array(difference, threshold, foreground, min_size))
    if not count:
        return labels > 0
    peaks = np.concatenate([[0.0], ndimage.maximum(difference, labels, np.arange(1, count + 1))])
    # a component stays where its peak reaches k x threshold and r x the strongest peak
    kept = (peaks >= k * threshold) & (peaks >= relative * peaks.max())
    kept[0] = False
    return kept[labels] & (difference >= rho * peaks[labels])


def parse_rule(text: str) -> tuple[float, float, float, float]:
    """`scale,k,rho` or `scale,k,rho,r` (r 0 when left out)."""
    try:
        values = [float(value) for value in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (3, 4):
        raise SystemExit(f"--rules: {text!r} is not scale,k,rho or scale,k,rho,r")
    return (*values, 0.0)[:4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="labelled cases (healthy ones optional)")
    parser.add_argument("--rules", nargs="+", default=None, help="scale,k,rho[,r] values (default: a grid)")
    parser.add_argument("--relative", action="store_true", help="the default grid over scale and r instead")
    args = parser.parse_args()
    rules = (RELATIVE_GRID if args.relative else GRID) if args.rules is None else [parse_rule(r) for r in args.rules]
    model = load_model(args.model)
    min_size = int(model.conventions.get("min_component_size", 0))
    inferer = SliceInferer(device="cpu")
    runs = []  # (difference, foreground, lesion mask or None), cut to the foreground's box
    for subject in readers.discover(args.data):
        volumes, mask = subject_inputs(subject, model)
        result = inferer(volumes, model)
        lesion = np.zeros(result.foreground.shape, np.uint8) if mask is None else readers.lesion_mask(mask.array, subject)
        difference, foreground, truth = foreground_crop(result.difference.array, result.foreground.array > 0, lesion > 0)
        runs.append((difference, foreground, truth if truth.any() else None))
    scores = []
    for scale, k, rho, relative in rules:
        masks = [(rule_mask(d, f, scale * model.threshold, min_size, k, rho, relative), f, t) for d, f, t in runs]
        dices = [dice(m, t) for m, _, t in masks if t is not None]
        marked = [m.sum() / f.sum() for m, f, t in masks if t is None]
        scores.append((float(np.mean(dices)), max(marked, default=float("nan")), (scale, k, rho, relative), dices))
    print(f"{args.model} on {args.data}: threshold {model.threshold:.4f}, minimum component {min_size}")
    print("| scale | k | rho | r | Dice (mean) | healthy marked (max) | Dice per lesion subject |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for mean, marked, (scale, k, rho, relative), dices in sorted(scores, key=lambda row: -row[0]):
        print(f"| {scale:g} | {k:g} | {rho:g} | {relative:g} | {mean:.3f} | {100 * marked:.2f}% | {' '.join(f'{d:.2f}' for d in dices)} |")


if __name__ == "__main__":
    main()
