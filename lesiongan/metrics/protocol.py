"""The one evaluation protocol: every metric of one subject, and their summary over subjects.

All arrays are one subject's `(z, y, x)` volumes on one grid, intensities normalized to
[0, 1], the difference map in the same units. Scores are taken inside the foreground.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .arrays import ArrayLike, as_array, same_shape
from .detection import auprc, precision_recall_f1
from .image import masked_ms_ssim, psnr, ssim

DEFAULT_THRESHOLD = 0.1  # ANT-GAN's binarization of |x - G(x)|


def score_case(
    input: ArrayLike,
    output: ArrayLike,
    difference: ArrayLike,
    true_mask: ArrayLike,
    foreground: ArrayLike,
    threshold: float = DEFAULT_THRESHOLD,
    truth: ArrayLike | None = None,
    changed: ArrayLike | None = None,
    mask: ArrayLike | None = None,
) -> dict[str, float]:
    """Scores of one subject, by metric name (Python floats; `nan` where undefined).

    - `psnr_nonlesion`: PSNR of input vs output in foreground minus lesion (ANT-GAN Table IV);
    - `identity`: masked MS-SSIM of input vs output there (Xia);
    - `dice`, `precision`, `recall`: of `mask` in the foreground vs `true_mask`; `mask` is the
      one a user gets (the engine's, post-processing included), `difference > threshold` when
      none is given;
    - `auprc`: of the difference map itself vs `true_mask`;
    - `brain_marked` (volumes with a lesion) or `healthy_marked` (without): the share of the
      foreground the mask marks;
    - with `truth` (the phantom's healthy volume): `psnr_lesion`, `ssim_lesion` of output vs
      truth inside `changed` (the voxels the lesion altered; `true_mask` when None),
      `psnr_lesion_input` the same for the input (the output should beat it), and
      `psnr_truth` over the whole foreground;
    Healthiness (Xia) needs a second network, f_pre, in its own frame: `lesiongan.evaluation.fpre`.
    """
    arrays = {
        "input": as_array(input, "input"),
        "output": as_array(output, "output"),
        "difference": as_array(difference, "difference"),
        "true mask": as_array(true_mask, "true mask"),
        "foreground": as_array(foreground, "foreground"),
    }
    if truth is not None:
        arrays["truth"] = as_array(truth, "truth")
    if changed is not None:
        arrays["changed"] = as_array(changed, "changed")
    if mask is not None:
        arrays["mask"] = as_array(mask, "mask")
    shape = same_shape(arrays)
    if len(shape) != 3:
        raise InputError("input", f"has shape {shape}; expected a (z, y, x) volume")
    inside = arrays["foreground"] != 0
    if not inside.any():
        raise InputError("foreground", "is empty: nothing to score")
    lesion = (arrays["true mask"] != 0) & inside
    x, y = arrays["input"], arrays["output"]

    detected = arrays["mask"] != 0 if mask is not None else arrays["difference"] > threshold
    # A healthy volume has no lesion to find: its detection scores are undefined (nan, left out
    # of the means) and what counts there is `healthy_marked`, the false positives.
    precision, recall, f1 = (precision_recall_f1(detected, lesion, within=inside) if lesion.any()
                             else (math.nan, math.nan, math.nan))
    scores = {
        "psnr_nonlesion": psnr(x, y, inside & ~lesion),
        "identity": masked_ms_ssim(x, y, inside & ~lesion),
        "dice": f1,
        "precision": precision,
        "recall": recall,
        "auprc": auprc(arrays["difference"], lesion, within=inside),
    }
    # On a healthy volume every marked voxel is a false positive: the share of the brain the
    # mask marks there is what a calibrated threshold bounds (1%).
    marked = float(np.count_nonzero(detected & inside)) / float(np.count_nonzero(inside))
    scores["brain_marked" if lesion.any() else "healthy_marked"] = marked
    if truth is not None:
        region = (arrays["changed"] != 0 if changed is not None else lesion) & inside
        scores["psnr_lesion"] = psnr(y, arrays["truth"], region)
        scores["psnr_lesion_input"] = psnr(x, arrays["truth"], region)  # what the output improves on
        scores["ssim_lesion"] = ssim(y, arrays["truth"], region)
        scores["psnr_truth"] = psnr(y, arrays["truth"], inside)
    return scores


def summarize(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per metric over subjects: `mean`, `std` (population), and `n` subjects where it is defined.

    `nan` (undefined for a subject) is left out; `inf` (a perfect PSNR) is kept, so one
    identical subject makes the mean `inf`, as it should.
    """
    names = list(dict.fromkeys(name for row in rows for name in row))
    summary = {}
    for name in names:
        values = np.array([row[name] for row in rows if name in row], dtype=np.float64)
        values = values[~np.isnan(values)]
        if len(values) == 0:
            summary[name] = {"mean": math.nan, "std": math.nan, "n": 0}
            continue
        finite = np.isfinite(values).all()
        summary[name] = {
            "mean": float(values.mean()),
            "std": float(values.std()) if finite else math.nan,
            "n": int(len(values)),
        }
    return summary
