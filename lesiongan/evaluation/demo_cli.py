"""`lesiongan demo`: the demo model on a phantom case with a lesion, scored against the truth.

    lesiongan demo --out demo-output

Writes the input, `<name>_healthy.nii.gz`, `<name>_diff.nii.gz`, `<name>_mask.nii.gz` and
`<name>_overview.png`, and prints the scores the phantom's ground truth allows
(`lesiongan.evaluation.demo.run_demo`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checks import seed_arg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default demo-output)")
    parser.add_argument("--seed", type=seed_arg, default=0, help="phantom case seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--model", type=Path, default=None, help="model file (default: the shipped demo model)")
    parser.add_argument("--size", choices=("brats", "tiny"), default="brats",
                        help="phantom grid: brats (240 x 240 x 155, default) or tiny (for quick checks)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an earlier demo run")


def run(args: argparse.Namespace) -> int:
    from .demo import run_demo

    report = run_demo(args.out, args.model, seed=args.seed, size=args.size, device=args.device,
                      overwrite=args.overwrite)
    model, result, scores = report.model, report.result, report.scores
    print(f"model       {report.model_path} ({model.method}, {', '.join(model.modalities)})")
    print(f"case        {report.name}: {args.size} phantom, seed {args.seed}, {report.lesion_voxels} lesion voxels, "
          f"{report.changed_voxels} changed")
    print(f"device      {result.device}: {result.slices_run} slices in {result.seconds:.1f} s")
    print(f"non-lesion PSNR (brain, outside the lesion): {scores['psnr_nonlesion']:.2f} dB")
    print(f"mask Dice at threshold {model.threshold:g}: {scores['dice']:.3f}  (AUPRC {scores['auprc']:.3f})")
    print(f"changed-region PSNR vs the true healthy volume: {scores['psnr_lesion']:.2f} dB "
          f"(input: {report.input_psnr_lesion:.2f} dB)")
    if report.healthiness is not None:
        print(f"healthiness (1 = f_pre finds no lesion left): {report.healthiness[0]:.3f} "
              f"(input: {report.healthiness[1]:.3f})")
    print(f"written     {args.out}/{report.name}_{{healthy,diff,mask}}.nii.gz and {report.overview.name}")
    print(f"total time  {report.seconds:.1f} s")
    return 0
