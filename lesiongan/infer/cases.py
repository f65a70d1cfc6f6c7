"""The cases of a cohort: which input files belong together, and where their results go.

A multi-modal model takes one file per modality; in a folder named the BraTS way (2018-2021
`_flair/_t1/...`, 2023+ `-t2f/-t1n/...`) the sibling sequences of a file are found by name.
`lesiongan infer` and the web page name their outputs after `volume_name`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..data import readers
from ..data.volume import VOLUME_SUFFIXES, Volume, check_volume_file
from ..errors import LayoutError, VolumeError

if TYPE_CHECKING:
    from .modelfile import ModelFile

# BraTS 2023+ names its sequences differently from 2018-2021.
_BRATS_2023 = {"flair": "t2f", "t1": "t1n", "t1ce": "t1c", "t2": "t2w"}
# Files a cohort folder holds beside the images: labels and earlier results.
_NOT_INPUTS = ("seg", "healthy", "diff", "mask", "changed", "label")

def volume_name(path: Path) -> str:
    """The file name without its volume suffix ('case_flair.nii.gz' -> 'case_flair')."""
    for suffix in VOLUME_SUFFIXES:
        if path.name.lower().endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


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


def rank_share(items: list, environ: dict | None = None) -> list:
    """This process's share of `items` under torchrun (RANK / WORLD_SIZE), all of them otherwise."""
    environ = os.environ if environ is None else environ
    world = int(environ.get("WORLD_SIZE", "1"))
    rank = int(environ.get("RANK", "0"))
    return items[rank::world] if world > 1 else list(items)


def output_paths(case: list[Path | None], output_dir: Path) -> dict[str, Path]:
    """Where a case's results go: one healthy volume per modality, then its diff and mask."""
    name = volume_name(case[0])
    outputs = {f"healthy {index}": output_dir / f"{volume_name(path)}_healthy.nii.gz"
               for index, path in enumerate(case) if path is not None}
    outputs["diff"] = output_dir / f"{name}_diff.nii.gz"
    outputs["mask"] = output_dir / f"{name}_mask.nii.gz"
    return outputs


def readable_case(case: list[Path | None]) -> str | None:
    """Why a case's files cannot be read (header and data size checked, no voxels loaded), or None."""
    for path in filter(None, case):
        try:
            check_volume_file(path)
        except (VolumeError, OSError) as error:
            return str(error)
    return None
