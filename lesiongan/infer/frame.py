"""The model's frame: volumes as a model sees them, and the way back to the input's grid.

A model records the conventions it was trained in (orientation, slice axis, in-plane spacing,
normalization). `model_frame` brings co-registered volumes into that frame and cuts them into
slices; `ModelFrame.back` and `.bring` map volumes out of and into it. The inference engine
runs its networks in this frame, and the healthiness segmentor f_pre judges outputs in its own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data import normalize as normalization
from ..data.normalize import foreground_mask
from ..data.orientation import orientation_of, reorient
from ..data.resample import resample, resample_inplane
from ..data.slicing import array_axis, to_slices
from ..data.volume import Volume
from ..errors import VolumeError

_THROUGH_PLANE = {"axial": 2, "coronal": 1, "sagittal": 0}  # physical LPS axis a slice is normal to


def check_volumes(volumes: Volume | Sequence[Volume]) -> list[Volume]:
    """`volumes` (a Volume, or one per modality) as a list the frame can take: Volumes on one
    grid, with finite values; bool and float16 voxels as float32. Anything else is a VolumeError."""
    if isinstance(volumes, (str, bytes, os.PathLike, np.ndarray, torch.Tensor)) or not isinstance(
            volumes, (Volume, Sequence)):
        raise VolumeError("volumes", f"must be a Volume or a list of Volumes, got {type(volumes).__name__} "
                                     "(read a file with read_volume, wrap an array with Volume(array, spacing, "
                                     "origin, direction))")
    listed = [volumes] if isinstance(volumes, Volume) else list(volumes)
    if not listed:
        raise VolumeError("volumes", "no input volume given")
    for index, volume in enumerate(listed):
        if not isinstance(volume, Volume):
            raise VolumeError(f"volume {index}", f"is a {type(volume).__name__}, not a Volume")
    # bool and float16 voxels are read as float32: resampling and normalization need it
    listed = [volume.with_array(volume.array.astype(np.float32)) if volume.array.dtype.kind == "b"
              or volume.array.dtype == np.float16 else volume for volume in listed]
    for index, volume in enumerate(listed[1:], start=1):
        if not volume.same_grid(listed[0]):
            raise VolumeError(f"volume {index}", "is not on the same grid as the first volume "
                                                 "(modalities must be co-registered)")
    for index, volume in enumerate(listed):
        if not np.isfinite(volume.array).all():
            raise VolumeError(f"volume {index}", "holds NaN or infinite values")
    return listed


@dataclass
class ModelFrame:
    """Volumes as a model sees them: reoriented to its orientation, resampled in-plane to its
    spacing, normalized on their joint foreground and cut into (N, C, H, W) slices in [0, 1].
    `back` and `bring` map other volumes out of and into the same frame, so a second network
    (the healthiness segmentor) or a mask lines up voxel for voxel."""

    framed: list[Volume]
    code: str | None  # the model's orientation, or None to keep the input's
    original_code: str
    resampled_inplane: bool
    axis: str
    foreground: np.ndarray  # on the framed grid
    params: list[dict | None]  # one normalization per modality (None: an absent one)
    normalized: np.ndarray  # (N, C, H, W)

    def bring(self, volume: Volume, interpolation: str = "linear") -> Volume:
        """A volume on the inputs' grid (a mask, a second image) in this frame."""
        framed = reorient(volume, self.code) if self.code else volume
        if self.resampled_inplane:
            framed = resample(framed, reference=self.framed[0], interpolation=interpolation)
        return framed

    def back(self, volume: Volume, original: Volume) -> Volume:
        """A frame volume on `original`'s grid: resampled back (linear) when the spacing was
        changed, reoriented back; the geometry is taken from `original` itself so it is exact."""
        if self.resampled_inplane:
            reference = reorient(original, self.code) if self.code else original
            volume = resample(volume, reference=reference, interpolation="linear")
        if self.code:
            volume = reorient(volume, self.original_code)
        if volume.shape != original.shape:
            raise VolumeError("inference", f"result shape {volume.shape} does not match the input's {original.shape}")
        return original.with_array(volume.array.astype(np.float32, copy=False))


def model_frame(volumes: Volume | Sequence[Volume], conventions: dict) -> ModelFrame:
    """`volumes` (co-registered, one per modality) in the frame a model's `conventions` name."""
    return frame_checked(check_volumes(volumes), conventions)


def frame_checked(inputs: list[Volume], conventions: dict, missing: Sequence[int] = ()) -> ModelFrame:
    """`model_frame` of volumes `check_volumes` has already checked (grids, finite values). The
    channels in `missing` stand for absent sequences: they are 0 in `normalized`, without
    normalization parameters, and take no part in the foreground."""
    axis = str(conventions.get("axis", "axial"))
    array_axis(axis)
    code = conventions.get("orientation")
    framed = [reorient(volume, code) for volume in inputs] if code else list(inputs)
    resampled_inplane = False
    if conventions.get("spacing") is not None:
        resampled = [resample_inplane(volume, conventions["spacing"], axis) for volume in framed]
        # resample_inplane hands the volume back when its spacing already fits: then there is no
        # interpolation at all, and nothing to undo
        resampled_inplane = resampled[0] is not framed[0]
        framed = resampled
    arrays = [volume.array.astype(np.float32, copy=False) for volume in framed]
    foreground = foreground_mask([array for index, array in enumerate(arrays) if index not in missing])
    spec = conventions.get("normalization") or {"kind": "mr", "options": {}}
    params = [None if index in missing else
              normalization.fit_normalization(array, kind=spec.get("kind", "mr"), foreground=foreground,
                                              **(spec.get("options") or {})) for index, array in enumerate(arrays)]
    normalized = np.stack([to_slices(np.zeros_like(array) if p is None else
                                     normalization.normalize(array, p).astype(np.float32), axis)
                           for array, p in zip(arrays, params)], axis=1)
    return ModelFrame(framed, code, orientation_of(inputs[0]), resampled_inplane, axis, foreground, params, normalized)


def framed_plane(volume: Volume, conventions: dict) -> tuple[int, int, int]:
    """(slices, height, width) a volume will have in a model's frame, from its geometry alone:
    nothing is resampled to find out."""
    axis = str(conventions.get("axis", "axial"))
    array_axis(axis)
    sizes = tuple(reversed(volume.shape))  # SimpleITK's (x, y, z) order
    if conventions.get("orientation"):
        direction = np.abs(np.asarray(volume.direction).reshape(3, 3))
        physical = [int(np.argmax(direction[:, i])) for i in range(3)]
        through = next((i for i in range(3) if physical[i] == _THROUGH_PLANE[axis]), 2)
    else:
        through = 2 - array_axis(axis)
    spacing = conventions.get("spacing")
    # one in-plane spacing for both axes, or (width, height) in the slice's axis order
    inplane = [] if spacing is None else [float(s) for s in (spacing if isinstance(spacing, (list, tuple))
                                                              else [spacing, spacing])]
    lengths = []
    for i in range(3):
        if i != through and inplane:
            target = inplane[0] if len(inplane) == 1 else inplane[[a for a in range(3) if a != through].index(i)]
            lengths.append(max(1, int(round(sizes[i] * volume.spacing[i] / target))))
        else:
            lengths.append(int(sizes[i]))
    plane = [lengths[i] for i in range(3) if i != through]
    return lengths[through], plane[1], plane[0]
