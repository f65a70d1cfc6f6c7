"""A method's hyperparameters as a typed, frozen dataclass.

Each method declares its own (`AntGAN.Options`, ...): a field per option with its type and
default. The values are checked when they are made, from a preset, `--set key=value`, a run's
JSON configuration or the Training panel, so a misspelt key or a value of the wrong type is
an `InputError` naming the option and the method before anything trains. Model files and
checkpoints keep the options as a plain dict (`to_dict()`).

No torch here: the Training panel reads the fields (names, types, defaults) to describe them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import plaindata
from ..errors import InputError

OptionsType = TypeVar("OptionsType", bound="MethodOptions")


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """`--set KEY=VALUE` flags as {key: text}; the method's Options parse the texts by type."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--set {pair}", "must be KEY=VALUE")
        overrides[key.strip()] = value
    return overrides


@dataclass(frozen=True)
class MethodOptions:
    """The base of every method's options: no fields of its own."""

    def __post_init__(self) -> None:
        # Made directly (Options(lr=1)) the values are checked too, and whole numbers given
        # for a float field become floats.
        values = plaindata.checked(type(self), dataclasses.asdict(self), lambda key: f"option {key}")
        for key, value in values.items():
            object.__setattr__(self, key, value)

    @classmethod
    def checked(cls, values: Mapping[str, Any], method: str, *, text: bool = False) -> dict[str, Any]:
        """`values` (some of the options) each checked against its field; with `text`, strings
        are parsed ("0.5", "true"). An unknown key or a wrong value names the option and `method`."""
        for klass in cls.__mro__[: cls.__mro__.index(MethodOptions)]:
            # Without the decorator its fields would silently be no options at all.
            if klass.__dict__.get("__annotations__") and "__dataclass_fields__" not in klass.__dict__:
                raise TypeError(f"{klass.__qualname__} of method {method} declares options but is no dataclass: "
                                "decorate it with @dataclass(frozen=True)")
        return plaindata.checked(cls, values, lambda key: f"option {key} of {method}", text=text)

    @classmethod
    def make(cls: type[OptionsType], values: Mapping[str, Any], method: str, *, text: bool = False) -> OptionsType:
        """The defaults with `values` over them (see `checked`)."""
        return cls(**cls.checked(values, method, text=text))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every option and its default, the method's own first (then those of the classes it
        derives from, such as AdamOptions' lr and betas): the order they are shown in."""
        fields = {field.name: field for field in dataclasses.fields(cls)}
        order = dict.fromkeys(name for klass in cls.__mro__ for name in klass.__dict__.get("__annotations__", {})
                              if name in fields)
        return {name: fields[name].default for name in order}

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any]]:
        """(name, type as people read it, default) of every option, in the order of `defaults`."""
        kinds = plaindata.field_types(cls)
        return [(name, plaindata.describe(kinds[name]), default) for name, default in cls.defaults().items()]

    def to_dict(self) -> dict[str, Any]:
        """The options as plain data, as model files, checkpoints and config.json keep them."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AdamOptions(MethodOptions):
    """Adam's settings, the learning rate constant up to `decay_start` (a fraction of the run)
    and then falling linearly to zero (1.0: no decay); `Method.make_optimizer` uses them."""

    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_start: float = 1.0


@dataclass(frozen=True)
class SupervisedOptions(AdamOptions):
    """Adam as the supervised networks (segmentor, classifier) train: lr 1e-3, beta1 0.9, the
    rate falling to zero over the second half of the run."""

    lr: float = 1e-3
    beta1: float = 0.9
    decay_start: float = 0.5
