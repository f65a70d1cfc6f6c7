"""Checkpoints survive a crash mid-write, fall back to the previous one, restore RNGs exactly."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from lesiongan.errors import InputError
from lesiongan.train import checkpoint as ckpt


def test_crash_while_writing_keeps_the_newest_complete_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt.save_checkpoint(tmp_path, {"step": 1, "w": torch.ones(3)})
    ckpt.save_checkpoint(tmp_path, {"step": 2, "w": torch.full((3,), 2.0)})
    real_save = torch.save

    def crash_half_way(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 truncated")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_half_way)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(tmp_path, {"step": 3})
    monkeypatch.setattr(torch, "save", real_save)
    assert ckpt.load_checkpoint(tmp_path)["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "previous.pt"]  # no temporary left


def test_unreadable_last_falls_back_to_previous(tmp_path: Path) -> None:
    ckpt.save_checkpoint(tmp_path, {"step": 1})
    ckpt.save_checkpoint(tmp_path, {"step": 2})
    (tmp_path / "last.pt").write_bytes(b"garbage")
    assert ckpt.load_checkpoint(tmp_path)["step"] == 1
    (tmp_path / "previous.pt").unlink()
    with pytest.raises(InputError, match="last.pt unreadable"):
        ckpt.load_checkpoint(tmp_path)


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    ckpt.save_checkpoint(tmp_path, {"rng": ckpt.capture_rng()})
    expected = (torch.rand(3), np.random.rand(3), random.random())
    ckpt.restore_rng(ckpt.load_checkpoint(tmp_path)["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]
