"""The slice-wise engine: exact geometry, untouched empty slices, batching, out-of-memory, cancel."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lesiongan.data.volume import Volume
from lesiongan.errors import Cancelled, InputError, ModelFileError
from lesiongan.infer.engine import SliceInferer, run_model, threshold_difference
from lesiongan.infer.frame import model_frame
from lesiongan.infer.modelfile import load_model, save_model
from lesiongan.nets.resnet import ResnetGenerator
from test_infer_support import CeilingGenerator, brain_volume, write_model


def _rotation(degrees: float) -> tuple:
    a, b = math.radians(degrees), math.radians(degrees / 2)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return tuple((rz @ rx).ravel())


GRIDS = {
    "LPS": dict(spacing=(1.0, 1.0, 1.0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)),
    "RAS": dict(spacing=(1.0, 1.0, 1.0), direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1)),
    "anisotropic": dict(spacing=(0.7, 1.3, 3.0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)),
    "oblique": dict(spacing=(0.9, 1.1, 2.0), direction=_rotation(25)),
}


@pytest.mark.parametrize("grid", GRIDS)
def test_results_land_on_the_input_grid(tmp_path, grid):
    volume = brain_volume(**GRIDS[grid])
    kept = volume.array.copy()
    model = load_model(write_model(tmp_path / "m.pt", ceiling=0.0, conventions={"spacing": 1.0}))
    result = run_model(volume, model, device="cpu")
    for out in (result.output, result.difference, result.mask, result.foreground):
        assert out.shape == volume.shape
        assert (out.spacing, out.origin, out.direction) == (volume.spacing, volume.origin, volume.direction)
    assert np.array_equal(volume.array, kept)  # the input is never modified
    lesion = volume.array == 1000
    assert result.output.array[lesion].mean() < 900  # the bright blob is toned down ...
    assert result.mask.array.dtype == np.uint8
    dice = 2 * (result.mask.array.astype(bool) & lesion).sum() / (result.mask.array.sum() + lesion.sum())
    assert dice > 0.6  # ... and the mask finds it, whatever the orientation and spacing


def test_identity_generator_gives_back_a_healthy_input(tmp_path):
    net = ResnetGenerator(1, 1, ngf=4, n_blocks=1, shortcut=True)  # its residual starts at zero
    path = save_model(tmp_path / "m.pt", method="antgan", networks={"a2n": net},
                      conventions={"modalities": ["flair"], "orientation": "LPS", "axis": "axial"}, provenance={})
    volume = brain_volume(shape=(6, 18, 22), lesion=False)
    result = run_model(volume, load_model(path), device="cpu")
    assert np.allclose(result.output.array, volume.array, atol=1e-3)
    assert result.difference.array.max() < 1e-5 and not result.mask.array.any()


def test_empty_slices_and_the_background_are_untouched(tmp_path):
    shifting = CeilingGenerator()
    with torch.no_grad():
        shifting.mix.bias.fill_(0.2)  # changes every pixel it sees, background included
    path = save_model(tmp_path / "m.pt", method="m", networks={"a2n": shifting},
                      conventions={"modalities": ["flair"], "orientation": "LPS", "axis": "axial"}, provenance={})
    volume = brain_volume()
    result = run_model(volume, load_model(path), device="cpu")
    assert result.slices_run == volume.shape[0] - 4
    ends = np.r_[0:2, -2:0]
    assert np.array_equal(result.output.array[ends], volume.array[ends])
    assert not result.difference.array[ends].any()
    tissue = volume.array > 0
    assert (result.output.array[tissue] != volume.array[tissue]).mean() > 0.9
    # the air around the head keeps its value, in every slice the network ran on
    assert np.array_equal(result.output.array[~tissue], volume.array[~tissue])
    assert not result.difference.array[~tissue].any()


@pytest.mark.parametrize("grid", ["anisotropic", "oblique"])
def test_the_background_keeps_its_value_through_resampling(tmp_path, grid):
    shifting = CeilingGenerator()
    with torch.no_grad():
        shifting.mix.bias.fill_(0.2)  # changes every pixel it sees, background included
    path = save_model(tmp_path / "m.pt", method="m", networks={"a2n": shifting}, provenance={},
                      conventions={"modalities": ["flair"], "orientation": "LPS", "axis": "axial", "spacing": 1.0})
    volume = brain_volume(**GRIDS[grid])
    result = run_model(volume, load_model(path), device="cpu")
    # resampled to the model's grid and back, the change would spread past the tissue
    background = volume.array == 0
    assert (result.output.array[~background] != volume.array[~background]).mean() > 0.9
    assert np.array_equal(result.output.array[background], volume.array[background])
    assert not result.difference.array[background].any()


def test_a_z_scored_volume_gives_the_plain_volumes_results(tmp_path):
    volume = brain_volume()
    tissue = volume.array[volume.array > 0]
    shifted = volume.with_array((volume.array - tissue.mean()) / tissue.std())
    # capped at 0.25 of the normalized range: the tissue (about 0.3) is changed too, by how
    # bright the model sees it
    model = load_model(write_model(tmp_path / "m.pt", ceiling=-0.5, conventions={"spacing": 1.0}))
    plain, scored = run_model(volume, model, device="cpu"), run_model(shifted, model, device="cpu")
    tissue = (volume.array > 0) & (volume.array < 900)
    assert plain.mask.array.any() and (plain.difference.array[tissue] > 0.02).mean() > 0.5
    np.testing.assert_array_equal(scored.mask.array, plain.mask.array)
    np.testing.assert_allclose(scored.difference.array, plain.difference.array, atol=1e-5)


def test_untouched_voxels_are_bit_identical_and_clipping_survives(tmp_path):
    volume = brain_volume()
    volume.array[5, 10, 12] = 5000  # far above the 99.5th percentile: clipped by normalization
    model = load_model(write_model(tmp_path / "m.pt", ceiling=1.0))  # the identity
    result = run_model(volume, model, device="cpu")
    assert np.array_equal(result.output.array, volume.array)


def test_batch_size_does_not_change_results(tmp_path):
    model = load_model(write_model(tmp_path / "m.pt", ceiling=-0.2))
    volume = brain_volume()
    results = [run_model(volume, model, device="cpu", batch_size=b) for b in (1, 3, 64)]
    for other in results[1:]:
        assert np.allclose(other.output.array, results[0].output.array, atol=1e-4)
        assert np.allclose(other.difference.array, results[0].difference.array, atol=1e-6)


class _SmallMemory(torch.nn.Module):
    """Runs the real network but fails like a full GPU above `limit` slices per batch."""

    def __init__(self, net: torch.nn.Module, limit: int):
        super().__init__()
        self.net, self.limit, self.sizes = net, limit, []

    def forward(self, x):
        self.sizes.append(x.shape[0])
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.net(x)


def test_out_of_memory_halves_the_batch(tmp_path, monkeypatch):
    model = load_model(write_model(tmp_path / "m.pt", ceiling=-0.2))
    volume = brain_volume()
    reference = run_model(volume, model, device="cpu", batch_size=1)
    small = _SmallMemory(model.network("a2n"), limit=2)
    monkeypatch.setattr(model, "network", lambda role, device=None: small)
    result = run_model(volume, model, device="cpu", batch_size=8)
    assert small.sizes[:3] == [8, 4, 2] and max(small.sizes[3:]) <= 2
    assert result.batch_size == 2
    assert np.allclose(result.output.array, reference.output.array, atol=1e-5)


def test_cancel_after_the_first_batch(tmp_path):
    model = load_model(write_model(tmp_path / "m.pt"))
    calls = []
    with pytest.raises(Cancelled):
        run_model(brain_volume(), model, device="cpu", batch_size=2,
                  progress=lambda done, total: calls.append((done, total)), cancel=lambda: bool(calls))
    assert calls == [(2, 8)]


def test_progress_reaches_the_total(tmp_path):
    model = load_model(write_model(tmp_path / "m.pt"))
    calls = []
    run_model(brain_volume(), model, device="cpu", batch_size=3, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(3, 8), (6, 8), (8, 8)]


def test_reconstructor_reads_the_extra_channel(tmp_path):
    net = CeilingGenerator(1, 1, extra_channels=1)
    with torch.no_grad():
        net.mix.weight[0, 1] = -0.5  # darkens where the extra mask is on
        net.mix.bias.fill_(-0.5)  # ... and the -1 of an empty mask (network range) cancels it
    path = save_model(tmp_path / "m.pt", method="factor", networks={"reconstructor": net},
                      conventions={"modalities": ["t1"], "orientation": "LPS", "axis": "axial"}, provenance={})
    model = load_model(path)
    volume = brain_volume(lesion=False)
    region = np.zeros(volume.shape, np.float32)
    region[5:7, 8:12, 8:12] = 1
    result = run_model(volume, model, role="reconstructor", extra=volume.with_array(region), device="cpu")
    inside = region > 0
    assert (result.output.array[inside] < volume.array[inside]).all()
    assert np.allclose(result.output.array[~inside], volume.array[~inside], atol=1e-3)
    with pytest.raises(ModelFileError, match="extra channel"):
        run_model(volume, model, role="reconstructor", device="cpu")


def test_multimodal_inputs_must_match_the_model(tmp_path):
    model = load_model(write_model(tmp_path / "m.pt", modalities=("flair", "t1"), ceiling=0.0))
    flair, t1 = brain_volume(seed=1), brain_volume(seed=2)
    result = run_model([flair, t1], model, device="cpu")
    assert len(result.outputs) == 2 and result.mask.array.any()
    with pytest.raises(ModelFileError, match="2 channel"):
        run_model(flair, model, device="cpu")


def test_threshold_difference_limits_and_cleans():
    difference = np.zeros((4, 10, 10), np.float32)
    difference[1:3, 2:6, 2:6] = 0.5  # a 32-voxel region
    difference[3, 9, 9] = 0.9  # a speck
    volume = Volume(difference, (1, 1, 1), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert threshold_difference(volume, 0.1).array.sum() == 33
    assert threshold_difference(volume, 0.6).array.sum() == 1
    assert threshold_difference(volume, 0.1, min_component_size=2).array.sum() == 32
    foreground = volume.with_array((np.arange(400).reshape(4, 10, 10) < 200).astype(np.uint8))
    assert threshold_difference(volume, 0.1, foreground).array.sum() == 16
    with pytest.raises(InputError, match="threshold"):
        threshold_difference(volume, float("nan"))


def test_one_inferer_runs_many_volumes_as_run_model_runs_each(tmp_path):
    model = load_model(write_model(tmp_path / "m.pt", ceiling=0.0, conventions={"spacing": 1.0}))
    inferer = SliceInferer(device="cpu", batch_size=3, threshold=0.05, min_component_size=2)
    volumes = [brain_volume(seed=0), brain_volume(shape=(8, 18, 22), seed=1, **GRIDS["oblique"])]
    for volume in volumes:
        result = inferer(volume, model)
        single = run_model(volume, model, device="cpu", batch_size=3, threshold=0.05, min_component_size=2)
        assert result.batch_size == single.batch_size == 3
        for mine, theirs in zip((result.output, result.difference, result.mask, result.foreground),
                                (single.output, single.difference, single.mask, single.foreground)):
            assert np.array_equal(mine.array, theirs.array) and mine.same_grid(theirs)
    with pytest.raises(AttributeError):
        inferer.crop = True  # settings are fixed: a shared inferer cannot change under another caller


@pytest.mark.parametrize("settings", [{"threads": 0}, {"threads": True}, {"threshold": -0.1},
                                      {"threshold": float("inf")}, {"batch_size": 2.0}])
def test_an_inferer_refuses_bad_settings_before_it_sees_a_volume(settings):
    with pytest.raises(InputError):
        SliceInferer(**settings)


def test_the_model_frame_maps_volumes_there_and_back(tmp_path):
    volume = brain_volume(**GRIDS["oblique"])
    conventions = {"orientation": "LPS", "axis": "axial", "spacing": 1.0, "normalization": {"kind": "mr"}}
    frame = model_frame(volume, conventions)
    assert frame.normalized.shape[:2] == (frame.framed[0].shape[0], 1)
    assert 0 <= frame.normalized.min() and frame.normalized.max() <= 1
    back = frame.back(frame.framed[0], volume)
    assert back.same_grid(volume) and back.shape == volume.shape


@pytest.mark.parametrize("grid", ["LPS", "oblique"])
def test_a_reference_takes_the_networks_place(tmp_path, grid):
    """The true healthy volume as the reference: the output is it, the mask is the blob, and
    the network (the identity here, which finds nothing) is not what is scored."""
    image, healthy = brain_volume(**GRIDS[grid]), brain_volume(**GRIDS[grid], lesion=False)
    model = load_model(write_model(tmp_path / "m.pt", conventions={"spacing": 1.0}))
    plain = run_model(image, model, device="cpu")
    assert not plain.mask.array.any()
    result = SliceInferer(device="cpu")(image, model, reference=[healthy])
    lesion = image.array == 1000
    assert np.abs(result.output.array - healthy.array)[~lesion].mean() < 5  # resampled back: near, not exact
    assert np.abs(result.output.array - healthy.array)[lesion].mean() < 100  # the blob (700 above) is gone
    dice = 2 * (result.mask.array.astype(bool) & lesion).sum() / (result.mask.array.sum() + lesion.sum())
    assert dice > 0.7  # the identity network scores 0 here


def test_a_reference_must_match_the_inputs(tmp_path):
    image = brain_volume()
    model = load_model(write_model(tmp_path / "m.pt"))
    with pytest.raises(InputError, match="reference"):
        SliceInferer(device="cpu")(image, model, reference=[image, image])
    other = brain_volume(spacing=(2.0, 1.0, 2.0), lesion=False)
    with pytest.raises(InputError, match="reference 0.*grid"):
        SliceInferer(device="cpu")(image, model, reference=[other])
