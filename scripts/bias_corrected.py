"""A copy of a phantom split whose FLAIR is N4 bias-field corrected, to score a model on it.

Each case's FLAIR is divided by the smooth field SimpleITK's N4 estimates on it (foreground
by Otsu, fitted at a quarter of the resolution); its healthy twin is divided by the same
field, so `lesiongan evaluate` still compares the output with the truth in one frame. The
other files are copied unchanged; --out appears only once every case is written.
docs/ablation.md keeps what the shipped model scored:

    .venv/bin/python scripts/bias_corrected.py --data work/demo-model/test-id --out n4-test-id
    .venv/bin/lesiongan evaluate --data n4-test-id --split all --segmentor none --out eval-n4-test-id
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

SHRINK = 4  # N4 fits its field on a coarser grid; the field is smooth, so nothing is lost


def n4_field(image: sitk.Image) -> sitk.Image:
    """The multiplicative bias field N4 estimates on `image`, at the image's own resolution."""
    foreground = sitk.OtsuThreshold(image, 0, 1, 200)
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations([50] * 4)
    n4.Execute(sitk.Shrink(image, [SHRINK] * 3), sitk.Shrink(foreground, [SHRINK] * 3))
    return sitk.Exp(n4.GetLogBiasFieldAsImage(image))


def correct_case(case: Path, out: Path) -> float:
    out.mkdir(parents=True)
    for item in case.iterdir():
        shutil.copy2(item, out / item.name)
    flair = sitk.ReadImage(str(case / f"{case.name}_flair.nii.gz"), sitk.sitkFloat32)
    field = n4_field(flair)
    for name in ("flair", "flair_healthy"):
        image = sitk.ReadImage(str(case / f"{case.name}_{name}.nii.gz"), sitk.sitkFloat32)
        sitk.WriteImage(image / field, str(out / f"{case.name}_{name}.nii.gz"))
    return float(sitk.GetArrayViewFromImage(field).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a phantom split (case folders with _flair, _flair_healthy)")
    parser.add_argument("--out", type=Path, required=True, help="a new folder")
    args = parser.parse_args()
    cases = sorted(case for case in args.data.iterdir() if (case / f"{case.name}_flair.nii.gz").is_file())
    if not cases:
        parser.error(f"--data {args.data}: no case folder with a <case>_flair.nii.gz")
    if args.out.exists():
        parser.error(f"--out {args.out}: exists already; give a new folder")
    # Built beside --out and renamed into place at the end: a run that stops half-way leaves no
    # split with some of its cases, which `evaluate` would score as if it were whole.
    args.out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.parent))
    try:
        for case in cases:
            start = time.time()
            peak = correct_case(case, building / case.name)
            print(f"{case.name}: field max {peak:.2f}, {time.time() - start:.1f} s", flush=True)
        building.rename(args.out)
    finally:
        shutil.rmtree(building, ignore_errors=True)


if __name__ == "__main__":
    main()
