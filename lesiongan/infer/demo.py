"""`lesiongan demo`: the demo model on a phantom case with a lesion, scored against the truth.

    lesiongan demo --out demo-output

Writes the input, `<name>_healthy.nii.gz`, `<name>_diff.nii.gz`, `<name>_mask.nii.gz` and
`<name>_overview.png` (input | pseudo-healthy | heatmap | mask with the true outline, at the
slice with the most lesion), and prints the scores the phantom's ground truth allows.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..checks import seed_arg
from ..data.volume import write_volume
from ..errors import ModelFileError
from ..io import atomic_path, check_outputs, check_writable_folder
from .catalog import default_model_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default demo-output)")
    parser.add_argument("--seed", type=seed_arg, default=0, help="phantom case seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--model", type=Path, default=None, help="model file (default: the shipped demo model)")
    parser.add_argument("--size", choices=("brats", "tiny"), default="brats",
                        help="phantom grid: brats (240 x 240 x 155, default) or tiny (for quick checks)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an earlier demo run")


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


def run(args: argparse.Namespace) -> int:
    import torch

    from ..data.phantom import MODALITIES, make_case
    from ..metrics.evaluate_cli import score_result
    from ..metrics.fpre import shipped_segmentor, volume_healthiness
    from .engine import SliceInferer
    from .modelfile import load_model

    started = time.perf_counter()
    model_path = args.model or default_model_path()
    if args.model is None and not model_path.is_file():
        raise ModelFileError(model_path, "the demo model is not installed; train one with `lesiongan train` "
                                         "or pass --model")
    model = load_model(model_path)
    unknown = [m for m in model.modalities if m not in MODALITIES]
    if unknown:
        raise ModelFileError(model_path, f"takes {', '.join(unknown)}, which the phantom does not make "
                                         f"(it makes {', '.join(MODALITIES)})")
    name = f"phantom{args.seed:03d}"
    out: Path = args.out
    first = model.modalities[0]
    outputs = {kind: out / f"{name}_{kind}.nii.gz" for kind in (first, "healthy", "diff", "mask")}
    check_outputs([*outputs.values(), out / f"{name}_overview.png"], [model_path], overwrite=args.overwrite)
    check_writable_folder(out)
    case = make_case(args.seed, size=args.size, lesion=True, name=name)
    volumes = [case.volume(case.images[m].astype(np.float32)) for m in model.modalities]
    result = SliceInferer(device=args.device)(volumes, model)

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
    if segmentor is not None:  # what the shipped f_pre still finds, in the output and in the input
        lesion_volume = volumes[0].with_array(lesion.astype(np.uint8))
        health = [volume_healthiness(volumes[0], image, lesion_volume, segmentor, torch.device(result.device))
                  for image in (result.output, volumes[0])]

    z = int(np.argmax(lesion.reshape(lesion.shape[0], -1).sum(axis=1)))
    png = save_overview(out / f"{name}_overview.png", volumes[0].array[z], result.output.array[z],
                        result.difference.array[z], result.mask.array[z], lesion[z],
                        f"{model_path.name} on {name} ({first}), axial slice {z}")
    seconds = time.perf_counter() - started
    print(f"model       {model_path} ({model.method}, {', '.join(model.modalities)})")
    print(f"case        {name}: {args.size} phantom, seed {args.seed}, {int(lesion.sum())} lesion voxels, "
          f"{int(changed.sum())} changed")
    print(f"device      {result.device}: {result.slices_run} slices in {result.seconds:.1f} s")
    print(f"non-lesion PSNR (brain, outside the lesion): {scores['psnr_nonlesion']:.2f} dB")
    print(f"mask Dice at threshold {model.threshold:g}: {scores['dice']:.3f}  (AUPRC {scores['auprc']:.3f})")
    print(f"changed-region PSNR vs the true healthy volume: {scores['psnr_lesion']:.2f} dB "
          f"(input: {untouched:.2f} dB)")
    if segmentor is not None:
        print(f"healthiness (1 = f_pre finds no lesion left): {health[0]:.3f} (input: {health[1]:.3f})")
    print(f"written     {out}/{name}_{{healthy,diff,mask}}.nii.gz and {png.name}")
    print(f"total time  {seconds:.1f} s")
    return 0
