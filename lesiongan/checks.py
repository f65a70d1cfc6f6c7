"""Checks of option values shared by the commands: seeds, counts, finite numbers.

Each check raises `InputError` naming the option and the problem; the `*_arg` forms are
argparse types, so a bad value on the command line ends in one usage error line.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from .errors import InputError

SEED_MAX = 2**32 - 1  # numpy's and torch's seeds are unsigned 32-bit at most


def check_seed(value: Any, name: str = "--seed") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise InputError(name, f"must be a whole number from 0 to {SEED_MAX}, got {value!r}")
    return value


def check_count(value: Any, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise InputError(name, f"must be a whole number {bound}, got {value!r}")
    return value


def check_number(value: Any, name: str, minimum: float | None = None, maximum: float | None = None,
                 above: bool = False) -> float:
    """A finite real number within [minimum, maximum] (> minimum when `above`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(name, f"must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if above else value < minimum):
        raise InputError(name, f"must be {'>' if above else '>='} {minimum:g}, got {value!r}")
    if maximum is not None and value > maximum:
        raise InputError(name, f"must be <= {maximum:g}, got {value!r}")
    return float(value)


def _argparse_type(check, **bounds):
    def parse(text: str):
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        try:
            return check(number, "value", **bounds)
        except InputError as error:
            raise argparse.ArgumentTypeError(error.problem) from None
    return parse


seed_arg = _argparse_type(check_seed)
positive_int_arg = _argparse_type(check_count, minimum=1)
