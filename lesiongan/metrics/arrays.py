"""Turning metric inputs (numpy arrays or torch tensors) into checked float64 arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

ArrayLike = Any  # numpy.ndarray or torch.Tensor


def as_array(value: ArrayLike, name: str) -> np.ndarray:
    """`value` (numpy array or torch tensor) as float64, copied only when needed; never modified."""
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch for numpy callers
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype == bool:
        return array.astype(np.float64)
    if not np.issubdtype(array.dtype, np.number):
        raise InputError(name, f"is of type {array.dtype}, not numeric")
    array = array.astype(np.float64, copy=False)
    if array.size == 0:
        raise InputError(name, "is empty")
    if not np.all(np.isfinite(array)):
        raise InputError(name, "contains NaN or infinite values")
    return array


def as_mask(value: ArrayLike | None, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A boolean mask of `shape` (nonzero = inside); all True when `value` is None."""
    if value is None:
        return np.ones(shape, dtype=bool)
    mask = as_array(value, name) != 0
    if mask.shape != shape:
        raise InputError(name, f"has shape {mask.shape}, the images have {shape}")
    return mask


def same_shape(arrays: dict[str, np.ndarray]) -> tuple[int, ...]:
    """The common shape of named arrays, or an error naming the first one that differs."""
    items = iter(arrays.items())
    first_name, first = next(items)
    for name, array in items:
        if array.shape != first.shape:
            raise InputError(name, f"has shape {array.shape}, {first_name} has {first.shape}")
    return first.shape
