"""`lesiongan infer`: pseudo-healthy volume, difference map and mask for each input volume.

    lesiongan infer --input case_flair.nii.gz --output-dir out
    lesiongan infer --model my.pt --input-dir cohort/ --output-dir out --device cuda
    torchrun --nproc-per-node 4 -m lesiongan infer --input-dir cohort/ --output-dir out

Each case gives `<name>_healthy.nii.gz` (one per modality), `<name>_diff.nii.gz` and
`<name>_mask.nii.gz` on the input's grid. Under torchrun the cohort is split over the ranks.
Nothing runs until every input has been checked and every output path is known to be free
(an existing result is replaced only with --overwrite; an input or a phantom's ground truth
never).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from pathlib import Path

from ..data.volume import VOLUME_SUFFIXES, check_volume_file, read_volume, write_volume
from ..errors import InputError, LayoutError, LesionGANError, VolumeError
from ..io import check_outputs, check_writable_folder, remove_stale_temporaries
from .calibrate import threshold_argument
from .catalog import default_model_path

# BraTS 2023+ names its sequences differently from 2018-2021.
_BRATS_2023 = {"flair": "t2f", "t1": "t1n", "t1ce": "t1c", "t2": "t2w"}
# Files a cohort folder holds beside the images: labels and earlier results.
_NOT_INPUTS = ("seg", "healthy", "diff", "mask", "changed", "label")
# Roles whose network turns an image into an image of the same sequences; a segmentor's or
# classifier's output is no pseudo-healthy volume.
IMAGE_ROLES = ("a2n", "n2a")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help="model file (default: the shipped demo model)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, nargs="+", action="extend",
                        help="input volume(s); for a multi-modal model, one per modality or a BraTS file "
                             "whose sibling sequences are found")
    source.add_argument("--input-dir", type=Path, help="folder of input volumes (searched recursively)")
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--threshold", type=threshold_argument, default=None,
                        help="mask threshold on the normalized difference map: a number, 'model' (the model's own, "
                             "calibrated on healthy volumes; the default) or 'antgan' (ANT-GAN's 0.1)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--batch", type=int, default=None, help="slices per forward pass (default: from memory)")
    parser.add_argument("--role", default="a2n", choices=IMAGE_ROLES,
                        help="network of the model file to run: a2n (pseudo-healthy, default) or n2a")
    parser.add_argument("--min-size", type=int, default=None,
                        help="drop mask components under N voxels (default: the model's, else 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace result files that exist already")
    parser.add_argument("--skip-bad", action="store_true",
                        help="report cases whose files cannot be read and go on with the others (exit code 1)")


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


def group_cases(paths: list[Path], modalities: list[str]) -> list[list[Path]]:
    """Input files -> cases, each a list of files in the model's modality order."""
    if len(modalities) == 1:
        return [[path] for path in paths]
    cases: list[list[Path]] = []
    seen: set[Path] = set()
    for path in paths:
        if path.resolve() in seen:
            continue
        modality = _modality_of(path, modalities)
        siblings = [path if wanted == modality else _sibling(path, modality, wanted) if modality else None
                    for wanted in modalities]
        if all(siblings):
            cases.append(siblings)  # type: ignore[arg-type]
            seen.update(p.resolve() for p in siblings)  # type: ignore[union-attr]
        elif len(paths) == len(modalities) and not cases:
            return [list(paths)]  # one file per modality, given in the model's order
        else:
            raise LayoutError(path, f"the model takes {', '.join(modalities)}; the sibling files of this "
                                    "case were not found (give one --input per modality)")
    return cases


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


def _check_options(args: argparse.Namespace) -> None:
    """Option values, checked before the model loads."""
    if args.threshold is not None and not (math.isfinite(args.threshold) and args.threshold >= 0):
        raise InputError("--threshold", f"must be a number >= 0 in normalized units, got {args.threshold}")
    if args.min_size is not None and args.min_size < 0:
        raise InputError("--min-size", f"must be >= 0 voxels, got {args.min_size}")
    if args.batch is not None and args.batch < 1:
        raise InputError("--batch", f"must be >= 1 slice, got {args.batch}")


