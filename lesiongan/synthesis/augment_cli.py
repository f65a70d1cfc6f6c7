"""`lesiongan augment`: synthetic abnormal / pseudo-healthy pairs with masks in the BraTS layout."""

from __future__ import annotations

import argparse

from .augment import DEFAULT_RADIUS_MM, AugmentedCase, augment
from .paint import BLEND_MARGIN_MM


from ..checks import seed_arg
from ..io import check_writable_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="model file (or catalog name) with a reconstructor or n2a network")
    parser.add_argument("--healthy", required=True, help="folder of healthy volumes (any layout the readers know)")
    parser.add_argument("--abnormal", default=None,
                        help="folder of abnormal volumes whose lesion masks are used as regions when their grid fits")
    parser.add_argument("--out", required=True, help="output folder (BraTS 2018-2021 layout)")
    parser.add_argument("--count", type=int, required=True, help="number of synthetic cases")
    parser.add_argument("--seed", type=seed_arg, default=0, help="the same seed and data give the same cases")
    parser.add_argument("--radius-mm", type=float, default=DEFAULT_RADIUS_MM, help="radius of random lesions")
    parser.add_argument("--lesions", type=int, default=1, help="random lesions per case")
    parser.add_argument("--blend-margin-mm", type=float, default=BLEND_MARGIN_MM,
                        help="width of the linear blend outside the lesion region")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")


def run(args: argparse.Namespace) -> int:
    from ..infer.catalog import resolve_model
    from ..infer.modelfile import load_model

    model = load_model(resolve_model(args.model))
    check_writable_folder(args.out)

    def report(case: AugmentedCase) -> None:
        print(f"{case.folder}: from {case.source}, lesion ({case.lesion_source}) {case.lesion_voxels} voxels",
              flush=True)

    cases = augment(model, args.healthy, args.out, args.count, args.seed, abnormal_dir=args.abnormal,
                    radius_mm=args.radius_mm, lesions=args.lesions, blend_margin_mm=args.blend_margin_mm,
                    device=args.device, on_case=report)
    print(f"wrote {len(cases)} case(s) to {args.out}")
    return 0
