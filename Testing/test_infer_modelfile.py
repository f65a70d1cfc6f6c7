"""Model files: round trip, fp16 storage, and a clear error for each kind of bad file."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from lesiongan.errors import ModelFileError
from lesiongan.infer.modelfile import FORMAT, VERSION, load_model, save_model
from test_infer_support import CeilingGenerator, brain_volume, write_model


def test_round_trip_keeps_metadata_and_weights(tmp_path):
    net = CeilingGenerator(1, 1, 0, 0.5)
    with torch.no_grad():
        net.mix.bias.fill_(0.123)
    path = save_model(tmp_path / "m.pt", method="antgan", networks={"a2n": net},
                      conventions={"modalities": ["flair"], "orientation": "LPS", "axis": 0, "size": (8, 8)},
                      provenance={"dataset": "phantom", "iterations": 7}, metrics={"psnr": 27.5})
    model = load_model(path)
    assert model.method == "antgan" and model.roles == ("a2n",)
    assert model.provenance["iterations"] == 7 and model.metrics["psnr"] == 27.5
    assert model.conventions["size"] == [8, 8] and model.threshold == 0.1
    rebuilt = model.network("a2n")
    assert not rebuilt.training and rebuilt.ceiling == 0.5
    assert torch.equal(rebuilt.mix.bias, net.mix.bias)
    assert model.network("a2n") is rebuilt  # built once
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["version"] == VERSION


def test_half_stores_fp16_and_loads_fp32(tmp_path):
    net = CeilingGenerator(1, 1)
    with torch.no_grad():
        net.mix.bias.fill_(1 / 3)
    full = save_model(tmp_path / "full.pt", method="m", networks={"a2n": net},
                      conventions={"modalities": ["t1"]}, provenance={})
    half = save_model(tmp_path / "half.pt", method="m", networks={"a2n": net},
                      conventions={"modalities": ["t1"]}, provenance={}, half=True)
    stored = torch.load(half, weights_only=True)["networks"]["a2n"]
    assert stored["dtype"] == "float16" and stored["state_dict"]["mix.bias"].dtype == torch.float16
    loaded = load_model(half).network("a2n").mix.bias
    assert loaded.dtype == torch.float32
    assert torch.allclose(loaded, net.mix.bias, atol=1e-3) and not torch.equal(loaded, net.mix.bias)
    assert load_model(full).network("a2n").mix.bias.dtype == torch.float32


def test_plain_data_only(tmp_path):
    with pytest.raises(TypeError, match="provenance"):
        save_model(tmp_path / "m.pt", method="m", networks={"a2n": CeilingGenerator()},
                   conventions={"modalities": ["t1"]}, provenance={"when": object()})
    assert not (tmp_path / "m.pt").exists()


def _error(path, **kwargs) -> str:
    with pytest.raises(ModelFileError) as caught:
        load_model(path, **kwargs)
    assert str(path) in str(caught.value)
    return str(caught.value)


def test_not_a_model_file(tmp_path):
    from lesiongan.data.volume import write_volume

    nifti = write_volume(brain_volume(), tmp_path / "image.nii.gz")
    assert "not a LesionGAN model file" in _error(nifti)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(2000))
    assert "not a LesionGAN model file" in _error(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    assert "format" in _error(other)
    assert "no such model file" in _error(tmp_path / "missing.pt")


def test_truncated_file(tmp_path):
    path = write_model(tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in _error(path)


def test_unknown_version(tmp_path):
    path = write_model(tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["version"] = VERSION + 1
    torch.save(payload, path)
    assert f"version {VERSION + 1}" in _error(path)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'"{sys.executable}" -c "open(r\'{self.marker}\', \'w\')"',))


def test_code_in_the_file_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "version": VERSION, "networks": _RunsCode(marker)}, path)
    assert "refuses to run code" in _error(path)
    assert not marker.exists()


def test_missing_role_and_wrong_channels(tmp_path):
    path = write_model(tmp_path / "m.pt")
    model = load_model(path)
    with pytest.raises(ModelFileError, match="has no 'segmentor' network"):
        model.network("segmentor")
    assert "segmentor" in _error(path, roles=["a2n", "segmentor"])
    with pytest.raises(ModelFileError, match="takes 1 channel.* 2 volume"):
        model.check_channels("a2n", 2)
    two = write_model(tmp_path / "two.pt", modalities=("flair", "t1"))
    with pytest.raises(ModelFileError, match="takes 2 channel"):
        load_model(two).check_channels("a2n", 1)


def test_repack_halves_the_file_and_keeps_what_the_model_does(tmp_path):
    from lesiongan.infer.modelfile import repack_model
    from lesiongan.nets import build_network

    torch.manual_seed(0)
    net = build_network("resnet_generator", ngf=8, n_blocks=1)
    source = save_model(tmp_path / "run.pt", method="antgan", networks={"a2n": net},
                        conventions={"modalities": ["flair"]}, provenance={"iterations": 3})
    packed = repack_model(source, tmp_path / "ship.pt", metrics={"dice": 0.5})
    assert packed.stat().st_size < 0.6 * source.stat().st_size
    model = load_model(packed)
    assert model.metrics == {"dice": 0.5} and model.provenance == {"iterations": 3}
    x = torch.rand(1, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(model.network("a2n")(x), net.eval()(x), atol=2e-2)