def output_paths(case: list[Path], output_dir: Path) -> dict[str, Path]:
    """Where a case's results go: one healthy volume per modality, then its diff and mask."""
    name = volume_name(case[0])
    outputs = {f"healthy {index}": output_dir / f"{volume_name(path)}_healthy.nii.gz" for index, path in enumerate(case)}
    outputs["diff"] = output_dir / f"{name}_diff.nii.gz"
    outputs["mask"] = output_dir / f"{name}_mask.nii.gz"
    return outputs


def _readable_case(case: list[Path]) -> str | None:
    """Why a case's files cannot be read (header and data size checked, no voxels loaded), or None."""
    for path in case:
        try:
            check_volume_file(path)
        except (VolumeError, OSError) as error:
            return str(error)
    return None


def run(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from .engine import SliceInferer
    from .modelfile import load_model

    _check_options(args)
    model_path = args.model or default_model_path()
    device = resolve_device(args.device)
    model = load_model(model_path, device=str(device), roles=[args.role])
    paths = args.input if args.input else find_inputs(args.input_dir, model.modalities)
    for path in paths:
        if not path.exists():
            raise InputError(path, "no such input file")
    cases = group_cases(paths, model.modalities)
    names = [volume_name(case[0]) for case in cases]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise LayoutError(args.input_dir or "--input", f"several inputs are named {', '.join(duplicates)}; "
                                                       "their outputs would overwrite each other")
    mine = rank_share(cases)
    # Every output of every case is checked against every input before anything runs: an output
    # may not replace an input (not even one of a later case), a phantom's truth or an old result.
    check_outputs([path for case in mine for path in output_paths(case, args.output_dir).values()],
                  [path for case in cases for path in case], overwrite=args.overwrite)
    check_writable_folder(args.output_dir)
    remove_stale_temporaries(args.output_dir)
    bad = {index: problem for index, case in enumerate(mine) if (problem := _readable_case(case))}
    if bad and not args.skip_bad:
        listed = "; ".join(bad.values())
        raise InputError("--input" if args.input else args.input_dir,
                         f"{len(bad)} of {len(mine)} case(s) cannot be read, nothing was run: {listed} "
                         "(--skip-bad runs the others)")
    rank = os.environ.get("RANK", "0")
    inferer = SliceInferer(device=device, batch_size=args.batch, threshold=args.threshold,
                           min_component_size=args.min_size)
    failed: list[str] = []
    for number, case in enumerate(mine, start=1):
        name = volume_name(case[0])
        try:
            if number - 1 in bad:
                raise InputError(name, bad[number - 1])
            volumes = [read_volume(path) for path in case]
        except LesionGANError as error:
            if not args.skip_bad:
                raise
            failed.append(name)
            print(f"[rank {rank}] {number}/{len(mine)} {name}: skipped: {error}", file=sys.stderr, flush=True)
            continue
        result = inferer(volumes, model, role=args.role)
        targets = output_paths(case, args.output_dir)
        for index, output in enumerate(result.outputs):
            write_volume(output, targets[f"healthy {index}"], overwrite=args.overwrite)
        write_volume(result.difference, targets["diff"], overwrite=args.overwrite)
        write_volume(result.mask, targets["mask"], dtype="uint8", overwrite=args.overwrite)
        print(f"[rank {rank}] {number}/{len(mine)} {name}: {result.slices_run} slices on {result.device} "
              f"in {result.seconds:.1f} s, mask {int(result.mask.array.sum())} voxels", file=sys.stdout, flush=True)
    if failed:
        print(f"[rank {rank}] {len(failed)} of {len(mine)} case(s) skipped: {', '.join(failed)}",
              file=sys.stderr, flush=True)
        return 1
    return 0
