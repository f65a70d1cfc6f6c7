"""`lesiongan infer`: pseudo-healthy volume, difference map and mask for each input volume.

    lesiongan infer --input case_flair.nii.gz --output-dir out
    lesiongan infer --model my.pt --input-dir cohort/ --output-dir out --device cuda
    torchrun --nproc-per-node 4 -m lesiongan infer --input-dir cohort/ --output-dir out

Each case gives `<name>_healthy.nii.gz` (one per modality), `<name>_diff.nii.gz` and
`<name>_mask.nii.gz` on the input's grid; an --input-dir in a dataset layout the readers know
gives one case per subject (cases and names: `lesiongan.infer.cases`). Under torchrun the
cohort is split over the ranks.

Before any model runs, every output path is known to be free (an existing result is replaced
only with --overwrite; an input, a label beside it or a phantom's ground truth never) and every
case's files are checked from their headers: present, whole, finite (NIfTI floats), one 3D
volume, on one grid, with slices that fit the model's frame; one refused case stops the run
there. What only the voxels show (a constant volume, nothing above the background, NaN in
other formats) is found when that case is read and run: the run stops there, naming the file,
with the earlier cases' results complete. --skip-bad reports such cases, runs the others and
exits with code 1. A run that fails before writing anything leaves no new output folder.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..data.volume import write_volume
from ..errors import InputError, LayoutError
from ..io import check_outputs, output_folder, remove_stale_temporaries
from .calibrate import threshold_argument
from .cases import Case, cohort_cases, group_cases, output_paths, rank_share, readable_case, run_case
from .catalog import default_model_path

if TYPE_CHECKING:
    from .engine import SliceInferer
    from .modelfile import ModelFile

# Roles whose network turns an image into an image of the same sequences; a segmentor's or
# classifier's output is no pseudo-healthy volume.
IMAGE_ROLES = ("a2n", "n2a")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help="model file (default: the shipped demo model)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, nargs="+", action="extend",
                        help="input volume(s); for a multi-modal model, one per modality or a BraTS file "
                             "whose sibling sequences are found (a sequence the model can do without may be "
                             "missing; a lone file is its first modality)")
    source.add_argument("--input-dir", type=Path,
                        help="a dataset folder (BraTS, MSD, ISLES 2015, LiTS: one case per subject) or any folder "
                             "of input volumes (searched recursively)")
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
                        help="report cases whose files are refused or fail to run and go on with the others (exit code 1)")


def _check_options(args: argparse.Namespace) -> None:
    """Option values, checked before the model loads."""
    if args.threshold is not None and not (math.isfinite(args.threshold) and args.threshold >= 0):
        raise InputError("--threshold", f"must be a number >= 0 in normalized units, got {args.threshold}")
    if args.min_size is not None and args.min_size < 0:
        raise InputError("--min-size", f"must be >= 0 voxels, got {args.min_size}")
    if args.batch is not None and args.batch < 1:
        raise InputError("--batch", f"must be >= 1 slice, got {args.batch}")


def run(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from .engine import SliceInferer
    from .modelfile import load_model

    _check_options(args)
    model_path = args.model or default_model_path()
    device = resolve_device(args.device)
    model = load_model(model_path, device=str(device), roles=[args.role])
    if args.input:
        for path in args.input:
            if not path.exists():
                raise InputError(path, "no such input file")
        cases = [Case.of_files(files) for files in group_cases(args.input, model.modalities, model.optional_modalities)]
    else:
        cases = cohort_cases(args.input_dir, model)
    names = [case.name for case in cases]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise LayoutError(args.input_dir or "--input", f"several inputs are named {', '.join(duplicates)}; "
                                                       "their outputs would overwrite each other")
    mine = rank_share(cases)
    # Every output of every case is checked against every input before anything runs: an output
    # may not replace an input (not even one of a later case), a label beside it, a phantom's
    # truth or an old result.
    check_outputs([path for case in mine for path in output_paths(case, args.output_dir).values()],
                  [path for case in cases for path in case.paths], overwrite=args.overwrite)
    with output_folder(args.output_dir):
        remove_stale_temporaries(args.output_dir)
        bad = {index: problem for index, case in enumerate(mine)
               if (problem := readable_case(case, model.conventions, args.batch))}
        if bad and not args.skip_bad:
            listed = "; ".join(bad.values())
            raise InputError("--input" if args.input else args.input_dir,
                             f"{len(bad)} of {len(mine)} case(s) refused, nothing was run: {listed} "
                             "(--skip-bad runs the others)")
        return _run_cases(args, model, mine, bad, SliceInferer(device=device, batch_size=args.batch,
                                                              threshold=args.threshold,
                                                              min_component_size=args.min_size))


def _run_cases(args: argparse.Namespace, model: ModelFile, mine: list[Case], bad: dict[int, str],
               inferer: SliceInferer) -> int:
    """Each case in turn, its results written before the next one starts; a case refused by the
    pre-check, or whose voxels fail (`run_case`), is skipped with --skip-bad and stops the run
    without it."""
    rank = os.environ.get("RANK", "0")
    failed: list[str] = []
    for number, case in enumerate(mine, start=1):
        result, problem = None, bad.get(number - 1)
        if problem is None:
            result, problem = run_case(case, lambda: inferer(case.read(), model, role=args.role), args.skip_bad)
        if problem is not None:
            failed.append(case.name)
            print(f"[rank {rank}] {number}/{len(mine)} {case.name}: skipped: {problem}", file=sys.stderr, flush=True)
            continue
        targets = output_paths(case, args.output_dir)
        for index, output in enumerate(result.outputs):
            if output is None:  # a sequence the case lacks
                continue
            write_volume(output, targets[f"healthy {index}"], overwrite=args.overwrite)
        write_volume(result.difference, targets["diff"], overwrite=args.overwrite)
        write_volume(result.mask, targets["mask"], dtype="uint8", overwrite=args.overwrite)
        print(f"[rank {rank}] {number}/{len(mine)} {case.name}: {result.slices_run} slices on {result.device} "
              f"in {result.seconds:.1f} s, mask {int(result.mask.array.sum())} voxels", file=sys.stdout, flush=True)
    if failed:
        print(f"[rank {rank}] {len(failed)} of {len(mine)} case(s) skipped: {', '.join(failed)}",
              file=sys.stderr, flush=True)
        return 1
    return 0
