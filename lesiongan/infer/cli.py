"""`lesiongan infer`: pseudo-healthy volume, difference map and mask for each input volume.

    lesiongan infer --input case_flair.nii.gz --output-dir out
    lesiongan infer --model my.pt --input-dir cohort/ --output-dir out --device cuda
    torchrun --nproc-per-node 4 -m lesiongan infer --input-dir cohort/ --output-dir out

Each case gives `<name>_healthy.nii.gz` (one per modality), `<name>_diff.nii.gz` and
`<name>_mask.nii.gz` on the input's grid (cases and names: `lesiongan.infer.cases`). Under torchrun the cohort is split over the ranks.
Nothing runs until every input has been checked and every output path is known to be free
(an existing result is replaced only with --overwrite; an input or a phantom's ground truth
never).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from ..data.volume import read_volume, write_volume
from ..errors import InputError, LayoutError, LesionGANError
from ..io import check_outputs, check_writable_folder, remove_stale_temporaries
from .calibrate import threshold_argument
from .cases import find_inputs, group_cases, output_paths, rank_share, readable_case, volume_name
from .catalog import default_model_path

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
    paths = args.input if args.input else find_inputs(args.input_dir, model.modalities)
    for path in paths:
        if not path.exists():
            raise InputError(path, "no such input file")
    cases = group_cases(paths, model.modalities, model.optional_modalities)
    names = [volume_name(case[0]) for case in cases]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise LayoutError(args.input_dir or "--input", f"several inputs are named {', '.join(duplicates)}; "
                                                       "their outputs would overwrite each other")
    mine = rank_share(cases)
    # Every output of every case is checked against every input before anything runs: an output
    # may not replace an input (not even one of a later case), a phantom's truth or an old result.
    check_outputs([path for case in mine for path in output_paths(case, args.output_dir).values()],
                  [path for case in cases for path in case if path is not None], overwrite=args.overwrite)
    check_writable_folder(args.output_dir)
    remove_stale_temporaries(args.output_dir)
    bad = {index: problem for index, case in enumerate(mine) if (problem := readable_case(case))}
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
            volumes = [None if path is None else read_volume(path) for path in case]
        except LesionGANError as error:
            if not args.skip_bad:
                raise
            failed.append(name)
            print(f"[rank {rank}] {number}/{len(mine)} {name}: skipped: {error}", file=sys.stderr, flush=True)
            continue
        result = inferer(volumes, model, role=args.role)
        targets = output_paths(case, args.output_dir)
        for index, output in enumerate(result.outputs):
            if output is None:  # a sequence the case lacks
                continue
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
