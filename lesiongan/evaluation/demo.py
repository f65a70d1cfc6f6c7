"""The demo: the demo model on a phantom case with a lesion, scored against the phantom's truth.

`run_demo` writes the input, `<name>_healthy.nii.gz`, `<name>_diff.nii.gz`, `<name>_mask.nii.gz`
and `<name>_overview.png` (input | pseudo-healthy | heatmap | mask with the true outline, at the
slice with the most lesion), and returns the scores the phantom's ground truth allows
(`lesiongan demo` prints them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..data.phantom import MODALITIES, make_case
from ..data.volume import write_volume
from ..errors import ModelFileError
from ..infer.catalog import default_model_path
from ..infer.engine import InferenceResult, SliceInferer
from ..infer.modelfile import ModelFile, load_model
from ..io import atomic_path, check_outputs, check_writable_folder
from .evaluate import score_result
from .fpre import shipped_segmentor, volume_healthiness


@dataclass
class DemoReport:
    """What one demo run made and measured. `scores` are `lesiongan evaluate`'s for the case;
    `input_psnr_lesion` is the changed-region PSNR of the untouched input (what the output
    should beat); `healthiness` is f_pre's (output, input), None without a shipped f_pre."""

    model_path: Path
    model: ModelFile
    name: str
    result: InferenceResult
    scores: dict[str, float]
    input_psnr_lesion: float
    healthiness: tuple[float, float] | None
    lesion_voxels: int
    changed_voxels: int
    overview: Path
    seconds: float


def save_overview(path: Path, image: np.ndarray, healthy: np.ndarray, difference: np.ndarray, mask: np.ndarray,
                  truth: np.ndarray, title: str) -> Path:
    """Four panels of one axial slice (arrays are 2D), written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    low, high = float(image.min()), float(np.percentile(image, 99.5)) or 1.0
    figure, axes = plt.subplots(1, 4, figsize=(13, 3.6), dpi=100)
    panels = (("input", image), ("pseudo-healthy", healthy), ("difference |x - G(x)|", None), ("mask", None))
    for axis, (name, array) in zip(axes, panels):
        axis.set_title(name)
        axis.axis("off")
        if array is not None:
            axis.imshow(array, cmap="gray", vmin=low, vmax=high)
    axes[2].imshow(image, cmap="gray", vmin=low, vmax=high)
    heat = axes[2].imshow(np.ma.masked_less_equal(difference, 0.02), cmap="inferno", vmin=0, vmax=0.5, alpha=0.8)
    figure.colorbar(heat, ax=axes[2], fraction=0.046)
    axes[3].imshow(image, cmap="gray", vmin=low, vmax=high)
    axes[3].imshow(np.ma.masked_equal(mask, 0), cmap="autumn", alpha=0.6)
    if truth.any():
        axes[3].contour(truth.astype(float), levels=[0.5], colors="cyan", linewidths=1)
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)
    return path


def run_demo(out: Path, model_path: Path | None = None, seed: int = 0, size: str = "brats",
             device: str = "auto", overwrite: bool = False) -> DemoReport:
    """The demo model (or `model_path`) on phantom case `seed`; its files go to `out`."""
    started = time.perf_counter()
    path = model_path or default_model_path()
    if model_path is None and not path.is_file():
        raise ModelFileError(path, "the demo model is not installed; train one with `lesiongan train` "
                                   "or pass --model")
    model = load_model(path)
    unknown = [m for m in model.modalities if m not in MODALITIES]
    if unknown:
        raise ModelFileError(path, f"takes {', '.join(unknown)}, which the phantom does not make "
                                   f"(it makes {', '.join(MODALITIES)})")
    name = f"phantom{seed:03d}"
    first = model.modalities[0]
    outputs = {kind: out / f"{name}_{kind}.nii.gz" for kind in (first, "healthy", "diff", "mask")}
    check_outputs([*outputs.values(), out / f"{name}_overview.png"], [path], overwrite=overwrite)
    check_writable_folder(out)
    case = make_case(seed, size=size, lesion=True, name=name)
    volumes = [case.volume(case.images[m].astype(np.float32)) for m in model.modalities]
    result = SliceInferer(device=device)(volumes, model)

    write_volume(volumes[0], outputs[first])
    write_volume(result.output, outputs["healthy"])
    write_volume(result.difference, outputs["diff"])
    write_volume(result.mask, outputs["mask"], dtype="uint8")

    # The lesion labels are the truth for detection and for what counts as non-lesion (ANT-GAN's
    # protocol); the changed region (lesion plus mass effect) is where the output is compared
    # with the true healthy volume. Scored exactly as `lesiongan evaluate` scores a subject.
    lesion = case.labels > 0
    changed = case.changed > 0
    truth = case.volume(case.healthy[first].astype(np.float32))
    scores = score_result(volumes[0], result, model, lesion, truth=truth, changed=changed)
    untouched = score_result(volumes[0], replace(result, output=volumes[0]), model, lesion, truth=truth,
                             changed=changed)["psnr_lesion"]
    segmentor = shipped_segmentor(first, device=result.device)
    health = None
    if segmentor is not None:  # what the shipped f_pre still finds, in the output and in the input
        lesion_volume = volumes[0].with_array(lesion.astype(np.uint8))
        health = tuple(volume_healthiness(volumes[0], image, lesion_volume, segmentor, torch.device(result.device))
                       for image in (result.output, volumes[0]))

    z = int(np.argmax(lesion.reshape(lesion.shape[0], -1).sum(axis=1)))
    png = save_overview(out / f"{name}_overview.png", volumes[0].array[z], result.output.array[z],
                        result.difference.array[z], result.mask.array[z], lesion[z],
                        f"{path.name} on {name} ({first}), axial slice {z}")
    return DemoReport(path, model, name, result, scores, untouched, health, int(lesion.sum()), int(changed.sum()),
                      png, time.perf_counter() - started)
