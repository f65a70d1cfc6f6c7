"""What each post-processing step of the difference map adds, measured on validation cases.

Runs a model once per subject, then thresholds its difference map several ways:
- raw (the whole volume), or restricted to the brain (the engine's foreground);
- smoothed by a Gaussian of sigma 1 voxel before thresholding, or not;
- components under N voxels dropped (N = 0, 20, 100, 500).
For each, the threshold is calibrated on the healthy subjects (at most --fraction of the
brain's volume marked on each, as `lesiongan calibrate` does), then the mask Dice on the subjects with a lesion is reported. Prints a
Markdown table; docs/ablation.md keeps its output.

    .venv/bin/python scripts/postprocess_study.py --model run/model.pt --data val/ [--fraction 0.01]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from scipy import ndimage

from lesiongan.data import readers
from lesiongan.infer.engine import run_model, threshold_difference
from lesiongan.infer.modelfile import load_model
from lesiongan.metrics.detection import dice

MIN_SIZES = (0, 20, 100, 500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="validation cases: some healthy, some with lesions")
    parser.add_argument("--fraction", type=float, default=0.01)
    args = parser.parse_args()
    model = load_model(args.model)
    runs = []  # (difference, foreground, true mask or None)
    for subject in readers.discover(args.data):
        volumes, mask = readers.load_subject(subject, model.modalities)
        result = run_model([volumes[m] for m in model.modalities], model, device="cpu")
        truth = None if mask is None else readers.lesion_mask(mask.array, subject)
        runs.append((result.difference, result.foreground, truth if truth is not None and truth.any() else None))
    healthy = [run for run in runs if run[2] is None]
    lesions = [run for run in runs if run[2] is not None]
    if not healthy or not lesions:
        raise SystemExit(f"{args.data} needs both healthy subjects and subjects with a lesion")
    print(f"{len(healthy)} healthy and {len(lesions)} lesion subjects of {args.data}, model {args.model}\n")
    print("| brain only | smoothed | min component | threshold | healthy marked (max) | Dice (mean) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for in_brain, smooth, min_size in itertools.product((False, True), (False, True), MIN_SIZES):
        def score_map(difference):
            array = difference.array
            return difference.with_array(ndimage.gaussian_filter(array, 1.0) if smooth else array)

        # Calibrated so that what is marked anywhere in scope is at most `fraction` of the brain.
        threshold = max(float(np.quantile(score_map(d).array[f.array > 0] if in_brain else score_map(d).array,
                                          1 - args.fraction * (1 if in_brain else f.array.mean()), method="higher"))
                        for d, f, _ in healthy)

        def masked(difference, foreground):
            # Dropping specks only lowers what is marked: the calibrated threshold still holds.
            return threshold_difference(difference, threshold, foreground if in_brain else None, min_size).array

        marked = max(float(masked(score_map(d), f).sum()) / float(f.array.sum()) for d, f, _ in healthy)
        dices = [dice(masked(score_map(d), f), t) for d, f, t in lesions]
        print(f"| {'yes' if in_brain else 'no'} | {'yes' if smooth else 'no'} | {min_size} | {threshold:.4f} | "
              f"{100 * marked:.2f}% | {np.mean(dices):.3f} |")


if __name__ == "__main__":
    main()
