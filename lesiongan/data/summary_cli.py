"""`lesiongan summary DIR`: what the readers find in a data folder, and how many slices are
healthy or abnormal. Only the masks are read as volumes; each image file is only checked to be
whole (its data stream against its header), so it is quick on a whole data set."""

from __future__ import annotations

import argparse
from collections import Counter

from .orientation import reorient
from .readers import LAYOUTS, Subject, discover, lesion_mask
from .slicing import AXES, to_slices
from .slices import slice_label
from .volume import check_volume_file, read_volume


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", metavar="DIR", help="data folder")
    parser.add_argument("--layout", default="auto", choices=["auto", *LAYOUTS], help="data layout (default: detect)")
    parser.add_argument("--axis", default="axial", choices=list(AXES), help="slice axis after reorienting to LPS")


def count_slices(subject: Subject, axis: str) -> tuple[int, int]:
    """(healthy, abnormal) slices by the subject's mask; every slice is healthy without one."""
    for path in subject.images.values():
        check_volume_file(path)  # a truncated image would be counted as if it were whole
    if subject.mask is None:
        modality = next(iter(subject.images))
        image = read_volume(subject.images[modality], channel=subject.channels.get(modality))
        return reorient(image, "LPS").shape[AXES[axis]], 0
    mask = reorient(read_volume(subject.mask, allow_empty=True), "LPS")
    labels = [slice_label(s) for s in to_slices(lesion_mask(mask.array, subject), axis)]
    return labels.count(0), labels.count(1)


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
