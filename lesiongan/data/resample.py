"""Resampling onto a new grid with SimpleITK, keeping the centre of the field of view."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from .slicing import inplane_sitk_axes
from .volume import Volume

INTERPOLATORS = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor, "bspline": sitk.sitkBSpline}


def _grid_for(volume: Volume, spacing: Sequence[float] | None, size: Sequence[int] | None) -> tuple:
    """Spacing, size and origin of a grid with the same direction and centre as `volume`.

    Only spacing: the extent is kept (size rounded). Only size: the extent is kept
    (spacing adjusted). Both: taken as given, centred.
    """
    old_spacing = np.asarray(volume.spacing)
    old_size = np.asarray(volume.to_sitk().GetSize(), dtype=float)
    if spacing is not None and size is None:
        new_spacing = np.asarray(spacing, dtype=float)
        new_size = np.maximum(1, np.round(old_size * old_spacing / new_spacing)).astype(int)
    elif size is not None and spacing is None:
        new_size = np.asarray(size, dtype=int)
        new_spacing = old_spacing * old_size / new_size
    else:
        new_spacing, new_size = np.asarray(spacing, dtype=float), np.asarray(size, dtype=int)
    if new_spacing.shape != (3,) or new_size.shape != (3,) or np.any(new_spacing <= 0) or np.any(new_size < 1):
        raise InputError("resample", f"need 3 positive spacings and sizes (x, y, z), got {spacing} and {size}")
    direction = np.asarray(volume.direction).reshape(3, 3)
    centre = np.asarray(volume.origin) + direction @ (old_spacing * (old_size - 1) / 2)
    origin = centre - direction @ (new_spacing * (new_size - 1) / 2)
    return tuple(new_spacing), tuple(int(n) for n in new_size), tuple(origin)


def resample(volume: Volume, spacing: Sequence[float] | None = None, size: Sequence[int] | None = None,
             reference: Volume | None = None, interpolation: str = "linear") -> Volume:
    """The volume on `reference`'s grid, or on a grid of the given spacing and/or size (x, y, z).

    Voxels outside the input are 0. Nearest keeps the pixel type (masks); the others give float32.
    """
    if interpolation not in INTERPOLATORS:
        raise InputError(interpolation, f"unknown interpolation; choose one of {', '.join(INTERPOLATORS)}")
    if reference is None and spacing is None and size is None:
        raise InputError("resample", "give a reference volume, a spacing or a size")
    if reference is not None:
        if spacing is not None or size is not None:
            raise InputError("resample", "give either a reference volume or spacing/size, not both")
        if volume.same_grid(reference, tol=1e-6):
            return volume
        target = reference.to_sitk()
        grid = (target.GetSpacing(), target.GetSize(), target.GetOrigin())
    else:
        grid = _grid_for(volume, spacing, size)
    image = volume.to_sitk()
    if interpolation != "nearest":
        image = sitk.Cast(image, sitk.sitkFloat32)
    new_spacing, new_size, new_origin = grid
    result = sitk.Resample(image, [int(n) for n in new_size], sitk.Transform(), INTERPOLATORS[interpolation],
                           new_origin, new_spacing, volume.direction, 0.0, image.GetPixelID())
    return Volume.from_sitk(result)


def resample_inplane(volume: Volume, spacing_wh: float | Sequence[float], axis: str,
                     interpolation: str = "linear") -> Volume:
    """Resample only within the slices of `axis` (LPS array), so slices stay where they were.

    `spacing_wh` is the slice's (width, height) spacing in mm, or one number for both.
    """
    width_spacing, height_spacing = (spacing_wh, spacing_wh) if np.isscalar(spacing_wh) else spacing_wh
    spacing = list(volume.spacing)
    width, height = inplane_sitk_axes(axis)
    spacing[width], spacing[height] = float(width_spacing), float(height_spacing)
    if np.allclose(spacing, volume.spacing, rtol=0, atol=1e-9):
        return volume
    return resample(volume, spacing=spacing, interpolation=interpolation)
