"""score_case and summarize on a synthetic subject whose every score is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lesiongan.errors import InputError
from lesiongan.metrics.protocol import score_case, summarize


def _case() -> dict[str, np.ndarray]:
    """A 'brain' square with a bright lesion; the output removes the lesion exactly and is
    off by 0.01 elsewhere in the brain, so every score can be worked out."""
    rng = np.random.default_rng(0)
    shape = (3, 32, 32)
    foreground = np.zeros(shape, dtype=np.uint8)
    foreground[:, 4:28, 4:28] = 1
    healthy = np.where(foreground, 0.3 + 0.2 * rng.random(shape), 0.0)
    lesion = np.zeros(shape, dtype=np.uint8)
    lesion[1, 10:16, 10:16] = 1  # 36 voxels in the middle slice
    image = np.where(lesion, 0.95, healthy)
    output = np.where(foreground & ~lesion.astype(bool), healthy + 0.01, healthy)
    return {"input": image, "output": output, "difference": np.abs(image - output), "true_mask": lesion,
            "foreground": foreground, "truth": healthy}


def test_score_case_on_a_known_case() -> None:
    case = _case()
    before = {name: array.copy() for name, array in case.items()}
    scores = score_case(**case)
    assert scores["psnr_nonlesion"] == pytest.approx(20 * math.log10(1 / 0.01), abs=1e-6)
    assert 0.9 < scores["identity"] < 1.0
    assert scores["dice"] == scores["precision"] == scores["recall"] == 1.0
    assert scores["auprc"] == pytest.approx(1.0)
    assert scores["psnr_lesion"] == math.inf  # the lesion is replaced by the true healthy tissue
    assert 0.99 < scores["ssim_lesion"] < 1.0  # neighbours within the window differ by 0.01
    assert scores["psnr_truth"] > scores["psnr_nonlesion"]
    assert "healthiness" not in scores
    for name, array in case.items():
        assert np.array_equal(array, before[name]), f"{name} was modified"


def test_score_case_scores_a_given_mask_instead_of_the_threshold() -> None:
    case = _case()
    half = case["true_mask"].copy()
    half[1, 10:13] = 0  # the mask a user got keeps half of the lesion
    scores = score_case(**case, mask=half)
    assert scores["precision"] == 1.0 and scores["recall"] == pytest.approx(0.5)
    assert scores["dice"] == pytest.approx(2 / 3)
    assert scores["brain_marked"] == pytest.approx(18 / (3 * 24 * 24))
    assert scores["auprc"] == pytest.approx(1.0)  # the map is scored as before


def test_score_case_threshold_misses_a_faint_lesion() -> None:
    case = _case()
    case["difference"] = case["difference"] * 0.05  # lesion difference now ~0.03 < 0.1
    scores = score_case(**{k: v for k, v in case.items() if k != "truth"})
    assert scores["dice"] == scores["recall"] == 0.0
    assert scores["auprc"] == pytest.approx(1.0)  # the map still ranks the lesion first
    assert "psnr_lesion" not in scores


def test_score_case_rejects_bad_inputs_by_name() -> None:
    case = _case()
    case["foreground"] = np.zeros_like(case["foreground"])
    with pytest.raises(InputError, match="foreground"):
        score_case(**case)
    case = _case()
    case["output"] = case["output"][:, :16]
    with pytest.raises(InputError, match="output"):
        score_case(**case)


def test_summarize_mean_std_and_undefined_values() -> None:
    rows = [{"dice": 0.5, "auprc": math.nan, "psnr_nonlesion": 30.0},
            {"dice": 0.7, "auprc": 0.9, "psnr_nonlesion": math.inf}]
    summary = summarize(rows)
    assert summary["dice"] == {"mean": pytest.approx(0.6), "std": pytest.approx(0.1), "n": 2}
    assert summary["auprc"] == {"mean": 0.9, "std": 0.0, "n": 1}
    assert summary["psnr_nonlesion"]["mean"] == math.inf and summary["psnr_nonlesion"]["n"] == 2


def test_marked_share_of_the_brain_is_reported_per_kind_of_volume() -> None:
    case = _case()
    scores = score_case(**case, threshold=0.005)  # the 0.01 change marks the whole brain
    assert scores["brain_marked"] == pytest.approx(1.0)
    assert "healthy_marked" not in scores
    healthy = dict(case, true_mask=np.zeros_like(case["true_mask"]))
    assert score_case(**healthy, threshold=0.4)["healthy_marked"] == pytest.approx(36 / (3 * 24 * 24))
