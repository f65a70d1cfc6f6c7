"""One training run's configuration, from Python, the command line or a JSON file.

    config = TrainConfig(method="antgan", data="data/tiny", out="runs/tiny", iterations=2000)
    config = TrainConfig.from_plain(json.load(open("run.json"))["config"])   # checked
    config.plain()                                                             # back to JSON

`lesiongan train` builds one from its flags (`train.cli.config_from_args`) or reads one with
`--config FILE`; the Slicer Training panel writes one into the run folder and starts
`lesiongan train --config <run>/run.json`. No torch here: the panel makes configurations
before PyTorch is installed (it checks the method's options, which needs it, only at Start).
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import plaindata
from ..checks import check_count, check_number, check_seed
from ..errors import InputError

Axis = Literal["axial", "coronal", "sagittal"]
Device = Literal["auto", "cpu", "cuda"]
Amp = Literal["auto", "bf16", "fp16", "off"]
DEVICE_CHOICES: tuple[str, ...] = typing.get_args(Device)
AMP_CHOICES: tuple[str, ...] = typing.get_args(Amp)
AXIS_CHOICES: tuple[str, ...] = typing.get_args(Axis)

MAX_ITERATIONS = 10**9
SPACING_RANGE_MM = (0.05, 20.0)  # in-plane spacings of medical images lie well inside this
SIZE_MULTIPLE = 4  # two stride-2 downsamplings in the generators
MIN_SIZE = 8
MAX_SIZE = 4096


@dataclass
class TrainConfig:
    """One training run. `data` is a data folder (any layout the readers know) or a SliceSet;
    `options` are the method's options over its preset (names and values checked against
    the method's `Options` when the run starts, or when the configuration is read)."""

    method: str = "antgan"
    data: str | os.PathLike | Any = ""
    out: str | os.PathLike = "run"
    preset: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    modalities: tuple[str, ...] = ("flair",)
    axis: Axis = "axial"
    spacing: float | None = None
    size: tuple[int, int] | None = None
    slice_range: tuple[int, int] | None = None
    val_fraction: float = 0.2
    iterations: int = 1000
    batch_size: int = 1
    seed: int = 0
    device: Device = "auto"
    amp: Amp = "auto"
    checkpoint_every: int = 500
    sample_every: int = 250
    log_every: int = 10
    resume: bool = False
    tensorboard: bool = True
    # A model file whose networks start this run (fine-tuning), matched by role; None: fresh weights.
    init: str | os.PathLike | None = None
    # Called after every step with (step, losses); the Slicer panel and tests hook in here.
    on_step: Callable[[int, dict[str, float]], None] | None = field(default=None, repr=False)

    def plain(self) -> dict[str, Any]:
        """The configuration as plain data (JSON; for provenance, resume checks and `from_plain`)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "on_step":
                continue
            if f.name == "data" and not isinstance(value, (str, os.PathLike)):
                value = f"<{type(value).__name__}>"
            out[f.name] = str(value) if isinstance(value, os.PathLike) else (list(value) if isinstance(value, tuple) else value)
        return out

    @classmethod
    def fields(cls) -> dict[str, Any]:
        """The settings plain data may hold, with their types (no `options`, no `on_step`)."""
        kinds = dict(plaindata.field_types(cls))
        del kinds["options"], kinds["on_step"]
        return {**kinds, "data": str}  # in plain data, a data folder

    @classmethod
    def from_plain(cls, data: Mapping[str, Any], *, text: bool = False) -> "TrainConfig":
        """A configuration from plain data (a JSON object, `plain()`, the Training panel's
        settings), every value checked: its type, the run's settings (`check_config`), then the
        method, the preset and each option of the method. An error names the bad setting.
        With `text`, strings are parsed by the setting's type ("64,64", "0.5", "true")."""
        if not isinstance(data, Mapping):
            raise InputError("training configuration", f"must be a mapping of settings, got {data!r}")
        values = dict(data)
        options = values.pop("options", None) or {}
        settings = plaindata.checked(cls.fields(), values, lambda key: key, text=text)
        config = cls(**settings)
        check_config(config)
        from ..methods import get_method, make_options

        method = get_method(config.method)
        config.options = method.Options.checked(options, method.name, text=text)
        make_options(method, config.preset, config.options)  # the preset, and the options over it
        return config

    @classmethod
    def read(cls, path: str | os.PathLike) -> "TrainConfig":
        """`from_plain` of a JSON file: a configuration, or a record that holds one under
        "config" (a run folder's run.json or config.json, to repeat that run)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(path, "no such configuration file") from None
        except (OSError, ValueError) as error:
            raise InputError(path, f"cannot be read as JSON ({error})") from error
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            data = data["config"]
        try:
            return cls.from_plain(data)
        except InputError as error:
            raise InputError(path, f"{error.source}: {error.problem}") from error


def check_config(config: TrainConfig) -> None:
    """The run's own settings, each in its range."""
    check_count(config.iterations, "--iterations", 1, MAX_ITERATIONS)
    check_count(config.batch_size, "--batch-size", 1)
    for name in ("checkpoint_every", "sample_every", "log_every"):
        check_count(getattr(config, name), f"--{name.replace('_', '-')}", 1)
    check_seed(config.seed)
    check_number(config.val_fraction, "--val-fraction", 0.0, None)
    if not config.val_fraction < 1:
        raise InputError("--val-fraction", f"must be below 1, got {config.val_fraction}")
    if config.spacing is not None:
        low, high = SPACING_RANGE_MM
        check_number(config.spacing, "--spacing", low, high)
    if config.size is not None:
        size = tuple(config.size)
        if len(size) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) for n in size):
            raise InputError("--size", f"must be two whole numbers H W, got {config.size!r}")
        if any(n < MIN_SIZE or n > MAX_SIZE or n % SIZE_MULTIPLE for n in size):
            raise InputError("--size", f"each side must be a multiple of {SIZE_MULTIPLE} from {MIN_SIZE} to "
                                       f"{MAX_SIZE} (the generators halve it twice), got {size[0]} {size[1]}")
    if config.slice_range is not None:
        first, stop = (int(n) for n in config.slice_range)
        if first < 0 or stop <= first:
            raise InputError("--slice-range", f"needs 0 <= FIRST < STOP, got {first} {stop}")
    modalities = list(config.modalities)
    if not modalities or len(set(modalities)) != len(modalities):
        raise InputError("--modalities", f"must name each modality once, got {modalities}")
