"""2D training slices from a list of subjects, in memory, with the conventions a model records.

A subject without a mask is taken as healthy (no lesion voxel in any slice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import InputError, VolumeError
from .normalize import fit_normalization, foreground_mask, normalize
from .orientation import reorient
from .readers import Subject, lesion_mask, load_subject
from .resample import resample, resample_inplane
from .slicing import AXES, array_axis, center_pad_crop, inplane_sitk_axes, to_slices
from .volume import Volume, check_volume_file, read_volume


def slice_label(mask_slice: np.ndarray | torch.Tensor) -> int:
    """0 healthy: not one lesion voxel in the slice's mask; 1 abnormal otherwise."""
    return int(bool(mask_slice.any()))


def count_slices(subject: Subject, axis: str) -> tuple[int, int]:
    """(healthy, abnormal) slices by the subject's mask; every slice is healthy without one."""
    for path in subject.images.values():
        check_volume_file(path)  # a truncated image would be counted as if it were whole
    if subject.mask is None:
        modality = next(iter(subject.images))
        image = read_volume(subject.images[modality], channel=subject.channels.get(modality))
        return reorient(image, "LPS").shape[AXES[axis]], 0
    mask = reorient(read_volume(subject.mask, allow_empty=True), "LPS")
    labels = [slice_label(s) for s in to_slices(lesion_mask(mask.array, subject), axis)]
    return labels.count(0), labels.count(1)


def normalization_spec(normalization: str | dict[str, Any]) -> dict[str, Any]:
    """"mr", "ct", {"kind": "ct", "level": 40, ...} or {"kind": ..., "options": {...}} ->
    {"kind": ..., "options": {...}}, the form a model file records (not yet fitted)."""
    if isinstance(normalization, str):
        normalization = {"kind": normalization}
    rest = {key: value for key, value in normalization.items() if key not in ("kind", "options")}
    spec = {"kind": normalization.get("kind", "mr"), "options": {**normalization.get("options", {}), **rest}}
    # Fitting on a dummy volume rejects an unknown kind or option now, not after loading data.
    fit_normalization(np.ones((1, 1, 1), np.float32), spec["kind"], **spec["options"])
    return spec


