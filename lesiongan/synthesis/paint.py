"""Paint a lesion into a volume: a model synthesizes it inside a given region, blended by the region.

Two kinds of model can paint (Xia et al.; Sun et al., ANT-GAN Sec. V-B):

- a factorization model's reconstructor R(x, m), told where the lesion goes by the mask m;
- an ANT-GAN model's normal-to-abnormal generator G_N2A, which adds lesion-like changes to
  a slice; only its change inside the region is kept.

Only the slices the region (plus the blend margin) touches along the model's slice axis are
run, through the one inference engine (which fits the intensity normalization on the
foreground of those slices). The result is x + w (G(x) - x) with w = 1 inside the
region, falling linearly to 0 at `blend_margin_mm` outside it, so that the seam is not a hard
edge; beyond the margin the output is the input, bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..data.slicing import AXES, array_axis
from ..data.volume import Volume
from ..errors import InputError, ModelFileError, VolumeError
from ..infer.engine import SliceInferer
from ..infer.modelfile import ModelFile
from ..progress import CancelCheck, ProgressCallback

BLEND_MARGIN_MM = 2.0  # default width of the linear blend outside the painted region
PAINTING_ROLES = ("reconstructor", "n2a")  # in order of preference
_WORLD_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}  # LPS world axis normal to each slice kind


@dataclass
class PaintResult:
    """`outputs` (one per input volume; None where the input was None) are on the input's
    grid; `lesion` (uint8) is the painted region; `weight` the blend weight (1 inside the
    region, 0 beyond the margin)."""

    outputs: tuple[Volume | None, ...]
    lesion: Volume
    weight: Volume
    role: str
    device: str
    seconds: float
    slices_run: int

    @property
    def output(self) -> Volume:
        return self.outputs[0]


def painting_role(model: ModelFile) -> str:
    """The role a model paints with: its reconstructor if it has one, else G_N2A."""
    for role in PAINTING_ROLES:
        if role in model.roles:
            return role
    raise ModelFileError(model.path, f"cannot paint lesions: it has neither a reconstructor nor an n2a "
                                     f"network (it has: {', '.join(model.roles)})")


def blend_weights(region: np.ndarray, spacing: Sequence[float], margin_mm: float) -> np.ndarray:
    """1 in `region`, 1 - d / margin at distance d mm outside it, 0 from `margin_mm` on
    (`spacing` is SimpleITK's (x, y, z))."""
    inside = np.asarray(region) > 0
    if margin_mm <= 0 or not inside.any():
        return inside.astype(np.float32)
    distance = ndimage.distance_transform_edt(~inside, sampling=tuple(spacing)[::-1])
    return np.clip(1.0 - distance / margin_mm, 0.0, 1.0).astype(np.float32)


def slice_array_axis(volume: Volume, model: ModelFile) -> int:
    """The array axis of `volume` along which the model's slices are stacked."""
    axis = str(model.conventions.get("axis", "axial"))
    array_axis(axis)  # an unknown name fails here
    if not model.conventions.get("orientation"):
        return AXES[axis]  # the model takes the array as it is
    # The engine reorients to the model's frame; the index axis nearest the slice normal is the
    # one reorientation maps onto the model's slice axis (array axes run z, y, x).
    direction = np.asarray(volume.direction).reshape(3, 3)
    index_axis = int(np.argmax(np.abs(direction[_WORLD_AXIS[axis]])))
    return 2 - index_axis


def _slab(volume: Volume, axis: int, start: int, stop: int) -> Volume:
    """Slices [start, stop) of `volume` along array `axis`, with their exact geometry."""
    image = volume.to_sitk()
    index = [slice(None)] * 3
    index[2 - axis] = slice(start, stop)  # SimpleITK indexes (x, y, z)
    return Volume.from_sitk(image[tuple(index)])


def paint_lesion(volumes: Volume | Sequence[Volume], region: Volume, model: ModelFile, *,
                 blend_margin_mm: float = BLEND_MARGIN_MM, role: str | None = None, device: str = "auto",
                 batch_size: int | None = None, progress: ProgressCallback | None = None,
                 cancel: CancelCheck | None = None) -> PaintResult:
    """Synthesize a lesion inside `region` (non-zero voxels) of `volumes` (one per model modality).

    The inputs are not modified. `progress(done, total)` and `cancel()` go to the engine; a
    cancel raises `lesiongan.errors.Cancelled`.
    """
    started = time.perf_counter()
    inputs = [volumes] if isinstance(volumes, Volume) else list(volumes)
    if not inputs or inputs[0] is None:
        raise VolumeError("volumes", "no input volume given (the first modality is needed)")
    if not isinstance(blend_margin_mm, (int, float)) or not np.isfinite(blend_margin_mm) or blend_margin_mm < 0:
        raise InputError("blend margin", f"must be a number of mm >= 0, got {blend_margin_mm!r}")
    if not region.same_grid(inputs[0]):
        raise VolumeError("lesion region", f"is not on the grid of the input volume (region {region.shape}, "
                                           f"volume {inputs[0].shape})")
    painted = np.asarray(region.array) > 0
    if not painted.any():
        raise InputError("lesion region", "is empty: paint where the lesion should go first")
    role = role or painting_role(model)
    if role not in PAINTING_ROLES:
        raise InputError("role", f"painting uses one of {', '.join(PAINTING_ROLES)}, not {role!r}")

    weight = blend_weights(painted, inputs[0].spacing, float(blend_margin_mm))
    axis = slice_array_axis(inputs[0], model)
    touched = np.flatnonzero(np.moveaxis(weight > 0, axis, 0).reshape(weight.shape[axis], -1).any(axis=1))
    start, stop = int(touched[0]), int(touched[-1]) + 1
    slabs = [None if volume is None else _slab(volume, axis, start, stop) for volume in inputs]
    extra = None
    if role == "reconstructor":
        extra = _slab(region.with_array(painted.astype(np.float32)), axis, start, stop)
    inference = SliceInferer(device=device, batch_size=batch_size)(slabs, model, role=role, extra=extra,
                                                                   progress=progress, cancel=cancel)

    window = [slice(None)] * 3
    window[axis] = slice(start, stop)
    window_t = tuple(window)
    slab_weight = weight[window_t]
    blended = slab_weight > 0
    outputs = []
    for volume, generated in zip(inputs, inference.outputs):
        if volume is None:  # a sequence the model can do without, not given: no output either
            outputs.append(None)
            continue
        array = np.array(volume.array, dtype=np.float32, copy=True)
        part = array[window_t]  # a view: written in place below
        change = generated.array.astype(np.float32) - part
        part[blended] += slab_weight[blended] * change[blended]
        outputs.append(volume.with_array(array))
    return PaintResult(outputs=tuple(outputs), lesion=region.with_array(painted.astype(np.uint8)),
                       weight=region.with_array(weight), role=role, device=inference.device,
                       seconds=time.perf_counter() - started, slices_run=inference.slices_run)
