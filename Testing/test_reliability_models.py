"""Model files and the inference API on hostile input: NaN weights, flipped bytes, a changed
shipped file, architectures too large to build, and calls with the wrong types."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lesiongan.data.volume import Volume
from lesiongan.errors import LesionGANError, ModelFileError, VolumeError
from lesiongan.infer import catalog
from lesiongan.infer.engine import run_model
from lesiongan.infer.modelfile import load_model, save_model
from lesiongan.limits import MemoryLimitError, core_count
from lesiongan.nets import build_network
from test_infer_support import brain_volume, write_model


def _payload(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _resave(payload: dict, path: Path) -> Path:
    torch.save(payload, path)
    return path


def _resnet_model(path: Path) -> Path:
    net = build_network("resnet_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1, shortcut=True)
    return save_model(path, method="antgan", networks={"a2n": net},
                      conventions={"modalities": ["flair"], "axis": "axial"}, provenance={})


def test_nan_weights_are_refused_on_load(tmp_path):
    payload = _payload(write_model(tmp_path / "m.pt"))
    payload["networks"]["a2n"]["state_dict"]["mix.weight"][0, 0] = float("nan")
    with pytest.raises(ModelFileError, match="m.pt.*mix.weight.*NaN"):
        load_model(_resave(payload, tmp_path / "m.pt"))


def test_a_flipped_weight_byte_is_refused(tmp_path):
    path = _resnet_model(tmp_path / "m.pt")
    with zipfile.ZipFile(path) as archive:
        member = max(archive.infolist(), key=lambda info: info.file_size)  # the largest weight tensor
    data = bytearray(path.read_bytes())
    name_length, extra_length = int.from_bytes(data[member.header_offset + 26:member.header_offset + 28], "little"), \
        int.from_bytes(data[member.header_offset + 28:member.header_offset + 30], "little")
    start = member.header_offset + 30 + name_length + extra_length
    data[start + member.file_size // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(path)


def test_a_changed_shipped_model_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "package"
    (package / "resources" / "models").mkdir(parents=True)
    shipped = package / "resources" / "models" / catalog.DEMO_MODEL_FILE
    shutil.copy(catalog.default_model_path(), shipped)
    shutil.copy(catalog.manifest_path(), package / "resources" / "models" / "manifest.json")
    monkeypatch.setattr(catalog, "PACKAGE_DIR", package)
    assert load_model(shipped).roles  # the file as shipped loads
    payload = _payload(shipped)
    payload["provenance"]["note"] = "changed"  # a valid model file, but not the one shipped
    _resave(payload, shipped)
    with pytest.raises(ModelFileError, match="differs from the file LesionGAN shipped"):
        load_model(shipped)


@pytest.mark.parametrize("kwargs, message", [({"n_blocks": 10**9}, "more than 64"),
                                             ({"ngf": 10**9}, "more than 4096"),
                                             ({"n_blocks": 60}, "do not fit"),
                                             ({"ngf": float("inf")}, "inf")])
def test_an_oversized_architecture_is_refused_before_it_is_built(tmp_path, kwargs, message):
    payload = _payload(_resnet_model(tmp_path / "m.pt"))
    payload["networks"]["a2n"]["kwargs"].update(kwargs)
    model = load_model(_resave(payload, tmp_path / "m.pt"))
    with pytest.raises(ModelFileError, match=message):
        model.network("a2n")


@pytest.mark.parametrize("conventions, message", [({"spacing": 0}, "spacing"), ({"spacing": float("nan")}, "spacing"),
                                                  ({"size": 10**6}, "size"), ({"modalities": "flair"}, "modalities")])
def test_conventions_out_of_range_are_refused(tmp_path, conventions, message):
    payload = _payload(write_model(tmp_path / "m.pt"))
    payload["conventions"].update(conventions)
    with pytest.raises(ModelFileError, match=message):
        load_model(_resave(payload, tmp_path / "m.pt"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> object:
    return load_model(write_model(tmp_path_factory.mktemp("m") / "m.pt", ceiling=0.0, conventions={"spacing": 1.0}))


@pytest.mark.parametrize("volumes", [np.ones((8, 8, 8)), torch.ones(8, 8, 8), "case.nii.gz", None, 3, [np.ones(3)]])
def test_run_model_with_the_wrong_input_type_is_a_clear_error(model, volumes):
    with pytest.raises(VolumeError, match="Volume"):
        run_model(volumes, model)


def test_run_model_with_a_path_for_the_model_is_a_clear_error():
    with pytest.raises(LesionGANError, match="load_model"):
        run_model(brain_volume(), "model.pt")


@pytest.mark.parametrize("dtype", [np.complex64, object, np.str_])
def test_volumes_of_non_real_voxels_are_refused(dtype):
    with pytest.raises(VolumeError, match="not real numbers"):
        brain_volume().with_array(brain_volume().array.astype(dtype))


def test_bool_and_float16_volumes_give_the_float32_result(model):
    volume = brain_volume()
    for dtype in (np.float16, bool):
        converted = volume.with_array(volume.array.astype(dtype))
        expected = run_model(converted.with_array(converted.array.astype(np.float32)), model)
        result = run_model(converted, model)
        assert np.array_equal(result.mask.array, expected.mask.array)
        assert np.array_equal(result.output.array, expected.output.array)


def test_a_singular_direction_is_refused():
    volume = brain_volume()
    with pytest.raises(VolumeError, match="singular"):
        Volume(volume.array, volume.spacing, volume.origin, (1, 0, 0, 1, 0, 0, 0, 0, 1))


@pytest.mark.parametrize("spacing", [(0.01, 0.01, 0.01), (0.01, 50.0, 3.0)])
def test_extreme_spacing_is_a_clear_error(model, spacing):
    volume = brain_volume()
    with pytest.raises(VolumeError, match="pixels"):
        run_model(Volume(volume.array, spacing, volume.origin, volume.direction), model)


def test_a_volume_too_large_in_the_model_frame_is_refused_before_allocation(model):
    volume = Volume(np.ones((64, 64, 64), np.float32), (150.0, 150.0, 150.0), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    with pytest.raises(MemoryLimitError, match="9600 x 9600.*nothing was allocated"):
        run_model(volume, model)


def test_threads_are_capped_at_the_cores(model):
    seen = []
    run_model(brain_volume(), model, threads=10_000, progress=lambda done, total: seen.append(torch.get_num_threads()))
    assert seen and max(seen) <= core_count()


@pytest.mark.parametrize("argument", [{"threads": 0}, {"threads": 2.5}, {"threshold": float("nan")},
                                      {"threshold": -1}, {"batch_size": 1.5}])
def test_bad_arguments_are_clear_errors(model, argument):
    with pytest.raises(LesionGANError):
        run_model(brain_volume(), model, **argument)


def test_a_manifest_name_cannot_leave_the_cache(tmp_path):
    manifest = json.loads(catalog.manifest_path().read_text())
    manifest["models"] = [{"name": "../../x", "description": "d", "modality": "m", "method": "antgan",
                           "url": "https://example.org/x.pt", "file": None, "size": 10, "sha256": "0" * 64}]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="plain file name"):
        catalog.load_manifest(path)