def select_slices(count: int, slice_range: tuple[int, int] | int | None) -> range:
    """All slices; (start, stop) as a Python range; or an int N: the middle N (Xia et al. take 60)."""
    if slice_range is None:
        return range(count)
    if isinstance(slice_range, int):
        start = max(0, (count - slice_range) // 2)
        return range(start, min(count, start + slice_range))
    start, stop = slice_range
    return range(*slice(start, stop).indices(count))


@dataclass
class SliceSet:
    """images (N, C, H, W) float32 in [0, 1]; masks (N, 1, H, W) uint8 lesion; labels (N,) 0/1."""

    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    subject_ids: list[str]
    slice_index: torch.Tensor
    meta: dict[str, Any]
    truth: torch.Tensor | None = None
    changed: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def healthy_indices(self) -> torch.Tensor:
        return torch.nonzero(self.labels == 0).flatten()

    @property
    def abnormal_indices(self) -> torch.Tensor:
        return torch.nonzero(self.labels == 1).flatten()

    def subset(self, indices: Sequence[int] | torch.Tensor) -> SliceSet:
        index = torch.as_tensor(indices, dtype=torch.long)
        return SliceSet(self.images[index], self.masks[index], self.labels[index],
                        [self.subject_ids[i] for i in index.tolist()], self.slice_index[index], dict(self.meta),
                        None if self.truth is None else self.truth[index],
                        None if self.changed is None else self.changed[index])

    @classmethod
    def from_subjects(cls, subjects: Sequence[Subject], modalities: Sequence[str] = ("flair",),
                      axis: str = "axial", orientation: str = "LPS",
                      spacing: float | tuple[float, float] | None = None, size: tuple[int, int] | None = None,
                      slice_range: tuple[int, int] | int | None = None, foreground_only: bool = True,
                      normalization: str | dict[str, Any] = "mr",
                      resize: tuple[int, int] | None = None) -> SliceSet:
        """Slices of every subject: reoriented, resampled in-plane to `spacing` (W, H) mm or
        to `resize` (H, W) pixels (LiTS: 512 -> 256 as ANT-GAN), normalized per volume,
        centre padded/cropped to `size` (H, W), limited to `slice_range`, and without
        background-only slices when `foreground_only`.
        """
        if not subjects:
            raise InputError("subjects", "no subject to take slices from")
        if spacing is not None and resize is not None:
            raise InputError("SliceSet", "give an in-plane spacing or a resize, not both")
        array_axis(axis)
        spec = normalization_spec(normalization)
        modalities = tuple(modalities)
        grid = _Grid(orientation, axis, spacing, resize)
        parts = [_subject_slices(subject, modalities, grid, spec, size, slice_range, foreground_only)
                 for subject in subjects]
        parts = [part for part in parts if part["images"].shape[0]]
        if not parts:
            raise InputError("subjects", "no slice with foreground in any subject")
        shapes = {part["images"].shape[2:] for part in parts}
        if len(shapes) > 1:
            raise InputError("subjects", f"slices differ in size {sorted(shapes)}; give size=(H, W) or a spacing")
        join = lambda key: torch.from_numpy(np.concatenate([part[key] for part in parts]))  # noqa: E731
        has = lambda key: all(part[key] is not None for part in parts)  # noqa: E731
        masks = join("masks")
        meta = {"modalities": list(modalities), "orientation": orientation, "axis": axis,
                "spacing": _listed(spacing), "size": _listed(size), "resize": _listed(resize),
                "slice_range": _listed(slice_range), "foreground_only": foreground_only,
                "normalization": spec}
        return cls(join("images"), masks,
                   torch.tensor([slice_label(m) for m in masks], dtype=torch.long),
                   [sid for part in parts for sid in part["subject_ids"]], join("slice_index"), meta,
                   join("truth") if has("truth") else None, join("changed") if has("changed") else None)


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


@dataclass
class _Grid:
    """How each volume is brought onto the slicing grid."""

    orientation: str
    axis: str
    spacing: float | tuple[float, float] | None
    resize: tuple[int, int] | None

    def apply(self, volume: Volume, interpolation: str) -> Volume:
        volume = reorient(volume, self.orientation)
        if self.spacing is not None:
            return resample_inplane(volume, self.spacing, self.axis, interpolation)
        if self.resize is not None:
            size = list(volume.to_sitk().GetSize())
            width, height = inplane_sitk_axes(self.axis)
            size[height], size[width] = self.resize
            return resample(volume, size=size, interpolation=interpolation)
        return volume


def _subject_slices(subject: Subject, modalities: tuple[str, ...], grid: _Grid, spec: dict[str, Any],
                    size: tuple[int, int] | None, slice_range: tuple[int, int] | int | None,
                    foreground_only: bool) -> dict[str, Any]:
    volumes, mask = load_subject(subject, modalities)
    first = next(iter(volumes.values()))
    if mask is None:
        mask = first.with_array(np.zeros(first.shape, np.uint8))
    mask = mask.with_array(lesion_mask(mask.array, subject))

    def as_slices(volume: Volume, interpolation: str) -> np.ndarray:
        slices = to_slices(grid.apply(volume, interpolation).array, grid.axis)
        return slices if size is None else center_pad_crop(slices, size)

    images, truth = [], []
    has_truth = all(m in subject.healthy for m in modalities)
    foreground = foreground_mask([volume.array for volume in volumes.values()])
    for modality, volume in volumes.items():
        params = fit_normalization(volume.array, spec["kind"], foreground=foreground, **spec["options"])
        images.append(as_slices(volume.with_array(normalize(volume.array, params)), "linear"))
        if has_truth:  # the healthy twin is normalized like its image, so the two compare
            healthy = read_volume(subject.healthy[modality], channel=subject.channels.get(modality))
            if not healthy.same_grid(volume):
                raise VolumeError(subject.healthy[modality], f"is not on the grid of {subject.images[modality]}")
            truth.append(as_slices(healthy.with_array(normalize(healthy.array, params)), "linear"))
    image_slices = np.stack(images, axis=1).astype(np.float32, copy=False)
    mask_slices = as_slices(mask, "nearest").astype(np.uint8, copy=False)[:, None]
    changed_slices = None
    if subject.changed is not None:
        changed = read_volume(subject.changed, allow_empty=True)
        changed_slices = as_slices(changed.with_array((changed.array > 0).astype(np.uint8)), "nearest")[:, None]

    keep = np.array([i in select_slices(len(image_slices), slice_range) for i in range(len(image_slices))], bool)
    if foreground_only:
        keep &= image_slices.reshape(len(image_slices), -1).max(axis=1) > 0
    chosen = np.flatnonzero(keep)
    return {"images": image_slices[chosen], "masks": mask_slices[chosen],
            "truth": np.stack(truth, axis=1)[chosen].astype(np.float32) if has_truth else None,
            "changed": changed_slices[chosen] if changed_slices is not None else None,
            "subject_ids": [subject.id] * len(chosen), "slice_index": chosen.astype(np.int64)}
