"""Training methods by name, their hyperparameters and presets.

    cls = get_method("antgan")
    options = make_options(cls, "cyclegan", {"lambda_cc": "5"})   # AntGAN.Options, typed
    options.lambda_cc                                               # 5.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..discovery import import_submodules
from ..errors import InputError

if TYPE_CHECKING:
    from .base import Method
    from .options import MethodOptions

METHODS: dict[str, type["Method"]] = {}


def available_methods() -> dict[str, type["Method"]]:
    """Every method by name: each module of this package registers its own (`@register_method`)."""
    import_submodules(__name__)
    return dict(METHODS)


def get_method(name: str) -> type["Method"]:
    known = available_methods()
    if name not in known:
        raise InputError(f"method {name!r}", f"unknown; known: {', '.join(sorted(known))}")
    return known[name]


def make_options(method: str | type["Method"], preset: str | None = None, overrides: Mapping[str, Any] | None = None,
                 *, text: bool = True) -> "MethodOptions":
    """The method's typed options: its defaults <- the preset (or the method's default preset)
    <- `overrides`, each key and value checked (`text`: strings such as `--set` gives are parsed)."""
    cls = get_method(method) if isinstance(method, str) else method
    values: dict[str, Any] = {}
    preset = preset or cls.default_preset
    if preset is not None:
        if preset not in cls.presets:
            raise InputError(f"preset {preset!r}", f"unknown for method {cls.name}; known: {', '.join(cls.presets)}")
        values.update(cls.presets[preset])
    values.update(overrides or {})
    return cls.Options.make(values, cls.name, text=text)


def resolve_options(method: str | type["Method"], preset: str | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`make_options` as plain data, as model files and checkpoints record the options."""
    return make_options(method, preset, overrides).to_dict()


__all__ = ["METHODS", "available_methods", "get_method", "make_options", "resolve_options"]
