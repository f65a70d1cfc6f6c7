"""Random lesion masks at plausible places: inside the brain, away from the ventricles.

The rule (documented in docs/lesion_synthesis.md):

- brain: the volume's foreground (voxels above its minimum, the project's one foreground
  rule) with its holes filled;
- ventricles: the phantom's CSF class when its tissue map is given; otherwise the dark part of
  the brain's centre, i.e. voxels darker than `DARK_FRACTION` of the brain's median intensity
  (CSF on FLAIR and T1) inside the central ellipsoid whose semi-axes are `CENTRAL_FRACTION` of
  the brain's half-extents;
- a lesion is an ellipsoid with semi-axes between 0.75 and 1.0 x `radius_mm`, centred where the
  brain's edge, the ventricles and the lesions already placed are all more than `radius_mm`
  away, so that it lies wholly inside the brain and outside the ventricles.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ..data.normalize import foreground_mask
from ..data.volume import Volume
from ..errors import InputError, VolumeError

DARK_FRACTION = 0.5
CENTRAL_FRACTION = 0.5
CSF_TISSUE = 1  # the phantom's tissue map: 0 background, 1 CSF, 2 GM, 3 WM
_MIN_AXIS_SCALE = 0.75


def brain_mask(volume: Volume) -> np.ndarray:
    """The foreground of `volume`, holes filled (bool, (z, y, x))."""
    return ndimage.binary_fill_holes(foreground_mask([np.asarray(volume.array)]))


def ventricle_mask(volume: Volume, brain: np.ndarray | None = None, tissue: np.ndarray | None = None) -> np.ndarray:
    """Where lesions must not go: CSF by the tissue map, else the dark centre of the brain."""
    if tissue is not None:
        if tissue.shape != volume.shape:
            raise VolumeError("tissue map", f"has shape {tissue.shape}, the volume {volume.shape}")
        return np.asarray(tissue) == CSF_TISSUE
    brain = brain_mask(volume) if brain is None else brain
    if not brain.any():
        return np.zeros(volume.shape, dtype=bool)
    array = np.asarray(volume.array, dtype=np.float32)
    dark = brain & (array < DARK_FRACTION * float(np.median(array[brain])))
    coords = np.nonzero(brain)
    centre = np.array([c.mean() for c in coords])
    half = np.array([(c.max() - c.min() + 1) / 2 for c in coords]) * CENTRAL_FRACTION
    grid = np.ogrid[tuple(slice(0, n) for n in volume.shape)]
    central = sum(((g - c) / h) ** 2 for g, c, h in zip(grid, centre, half)) <= 1.0
    return dark & central


def _distance_outside(mask: np.ndarray, sampling: Sequence[float]) -> np.ndarray:
    """Distance in mm from each voxel to the nearest voxel of `mask` (inf when it is empty)."""
    if not mask.any():
        return np.full(mask.shape, np.inf)
    return ndimage.distance_transform_edt(~mask, sampling=sampling)


def random_lesion_masks(volume: Volume, count: int, radius_mm: float, seed: int = 0, *,
                        tissue: np.ndarray | None = None, brain: np.ndarray | None = None) -> list[np.ndarray]:
    """`count` non-overlapping ellipsoidal masks (bool, one per lesion) by the module's rule."""
    if not isinstance(count, (int, np.integer)) or count < 1:
        raise InputError("lesion count", f"must be an integer >= 1, got {count!r}")
    if not isinstance(radius_mm, (int, float)) or not np.isfinite(radius_mm) or radius_mm <= 0:
        raise InputError("lesion radius", f"must be a positive number of mm, got {radius_mm!r}")
    rng = np.random.default_rng(seed)
    sampling = tuple(volume.spacing)[::-1]  # (z, y, x) mm
    brain = brain_mask(volume) if brain is None else brain
    ventricles = ventricle_mask(volume, brain, tissue)
    allowed = ndimage.distance_transform_edt(brain, sampling=sampling) > radius_mm
    allowed &= _distance_outside(ventricles, sampling) > radius_mm
    grid = np.ogrid[tuple(slice(0, n) for n in volume.shape)]
    masks: list[np.ndarray] = []
    for index in range(int(count)):
        candidates = np.flatnonzero(allowed)
        if candidates.size == 0:
            raise InputError(f"lesion {index + 1} of {count}",
                             f"has no room: no spot lies {radius_mm:g} mm inside the brain, away from the "
                             "ventricles and the other lesions; use fewer or smaller lesions")
        centre = np.unravel_index(rng.choice(candidates), volume.shape)
        semi_axes = radius_mm * rng.uniform(_MIN_AXIS_SCALE, 1.0, size=3)
        inside = sum(((g - c) * s / a) ** 2 for g, c, s, a in zip(grid, centre, sampling, semi_axes)) <= 1.0
        mask = inside & brain & ~ventricles
        masks.append(mask)
        # the next lesion's centre keeps a radius away from this one's voxels
        allowed &= _distance_outside(mask, sampling) > radius_mm
    return masks
