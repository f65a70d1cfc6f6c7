"""Slice-wise batched inference: a volume in, its pseudo-healthy volume, difference map and mask out.

The volume is brought to what the model was trained on (orientation, in-plane spacing,
normalization, slice axis, padding), the non-empty slices run in batches, and every step is
undone so the results land on the input's exact grid. The output is input + delta, where delta
is the network's change mapped back to intensities: what the network leaves alone stays
bit-identical to the input (clipped intensities included).

`SliceInferer(device, batch_size, threads, crop, ...)` holds the settings of a run and is
called on (volumes, model); the model's frame is `lesiongan.infer.frame`.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from scipy import ndimage

from ..data import normalize as normalization
from ..data.normalize import foreground_mask
from ..data.slicing import array_axis, from_slices, to_slices
from ..data.volume import Volume
from ..device import cpu_threads, resolve_device
from ..errors import Cancelled, InputError, LesionGANError, ModelFileError, VolumeError
from ..limits import cap_threads, check_memory
from ..nets import to_net
from ..progress import CancelCheck, ProgressCallback
from .frame import ModelFrame, check_volumes, frame_checked, framed_plane
from .modelfile import ModelFile

CPU_BATCH = 1  # measured on 2 cores: one slice at a time is as fast as larger batches
_CUDA_BATCH_LIMIT = 64
# Live activation bytes per input pixel of one slice in a ResNet generator at ngf=64 in half
# precision (a few full-resolution 64-channel maps at once), with headroom.
_CUDA_BYTES_PER_PIXEL = 64 * 2 * 12
_PAD_MULTIPLE = 4  # two stride-2 downsamplings in the generators
# Background kept around the foreground's bounding box when cropping (crop=True), in pixels.
CROP_MARGIN = 16


@dataclass
class InferenceResult:
    """Everything on the input's grid. `output` is the first modality's pseudo-healthy volume,
    `outputs` one per modality (None for a sequence the input lacked); `difference` is
    |x - G(x)| in normalized [0, 1] units (the maximum over modalities); `mask` (uint8)
    thresholds it; `foreground` (uint8) is the brain."""

    output: Volume
    difference: Volume
    mask: Volume
    foreground: Volume
    device: str
    seconds: float
    slices_run: int
    outputs: tuple[Volume | None, ...] = ()
    batch_size: int = 0


def threshold_difference(difference: Volume, threshold: float, foreground: Volume | None = None,
                         min_component_size: int = 0) -> Volume:
    """The lesion mask (uint8) of a difference map: above `threshold`, inside `foreground` (if
    given), without connected components smaller than `min_component_size` voxels."""
    if not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or threshold < 0:
        raise InputError("threshold", f"must be a number >= 0 in normalized units, got {threshold!r}")
    if min_component_size < 0:
        raise InputError("min_component_size", f"must be >= 0, got {min_component_size!r}")
    if foreground is not None and foreground.shape != difference.shape:
        raise VolumeError("foreground", f"shape {foreground.shape} differs from the difference map's "
                                        f"{difference.shape}")
    mask = mask_array(difference.array, threshold, None if foreground is None else foreground.array,
                      min_component_size)
    return difference.with_array(mask.astype(np.uint8))


def mask_array(difference: np.ndarray, threshold: float, foreground: np.ndarray | None = None,
               min_component_size: int = 0) -> np.ndarray:
    """`threshold_difference` on arrays, unchecked (bool): what calibration tries many times."""
    mask = difference > threshold
    if foreground is not None:
        mask &= foreground > 0
    if min_component_size > 1 and mask.any():
        labels, count = ndimage.label(mask)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        keep = sizes >= min_component_size
        keep[0] = False
        mask = keep[labels]
    return mask


def _pad_widths(shape: tuple[int, int], size: int | Sequence[int] | None) -> list[tuple[int, int]]:
    """Centred padding of a slice up to a multiple of 4 and at least the model's size."""
    sizes = [0, 0] if size is None else ([int(size)] * 2 if isinstance(size, (int, float)) else list(size))
    widths = []
    for length, minimum in zip(shape, sizes):
        target = max(length, int(minimum))
        target = -(-target // _PAD_MULTIPLE) * _PAD_MULTIPLE
        before = (target - length) // 2
        widths.append((before, target - length - before))
    return widths


def _batch_size(device: torch.device, plane: tuple[int, int], requested: int | None) -> int:
    if requested is not None:
        if requested < 1:
            raise InputError("batch_size", f"must be >= 1, got {requested}")
        return int(requested)
    if device.type != "cuda":
        return CPU_BATCH
    free, _ = torch.cuda.mem_get_info(device)
    per_slice = plane[0] * plane[1] * _CUDA_BYTES_PER_PIXEL
    return int(max(1, min(_CUDA_BATCH_LIMIT, free // 2 // per_slice)))


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def _crop_box(foreground: np.ndarray | None, plane: tuple[int, int]) -> tuple[slice, slice]:
    """The window of a (N, H, W) foreground stack that the network sees: its bounding box plus
    CROP_MARGIN, grown to a multiple of 4 inside the slice; the whole slice without a mask."""
    if foreground is None or not foreground.any():
        return slice(0, plane[0]), slice(0, plane[1])
    window = []
    for axis, length in zip((1, 2), plane):
        hits = np.flatnonzero(foreground.any(axis=tuple(a for a in (0, 1, 2) if a != axis)))
        start, stop = max(0, int(hits[0]) - CROP_MARGIN), min(length, int(hits[-1]) + 1 + CROP_MARGIN)
        size = -(-(stop - start) // _PAD_MULTIPLE) * _PAD_MULTIPLE  # `length` is a multiple of 4 itself
        start = min(start, length - size)
        window.append(slice(start, start + size))
    return window[0], window[1]


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """Host to device; on a GPU from pinned memory without blocking, so the copy of the next
    batch overlaps the work still queued on the device (unmeasured: no GPU in our CI)."""
    tensor = torch.from_numpy(array)
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


def _forward_slices(net: torch.nn.Module, stack: np.ndarray, extra: np.ndarray | None, device: torch.device,
                    batch: int, progress: ProgressCallback | None, cancel: CancelCheck | None,
                    foreground: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """G(x) - x in normalized units for a (N, C, H, W) stack in [0, 1], batch by batch.

    The change is taken in the network's range, so a pixel the network passes through
    unchanged has a change of exactly zero. Out of memory halves the batch and retries. With a
    (N, H, W) `foreground`, each batch runs only on the window around its foreground (see
    `_crop_box`) and the change outside that window is zero.
    """
    result = np.zeros(stack.shape, dtype=np.float32)
    channels = stack.shape[1]
    done, total = 0, stack.shape[0]
    channels_last = device.type == "cuda"  # measured slower on the CPU (oneDNN, 2 cores)
    while done < total:
        if cancel is not None and cancel():
            raise Cancelled("inference cancelled")
        chunk = slice(done, min(total, done + batch))
        rows, cols = _crop_box(None if foreground is None else foreground[chunk], stack.shape[2:])
        window = (chunk, slice(None), rows, cols)
        images = to_net(_to_device(np.ascontiguousarray(stack[window]), device))
        inputs = images if extra is None else torch.cat([images, to_net(_to_device(np.ascontiguousarray(extra[window]), device))], 1)
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        try:
            with torch.inference_mode(), _autocast(device):
                generated = net(inputs)
            # network range is twice the normalized one (see lesiongan.nets.from_net)
            change = ((generated[:, :channels].float() - images) / 2).cpu().numpy()
        except torch.OutOfMemoryError as error:
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if batch == 1:
                raise LesionGANError(f"out of memory on {device} even one slice at a time; "
                                     "try --device cpu") from error
            batch = max(1, batch // 2)
            continue
        result[window] = change
        done = chunk.stop
        if progress is not None:
            progress(done, total)
    return result, batch


# The slice side the networks need at least: two stride-2 downsamplings and reflection padding
# leave a 2x2 bottleneck at 8 pixels (a 1-pixel slice fails inside instance norm).
MIN_SLICE_PIXELS = 8
# float32 copies of the framed volume alive at once in `_run_model` (resampled, normalized,
# padded, change, denormalized outputs), and live activation bytes per pixel of one slice on
# the CPU (a few full-resolution 64-channel float32 maps).
_FRAME_COPIES = 8
_CPU_BYTES_PER_PIXEL = 64 * 4 * 12


def _reference_change(frame: ModelFrame, reference: Sequence[Volume | None], missing: Sequence[int]) -> np.ndarray:
    """reference - input in the frame's normalized slices (zero where a reference is None)."""
    change = np.zeros_like(frame.normalized)
    for channel, (volume, p) in enumerate(zip(reference, frame.params)):
        if volume is None or channel in missing:
            continue
        framed = frame.bring(volume)
        change[:, channel] = to_slices(normalization.normalize(framed.array.astype(np.float32), p), frame.axis) \
            - frame.normalized[:, channel]
    return change


def fill_missing(volumes: Volume | Sequence[Volume | None], model: ModelFile) -> tuple[list[Volume], tuple[int, ...]]:
    """`volumes` checked (`check_volumes`), one per model modality, with the positions of the
    absent ones. A model trained with sequences missing (`ModelFile.optional_modalities`) takes
    None for those, or fewer volumes than it has modalities (the first ones given); each absent
    one goes in as zeros on the first volume's grid. Any other absence is left to
    `check_channels` to name."""
    listed: Any = [volumes] if isinstance(volumes, Volume) else volumes
    optional = set(model.optional_modalities)
    if not optional or not isinstance(listed, Sequence) or isinstance(listed, (str, bytes)) or not listed:
        return check_volumes(volumes), ()
    modalities = model.modalities
    listed = list(listed) + [None] * (len(modalities) - len(listed))
    missing = tuple(index for index, volume in enumerate(listed) if volume is None)
    needed = ", ".join(m for m in modalities if m not in optional)
    for index in missing:
        if index >= len(modalities) or modalities[index] not in optional:
            name = modalities[index] if index < len(modalities) else f"volume {index}"
            raise VolumeError(name, f"is missing; this model can do without {', '.join(sorted(optional))} "
                                    f"but needs {needed}")
    present = check_volumes([volume for volume in listed if volume is not None])
    first, given = present[0], iter(present)
    zeros = first.with_array(np.zeros(first.shape, np.float32))
    return [zeros if index in missing else next(given) for index in range(len(listed))], missing


def check_frame_fits(volumes: list[Volume], conventions: dict, batch: int) -> None:
    """Refuse, before anything is resampled or allocated, an input whose slices would be too
    small for the networks or too large for this machine's memory in the model's frame."""
    count, height, width = framed_plane(volumes[0], conventions)
    pads = _pad_widths((height, width), conventions.get("size"))
    padded = [n + before + after for n, (before, after) in zip((height, width), pads)]
    if min(padded) < MIN_SLICE_PIXELS:
        raise VolumeError("volume", f"its slices would be {height} x {width} pixels at the model's "
                                    f"{conventions.get('spacing')} mm spacing; the networks need at least "
                                    f"{MIN_SLICE_PIXELS} (is the voxel spacing {volumes[0].spacing} mm right?)")
    pixels = count * padded[0] * padded[1] * len(volumes)
    needed = pixels * 4 * _FRAME_COPIES + batch * padded[0] * padded[1] * _CPU_BYTES_PER_PIXEL
    check_memory(needed, f"inference on a volume that becomes {count} slices of {padded[0]} x {padded[1]} "
                         "pixels in the model's frame")


@dataclass(frozen=True)
class SliceInferer:
    """Runs a network of a model file slice by slice over volumes, in batches; set up once, called
    on any number of volumes (as MONAI's `SliceInferer`)::

        inferer = SliceInferer(device="cuda", crop=True)
        for volume in volumes:
            result = inferer(volume, model)          # an InferenceResult on the volume's grid

    `threshold` and `min_component_size` default to the model's (its calibrated threshold, or
    ANT-GAN's 0.1 for a file without one; 0); `limit_to_foreground` keeps the mask inside the
    brain. `batch_size` defaults to one slice on the CPU and to what fits on a GPU.

    `crop=True` runs each batch only on its foreground's bounding box (plus a margin): about
    3x faster on BraTS-sized slices, but approximate, since instance norm then sees less
    background (see docs/speed.md for the measured deviation). `threads` sets torch's CPU
    threads for each run only (default: `cpu_threads()`, the process's setting lowered to the
    idle cores).
    """

    device: str | torch.device = "auto"
    batch_size: int | None = None
    threads: int | None = None
    crop: bool = False
    threshold: float | None = None
    limit_to_foreground: bool = True
    min_component_size: int | None = None

    def __post_init__(self) -> None:
        threads, threshold, batch_size = self.threads, self.threshold, self.batch_size
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InputError("threads", f"must be a whole number >= 1, got {threads!r}")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or not math.isfinite(threshold) or threshold < 0):
            raise InputError("threshold", f"must be a number >= 0 in normalized units, got {threshold!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)):
            raise InputError("batch_size", f"must be a whole number >= 1, got {batch_size!r}")

    def __call__(self, volumes: Volume | Sequence[Volume], model: ModelFile, role: str = "a2n", *,
                 extra: Volume | None = None, progress: ProgressCallback | None = None,
                 cancel: CancelCheck | None = None,
                 reference: Sequence[Volume | None] | None = None) -> InferenceResult:
        """`model`'s `role` network over `volumes` (one per model modality).

        `extra` (e.g. a lesion mask in [0, 1]) is an additional channel for a reconstructor role.
        `progress(done, total)` and `cancel()` are called between batches; a cancel raises
        `Cancelled` and returns nothing.

        `reference` (one volume per modality on the inputs' grid, None to leave one as it is)
        takes the network's place: its change from the input goes through the same frame,
        normalization, smoothing, threshold and minimum component. Given a phantom's true
        healthy volumes, the result is what a perfect generator would score with this model.
        """
        if not isinstance(model, ModelFile):
            raise InputError("model", f"must be a ModelFile, got {type(model).__name__} "
                                      "(open a model file with load_model(path))")
        inputs, missing = fill_missing(volumes, model)
        check_frame_fits(inputs, model.conventions, self.batch_size or CPU_BATCH)
        previous_threads = torch.get_num_threads()
        # more threads than cores only wait for each other (10 000 threads hung a run)
        torch.set_num_threads(cap_threads(self.threads) if self.threads is not None else cpu_threads())
        try:
            result = self._run(inputs, model, role, extra, progress, cancel, missing, reference)
        finally:
            torch.set_num_threads(previous_threads)
        if not all(np.isfinite(volume.array).all() for volume in (*result.outputs, result.difference)
                   if volume is not None):
            raise ModelFileError(model.path, f"the '{role}' network gave NaN or infinite values on this input; "
                                             "nothing was returned")
        return result

    def _run(self, inputs: list[Volume], model: ModelFile, role: str, extra: Volume | None,
             progress: ProgressCallback | None, cancel: CancelCheck | None,
             missing: tuple[int, ...] = (), reference: Sequence[Volume | None] | None = None) -> InferenceResult:
        """The run itself, on volumes `fill_missing` has checked; the channels in `missing` go in as 0."""
        started = time.perf_counter()
        if extra is not None and not extra.same_grid(inputs[0]):
            raise VolumeError("extra", "is not on the same grid as the input volume")
        model.check_channels(role, len(inputs), 0 if extra is None else 1)
        threshold = model.threshold if self.threshold is None else self.threshold
        conventions = model.conventions
        min_component_size = self.min_component_size
        if min_component_size is None:
            min_component_size = int(conventions.get("min_component_size", 0))
        array_axis(str(conventions.get("axis", "axial")))  # an unknown axis name fails here, before any work
        target = resolve_device(self.device)
        if reference is not None:
            if len(reference) != len(inputs):
                raise InputError("reference", f"has {len(reference)} volumes for the model's {len(inputs)} modalities")
            for index, volume in enumerate(reference):
                if volume is not None and not (isinstance(volume, Volume) and volume.same_grid(inputs[0])):
                    raise VolumeError(f"reference {index}", "is not a Volume on the input volumes' grid")

        # 1-2. model frame (orientation, in-plane spacing), normalization, slices, padding
        frame = frame_checked(inputs, conventions, missing)  # an absent sequence is 0, as in training
        axis, normalized = frame.axis, frame.normalized
        pads = _pad_widths(normalized.shape[2:], conventions.get("size"))
        unpad = (slice(None), slice(None), *(slice(b, b + n) for (b, _), n in zip(pads, normalized.shape[2:])))
        padded = np.pad(normalized, [(0, 0), (0, 0), *pads])
        extra_slices = None
        if extra is not None:
            framed_extra = frame.bring(extra, "nearest")
            extra_slices = np.pad(to_slices(np.clip(framed_extra.array, 0, 1).astype(np.float32), axis)[:, None],
                                  [(0, 0), (0, 0), *pads])

        # 3. non-empty slices through the network; empty ones stay as they are (zero change)
        foreground_slices = to_slices(frame.foreground, axis)
        active = np.flatnonzero(foreground_slices.reshape(normalized.shape[0], -1).any(axis=1))
        change = np.zeros_like(normalized)
        batch = _batch_size(target, padded.shape[2:], self.batch_size)
        if reference is not None:
            change = _reference_change(frame, reference, missing)
        elif active.size:
            run, batch = _forward_slices(model.network(role, target), np.ascontiguousarray(padded[active]),
                                         None if extra_slices is None else np.ascontiguousarray(extra_slices[active]),
                                         target, batch, progress, cancel,
                                         np.pad(foreground_slices[active], [(0, 0), *pads]) if self.crop else None)
            change[active] = run[unpad]
            change[:, list(missing)] = 0.0  # an absent sequence has no output, and no say in the map
        elif progress is not None:
            progress(0, 0)
        # the network changes tissue only: the background around it (air, a skull-stripped
        # volume's zeros) stays as it was, in the output and in the map
        change *= foreground_slices[:, None]

        # 4. undo: back to volumes, intensities, the input's spacing and orientation. The change is
        # mapped through denormalize so clipped intensities stay as they were where it is zero.
        outputs = []
        for channel, (volume, p) in enumerate(zip(frame.framed, frame.params)):
            if channel in missing:
                outputs.append(None)
                continue
            before = from_slices(normalized[:, channel], axis)
            after = from_slices(np.clip(normalized[:, channel] + change[:, channel], 0, 1), axis)
            delta = (normalization.denormalize(after, p) - normalization.denormalize(before, p)).astype(np.float32)
            outputs.append(frame.back(volume.with_array(delta), inputs[channel]))
        difference = from_slices(np.abs(change).max(axis=1), axis).astype(np.float32)
        difference_volume = frame.back(frame.framed[0].with_array(difference), inputs[0])
        # resampling back spreads the change a voxel or two past the tissue: the input's own
        # foreground decides what may change
        tissue = foreground_mask([v.array for v in inputs])
        difference_volume = inputs[0].with_array(np.clip(difference_volume.array, 0, None) * tissue)
        smooth_mm = float(conventions.get("smooth_mm", 0.0))
        if smooth_mm > 0:  # a model may ask for its map smoothed: specks of noise fall below the threshold
            sigma = [smooth_mm / s for s in inputs[0].spacing[::-1]]  # (z, y, x) voxels
            difference_volume = difference_volume.with_array(ndimage.gaussian_filter(difference_volume.array, sigma))
        input_foreground = inputs[0].with_array(tissue.astype(np.uint8))
        mask = threshold_difference(difference_volume, threshold,
                                    input_foreground if self.limit_to_foreground else None, min_component_size)
        healthy = tuple(None if delta is None else volume.with_array(volume.array + delta.array * tissue)
                        for volume, delta in zip(inputs, outputs))
        return InferenceResult(output=healthy[0], difference=difference_volume, mask=mask, foreground=input_foreground,
                               device=str(target), seconds=time.perf_counter() - started, slices_run=int(active.size),
                               outputs=healthy, batch_size=batch)


def run_model(volumes: Volume | Sequence[Volume], model: ModelFile, role: str = "a2n", *,
              extra: Volume | None = None, progress: ProgressCallback | None = None,
              cancel: CancelCheck | None = None, **settings: Any) -> InferenceResult:
    """One run of `model`'s `role` network over `volumes`: `SliceInferer(**settings)(volumes,
    model, role, ...)`. `settings` are SliceInferer's (device, batch_size, threads, crop,
    threshold, limit_to_foreground, min_component_size); make a SliceInferer to run many volumes.
    """
    return SliceInferer(**settings)(volumes, model, role, extra=extra, progress=progress, cancel=cancel)
