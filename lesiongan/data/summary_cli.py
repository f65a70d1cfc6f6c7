"""`lesiongan summary DIR`: what the readers find in a data folder, and how many slices are
healthy or abnormal. Only the masks are read as volumes; each image file is only checked to be
whole (its data stream against its header), so it is quick on a whole data set."""

from __future__ import annotations

import argparse
from collections import Counter

from .readers import LAYOUTS, discover
from .slices import count_slices
from .slicing import AXES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", metavar="DIR", help="data folder")
    parser.add_argument("--layout", default="auto", choices=["auto", *LAYOUTS], help="data layout (default: detect)")
    parser.add_argument("--axis", default="axial", choices=list(AXES), help="slice axis after reorienting to LPS")


def run(args: argparse.Namespace) -> int:
    subjects = discover(args.root, args.layout)
    modalities = Counter(m for s in subjects for m in s.images)
    print(f"{args.root}: layout {subjects[0].layout}, {len(subjects)} subjects")
    print("modalities: " + ", ".join(f"{m} ({n})" for m, n in modalities.items()))
    width = max(len("subject"), *(len(s.id) for s in subjects))
    print(f"{'subject':<{width}}  {'healthy':>8}  {'abnormal':>8}  mask  truth")
    totals = [0, 0]
    for subject in subjects:
        healthy, abnormal = count_slices(subject, args.axis)
        totals[0] += healthy
        totals[1] += abnormal
        mask = "yes" if subject.mask is not None else "no"
        truth = "yes" if subject.healthy else "no"
        print(f"{subject.id:<{width}}  {healthy:>8}  {abnormal:>8}  {mask:>4}  {truth:>5}")
    print(f"total {args.axis} slices: {totals[0]} healthy, {totals[1]} abnormal "
          "(all slices, background included; 'lesiongan train' keeps only foreground slices)")
    return 0
