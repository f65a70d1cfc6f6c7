"""`lesiongan phantom`: write brain phantom cases with lesions and their healthy ground truth."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..checks import seed_arg
from ..errors import InputError
from ..io import atomic_path, check_outputs, check_writable_folder
from .phantom import SIZES, PhantomCase, case_plan, write_cases
from .randomization import SETTINGS

MONTAGE_CASES = 4
MONTAGE_TITLES = ("FLAIR", "FLAIR healthy", "labels", "changed")
# BraTS label colours as viewers commonly show them: core red, edema green, enhancing yellow.
_LABEL_COLOURS = {1: (230, 40, 40), 2: (40, 200, 60), 4: (250, 220, 30)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="folder to write the cases into (BraTS layout)")
    parser.add_argument("--cases", type=int, default=10, help="number of cases (default 10)")
    parser.add_argument("--seed", type=seed_arg, default=0, help="random seed; the same seed writes the same files")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny",
                        help="tiny = 64x64x32 (fast), brats = 240x240x155 at 1 mm (default tiny)")
    parser.add_argument("--healthy-fraction", type=float, default=0.2,
                        help="share of cases without a lesion (default 0.2)")
    parser.add_argument("--randomize", choices=sorted(SETTINGS), default=None,
                        help="domain randomization (docs/phantom.md): 'train' draws warp, contrast, acquisition and "
                             "lesion family per case; 'test' is a held-out setting (proton-density-like contrast, "
                             "many small foci) no 'train' case has. Default: the plain phantom")
    parser.add_argument("--montage", type=Path, default=None,
                        help=f"PNG of the first {MONTAGE_CASES} cases: {', '.join(MONTAGE_TITLES)}")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a folder that holds files already, replacing phantom cases of the same names")


def montage_row(case: PhantomCase) -> list[np.ndarray]:
    """RGB uint8 panels of the axial slice through the lesion (the middle slice without one)."""
    flair, healthy = case.images["flair"], case.healthy["flair"]
    per_slice = case.labels.reshape(len(case.labels), -1).astype(bool).sum(1)
    index = int(per_slice.argmax()) if per_slice.any() else len(case.labels) // 2
    top = float(np.percentile(flair[flair > 0], 99.9)) if flair.any() else 1.0

    def grey(image: np.ndarray) -> np.ndarray:
        return np.repeat((np.clip(image / top, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=-1)

    labels = grey(flair[index])
    for label, colour in _LABEL_COLOURS.items():
        where = case.labels[index] == label
        labels[where] = (0.45 * labels[where] + 0.55 * np.array(colour)).astype(np.uint8)
    changed = grey(flair[index]) // 3
    changed[case.changed[index] > 0] = (255, 140, 0)
    # Radiological display: anterior up, the patient's left on the right (array: i -> R, j -> A).
    return [np.ascontiguousarray(panel[::-1, ::-1]) for panel in (grey(flair[index]), grey(healthy[index]),
                                                                  labels, changed)]


def write_montage(rows: list[list[np.ndarray]], path: Path, names: list[str] | None = None) -> Path:
    """One row per case, one column per panel of `montage_row`, with a title line; written atomically."""
    from PIL import Image, ImageDraw

    height, width = rows[0][0].shape[:2]
    zoom = max(1, 200 // width)  # tiny cases are 64 px wide: enlarge them to be seen
    cell_h, cell_w, title_h = height * zoom, width * zoom, 16
    sheet = Image.new("RGB", (cell_w * len(MONTAGE_TITLES), title_h + cell_h * len(rows)), "black")
    draw = ImageDraw.Draw(sheet)
    for column, title in enumerate(MONTAGE_TITLES):
        draw.text((column * cell_w + 4, 2), title, fill="white")
    for row, panels in enumerate(rows):
        for column, panel in enumerate(panels):
            tile = Image.fromarray(panel).resize((cell_w, cell_h), Image.NEAREST)
            sheet.paste(tile, (column * cell_w, title_h + row * cell_h))
        if names:
            draw.text((4, title_h + row * cell_h + cell_h - 14), names[row], fill="white")
    with atomic_path(path) as temporary:
        sheet.save(temporary, format="PNG", optimize=True)
    return path


def check_phantom_folder(out: Path, plan: list[tuple[str, bool]], overwrite: bool) -> None:
    """New cases go into a new or empty folder; with `overwrite` they may replace the phantom
    cases of the same names, but never a file or folder that is not one of them."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file, not a folder")
    existing = [entry for entry in out.iterdir() if not entry.name.startswith(".")] if out.is_dir() else []
    if not existing:
        return
    if not overwrite:
        raise InputError(out, f"holds {len(existing)} file(s) or folder(s) already; new cases would mix with them. "
                              "Choose a new or empty folder, or pass --overwrite to replace phantom cases of the "
                              "same names")
    for name, _ in plan:
        folder = out / name
        if folder.exists() and not (folder.is_dir() and (folder / f"{name}_changed.nii.gz").exists()):
            raise InputError(folder, "is not a phantom case written by lesiongan phantom; it is left alone "
                                     "(choose another folder)")


def run(args: argparse.Namespace) -> int:
    if args.cases < 1:
        raise InputError("--cases", f"need at least 1 case, got {args.cases}")
    if args.montage is not None and args.montage.suffix.lower() != ".png":
        raise InputError(args.montage, "the montage is written as PNG: give a .png path")
    check_phantom_folder(args.out, case_plan(args.cases, args.seed, args.healthy_fraction), args.overwrite)
    if args.montage is not None:
        check_outputs([args.montage], [], overwrite=args.overwrite)
    check_writable_folder(args.out)
    rows: list[list[np.ndarray]] = []
    names: list[str] = []
    started = time.perf_counter()
    last = started

    def report(case: PhantomCase, folder: Path) -> None:
        nonlocal last
        now = time.perf_counter()
        print(f"{case.name}: {case.lesion_voxels} lesion voxels, {int(case.changed.sum())} changed, "
              f"{now - last:.2f} s")
        last = now
        if args.montage is not None and len(rows) < MONTAGE_CASES:
            rows.append(montage_row(case))
            names.append(case.name)

    folders = write_cases(args.out, args.cases, args.seed, args.size, args.healthy_fraction, on_case=report,
                          randomization=args.randomize)
    elapsed = time.perf_counter() - started
    print(f"{len(folders)} {args.size} cases in {args.out} ({elapsed:.1f} s, {elapsed / len(folders):.2f} s per case)")
    if args.montage is not None:
        write_montage(rows, args.montage, names)
        print(f"montage: {args.montage}")
    return 0
