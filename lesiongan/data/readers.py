"""Find the subjects of a data folder in the layouts public data sets use.

Every layout gives `Subject`s with canonical modality names: flair, t1, t1ce, t2 (BraTS,
MSD, ISLES), dwi (ISLES), ct (LiTS), image (a plain folder of pairs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LayoutError, VolumeError
from .volume import Volume, read_volume

NIFTI = (".nii.gz", ".nii")

BRATS2018_MODALITIES = {"flair": "flair", "t1": "t1", "t1ce": "t1ce", "t2": "t2"}
BRATS2023_MODALITIES = {"t2f": "flair", "t1n": "t1", "t1c": "t1ce", "t2w": "t2"}
MSD_CHANNELS = {"flair": 0, "t1": 1, "t1ce": 2, "t2": 3}  # FLAIR, T1w, t1gd, T2w in Task01's dataset.json
ISLES_MODALITIES = {"MR_Flair": "flair", "MR_T1": "t1", "MR_T2": "t2", "MR_DWI": "dwi"}
LITS_TUMOUR_LABEL = 2  # LiTS labels: 1 liver, 2 tumour
UNNAMED = "image"  # the modality of a folder of pairs, whose files name no sequence


@dataclass
class Subject:
    """One case: its image files by modality and its lesion mask (None when there is none).

    `channels` picks the channel of a 4D file (MSD); `healthy` and `changed` are the
    phantom's ground truth; `lesion_labels` are the mask values that mean lesion (None:
    every value above 0).
    """

    id: str
    images: dict[str, Path]
    mask: Path | None = None
    channels: dict[str, int] = field(default_factory=dict)
    healthy: dict[str, Path] = field(default_factory=dict)
    changed: Path | None = None
    layout: str = ""
    lesion_labels: tuple[int, ...] | None = None

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.images)


def strip_suffix(path: Path) -> str:
    """The file name without .nii / .nii.gz / other volume suffix."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _nifti_files(folder: Path, pattern: str = "*") -> list[Path]:
    """NIfTI files matching `pattern` (no suffix), skipping hidden files such as macOS '._' twins."""
    found = [p for suffix in NIFTI for p in folder.glob(pattern + suffix) if not p.name.startswith(".")]
    return sorted(set(found))


def _first(folder: Path, stem: str) -> Path | None:
    for suffix in NIFTI:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _phantom_truth(subject: Subject, folder: Path) -> Subject:
    """The phantom writes `<case>_<mod>_healthy.nii.gz` and `<case>_changed.nii.gz` beside the images."""
    for modality, image in subject.images.items():
        healthy = _first(image.parent, f"{strip_suffix(image)}_healthy")
        if healthy is not None:
            subject.healthy[modality] = healthy
    subject.changed = _first(folder, f"{subject.id}_changed")
    return subject


def _brats_cases(root: Path, names: dict[str, str], separator: str, layout: str) -> list[Subject]:
    anchor = next(file_tag for file_tag, modality in names.items() if modality == "flair")
    subjects = []
    for flair in sorted({p for suffix in NIFTI for p in root.rglob(f"*{separator}{anchor}{suffix}")}):
        folder, case = flair.parent, strip_suffix(flair)[: -len(separator + anchor)]
        if flair.name.startswith(".") or folder.name != case:
            continue
        images = {modality: path for tag, modality in names.items()
                  if (path := _first(folder, f"{case}{separator}{tag}")) is not None}
        subject = Subject(case, images, _first(folder, f"{case}{separator}seg"), layout=layout)
        subjects.append(_phantom_truth(subject, folder))
    return subjects


def _brats2018(root: Path) -> list[Subject]:
    return _brats_cases(root, BRATS2018_MODALITIES, "_", "brats2018")


def _brats2023(root: Path) -> list[Subject]:
    return _brats_cases(root, BRATS2023_MODALITIES, "-", "brats2023")


