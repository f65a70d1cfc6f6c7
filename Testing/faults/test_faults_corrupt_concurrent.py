"""Corrupt and truncated volumes and model files on the command line, and two processes on one
folder: each ends in a correct result or one clear error line, and no input changes."""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from fault_support import TINY_TRAIN, lesiongan, one_clear_line, start
from lesiongan.cli import main
from lesiongan.data.volume import write_volume
from test_infer_support import brain_volume, write_model

SEED = 17


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _one_error_line(capsys, code: int) -> str:
    """What an in-process command printed, checked as `one_clear_line` checks a child's."""
    err = capsys.readouterr().err
    return one_clear_line(subprocess.CompletedProcess([], code, "", err))


@pytest.mark.parametrize("damage", ["truncate", "zero-tail", "flip"])
def test_damaged_inputs_on_every_reader_command(pairs, tmp_path, capsys, damage):
    data = tmp_path / "data"
    shutil.copytree(pairs, data)
    victim = data / "subject1.nii.gz"
    raw = bytearray(victim.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) * 2 // 3]
    elif damage == "zero-tail":
        raw[len(raw) // 2:] = bytes(len(raw) - len(raw) // 2)
    else:
        raw[len(raw) // 2] ^= 0x40
    victim.write_bytes(bytes(raw))
    before = _digest(data)
    model = write_model(tmp_path / "m.pt", ceiling=0.0, modalities=("image",))
    commands = {
        "summary": ["summary", str(data)],
        "infer": ["infer", "--model", str(model), "--input-dir", str(data), "--output-dir", str(tmp_path / "out"),
                  "--device", "cpu"],
        "train": ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--iterations", "1", *TINY_TRAIN],
    }
    for name, arguments in commands.items():
        assert "subject1.nii.gz" in _one_error_line(capsys, main(arguments)), name
    assert _digest(data) == before
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert not (tmp_path / "run").exists()


def test_damaged_model_files_on_the_command_line(tmp_path, capsys):
    model = write_model(tmp_path / "m.pt", ceiling=0.0)
    image = write_volume(brain_volume(), tmp_path / "a.nii.gz")
    raw = model.read_bytes()
    rng = random.Random(SEED)
    variants = {"empty": b"", "half": raw[: len(raw) // 2], "tail-cut": raw[:-10]}
    for index in range(6):
        flipped = bytearray(raw)
        flipped[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        variants[f"flip{index}"] = bytes(flipped)
    infer = ["infer", "--input", str(image), "--device", "cpu", "--output-dir"]
    assert main([*infer, str(tmp_path / "reference"), "--model", str(model)]) == 0
    for name, payload in variants.items():
        damaged = tmp_path / f"{name}.pt"
        damaged.write_bytes(payload)
        code = main([*infer, str(tmp_path / name), "--model", str(damaged)])
        if code == 0:  # a flip in a byte nothing reads (zip padding): the result must be the same
            assert _digest(tmp_path / name) == _digest(tmp_path / "reference"), name
        else:
            assert f"{name}.pt" in _one_error_line(capsys, code), name


def test_two_training_runs_on_one_folder(pairs, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--data", pairs, "--out", out, "--iterations", "3", "--checkpoint-every", "1",
            "--log-every", "1", *TINY_TRAIN]
    first, second = start(*args), start(*args)
    results = [(p.wait(timeout=300), p.stderr.read()) for p in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert "another training run is using this folder" in loser and "Traceback" not in loser
    rows = (out / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2", "3"]
    assert lesiongan(*args, "--resume").returncode == 0  # the finished run is whole and resumable
