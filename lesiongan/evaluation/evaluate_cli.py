"""`lesiongan evaluate`: every metric of a model on a data folder, per subject and overall.

    lesiongan evaluate --model my.pt --data phantom/ --out evaluation/
    lesiongan evaluate --data BraTS2021/ --split all --device cuda
    lesiongan evaluate --model my.pt --data cohort/ --segmentor my_fpre.pt
    lesiongan evaluate --model my.pt --data phantom/ --split all --oracle   # a perfect generator's scores

Writes `subjects.csv`, `evaluation.json` (per subject and summary) and `evaluation.md`, and
prints the summary table; the scoring is `lesiongan.evaluation.evaluate`.

Before any subject runs, every subject is checked as `lesiongan infer` checks its cases: it has
the modalities the model needs, and its files (images, mask, a phantom's truth) are present,
whole and one 3D volume each, on one grid, with slices that fit the model's frame. One refused
subject stops the run there; what only the voxels show is found when the subject runs, and stops
the run naming the file. --skip-bad scores the others instead, lists the skipped subjects in the
report and on stderr, and exits with code 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..device import resolve_device
from ..errors import InputError
from ..infer.calibrate import threshold_argument
from ..infer.cases import Case, readable_case, run_case
from ..infer.modelfile import load_model
from ..io import output_folder
from .evaluate import choose_segmentor, evaluate_subject, select_subjects, write_reports


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, help="model file (default: the shipped demo model)")
    parser.add_argument("--data", type=Path, required=True, help="data folder in a layout the readers know")
    parser.add_argument("--layout", default="auto", help="data layout (default: detected)")
    parser.add_argument("--split", choices=("test", "all"), default="test",
                        help="score the subjects the model was not trained on (its recorded split; else a "
                             "held-out 20%%), or all (default test)")
    parser.add_argument("--out", type=Path, default=Path("evaluation"), help="output folder (default ./evaluation)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--threshold", type=threshold_argument, default=None,
                        help="mask threshold on the normalized difference map: a number, 'model' (the model's own, "
                             "calibrated on healthy volumes; the default) or 'antgan' (ANT-GAN's 0.1)")
    parser.add_argument("--oracle", action="store_true",
                        help="score each subject's true healthy volumes (the phantom's <case>_<modality>_healthy) "
                             "in place of the model's output: what a perfect generator would score with this "
                             "model's frame, threshold and post-processing")
    parser.add_argument("--segmentor", default="auto",
                        help="f_pre for healthiness: a segmentation model file, 'auto' (the shipped one for the "
                             "model's first modality, if any) or 'none' (default auto)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="report subjects whose files are refused or fail to run, score the others (they are "
                             "listed in the report; exit code 1)")


def run(args: argparse.Namespace) -> int:
    from ..infer.catalog import default_model_path

    model_path = args.model or default_model_path()
    device = resolve_device(args.device)
    model = load_model(model_path, device=str(device))
    subjects = select_subjects(args.data, args.split, args.layout, model.provenance)
    # a subject that lacks a modality the model needs is refused here, before any subject runs
    cases = [Case.of_subject(subject, model) for subject in subjects]
    bad = {index: problem for index, case in enumerate(cases, start=1)
           if (problem := readable_case(case, model.conventions, beside=True))}
    if bad and not args.skip_bad:
        raise InputError(args.data, f"{len(bad)} of {len(subjects)} subject(s) refused, nothing was scored: "
                                    f"{'; '.join(bad.values())} (--skip-bad scores the others)")
    segmentor = choose_segmentor(args.segmentor, model, device)
    if segmentor is None:
        print("healthiness: not scored (no segmentor f_pre for this model's modality; see --segmentor)", file=sys.stderr)
    ids, rows, skipped = [], [], {}
    with output_folder(args.out):
        for index, (subject, case) in enumerate(zip(subjects, cases), start=1):
            print(f"[{index}/{len(subjects)}] {subject.id}", file=sys.stderr, flush=True)
            row, problem = None, bad.get(index)
            if problem is None:
                row, problem = run_case(case, lambda: evaluate_subject(
                    subject, model, device, args.threshold, segmentor, strict=args.segmentor != "auto",
                    oracle=args.oracle), args.skip_bad)
            if problem is not None:
                skipped[subject.id] = problem
                print(f"{subject.id}: skipped: {problem}", file=sys.stderr, flush=True)
                continue
            ids.append(subject.id)
            rows.append(row)
        context = {"model": str(model_path), "data": str(args.data), "split": args.split, "device": str(device),
                   "threshold": model.threshold if args.threshold is None else args.threshold,
                   "segmentor": None if segmentor is None else str(segmentor.path), "oracle": args.oracle,
                   "skipped": skipped}
        print(write_reports(args.out, ids, rows, context), end="")
    if skipped:
        print(f"{len(skipped)} of {len(subjects)} subject(s) skipped: {', '.join(skipped)}", file=sys.stderr)
        return 1
    return 0
