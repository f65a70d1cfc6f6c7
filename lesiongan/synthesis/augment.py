"""Data augmentation with lesion synthesis (ANT-GAN Sec. V-B): from healthy volumes, synthetic
abnormal volumes with their masks and their healthy counterparts, in the BraTS 2018-2021 layout.

Case k (k = 0 .. count-1) depends only on the seed, k and the subjects: it takes the healthy
subjects in turn (in a seeded order, so each is used about equally), a lesion
region (a real lesion mask from the abnormal folder when one fits the subject's grid, else a
random plausible one, see `placement`), paints a lesion there with the model and writes

    <out>/<case>/<case>_<modality>.nii.gz          synthetic abnormal image (each model modality)
    <out>/<case>/<case>_<modality>_healthy.nii.gz  the healthy image it was made from
    <out>/<case>/<case>_seg.nii.gz                 the painted region (label 1)

as a whole folder or nothing (staged in a hidden folder beside it, then renamed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.phantom import write_folder_whole
from ..data.readers import Subject, discover, lesion_mask, load_subject
from ..data.volume import Volume, write_volume
from ..errors import LayoutError
from ..infer.modelfile import ModelFile
from .paint import BLEND_MARGIN_MM, paint_lesion
from .placement import brain_mask, random_lesion_masks

DEFAULT_RADIUS_MM = 8.0
CASE_PREFIX = "Synth"


@dataclass
class AugmentedCase:
    name: str
    folder: Path
    source: str  # the healthy subject's id
    lesion_source: str  # "random" or the abnormal subject whose mask was used
    lesion_voxels: int


def healthy_subjects(root: str | Path, modalities: list[str]) -> list[Subject]:
    """Subjects under `root` with every modality and no lesion voxel in their mask (if any)."""
    subjects = []
    for subject in discover(root):
        if not set(modalities) <= set(subject.images):
            continue
        if subject.mask is not None:
            _, mask = load_subject(subject, modalities[:1])
            if mask is not None and lesion_mask(mask.array, subject).any():
                continue
        subjects.append(subject)
    if not subjects:
        raise LayoutError(root, f"holds no healthy subject with {', '.join(modalities)} (a subject is healthy "
                                "when it has no mask or an empty one)")
    return subjects


def _lesion_region(subject_volume: Volume, abnormal: list[Subject], rng: np.random.Generator,
                   radius_mm: float, lesions: int) -> tuple[np.ndarray, str]:
    """A real lesion mask (restricted to this brain) from a random abnormal subject on the same
    grid size, else random plausible lesions."""
    brain = brain_mask(subject_volume)
    for index in rng.permutation(len(abnormal)):
        candidate = abnormal[int(index)]
        if candidate.mask is None:
            continue
        _, mask = load_subject(candidate, list(candidate.images)[:1])
        if mask is None or mask.shape != subject_volume.shape:
            continue
        region = lesion_mask(mask.array, candidate).astype(bool) & brain
        if region.any():
            return region, candidate.id
    masks = random_lesion_masks(subject_volume, lesions, radius_mm, seed=int(rng.integers(2**31)), brain=brain)
    return np.logical_or.reduce(masks), "random"


def write_case_folder(out: Path, name: str, files: dict[str, tuple[Volume, type]]) -> Path:
    """Write `files` ({file name: (volume, dtype)}) as `out/name/`, whole or not at all."""

    def fill(staging: Path) -> None:
        for file_name, (volume, dtype) in files.items():
            write_volume(volume, staging / file_name, dtype=dtype)

    return write_folder_whole(out, name, fill)


def augment(model: ModelFile, healthy_dir: str | Path, out_dir: str | Path, count: int, seed: int = 0, *,
            abnormal_dir: str | Path | None = None, radius_mm: float = DEFAULT_RADIUS_MM, lesions: int = 1,
            blend_margin_mm: float = BLEND_MARGIN_MM, device: str = "auto",
            on_case: Callable[[AugmentedCase], None] | None = None) -> list[AugmentedCase]:
    """Write `count` synthetic cases under `out_dir` (see the module docstring)."""
    if not isinstance(count, (int, np.integer)) or count < 1:
        raise LayoutError("count", f"must be an integer >= 1, got {count!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise LayoutError(out, "exists and is not a folder")
    modalities = model.modalities
    if "flair" not in modalities:  # readers find a BraTS 2018-2021 case by its _flair file
        raise LayoutError(model.path, f"takes {', '.join(modalities)}; the BraTS layout written here needs a "
                                      "model that takes flair")
    healthy = healthy_subjects(healthy_dir, modalities)
    abnormal = discover(abnormal_dir) if abnormal_dir is not None else []
    order = np.random.default_rng(seed).permutation(len(healthy))
    made = []
    for index in range(int(count)):
        rng = np.random.default_rng([seed, index])
        subject = healthy[int(order[index % len(healthy)])]
        volumes, _ = load_subject(subject, modalities)
        images = [volumes[m] for m in modalities]
        region, lesion_source = _lesion_region(images[0], abnormal, rng, radius_mm, lesions)
        painted = paint_lesion(images, images[0].with_array(region.astype(np.uint8)), model,
                               blend_margin_mm=blend_margin_mm, device=device)
        name = f"{CASE_PREFIX}_{seed}_{index:03d}"
        files: dict[str, tuple[Volume, type]] = {}
        for modality, source, synthetic in zip(modalities, images, painted.outputs):
            files[f"{name}_{modality}.nii.gz"] = (synthetic, np.float32)
            files[f"{name}_{modality}_healthy.nii.gz"] = (source, np.float32)
        files[f"{name}_seg.nii.gz"] = (painted.lesion, np.uint8)
        folder = write_case_folder(out, name, files)
        made.append(AugmentedCase(name, folder, subject.id, lesion_source, int(region.sum())))
        if on_case is not None:
            on_case(made[-1])
    return made
