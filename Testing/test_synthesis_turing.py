"""The Visual Turing Test: a seeded balanced mix, Han et al.'s Table 1 arithmetic, exports, and
the machine two-sample test."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from lesiongan.errors import InputError
from lesiongan.synthesis import TuringTest, machine_judgement
from lesiongan.synthesis.turing import TABLE1_COLUMNS

# Rows of Han et al., Table 1: accuracy (%), then the four counts out of 50 real / 50 synthetic.
TABLE1_ROWS = {
    "T1 (DCGAN, 128x128)": (70, 26, 24, 6, 44),
    "FLAIR (DCGAN, 128x128)": (54, 12, 38, 8, 42),
    "Concat (WGAN, 64x64)": (53, 18, 32, 15, 35),
}


def _slices(count: int, seed: int, noise: bool = False) -> np.ndarray:
    """Brain-like slices (a bright disc of random size and brightness, plus noise), or pure noise."""
    rng = np.random.default_rng(seed)
    if noise:
        return rng.uniform(0, 1, (count, 32, 32)).astype(np.float32)
    y, x = np.mgrid[-1:1:32j, -1:1:32j]
    radii = rng.uniform(0.5, 0.8, count)[:, None, None]
    brightness = rng.uniform(0.5, 0.9, count)[:, None, None]
    return (brightness * (x**2 + y**2 < radii**2) + 0.05 * rng.standard_normal((count, 32, 32))).astype(np.float32)


@pytest.mark.parametrize("row", TABLE1_ROWS)
def test_score_reproduces_han_table1(row):
    accuracy, real_real, real_synt, synt_real, synt_synt = TABLE1_ROWS[row]
    test = TuringTest(_slices(60, 0), _slices(60, 1), n_each=50, seed=3)
    remaining = {("real", "real"): real_real, ("real", "synthetic"): real_synt,
                 ("synthetic", "real"): synt_real, ("synthetic", "synthetic"): synt_synt}
    for index in range(len(test)):  # scripted reader: the counts the table row implies
        truth = test.truth(index)
        call = "real" if remaining[truth, "real"] > 0 else "synthetic"
        remaining[truth, call] -= 1
        test.answer(index, call)
    score = test.score()
    assert score.table_row() == {"Accuracy (%)": accuracy, "Real Selected as Real": real_real,
                                 "Real as Synt": real_synt, "Synt as Real": synt_real, "Synt as Synt": synt_synt}
    assert score.answered == score.total == 100 and test.next_unanswered() is None


def test_sequence_is_balanced_shuffled_and_seeded():
    real, synthetic = _slices(20, 0), _slices(20, 1)
    test = TuringTest(real, synthetic, n_each=8, seed=5)
    truths = [test.truth(i) for i in range(len(test))]
    assert len(test) == 16 and truths.count("real") == 8
    assert truths != sorted(truths)  # shuffled, not all real first
    same = TuringTest(real, synthetic, n_each=8, seed=5)
    assert all(np.array_equal(test.image(i), same.image(i)) for i in range(16))
    other = TuringTest(real, synthetic, n_each=8, seed=6)
    assert [other.truth(i) for i in range(16)] != truths or not all(
        np.array_equal(test.image(i), other.image(i)) for i in range(16))
    shown = {id(test.image(i)) for i in range(16)}
    assert len(shown) == 16  # drawn without replacement


def test_partial_answers_and_bad_input():
    test = TuringTest(_slices(4, 0), _slices(4, 1), n_each=2, seed=0)
    assert np.isnan(test.score().accuracy_percent) and test.next_unanswered() == 0
    test.answer(1, test.truth(1))
    assert test.score().accuracy_percent == 100.0 and test.score().answered == 1
    with pytest.raises(InputError, match="'real' or 'synthetic'"):
        test.answer(0, "fake")
    with pytest.raises(InputError, match="outside"):
        test.answer(4, "real")
    with pytest.raises(InputError, match="fewer"):
        TuringTest(_slices(3, 0), _slices(5, 1), n_each=4)


def test_save_writes_answers_and_table_row(tmp_path):
    test = TuringTest(_slices(6, 0), _slices(6, 1), n_each=3, seed=1)
    for index in range(len(test)):
        test.answer(index, "real")
    test.save(tmp_path / "answers.csv", tmp_path / "score.json")
    rows = list(csv.DictReader(open(tmp_path / "answers.csv", encoding="utf-8")))
    assert len(rows) == 6 and {row["answer"] for row in rows} == {"real"}
    assert sum(int(row["correct"]) for row in rows) == 3
    saved = json.loads((tmp_path / "score.json").read_text(encoding="utf-8"))
    assert saved["table1"]["Accuracy (%)"] == 50.0 and saved["table1"]["Synt as Real"] == 3
    assert set(saved["table1"]) == set(TABLE1_COLUMNS.values())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_machine_judgement_is_chance_for_real_vs_real_and_sure_for_noise():
    real = _slices(40, 0)
    assert 0.3 <= machine_judgement(real, _slices(40, 1), seed=0) <= 0.7
    assert machine_judgement(real, _slices(40, 2, noise=True), seed=0) >= 0.95
