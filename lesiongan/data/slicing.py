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
