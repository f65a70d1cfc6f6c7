"""What a training run is checked against before it touches its folder: the method's option
values, a checkpoint it resumes from, and the memory a step will need (the configuration's
own settings: `config.check_config`).

Every check raises `InputError` naming the option (or file) and the problem, so a run with
nonsense settings ends in one clear line instead of a traceback or, worse, a run that
trains on NaN until it says "finished".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..checks import check_count, check_number
from ..errors import InputError
from ..limits import check_memory
from .config import MIN_SIZE

# Options fixed for the whole run: resuming with another value is refused (the others, such as
# device, amp and how often to log, sample or checkpoint, may change between sessions).
RESUME_FIXED = ("method", "preset", "modalities", "axis", "spacing", "size", "slice_range", "val_fraction",
                "iterations", "batch_size", "seed")

# Method options by rule: name -> (minimum, maximum, minimum excluded)
_WIDTHS = ("ngf", "ndf", "unet_base", "width", "latent_dim")
_COUNTS = ("n_layers_d", "unet_depth", "depth", "n_critic")
_OPTION_RULES: dict[str, tuple[float, float | None, bool]] = {
    "lr": (0.0, 1.0, True),
    "beta1": (0.0, 0.999999, False),
    "beta2": (0.0, 0.999999, False),
    "decay_start": (0.0, 1.0, False),
    "n_blocks": (0, 64, False),
    "pool_size": (0, 10_000, False),
    "size": (MIN_SIZE, 1024, False),
    **{name: (1, 1024, False) for name in _WIDTHS},
    **{name: (1, 16, False) for name in _COUNTS},
}


def check_options(options: Mapping[str, Any], method: str) -> None:
    """Every numeric option finite and in its range; unnamed ones (weights lambda_*, clip,
    lambda_gp) at least 0."""
    for key, value in options.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        name = f"option {key} of {method}"
        low, high, above = _OPTION_RULES.get(key, (0.0, None, False))
        if isinstance(value, int) and key in _OPTION_RULES and isinstance(low, int):
            check_count(value, name, int(low), None if high is None else int(high))
        else:
            check_number(value, name, low, high, above=above)


def check_step_memory(batch_size: int, channels: int, plane: tuple[int, int], options: Mapping[str, Any]) -> None:
    """Refuse a batch whose activations would not fit, before the networks are built: each
    pixel of a slice keeps a few dozen maps of the widest network alive for the backward pass."""
    width = max([int(options[key]) for key in (*_WIDTHS, "ngf") if isinstance(options.get(key), int)] or [64])
    per_pixel = (channels + width) * 4 * 48  # bytes: float32 maps of G and D, forward and backward
    check_memory(batch_size * plane[0] * plane[1] * per_pixel,
                 f"a training step of {batch_size} slice(s) of {plane[0]} x {plane[1]} pixels")


def check_resume(saved: Mapping[str, Any], config: Mapping[str, Any], folder: Path) -> None:
    """A resumed run must have the settings the checkpoint was written with."""
    changed = [key for key in RESUME_FIXED if key in saved and saved[key] != config.get(key)]
    if changed:
        listed = ", ".join(f"{key} {saved[key]!r} -> {config.get(key)!r}" for key in changed)
        raise InputError(folder, f"the run there was started with other settings ({listed}); resume it "
                                 "with the same ones, or start a new run in a new folder")


CHECKPOINT_KEYS = ("step", "method", "options", "config", "state", "sampler", "rng", "elapsed")


def _non_finite(value: Any, where: str) -> str | None:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return where
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _non_finite(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _non_finite(item, f"{where}[{index}]")
            if found:
                return found
    return None


def check_checkpoint(checkpoint: Any, path: Path) -> None:
    """A checkpoint holds every key, a step >= 0, and finite weights and optimizer states."""
    if not isinstance(checkpoint, Mapping):
        raise InputError(path, f"is not a checkpoint (it holds a {type(checkpoint).__name__})")
    missing = [key for key in CHECKPOINT_KEYS if key not in checkpoint]
    if missing:
        raise InputError(path, f"is not a whole checkpoint: it lacks {', '.join(missing)}")
    step = checkpoint["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InputError(path, f"holds an invalid step {step!r} (must be a whole number >= 0)")
    elapsed = checkpoint["elapsed"]
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not math.isfinite(elapsed) or elapsed < 0:
        raise InputError(path, f"holds an invalid elapsed time {elapsed!r}")
    if not isinstance(checkpoint["state"], Mapping) or not isinstance(checkpoint["config"], Mapping):
        raise InputError(path, "is not a whole checkpoint: its state or config is not a mapping")
    iterations = checkpoint["config"].get("iterations")
    if isinstance(iterations, int) and step > iterations:
        raise InputError(path, f"holds step {step}, beyond the run's {iterations} iterations")
    bad = _non_finite(checkpoint["state"], "state")
    if bad:
        raise InputError(path, f"holds NaN or infinite values in {bad}; training on from it would give NaN")
