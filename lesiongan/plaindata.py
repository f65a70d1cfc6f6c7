"""Dataclass fields from plain data: JSON values, or text typed on a command line or in a panel.

Each value is checked against its field's type, so a bad one is an `InputError` that names
the field ("option lambda_am of antgan: must be a number, got 'ten'"). The types a field may
have: bool, int, float (a whole number is taken as a float), str, `Literal[...]` (one of the
values listed), `X | None`, `tuple[X, ...]` and `tuple[X, Y]` (a list in JSON, "a,b" as
text), a class such as `os.PathLike` (an instance of it) and `Any` (taken as it is).

With `text=True` a string given for a field of another type is parsed ("0.5", "true",
"64,64", "none"); without it, JSON's own types are required.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union

from .errors import InputError

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """Each field of dataclass `cls` and its type (string annotations resolved)."""
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def describe(kind: Any) -> str:
    """A type as people read it: "a whole number", "one of resnet, unet", ..."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return "anything"
    if origin in (Union, types.UnionType):
        return " or ".join("none" if member is type(None) else describe(member) for member in args)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"{len(args)} {_plural(args[0])}" if len(set(args)) == 1 else "(" + ", ".join(map(describe, args)) + ")"
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
    return names.get(kind, f"a {getattr(kind, '__name__', kind)}")


def _plural(kind: Any) -> str:
    return {int: "whole numbers", float: "numbers", str: "names", bool: "switches"}.get(kind, describe(kind))


def convert(value: Any, kind: Any, name: str, *, text: bool = False) -> Any:
    """`value` as a `kind`, or an InputError naming `name` and what it must be."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if text and isinstance(value, str) and value.strip().lower() == "none" and type(None) in args:
            return None
        for member in args:
            if member is not type(None):
                try:
                    return convert(value, member, name, text=text)
                except InputError:
                    continue
    elif origin is Literal:
        if value in args and not isinstance(value, bool):
            return value
    elif origin is tuple:
        items = value.split(",") if text and isinstance(value, str) else value
        if isinstance(items, (list, tuple)):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(convert(item, args[0], name, text=text) for item in items)
            if len(items) == len(args):
                return tuple(convert(item, member, name, text=text) for item, member in zip(items, args))
    elif text and isinstance(value, str) and kind in (bool, int, float):
        parsed = _parse(value.strip(), kind)
        if parsed is not None:
            return parsed
    elif kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(kind, type) and isinstance(value, kind):
        return value
    raise InputError(name, f"must be {describe(kind)}, got {value!r}")


def _parse(text: str, kind: type) -> Any:
    if kind is bool:
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    try:
        return kind(text)
    except ValueError:
        return None


def checked(fields: type | Mapping[str, Any], values: Mapping[str, Any], name: Callable[[str], str], *,
            text: bool = False) -> dict[str, Any]:
    """`values` (some or all of `fields`: a dataclass, or names and types) each converted to its
    field's type; `name(key)` is what an error calls the field. A key that is no field is an
    error too."""
    if not isinstance(values, Mapping):
        raise InputError(name("*"), f"must be a mapping of names to values, got {values!r}")
    kinds = fields if isinstance(fields, Mapping) else field_types(fields)
    for key in values:
        if key not in kinds:
            raise InputError(name(key), f"unknown; known: {', '.join(sorted(kinds))}")
    return {key: convert(value, kinds[key], name(key), text=text) for key, value in values.items()}
