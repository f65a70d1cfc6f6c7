"""The calibrated threshold: it marks at most the asked share of every healthy volume's brain,
the `calibrate` command writes it into the model file, and `--threshold` still overrides it."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from lesiongan.cli import main
from lesiongan.data.volume import write_volume
from lesiongan.errors import InputError
from lesiongan.infer.calibrate import (calibrate_model, calibrated_threshold, marked_fraction, post_processing,
                                       threshold_argument)
from lesiongan.infer.modelfile import load_model
from test_infer_support import brain_volume, write_model


def test_calibrated_threshold_marks_at_most_the_fraction_of_every_volume():
    rng = np.random.default_rng(0)
    foregrounds = [np.ones((10, 20, 20), np.uint8) for _ in range(3)]
    # Three healthy volumes, the last one noisier: the threshold must hold for it too.
    differences = [rng.random((10, 20, 20)).astype(np.float32) * scale for scale in (0.05, 0.1, 0.3)]
    threshold = calibrated_threshold(differences, foregrounds, 0.01)
    fractions = [marked_fraction(d, f, threshold) for d, f in zip(differences, foregrounds)]
    assert max(fractions) <= 0.01
    assert fractions[2] > 0.005  # and it is the smallest such value, not far above it
    assert marked_fraction(differences[2], foregrounds[2], threshold * 0.98) > 0.01


def test_calibration_ignores_the_background_and_checks_its_inputs():
    difference = np.zeros((4, 10, 10), np.float32)
    difference[:, :5] = 5.0  # large values, but outside the foreground
    foreground = np.zeros_like(difference, dtype=np.uint8)
    foreground[:, 5:] = 1
    assert calibrated_threshold([difference], [foreground], 0.01) == 0.0
    with pytest.raises(InputError, match="fraction"):
        calibrated_threshold([difference], [foreground], 1.5)
    with pytest.raises(InputError, match="none given"):
        calibrated_threshold([], [], 0.01)


def test_threshold_argument_accepts_numbers_the_model_and_the_antgan_preset():
    assert threshold_argument("0.25") == 0.25
    assert threshold_argument("model") is None
    assert threshold_argument("antgan") == 0.1
    for bad in ("-1", "nan", "high"):
        with pytest.raises(argparse.ArgumentTypeError):
            threshold_argument(bad)


def test_calibrate_command_writes_the_threshold_into_the_model(tmp_path, capsys):
    # A model that caps intensities: on healthy volumes (no bright blob) it changes only the
    # brightest noise voxels, so the calibrated threshold is small but above zero.
    model = write_model(tmp_path / "model.pt", ceiling=0.6)
    healthy = tmp_path / "healthy"
    for index in range(2):
        (healthy / f"case{index}").mkdir(parents=True)
        write_volume(brain_volume(lesion=False, seed=index), healthy / f"case{index}" / f"case{index}_flair.nii.gz")
    out = tmp_path / "calibrated.pt"
    assert main(["calibrate", "--model", str(model), "--data", str(healthy), "--out", str(out), "--device", "cpu"]) == 0
    calibrated = load_model(out)
    record = calibrated.conventions["calibration"]
    assert calibrated.threshold == record["threshold"] != 0.1
    assert record["fraction"] == 0.01 and len(record["subjects"]) == 2
    assert max(record["marked"]) <= 0.01
    assert load_model(model).threshold == 0.1  # the source file is left as it was
    assert "threshold" in capsys.readouterr().out


def test_calibrate_sets_the_post_processing_it_calibrates_with(tmp_path):
    """--smooth-mm and --min-size are written beside the threshold, and the engine then applies
    them by default: the smoothed map is lower at its peak but keeps its mass."""
    from lesiongan.infer.engine import run_model

    model = write_model(tmp_path / "model.pt", ceiling=0.6)
    healthy = tmp_path / "healthy" / "case0"
    healthy.mkdir(parents=True)
    write_volume(brain_volume(lesion=False), healthy / "case0_flair.nii.gz")
    out = tmp_path / "calibrated.pt"
    assert main(["calibrate", "--model", str(model), "--data", str(healthy.parent), "--out", str(out),
                 "--smooth-mm", "1.5", "--min-size", "3", "--device", "cpu"]) == 0
    calibrated = load_model(out)
    assert calibrated.conventions["smooth_mm"] == 1.5 and calibrated.conventions["min_component_size"] == 3
    lesion = brain_volume(lesion=True)
    raw = run_model(lesion, load_model(model), device="cpu").difference.array
    smooth = run_model(lesion, calibrated, device="cpu").difference.array
    assert smooth.max() < raw.max()
    assert smooth.sum() == pytest.approx(raw.sum(), rel=0.1)
    with pytest.raises(SystemExit):
        main(["calibrate", "--model", str(model), "--data", str(healthy.parent), "--min-size", "x"])


def test_calibration_is_a_library_call_that_reports_each_healthy_subject(tmp_path):
    model = write_model(tmp_path / "model.pt", ceiling=0.6)
    healthy = tmp_path / "healthy"
    (healthy / "case0").mkdir(parents=True)
    write_volume(brain_volume(lesion=False), healthy / "case0" / "case0_flair.nii.gz")
    seen = []
    calibration = calibrate_model(model, healthy, tmp_path / "out.pt", device="cpu",
                                  settings=post_processing(min_size=3),
                                  on_subject=lambda subject, result: seen.append((subject, result.device)))
    assert seen == [("case0", "cpu")] and calibration.subjects == ["case0"] and calibration.previous == 0.1
    written = load_model(calibration.out)
    assert written.threshold == calibration.threshold and written.conventions["min_component_size"] == 3
    with pytest.raises(InputError, match="--smooth-mm"):
        post_processing(smooth_mm=11)
    with pytest.raises(InputError, match="--min-size"):
        post_processing(min_size=-1)


def rim_case(rim: float = 0.3):
    """A lesion cube changed by 1.0, a one-voxel rim around it by `rim`, the rest of the brain by 0.05."""
    difference = np.full((12, 16, 16), 0.05, np.float32)
    truth = np.zeros(difference.shape, bool)
    difference[3:9, 4:12, 4:12] = rim
    difference[4:8, 5:11, 5:11] = 1.0
    truth[4:8, 5:11, 5:11] = True
    return difference, np.ones(difference.shape, np.uint8), truth


def test_best_dice_threshold_rises_above_the_healthy_bound_past_the_rim():
    from lesiongan.infer.calibrate import DICE_SPAN, DICE_STEPS, best_dice_threshold

    threshold, dice = best_dice_threshold([rim_case()], floor=0.1)
    assert dice == 1.0
    step = DICE_SPAN ** (1 / (DICE_STEPS - 1))
    assert 0.3 <= threshold < 0.3 * step  # the lowest of the best, not any threshold below the lesion
    # At the healthy bound itself the rim is in the mask.
    bound_threshold, bound_dice = best_dice_threshold([rim_case(rim=0.05)], floor=0.1)
    assert bound_threshold == pytest.approx(0.1) and bound_dice == 1.0
    # The minimum component applies as in the engine: a lesion smaller than it is never found.
    assert best_dice_threshold([rim_case()], floor=0.1, min_component_size=10**4)[1] == 0.0
    with pytest.raises(InputError, match="lesion"):
        best_dice_threshold([(np.zeros((2, 2, 2)), np.ones((2, 2, 2)), np.zeros((2, 2, 2), bool))], floor=0.1)


def labelled_folder(root):
    """One healthy subject and one with the bright blob and its mask."""
    from lesiongan.data.volume import Volume

    for index, lesion in ((0, False), (1, True)):
        case = root / f"case{index}"
        case.mkdir(parents=True)
        volume = brain_volume(lesion=lesion, seed=index)
        write_volume(volume, case / f"case{index}_flair.nii.gz")
        write_volume(Volume((volume.array == 1000).astype(np.uint8), volume.spacing, volume.origin, volume.direction),
                     case / f"case{index}_seg.nii.gz")
    return root


def test_calibrate_objective_dice_chooses_on_the_lesion_subjects_above_the_healthy_bound(tmp_path, capsys):
    model = write_model(tmp_path / "model.pt", ceiling=0.6)
    data = labelled_folder(tmp_path / "labelled")
    healthy_only, dice_out = tmp_path / "healthy.pt", tmp_path / "dice.pt"
    assert main(["calibrate", "--model", str(model), "--data", str(data), "--out", str(healthy_only),
                 "--device", "cpu"]) == 0
    assert main(["calibrate", "--model", str(model), "--data", str(data), "--out", str(dice_out),
                 "--device", "cpu", "--objective", "dice"]) == 0
    assert "best mean Dice" in capsys.readouterr().out
    bound = load_model(healthy_only).conventions["calibration"]
    record = load_model(dice_out).conventions["calibration"]
    assert "objective" not in bound and bound["subjects"] == ["case0"]
    assert record["objective"] == "dice" and record["lesion_subjects"] == ["case1"] and record["subjects"] == ["case0"]
    assert record["healthy_threshold"] == pytest.approx(bound["threshold"])
    assert record["threshold"] >= record["healthy_threshold"] and max(record["marked"]) <= 0.01
    assert record["dice"] > 0.9  # the ceiling model removes the whole blob


def test_calibrate_objective_dice_needs_a_lesion_subject(tmp_path):
    model = write_model(tmp_path / "model.pt", ceiling=0.6)
    healthy = tmp_path / "healthy" / "case0"
    healthy.mkdir(parents=True)
    write_volume(brain_volume(lesion=False), healthy / "case0_flair.nii.gz")
    with pytest.raises(InputError, match="no lesion subject"):
        calibrate_model(model, healthy.parent, tmp_path / "out.pt", device="cpu", objective="dice")
    with pytest.raises(InputError, match="--objective"):
        calibrate_model(model, healthy.parent, tmp_path / "out.pt", device="cpu", objective="best")
    assert not (tmp_path / "out.pt").exists()