def _msd(root: Path) -> list[Subject]:
    images, labels = root / "imagesTr", root / "labelsTr"
    if not images.is_dir():
        return []
    subjects = []
    for image in _nifti_files(images):
        case = strip_suffix(image)
        subjects.append(Subject(case, dict.fromkeys(MSD_CHANNELS, image), _first(labels, case),
                                channels=dict(MSD_CHANNELS), layout="msd"))
    return subjects


def _isles2015(root: Path) -> list[Subject]:
    """SISS: `<case>/VSD.Brain.XX.O.MR_Flair.<id>/VSD.Brain.XX.O.MR_Flair.<id>.nii`, mask `...OT.<id>`."""
    pattern = re.compile(r"VSD\.Brain(?:_\d+more)?\.XX\.(?:O\.)?(MR_\w+|OT)\.\d+")
    cases: dict[Path, dict[str, Path]] = {}
    for folder in sorted(root.rglob("VSD.Brain*")):
        match = pattern.fullmatch(folder.name)
        files = _nifti_files(folder, folder.name) if folder.is_dir() and match else []
        if files:
            cases.setdefault(folder.parent, {})[match.group(1)] = files[0]
    subjects = []
    for case_folder, found in cases.items():
        images = {ISLES_MODALITIES[tag]: path for tag, path in found.items() if tag in ISLES_MODALITIES}
        if images:
            subjects.append(Subject(case_folder.name, images, found.get("OT"), layout="isles2015"))
    return subjects


def _lits(root: Path) -> list[Subject]:
    subjects = []
    for volume in sorted({p for suffix in NIFTI for p in root.rglob(f"volume-*{suffix}")}):
        number = strip_suffix(volume).removeprefix("volume-")
        if not number.isdigit() or volume.name.startswith("."):
            continue
        segmentation = _first(volume.parent, f"segmentation-{number}")
        if segmentation is None:  # LiTS batches may keep them in a sibling folder
            segmentation = next(iter(_nifti_files(root, f"**/segmentation-{number}")), None)
        subjects.append(Subject(f"volume-{number}", {"ct": volume}, segmentation, layout="lits",
                                lesion_labels=(LITS_TUMOUR_LABEL,)))
    return sorted(subjects, key=lambda s: int(s.id.removeprefix("volume-")))


def _pairs(root: Path) -> list[Subject]:
    """`images/` + `masks/` with the same names, or `<name>.nii.gz` + `<name>_mask.nii.gz`."""
    if (root / "images").is_dir():
        return [Subject(strip_suffix(image), {UNNAMED: image},
                        _first(root / "masks", strip_suffix(image)), layout="pairs")
                for image in _nifti_files(root / "images")]
    names = {strip_suffix(p): p for p in _nifti_files(root)}
    return [Subject(name, {UNNAMED: path}, names.get(f"{name}_mask"), layout="pairs")
            for name, path in sorted(names.items()) if not name.endswith("_mask")]


# name -> (finder, what the layout looks like); "auto" tries them in this order.
LAYOUTS: dict[str, tuple[Callable[[Path], list[Subject]], str]] = {
    "msd": (_msd, "imagesTr/<case>.nii.gz (4 channels) and labelsTr/<case>.nii.gz"),
    "isles2015": (_isles2015, "<n>/VSD.Brain.XX.O.MR_Flair.<id>/VSD.Brain.XX.O.MR_Flair.<id>.nii and ...OT.<id>"),
    "lits": (_lits, "volume-<n>.nii and segmentation-<n>.nii"),
    "brats2023": (_brats2023, "<case>/<case>-t2f.nii.gz, -t1n, -t1c, -t2w, -seg"),
    "brats2018": (_brats2018, "<case>/<case>_flair.nii.gz, _t1, _t1ce, _t2, _seg"),
    "pairs": (_pairs, "<name>.nii.gz + <name>_mask.nii.gz, or images/<name>.nii.gz + masks/<name>.nii.gz"),
}


def _expected() -> str:
    return "; ".join(f"{name}: {shape}" for name, (_, shape) in LAYOUTS.items())


