"""Lesion detection scores of a predicted mask or a difference map against the true mask.

Masks count nonzero voxels as lesion. `within` restricts every score to a region (the
foreground), so the empty background does not inflate them.
"""

from __future__ import annotations

import math

import numpy as np

from .arrays import ArrayLike, as_array, as_mask, same_shape


def _pair(pred: ArrayLike, truth: ArrayLike, within: ArrayLike | None, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    p, t = as_array(pred, names[0]), as_array(truth, names[1])
    shape = same_shape({names[0]: p, names[1]: t})
    inside = as_mask(within, "region", shape)
    return p[inside], t[inside] != 0


def _counts(pred: ArrayLike, truth: ArrayLike, within: ArrayLike | None) -> tuple[int, int, int]:
    p, t = _pair(pred, truth, within, ("predicted mask", "true mask"))
    p = p != 0
    return int(np.sum(p & t)), int(np.sum(p & ~t)), int(np.sum(~p & t))


def dice(pred: ArrayLike, truth: ArrayLike, within: ArrayLike | None = None) -> float:
    """Dice = 2 |P & T| / (|P| + |T|); 1.0 when both masks are empty (nothing missed, nothing invented)."""
    tp, fp, fn = _counts(pred, truth, within)
    if tp + fp + fn == 0:
        return 1.0
    return 2 * tp / (2 * tp + fp + fn)


def precision_recall_f1(pred: ArrayLike, truth: ArrayLike, within: ArrayLike | None = None) -> tuple[float, float, float]:
    """Voxel-wise precision, recall and F1 (F1 equals Dice).

    Both masks empty gives (1, 1, 1). Otherwise a ratio with nothing to count (no predicted
    voxel for precision, no true voxel for recall) is 0.0, as scikit-learn's default.
    """
    tp, fp, fn = _counts(pred, truth, within)
    if tp + fp + fn == 0:
        return 1.0, 1.0, 1.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall, 2 * tp / (2 * tp + fp + fn)


def auprc(score: ArrayLike, truth: ArrayLike, within: ArrayLike | None = None) -> float:
    """Area under the precision-recall curve of a voxel score (e.g. the difference map).

    Average precision as scikit-learn's `average_precision_score` computes it; a random
    score gives about the lesion prevalence, a perfect one 1.0. `math.nan` when the true
    mask has no lesion voxel (precision-recall is undefined there).
    """
    s, t = _pair(score, truth, within, ("score map", "true mask"))
    if not t.any():
        return math.nan
    try:
        from sklearn.metrics import average_precision_score
    except ImportError as error:  # an optional dependency: pip install lesiongan[metrics]
        raise ImportError("auprc needs scikit-learn: pip install 'lesiongan[metrics]'") from error
    return float(average_precision_score(t, s))
