"""`lesiongan train`: train a method on a data folder (also under torchrun for several GPUs).

The flags build a `TrainConfig` (`config_from_args`); `--config FILE` reads one from JSON
(a run folder's run.json or config.json holds one too), and flags given beside it change it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import Cancelled, InputError
from .config import AMP_CHOICES, AXIS_CHOICES, DEVICE_CHOICES, TrainConfig

_DEFAULTS = TrainConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # A flag named after a TrainConfig field (--batch-size: batch_size) sets that field. No
    # argparse defaults: a flag not given leaves the setting to --config or TrainConfig.
    def add(*flags: str, help: str = "", **kwargs: Any) -> None:
        value = getattr(_DEFAULTS, flags[0].lstrip("-").replace("-", "_"), None)
        if value is not None and kwargs.get("action") != "store_true":
            help += f" (default: {' '.join(map(str, value)) if isinstance(value, tuple) else value})"
        parser.add_argument(*flags, default=argparse.SUPPRESS, help=help.strip(), **kwargs)

    add("--config", metavar="FILE", help="JSON of the run's settings (as TrainConfig.plain() writes them, or a run "
                                         "folder's run.json / config.json); flags given beside it change them")
    add("--method", help="training method (see --list-methods)")
    add("--preset", help="named options of the method: an ablation or a sweep point")
    add("--data", help="data folder (BraTS, Decathlon, ISLES, LiTS, image+mask pairs, phantom)")
    add("--out", help="run folder: checkpoints, logs, samples and model.pt")
    add("--iterations", type=int)
    add("--batch-size", type=int, help="per process")
    add("--modalities", nargs="+")
    add("--axis", choices=AXIS_CHOICES)
    add("--spacing", type=float, help="in-plane spacing in mm (default: as read)")
    add("--size", type=int, nargs=2, metavar=("H", "W"), help="in-plane size in voxels")
    add("--slice-range", type=int, nargs=2, metavar=("FIRST", "STOP"), help="keep only slices FIRST <= k < STOP along the axis")
    add("--val-fraction", type=float, help="subjects held out (recorded in split.json)")
    add("--ngf", type=int, help="generator width (shorthand for --set ngf=N)")
    add("--set", dest="overrides", action="append", metavar="KEY=VALUE", help="override a method option")
    add("--device", choices=DEVICE_CHOICES)
    add("--amp", choices=AMP_CHOICES)
    add("--seed", type=int)
    add("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add("--init", help="model file whose networks this run starts from (fine-tuning; roles must match; a "
                       "model on the first of --modalities widens to all of them where its generators can)")
    add("--checkpoint-every", type=int)
    add("--sample-every", type=int)
    add("--log-every", type=int)
    add("--no-tensorboard", action="store_true")
    add("--list-methods", action="store_true", help="print the methods, their presets and options, and exit")


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


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run the flags ask for: --config's settings (if given), each flag given over them,
    `--set` (text, parsed by the option's type) over the options; all checked as from JSON."""
    given = vars(args)
    settings: dict[str, Any] = TrainConfig.read(given["config"]).plain() if "config" in given else {}
    if not settings and not ("data" in given and "out" in given):
        raise InputError("lesiongan train", "needs --data and --out, or --config (or --list-methods)")
    settings.update({name: value for name, value in given.items() if name in TrainConfig.fields()})
    if given.get("no_tensorboard"):
        settings["tensorboard"] = False
    from ..methods.options import parse_overrides  # the methods package imports torch: only when asked

    texts = parse_overrides(given.get("overrides", []))
    if "ngf" in given:
        texts["ngf"] = str(given["ngf"])
    if texts:
        from ..methods import get_method

        method = get_method(settings.get("method", _DEFAULTS.method))
        settings["options"] = {**settings.get("options", {}), **method.Options.checked(texts, method.name, text=True)}
    return TrainConfig.from_plain(settings)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "list_methods", False):
        print(list_methods())
        return 0
    config = config_from_args(args)
    from .loop import train

    try:
        path = train(config)
    except Cancelled as stopped:
        print(f"lesiongan train: {stopped}; continue with --resume", file=sys.stderr)
        return 0
    print(path)
    return 0
