"""Training methods by name, their hyperparameters and presets.

    cls = get_method("antgan")
    options = resolve_options(cls, "cyclegan", {"lambda_cc": "5"})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..discovery import import_submodules
from ..errors import InputError

if TYPE_CHECKING:
    from .base import Method

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


def _parse_like(key: str, value: Any, default: Any) -> Any:
    """A `--set key=value` string converted to the type of the option's default."""
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    text = value.strip()
    try:
        if isinstance(default, bool):
            lowered = text.lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return lowered in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, (list, tuple)):
            return type(default)(_parse_like(key, part, default[0]) if default else part for part in text.split(","))
    except ValueError:
        raise InputError(f"option {key}", f"{value!r} is not a {type(default).__name__}") from None
    return value


def resolve_options(method: str | type["Method"], preset: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """defaults <- preset (or the method's default preset) <- overrides, each key checked."""
    cls = get_method(method) if isinstance(method, str) else method
    options = dict(cls.defaults)
    preset = preset or cls.default_preset
    if preset is not None:
        if preset not in cls.presets:
            raise InputError(f"preset {preset!r}", f"unknown for method {cls.name}; known: {', '.join(cls.presets)}")
        options.update(cls.presets[preset])
    for key, value in (overrides or {}).items():
        if key not in cls.defaults:
            raise InputError(f"option {key}", f"unknown for method {cls.name}; known: {', '.join(sorted(cls.defaults))}")
        options[key] = _parse_like(key, value, cls.defaults[key])
    return options


__all__ = ["METHODS", "available_methods", "get_method", "resolve_options"]
