"""2D slices of a 3D array along an anatomical axis, and back.

The axis names assume an array reoriented to "LPS" (see `orientation.reorient`), whose
(z, y, x) array axes then run inferior->superior, anterior->posterior, right->left.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

# axis name -> array axis of a (z, y, x) array in LPS orientation
AXES: dict[str, int] = {"axial": 0, "coronal": 1, "sagittal": 2}


def array_axis(axis: str) -> int:
    if axis not in AXES:
        raise InputError(axis, f"unknown slice axis; choose one of {', '.join(AXES)}")
    return AXES[axis]


def to_slices(array: np.ndarray, axis: str) -> np.ndarray:
    """(z, y, x) -> (N, H, W): axial (z, y, x), coronal (y, z, x), sagittal (x, z, y)."""
    if array.ndim != 3:
        raise InputError("array", f"slicing needs a 3D array, got shape {array.shape}")
    return np.moveaxis(array, array_axis(axis), 0)


def from_slices(slices: np.ndarray, axis: str) -> np.ndarray:
    """The inverse of `to_slices`: (N, H, W) -> (z, y, x)."""
    if slices.ndim != 3:
        raise InputError("slices", f"expected (N, H, W) slices, got shape {slices.shape}")
    return np.moveaxis(slices, 0, array_axis(axis))


def inplane_sitk_axes(axis: str) -> tuple[int, int]:
    """SimpleITK (x, y, z) indices of a slice's (width, height) axes; SimpleITK orders axes
    opposite to the array, so the through-plane axis is 2 - array axis."""
    through_plane = 2 - array_axis(axis)
    width, height = (a for a in range(3) if a != through_plane)
    return width, height


def center_pad_crop(slices: np.ndarray, size: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """Pad (with `fill`) or crop the last two axes to `size` = (H, W), keeping the centre.

    Calling it again with the original (H, W) undoes a pad exactly; a crop loses the border.
    """
    height, width = (int(n) for n in size)
    if height < 1 or width < 1:
        raise InputError(size, "slice size must be positive (H, W)")
    out = slices
    for axis, target in ((-2, height), (-1, width)):
        current = out.shape[axis]
        if current > target:
            start = (current - target) // 2
            out = np.take(out, np.arange(start, start + target), axis=axis)
        elif current < target:
            before = (target - current) // 2
            widths = [(0, 0)] * out.ndim
            widths[axis] = (before, target - current - before)
            out = np.pad(out, widths, constant_values=fill)
    return out
