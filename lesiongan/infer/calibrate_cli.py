"""`lesiongan calibrate`: set a model's mask threshold on healthy volumes.

    lesiongan calibrate --model run/model.pt --data healthy_validation/ [--fraction 0.01]
    lesiongan calibrate --model run/model.pt --data labelled_validation/ --objective dice

The smallest threshold that marks at most `--fraction` of the brain on every healthy volume
of `--data` (`lesiongan.infer.calibrate.calibrate_model`), written into the model file; with
`--objective dice`, raised from there to the threshold with the best mean Dice on the lesion
subjects of `--data`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .calibrate import DEFAULT_FRACTION, OBJECTIVES, calibrate_model, post_processing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model file to calibrate")
    parser.add_argument("--data", type=Path, required=True,
                        help="data folder; its subjects without a lesion voxel are the healthy volumes used")
    parser.add_argument("--fraction", type=float, default=DEFAULT_FRACTION,
                        help="share of the brain the mask may mark on each healthy volume (default 0.01)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="healthy",
                        help="healthy (default): the smallest threshold within --fraction; dice: from there, the "
                             "threshold with the best mean Dice on the lesion subjects of --data")
    parser.add_argument("--smooth-mm", type=float, default=None,
                        help="also set the model's smoothing of the difference map (Gaussian sigma in mm; 0 = none)")
    parser.add_argument("--min-size", type=int, default=None,
                        help="also set the model's minimum mask component, in voxels of the input")
    parser.add_argument("--out", type=Path, default=None,
                        help="calibrated model file to write (default: replace --model, atomically)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")


def run(args: argparse.Namespace) -> int:
    def report(subject: str, result) -> None:
        print(f"{subject}: {result.slices_run} slices in {result.seconds:.1f} s")

    calibration = calibrate_model(args.model, args.data, args.out, args.fraction, args.device,
                                  post_processing(args.smooth_mm, args.min_size), on_subject=report,
                                  objective=args.objective)
    if calibration.dice is not None:
        print(f"best mean Dice {calibration.dice:.3f} on {len(calibration.lesion_subjects)} lesion subject(s)")
    print(f"threshold {calibration.threshold:.4f} (was {calibration.previous:g}): marks at most "
          f"{100 * max(calibration.marked):.2f}% of the brain on {len(calibration.subjects)} healthy volume(s); "
          f"written to {calibration.out}")
    return 0
