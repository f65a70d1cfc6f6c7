"""The cases of a cohort: which input files belong together, and where their results go.

A folder in a dataset layout the readers know (MSD, ISLES 2015, LiTS, BraTS) gives one case
per subject, with the model's modalities read from the right files and channels. Otherwise the
file names decide: a multi-modal model takes one file per modality, and in a folder named the
BraTS way (2018-2021 `_flair/_t1/...`, 2023+ `-t2f/-t1n/...`) the sibling sequences of a file
are found by name. `lesiongan infer` and the web page name their outputs after `volume_name`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..data import readers
from ..data.volume import VOLUME_SUFFIXES, Volume, check_volume_file, read_geometry, read_volume
from ..errors import InputError, LayoutError, ModelFileError, VolumeError
from ..limits import MemoryLimitError

if TYPE_CHECKING:
    from .modelfile import ModelFile

# BraTS 2023+ names its sequences differently from 2018-2021.
_BRATS_2023 = {"flair": "t2f", "t1": "t1n", "t1ce": "t1c", "t2": "t2w"}
# Files a cohort folder holds beside the images: labels and earlier results.
_NOT_INPUTS = ("seg", "healthy", "diff", "mask", "changed", "label")
Result = TypeVar("Result")


def volume_name(path: Path) -> str:
    """The file name without its volume suffix ('case_flair.nii.gz' -> 'case_flair')."""
    for suffix in VOLUME_SUFFIXES:
        if path.name.lower().endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


@dataclass
class Case:
    """One run of the model: per model modality a file and the channel of a 4D file (None for
    a modality the model can do without that the case lacks) and the name its `_healthy`
    output takes; `beside` are files read with it elsewhere (its mask, a phantom's truth) that
    no output may replace. The difference map and mask are named after the first modality."""

    files: list[Path | None]
    channels: list[int | None]
    stems: list[str | None]
    beside: list[Path] = field(default_factory=list)

    @classmethod
    def of_files(cls, files: Sequence[Path | None]) -> Case:
        """A case of whole 3D files, its outputs named after them."""
        return cls(list(files), [None] * len(files), [None if path is None else volume_name(path) for path in files])

    @classmethod
    def of_subject(cls, subject: readers.Subject, model: ModelFile) -> Case:
        """A subject's files for `model` (a LayoutError when it lacks a modality the model needs).
        Outputs keep the name of a file named after the case (BraTS `<case>_flair`, LiTS
        `volume-<n>`), else they are `<case>_<modality>` (MSD's one 4D file, ISLES's VSD names)."""
        found = readers.subject_images(subject, model.modalities, model.optional_modalities)
        files, channels = map(list, zip(*(found.get(modality, (None, None)) for modality in model.modalities)))
        images = list(subject.images.values())
        stems = [None if path is None
                 else volume_name(path) if volume_name(path).startswith(subject.id) and images.count(path) == 1
                 else f"{subject.id}_{modality}" for modality, path in zip(model.modalities, files)]
        beside = [path for path in (subject.mask, *subject.healthy.values(), subject.changed) if path is not None]
        return cls(files, channels, stems, beside)

    @property
    def name(self) -> str:
        return self.stems[0] or ""

    @property
    def inputs(self) -> list[tuple[Path, int | None]]:
        """(file, channel) of each modality the case has."""
        return [(path, channel) for path, channel in zip(self.files, self.channels) if path is not None]

    @property
    def paths(self) -> list[Path]:
        """Every file of the case, its inputs and those beside them: none may be overwritten."""
        return list(dict.fromkeys([path for path, _ in self.inputs] + self.beside))

    @property
    def source(self) -> str:
        """The case's input files, for messages."""
        return ", ".join(dict.fromkeys(str(path) for path, _ in self.inputs))

    def read(self) -> list[Volume | None]:
        """The case's volumes in the model's modality order (None for an absent one)."""
        return [None if path is None else read_volume(path, channel=channel)
                for path, channel in zip(self.files, self.channels)]


def _sibling(path: Path, modality: str, wanted: str) -> Path | None:
    """The file of modality `wanted` beside `path` (a file of `modality`), BraTS style."""
    name = volume_name(path)
    suffix = path.name[len(name):]
    for separator, own, other in (("_", modality, wanted),
                                  ("-", _BRATS_2023.get(modality, modality), _BRATS_2023.get(wanted, wanted))):
        ending = f"{separator}{own}"
        if name.lower().endswith(ending.lower()):
            candidate = path.with_name(f"{name[: -len(ending)]}{separator}{other}{suffix}")
            if candidate.exists():
                return candidate
    return None


def _modality_of(path: Path, modalities: list[str]) -> str | None:
    name = volume_name(path).lower()
    for modality in modalities:
        if name.endswith((f"_{modality}", f"-{_BRATS_2023.get(modality, modality)}")):
            return modality
    return None


def group_cases(paths: list[Path], modalities: list[str], optional: Sequence[str] = ()) -> list[list[Path | None]]:
    """Input files -> cases, each a list of files in the model's modality order, with None where
    a modality in `optional` (one the model can do without) has no file."""
    if len(modalities) == 1:
        return [[path] for path in paths]
    only_first_needed = set(modalities[1:]) <= set(optional)
    cases: list[list[Path | None]] = []
    seen: set[Path] = set()
    for path in paths:
        if path.resolve() in seen:
            continue
        modality = _modality_of(path, modalities)
        siblings = [path if wanted == modality else _sibling(path, modality, wanted) if modality else None
                    for wanted in modalities]
        if modality and all(sibling or wanted in optional for sibling, wanted in zip(siblings, modalities)):
            cases.append(siblings)
            seen.update(p.resolve() for p in siblings if p is not None)
        elif len(paths) == len(modalities) and not cases:
            return [list(paths)]  # one file per modality, given in the model's order
        elif modality is None and only_first_needed:
            cases.append([path, *[None] * (len(modalities) - 1)])  # a lone sequence, taken as the first
        else:
            raise LayoutError(path, f"the model takes {', '.join(modalities)}; the sibling files of this "
                                    "case were not found (give one --input per modality)")
    return cases


def subject_inputs(subject: readers.Subject, model: ModelFile) -> tuple[list[Volume | None], Volume | None]:
    """A subject's volumes in `model`'s modality order (None for one the model can do without
    and the subject lacks) and its mask."""
    volumes, mask = readers.load_subject(subject, model.modalities, model.optional_modalities)
    return [volumes.get(modality) for modality in model.modalities], mask


def find_inputs(folder: Path, modalities: list[str]) -> list[Path]:
    """Volume files under `folder`, without labels or earlier results; when files are named by
    sequence (BraTS), only those of the model's first modality (the others are its siblings)."""
    if not folder.is_dir():
        raise LayoutError(folder, "is not a folder")
    files = sorted(path for path in folder.rglob("*")
                   if path.is_file() and path.name.lower().endswith(VOLUME_SUFFIXES)
                   and not path.name.startswith("."))
    files = [path for path in files
             if not re.search(rf"[_-]({'|'.join(_NOT_INPUTS)})$", volume_name(path).lower())]
    named = [path for path in files if _modality_of(path, modalities[:1])]
    if named:
        files = named
    if not files:
        raise LayoutError(folder, "holds no volume files (.nii.gz, .nii, .nrrd, .mha)")
    return files


def cohort_cases(folder: Path, model: ModelFile) -> list[Case]:
    """The cases of an input folder: one per subject when it holds a dataset layout the readers
    know, else from its file names (`find_inputs`, `group_cases`)."""
    try:
        subjects = readers.discover(folder)
    except LayoutError:
        subjects = []
    # any folder of volumes reads as pairs: there the file names decide, as for a plain folder
    if subjects and subjects[0].layout != "pairs":
        return [Case.of_subject(subject, model) for subject in subjects]
    files = find_inputs(folder, model.modalities)
    return [Case.of_files(case) for case in group_cases(files, model.modalities, model.optional_modalities)]


def rank_share(items: list, environ: dict | None = None) -> list:
    """This process's share of `items` under torchrun (RANK / WORLD_SIZE), all of them otherwise."""
    environ = os.environ if environ is None else environ
    world = int(environ.get("WORLD_SIZE", "1"))
    rank = int(environ.get("RANK", "0"))
    return items[rank::world] if world > 1 else list(items)


def output_paths(case: Case, output_dir: Path) -> dict[str, Path]:
    """Where a case's results go: one healthy volume per modality it has, then its diff and mask."""
    outputs = {f"healthy {index}": output_dir / f"{stem}_healthy.nii.gz"
               for index, stem in enumerate(case.stems) if stem is not None}
    outputs["diff"] = output_dir / f"{case.name}_diff.nii.gz"
    outputs["mask"] = output_dir / f"{case.name}_mask.nii.gz"
    return outputs


def _header(path: Path, channel: int | None) -> Volume:
    """A file's grid from its header, once its data are known to be whole (VolumeError otherwise)."""
    if not path.exists():
        raise VolumeError(path, "no such file")
    check_volume_file(path)
    return read_geometry(path, channel)


def readable_case(case: Case, conventions: dict, batch: int | None = None, beside: bool = False) -> str | None:
    """Why a case cannot run, from its files' headers (no voxel is loaded), or None: a file
    missing, cut short or damaged, with NaN or Inf floats (NIfTI), not one 3D volume, off the
    first file's grid, or with slices too small (or too large for memory) in the model's frame.
    With `beside`, the files read beside the inputs (mask, truth) are checked too. A DICOM
    folder is left to the reading."""
    from .engine import CPU_BATCH, check_frame_fits

    try:
        grids = [(path, _header(path, channel)) for path, channel in case.inputs if not path.is_dir()]
        for path in case.beside if beside else ():
            _header(path, None)
        for path, grid in grids[1:]:
            if not grid.same_grid(grids[0][1]):
                raise VolumeError(path, f"is not on the grid of {grids[0][0]}")
    except (VolumeError, OSError) as error:
        return str(error)
    if not grids:
        return None
    try:  # absent modalities go in as zeros on the first grid
        check_frame_fits([grids[0][1]] * len(case.files), conventions, batch or CPU_BATCH)
    except (VolumeError, MemoryLimitError) as error:  # they name 'volume': name the file
        return f"{grids[0][0]}: {getattr(error, 'problem', error)}"
    return None


def run_case(case: Case, work: Callable[[], Result], skip_bad: bool) -> tuple[Result | None, str | None]:
    """(`work()`, None), or with `skip_bad` (None, the problem) when the case's voxels fail it
    (NaN, a constant volume, nothing above the background, too large to hold): what only
    reading and running find. An input error is named after the case's files (the engine names
    what it was given: 'volume', 'array'); a model file's error or any other fault always
    stops the run."""
    try:
        return work(), None
    except ModelFileError:
        raise
    except InputError as error:
        if error.source not in {str(path) for path in case.paths}:
            error = type(error)(case.source, error.problem)
        failure: Exception = error
    except MemoryLimitError as error:  # its message names the file
        failure = error
    if not skip_bad:
        raise failure
    return None, str(failure)
