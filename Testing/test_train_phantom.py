"""Training on the tiny phantom: ANT-GAN learns to leave healthy tissue alone, the model file
loads back, and a 2-process torchrun job keeps identical weights on both ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lesiongan.data import readers
from lesiongan.data.phantom import write_cases
from lesiongan.data.slices import SliceSet
from lesiongan.infer.modelfile import load_model
from lesiongan.nets import from_net, to_net
from lesiongan.train import TrainConfig, train

SPACING = 7.5  # the tiny phantom's 64 x 64 slices at half resolution: 32 x 32


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phantom")
    write_cases(root, cases=3, seed=0, size="tiny", healthy_fraction=0.0)
    return root


def nonlesion_l1(net: torch.nn.Module, slices: SliceSet) -> float:
    """Mean |x - G(x)| outside the lesion on abnormal slices, [0, 1] units."""
    index = slices.abnormal_indices
    x, outside = slices.images[index], 1.0 - slices.masks[index].float()
    with torch.no_grad():
        y = from_net(net(to_net(x)))
    return float(((y - x).abs() * outside).sum() / outside.sum())


def test_antgan_lowers_the_change_outside_lesions_and_exports(phantom: Path, tmp_path: Path) -> None:
    # Without the shortcut the generator starts far from the identity; L_AM (and the cycles)
    # must teach it to keep non-lesion pixels.
    first: dict[str, float] = {}

    def remember_start(step: int, losses: dict[str, float]) -> None:
        if step == 1:  # step 1's losses were computed with the initial weights
            first.update(losses)

    model_path = train(TrainConfig(
        method="antgan", data=phantom, out=tmp_path / "run", iterations=150, spacing=SPACING, val_fraction=0.0,
        options={"ngf": 8, "ndf": 8, "n_blocks": 2, "shortcut": False}, seed=0, device="cpu",
        log_every=50, sample_every=150, checkpoint_every=150, tensorboard=False, on_step=remember_start,
    ))
    model = load_model(model_path)
    assert model.provenance["preset"] == "antgan" and model.conventions["modalities"] == ["flair"]
    slices = SliceSet.from_subjects(readers.discover(phantom), spacing=SPACING)
    after = nonlesion_l1(model.network("a2n"), slices)
    assert first["nonlesion_l1"] > 0.1
    assert after < 0.5 * first["nonlesion_l1"], (first["nonlesion_l1"], after)
    assert model.network("n2a") is not None


def test_two_process_torchrun_keeps_ranks_identical(phantom: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
        "-m", "lesiongan", "train", "--data", str(phantom), "--out", str(out), "--iterations", "4",
        "--ngf", "4", "--set", "ndf=4", "--set", "n_blocks=1", "--spacing", str(SPACING), "--val-fraction", "0",
        "--device", "cpu", "--log-every", "2", "--sample-every", "4", "--no-tensorboard",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "distributed.json").read_text(encoding="utf-8"))
    assert report["world_size"] == 2 and len(report["weights_sha256"]) == 2
    assert report["weights_sha256"][0] == report["weights_sha256"][1] and report["in_sync"]
    assert load_model(out / "model.pt").provenance["world_size"] == 2
    assert json.loads((out / "progress.json").read_text(encoding="utf-8"))["state"] == "finished"