def discover(root: str | Path, layout: str = "auto") -> list[Subject]:
    """The subjects under `root` in `layout` ("auto" detects it), sorted by id."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(root, "no such folder")
    if layout == "auto":
        for name, (finder, _) in LAYOUTS.items():
            if subjects := finder(root):
                return subjects
        raise LayoutError(root, f"no known data layout found; expected one of: {_expected()}")
    if layout not in LAYOUTS:
        raise LayoutError(root, f"unknown layout {layout!r}; choose auto or one of {', '.join(LAYOUTS)}")
    finder, shape = LAYOUTS[layout]
    subjects = finder(root)
    if not subjects:
        raise LayoutError(root, f"no {layout} cases found; expected {shape}")
    return subjects


def split_subjects(subjects: Sequence[Subject], fractions: Sequence[float] = (0.8, 0.2),
                   seed: int = 0) -> list[list[Subject]]:
    """Shuffle subjects (seeded) and cut them into sets by `fractions`; a subject, never its
    slices, goes to exactly one set."""
    ids = [s.id for s in subjects]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise LayoutError(", ".join(duplicates), "subject id appears twice; the split would leak it")
    weights = np.asarray(fractions, dtype=float)
    if weights.ndim != 1 or weights.size == 0 or np.any(weights < 0) or weights.sum() <= 0:
        raise LayoutError(str(tuple(fractions)), "split fractions must be non-negative with a positive sum")
    ordered = sorted(subjects, key=lambda s: s.id)  # independent of discovery order
    order = np.random.default_rng(seed).permutation(len(ordered))
    cuts = np.round(np.cumsum(weights) / weights.sum() * len(ordered)).astype(int)
    starts = np.concatenate([[0], cuts[:-1]])
    return [[ordered[i] for i in order[a:b]] for a, b in zip(starts, cuts)]


def subject_images(subject: Subject, modalities: Iterable[str],
                   optional: Iterable[str] = ()) -> dict[str, tuple[Path, int | None]]:
    """The file and channel (of a 4D file) of each asked modality the subject has, in the asked
    order, without reading them. A subject whose one image is unnamed (`image`, a folder of
    pairs) gives it as the single modality of a one-modality ask; a modality the subject lacks
    and `optional` does not name is a LayoutError."""
    modalities, optional = list(modalities), set(optional)
    lone = len(modalities) == 1 and list(subject.images) == [UNNAMED]
    found: dict[str, tuple[Path, int | None]] = {}
    for modality in modalities:
        key = UNNAMED if lone else modality
        if key in subject.images:
            found[modality] = (subject.images[key], subject.channels.get(key))
        elif modality not in optional:
            raise LayoutError(subject.id, f"has no {modality} image (it has {', '.join(subject.images) or 'none'})")
    if not found:
        raise LayoutError(subject.id, "no modality asked")
    return found


def load_subject(subject: Subject, modalities: Iterable[str],
                 optional: Iterable[str] = ()) -> tuple[dict[str, Volume], Volume | None]:
    """Read the asked modalities (float32, found by `subject_images`) and the mask; all must
    share one grid. A modality in `optional` the subject lacks is left out of the result."""
    files = subject_images(subject, modalities, optional)
    volumes = {modality: read_volume(path, channel=channel) for modality, (path, channel) in files.items()}
    first_modality, first = next(iter(volumes.items()))
    first_path = files[first_modality][0]
    for modality, volume in volumes.items():
        if not volume.same_grid(first):
            raise VolumeError(files[modality][0], f"is not on the grid of {first_path}")
    mask = None
    if subject.mask is not None:
        mask = read_volume(subject.mask, allow_empty=True)
        if not mask.same_grid(first):
            raise VolumeError(subject.mask, f"mask is not on the grid of {first_path} "
                                            f"(mask {mask.shape} spacing {mask.spacing}, "
                                            f"image {first.shape} spacing {first.spacing})")
    return volumes, mask


def lesion_mask(mask: np.ndarray, subject: Subject) -> np.ndarray:
    """uint8 1 where the mask says lesion, by the subject's `lesion_labels` (else any label > 0)."""
    if subject.lesion_labels is None:
        return (mask > 0).astype(np.uint8)
    return np.isin(mask, subject.lesion_labels).astype(np.uint8)
