"""Dice, precision/recall/F1 and AUPRC on masks worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lesiongan.metrics.detection import auprc, dice, precision_recall_f1


def _masks() -> tuple[np.ndarray, np.ndarray]:
    truth = np.zeros((1, 4, 4), dtype=np.uint8)
    truth[0, :2, :2] = 1  # 4 voxels
    pred = np.zeros_like(truth)
    pred[0, :2, 1:3] = 1  # 4 voxels, 2 of them on the truth
    return pred, truth


def test_dice_and_precision_recall_by_hand() -> None:
    pred, truth = _masks()
    assert dice(pred, truth) == pytest.approx(2 * 2 / (4 + 4))
    precision, recall, f1 = precision_recall_f1(pred, truth)
    assert (precision, recall) == pytest.approx((2 / 4, 2 / 4))
    assert f1 == pytest.approx(dice(pred, truth))
    extra = pred.copy()
    extra[0, 3, 3] = 1  # one more false positive
    assert precision_recall_f1(extra, truth)[:2] == pytest.approx((2 / 5, 2 / 4))
    assert dice(torch.from_numpy(truth), torch.from_numpy(truth).bool()) == 1.0


def test_empty_masks_follow_the_documented_convention() -> None:
    empty = np.zeros((2, 3, 3))
    _, truth = _masks()
    assert dice(empty, empty) == 1.0
    assert precision_recall_f1(empty, empty) == (1.0, 1.0, 1.0)
    assert dice(np.zeros_like(truth), truth) == 0.0
    assert precision_recall_f1(np.zeros_like(truth), truth) == (0.0, 0.0, 0.0)


def test_within_limits_the_voxels_that_count() -> None:
    pred, truth = _masks()
    within = np.zeros_like(truth, dtype=bool)
    within[0, :, :2] = True  # the false positives in column 2 fall outside
    assert precision_recall_f1(pred, truth, within)[:2] == pytest.approx((1.0, 2 / 4))


def test_auprc_perfect_map_random_map_and_no_lesion() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random((4, 32, 32)) < 0.1
    perfect = truth * 0.8 + rng.random(truth.shape) * 0.1  # every lesion voxel above every other
    assert auprc(perfect, truth) == pytest.approx(1.0)
    random_score = rng.random(truth.shape)
    assert auprc(random_score, truth) == pytest.approx(truth.mean(), abs=0.02)
    assert math.isnan(auprc(random_score, np.zeros_like(truth)))
