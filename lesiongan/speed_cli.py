"""`lesiongan speed infer|train`: speed against the plain reference, measured in one process.

    lesiongan speed infer --size brats --repeats 3 --json speed_infer.json
    lesiongan speed train --ngf 64 --size 240 --batch-size 1 --iterations 5 --json speed_train.json

What is timed against what is `lesiongan.speed`. (`lesiongan benchmark` is the other one: the
papers' quality tables.) `lesiongan bench` is the old name of this command.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from .errors import InputError
from .io import write_json
from .methods.options import parse_overrides
from .speed import PHANTOM_SIZES, measure_infer, measure_train


def markdown_table(report: dict[str, Any]) -> str:
    machine = report["machine"]
    head = (f"device {machine['device']} ({machine.get('gpu') or machine['cpu_model']}, {machine['cpu_cores']} cores, "
            f"{machine['torch_threads']} torch threads), torch {machine['torch']}, load average "
            f"{' '.join(f'{v:.2f}' for v in machine['load_average'] or [])}")
    if report["benchmark"] == "infer":
        rows = ["| run | s / volume | slices / s | peak memory MB | speed-up | max gap to reference (in brain) | mask Dice |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name in ("reference", "engine", "engine_crop"):
            if name not in report:
                continue
            r = report[name]
            ratio = f"{r['speedup']:.2f}x" if "speedup" in r else "1x"
            gap = (f"{r['agreement']['max_abs_difference']:.2e} ({r['agreement']['max_abs_difference_in_foreground']:.2e})"
                   if "agreement" in r else "-")
            dice = f"{r['agreement']['mask_dice']:.4f}" if "agreement" in r else "-"
            rows.append(f"| {name} | {r['seconds_per_volume']:.2f} | {r['slices_per_s']:.2f} | {r['peak_memory_mb']:.0f} "
                        f"| {ratio} | {gap} | {dice} |")
        tail = (f"gaps: largest |difference map - reference's| in normalized [0, 1] units on the foreground "
                f"slices (inside the brain mask in brackets); mask Dice against the reference's mask at the model's "
                f"threshold; tolerance "
                f"{report['agreement']['tolerance']:.0e} for the engine (crop=True is approximate by design)")
    else:
        rows = ["| step | s / iteration | iterations / s | images / s | peak memory MB |", "| --- | ---: | ---: | ---: | ---: |"]
        for name, label in (("reference", "plain fp32 CycleGAN"), ("shipped", f"ANT-GAN step, preset {report['setup']['preset']}")):
            r = report[name]
            rows.append(f"| {label} | {r['seconds_per_iteration']:.3f} | {r['iterations_per_s']:.2f} | "
                        f"{r['images_per_s']:.2f} | {r['peak_memory_mb']:.0f} |")
        tail = f"speed-up {report['speedup']:.2f}x (amp {report['setup']['amp']})"
    return "\n".join([head, "", *rows, "", tail])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="measure", metavar="{infer,train}", required=True)
    infer = sub.add_parser("infer", help="engine against the slice-at-a-time fp32 reference on a phantom volume")
    infer.add_argument("--model", help="model file (default: a random-weight ResNet generator with --ngf, 9 blocks)")
    infer.add_argument("--ngf", type=int, default=64, help="width of the random-weight generator (default 64)")
    infer.add_argument("--size", default="brats", choices=PHANTOM_SIZES, help="phantom size (brats: 240x240x155)")
    infer.add_argument("--device", default="auto", help="auto, cpu or cuda")
    infer.add_argument("--repeats", type=int, default=3, help="timed runs of each (the fastest counts)")
    infer.add_argument("--crop", action="store_true", help="also time the engine's approximate crop=True mode")
    infer.add_argument("--threads", type=int, help="torch CPU threads for every run (default: torch's own)")
    infer.add_argument("--json", help="write the report here as JSON")
    train = sub.add_parser("train", help="shipped ANT-GAN step against a plain fp32 CycleGAN step")
    train.add_argument("--preset", default="antgan",
                       help="ANT-GAN preset whose step is timed: antgan (the paper's, default) or twin-gate (the demo model's)")
    train.add_argument("--ngf", type=int, default=64)
    train.add_argument("--blocks", type=int, default=9, help="residual blocks per generator (default 9)")
    train.add_argument("--size", type=int, default=240, help="slice side in pixels (default 240)")
    train.add_argument("--batch-size", type=int, default=1)
    train.add_argument("--channels", type=int, default=1, help="sequences per slice (default 1; the demo model takes 4)")
    train.add_argument("--compile", action="store_true", help="run the ANT-GAN step's networks through torch.compile")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="an ANT-GAN option on top of the preset (e.g. drop_modalities=0.3)")
    train.add_argument("--iterations", type=int, default=5, help="timed steps of each (the median counts)")
    train.add_argument("--device", default="auto", help="auto, cpu or cuda")
    train.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    train.add_argument("--json", help="write the report here as JSON")


def run(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise InputError("--threads", f"must be >= 1, not {args.threads}")
        torch.set_num_threads(args.threads)
    if args.measure == "infer":
        report = measure_infer(args.model, args.size, args.device, args.repeats, args.ngf, crop=args.crop)
    else:
        report = measure_train(args.ngf, args.size, args.batch_size, args.iterations, args.device, n_blocks=args.blocks,
                               preset=args.preset, channels=args.channels, compile_networks=args.compile,
                               overrides=parse_overrides(args.set))
    print(markdown_table(report))
    if args.json:
        write_json(args.json, report)
    if report["benchmark"] == "infer" and not report["agreement"]["within_tolerance"]:
        print("reference and engine disagree beyond the tolerance: the speed-up does not count")
        return 1
    return 0
