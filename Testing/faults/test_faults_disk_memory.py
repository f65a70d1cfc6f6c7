"""A full disk (RLIMIT_FSIZE) and a memory cap (RLIMIT_AS, as `prlimit --as` sets it) on the
real command line: a clear error and nothing partial, never a traceback or the OOM killer."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import torch

from fault_support import TINY_TRAIN, lesiongan, one_clear_line
from lesiongan.data.volume import Volume, read_volume, write_volume
from lesiongan.infer.modelfile import save_model
from lesiongan.nets import build_network
from test_infer_support import brain_volume, write_model

GiB = 1 << 30
MEMORY_CAP = {"RLIMIT_AS": 2 * GiB}  # on top of what the interpreter holds after importing torch


def _whole_or_absent(folder: Path) -> None:
    """Every volume in `folder` reads back whole; no temporary file is left."""
    for path in folder.rglob("*"):
        assert not path.name.startswith("."), path
        if path.name.endswith(".nii.gz"):
            read_volume(path, allow_empty=True)


def test_infer_on_a_full_disk(tmp_path):
    model = write_model(tmp_path / "m.pt", ceiling=0.0)
    image = write_volume(brain_volume(), tmp_path / "a.nii.gz")
    out = tmp_path / "out"
    result = lesiongan("infer", "--model", model, "--input", image, "--output-dir", out, "--device", "cpu",
                       limits={"RLIMIT_FSIZE": 3000})
    assert "not written whole" in one_clear_line(result)
    _whole_or_absent(out)


def test_training_on_a_full_disk_fails_cleanly_and_resumes(pairs, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--data", pairs, "--out", out, "--iterations", "2", "--checkpoint-every", "1", *TINY_TRAIN]
    # logs and progress stay below 50 kB, a checkpoint is far above
    assert "could not be written" in one_clear_line(lesiongan(*args, limits={"RLIMIT_FSIZE": 50_000}))
    assert not [p for p in out.rglob(".*") if p.name != ".lock"]
    assert json.loads((out / "progress.json").read_text())["state"] == "failed"
    assert lesiongan(*args, "--resume").returncode == 0
    assert json.loads((out / "progress.json").read_text())["state"] == "finished"


def test_infer_under_a_memory_cap_refuses_a_volume_too_large_in_the_model_frame(tmp_path):
    model = write_model(tmp_path / "m.pt", conventions={"spacing": 1.0})
    image = write_volume(Volume(np.ones((64, 64, 64), np.float32), (150.0, 150.0, 150.0), (0, 0, 0),
                                (1, 0, 0, 0, 1, 0, 0, 0, 1)), tmp_path / "coarse.nii.gz")
    line = one_clear_line(lesiongan("infer", "--model", model, "--input", image, "--output-dir", tmp_path / "o",
                                    "--device", "cpu", limits=MEMORY_CAP))
    assert "needs about" in line and "nothing was allocated" in line
    # the cap leaves room for an ordinary input: the refusal comes from the estimate
    normal = write_volume(brain_volume(), tmp_path / "normal.nii.gz")
    assert lesiongan("infer", "--model", model, "--input", normal, "--output-dir", tmp_path / "o", "--device", "cpu",
                     limits=MEMORY_CAP).returncode == 0


def test_a_header_promising_more_voxels_than_memory_is_refused(tmp_path):
    """A valid .nii.gz of 1000^3 zero bytes compresses to about 1 MB; as float32 it needs 12 GB."""
    path = tmp_path / "huge.nii.gz"
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, 1000, 1000, 1000, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 2, 8)  # uint8
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352.0)
    header[344:348] = b"n+1\0"
    with gzip.open(path, "wb", compresslevel=1) as stream:
        stream.write(bytes(header))
        zeros = bytes(1 << 24)
        for _ in range(1000**3 // len(zeros)):
            stream.write(zeros)
        stream.write(bytes(1000**3 % len(zeros)))
    line = one_clear_line(lesiongan("summary", tmp_path, limits=MEMORY_CAP))
    assert "huge.nii.gz" in line or "needs about" in line


def test_a_model_file_asking_for_a_huge_network_is_refused_under_a_cap(tmp_path):
    net = build_network("resnet_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1, shortcut=True)
    path = save_model(tmp_path / "m.pt", method="antgan", networks={"a2n": net},
                      conventions={"modalities": ["flair"], "axis": "axial"}, provenance={})
    payload = torch.load(path, weights_only=True)
    payload["networks"]["a2n"]["kwargs"].update(ngf=4096, n_blocks=64)
    torch.save(payload, path)
    image = write_volume(brain_volume(), tmp_path / "a.nii.gz")
    line = one_clear_line(lesiongan("infer", "--model", path, "--input", image, "--output-dir", tmp_path / "o",
                                    "--device", "cpu", limits=MEMORY_CAP, timeout=600))
    assert "do not fit" in line or "needs about" in line


def test_training_a_batch_beyond_the_cap_is_refused(pairs, tmp_path):
    line = one_clear_line(lesiongan("train", "--data", pairs, "--out", tmp_path / "run", "--iterations", "1",
                                    "--batch-size", "100000", *TINY_TRAIN, limits=MEMORY_CAP))
    assert "needs about" in line
