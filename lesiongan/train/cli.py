"""`lesiongan train`: train a method on a data folder (also under torchrun for several GPUs)."""

from __future__ import annotations

import argparse
import sys

from ..errors import Cancelled, InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default="antgan", help="training method (see --list-methods)")
    parser.add_argument("--preset", help="named options of the method: an ablation or a sweep point")
    parser.add_argument("--data", help="data folder (BraTS, Decathlon, ISLES, LiTS, image+mask pairs, phantom)")
    parser.add_argument("--out", help="run folder: checkpoints, logs, samples and model.pt")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=1, help="per process")
    parser.add_argument("--modalities", nargs="+", default=["flair"])
    parser.add_argument("--axis", default="axial", choices=["axial", "coronal", "sagittal"])
    parser.add_argument("--spacing", type=float, help="in-plane spacing in mm (default: as read)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="in-plane size in voxels")
    parser.add_argument("--slice-range", type=int, nargs=2, metavar=("FIRST", "STOP"), help="keep only slices FIRST <= k < STOP along the axis")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="subjects held out (recorded in split.json)")
    parser.add_argument("--ngf", type=int, help="generator width (shorthand for --set ngf=N)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a method option")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--init", help="model file whose networks this run starts from (fine-tuning; roles must match)")
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--sample-every", type=int, default=250)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--no-tensorboard", action="store_true")
    parser.add_argument("--list-methods", action="store_true", help="print the methods, their presets and options, and exit")


def list_methods() -> str:
    from ..methods import available_methods

    lines = []
    for name, cls in sorted(available_methods().items()):
        lines.append(f"{name}: {cls.description}")
        if cls.presets:
            default = f" (default {cls.default_preset})" if cls.default_preset else ""
            lines.append(f"  presets{default}: {', '.join(cls.presets)}")
        lines.append("  options: " + ", ".join(f"{key}={value}" for key, value in cls.Options.defaults().items()))
    return "\n".join(lines)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--set {pair}", "must be KEY=VALUE")
        overrides[key.strip()] = value
    return overrides


def run(args: argparse.Namespace) -> int:
    if args.list_methods:
        print(list_methods())
        return 0
    if not args.data or not args.out:
        raise InputError("lesiongan train", "needs --data and --out (or --list-methods)")
    from .loop import TrainConfig, train

    overrides = parse_overrides(args.overrides)
    if args.ngf is not None:
        overrides["ngf"] = str(args.ngf)
    config = TrainConfig(
        method=args.method,
        preset=args.preset,
        options=overrides,
        data=args.data,
        out=args.out,
        modalities=tuple(args.modalities),
        axis=args.axis,
        spacing=args.spacing,
        size=tuple(args.size) if args.size else None,
        slice_range=tuple(args.slice_range) if args.slice_range else None,
        val_fraction=args.val_fraction,
        iterations=args.iterations,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        amp=args.amp,
        checkpoint_every=args.checkpoint_every,
        sample_every=args.sample_every,
        log_every=args.log_every,
        resume=args.resume,
        init=args.init,
        tensorboard=not args.no_tensorboard,
    )
    try:
        path = train(config)
    except Cancelled as stopped:
        print(f"lesiongan train: {stopped}; continue with --resume", file=sys.stderr)
        return 0
    print(path)
    return 0
