"""Lesion synthesis core: painting stays inside the region plus its blend margin, random
lesions land in the brain and out of the ventricles, and new images from noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lesiongan.data.volume import Volume
from lesiongan.errors import Cancelled, InputError, ModelFileError, VolumeError
from lesiongan.infer.modelfile import load_model
from lesiongan.synthesis import blend_weights, brain_mask, paint_lesion, random_lesion_masks, ventricle_mask
from lesiongan.synthesis.sampling import sample_images
from synthesis_support import brain_with_ventricles, write_noise_model, write_painting_model


def _region(volume: Volume) -> np.ndarray:
    region = np.zeros(volume.shape, dtype=np.uint8)
    region[4:6, 8:12, 20:24] = 1
    return region


@pytest.mark.parametrize("role", ["reconstructor", "n2a"])
def test_paint_changes_only_the_region_and_its_margin(tmp_path, role):
    volume, _ = brain_with_ventricles()
    kept = volume.array.copy()
    model = load_model(write_painting_model(tmp_path / "m.pt", role))
    region = _region(volume)
    margin = 4.0  # mm: reaches the next slice on each side (3 mm apart), not the one after
    result = paint_lesion(volume, volume.with_array(region), model, blend_margin_mm=margin, device="cpu")
    assert result.role == role
    assert np.array_equal(volume.array, kept)  # the input is never modified
    assert np.array_equal(result.lesion.array, region)
    changed = result.output.array != volume.array
    # distance in mm from the region: nothing changes beyond the stated margin ...
    distance = ndimage.distance_transform_edt(region == 0, sampling=volume.spacing[::-1])
    assert not changed[distance >= margin].any()
    # ... and the untrained model does change the region itself
    assert changed[region > 0].mean() > 0.9
    assert result.output.same_grid(volume)
    # only the slices the region plus margin touches were run (2 + one on each side)
    assert result.slices_run == 4


def test_blend_weights_are_one_inside_and_fall_to_zero_at_the_margin():
    region = np.zeros((1, 1, 9), dtype=bool)
    region[0, 0, 4] = True
    weights = blend_weights(region, (1.0, 1.0, 1.0), 3.0)[0, 0]
    assert weights[4] == 1.0
    assert np.allclose(weights, [0, 0, 1 / 3, 2 / 3, 1, 2 / 3, 1 / 3, 0, 0])
    assert np.array_equal(blend_weights(region, (1.0, 1.0, 1.0), 0.0), region.astype(np.float32))


def test_paint_refuses_bad_inputs_and_cancels_cleanly(tmp_path):
    volume, _ = brain_with_ventricles()
    model = load_model(write_painting_model(tmp_path / "m.pt"))
    with pytest.raises(InputError, match="empty"):
        paint_lesion(volume, volume.with_array(np.zeros(volume.shape, np.uint8)), model, device="cpu")
    off_grid = Volume(_region(volume), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), volume.direction)
    with pytest.raises(VolumeError, match="grid"):
        paint_lesion(volume, off_grid, model, device="cpu")
    with pytest.raises(InputError, match="blend margin"):
        paint_lesion(volume, volume.with_array(_region(volume)), model, blend_margin_mm=-1, device="cpu")
    with pytest.raises(Cancelled):
        paint_lesion(volume, volume.with_array(_region(volume)), model, device="cpu", cancel=lambda: True)
    noise_only = load_model(write_noise_model(tmp_path / "noise.pt"))
    with pytest.raises(ModelFileError, match="cannot paint"):
        paint_lesion(volume, volume.with_array(_region(volume)), noise_only, device="cpu")


def test_ventricles_are_found_as_the_dark_centre():
    volume, truth = brain_with_ventricles()
    found = ventricle_mask(volume)
    dice = 2 * (found & truth).sum() / (found.sum() + truth.sum())
    assert dice > 0.9


@pytest.mark.parametrize("use_tissue", [False, True])
def test_random_lesions_lie_inside_the_brain_and_outside_the_ventricles(use_tissue):
    volume, ventricles = brain_with_ventricles()
    tissue = np.where(ventricles, 1, 3).astype(np.uint8) if use_tissue else None
    masks = random_lesion_masks(volume, 3, 5.0, seed=4, tissue=tissue)
    brain = brain_mask(volume)
    assert len(masks) == 3
    union = np.zeros(volume.shape, dtype=int)
    for mask in masks:
        assert mask.sum() >= 5
        assert not (mask & ~brain).any() and not (mask & ventricles).any()
        union += mask
    assert union.max() == 1  # no two lesions overlap
    again = random_lesion_masks(volume, 3, 5.0, seed=4, tissue=tissue)
    assert all(np.array_equal(a, b) for a, b in zip(masks, again))  # seeded


def test_random_lesions_say_when_there_is_no_room():
    volume, _ = brain_with_ventricles()
    with pytest.raises(InputError, match="no room"):
        random_lesion_masks(volume, 1, 40.0, seed=0)
    with pytest.raises(InputError, match="count"):
        random_lesion_masks(volume, 0, 5.0)


def test_sample_images_are_seeded_and_in_range(tmp_path):
    model = load_model(write_noise_model(tmp_path / "noise.pt"))
    first = sample_images(model, 3, seed=7, device="cpu")
    assert first.shape == (3, 1, 32, 32) and first.min() >= 0 and first.max() <= 1
    assert np.array_equal(first, sample_images(model, 3, seed=7, device="cpu"))
    assert not np.array_equal(first, sample_images(model, 3, seed=8, device="cpu"))


def test_paint_runs_the_touched_slices_along_the_model_axis_of_any_orientation(tmp_path):
    volume, _ = brain_with_ventricles()
    ras = Volume(volume.array, volume.spacing, volume.origin, (-1, 0, 0, 0, -1, 0, 0, 0, 1))
    path = write_painting_model(tmp_path / "m.pt")
    model = load_model(path)
    model.conventions["axis"] = "coronal"  # slices along y: the array's axis 1 for this direction
    region = np.zeros(ras.shape, np.uint8)
    region[2:8, 12:15, 10:20] = 1
    result = paint_lesion(ras, ras.with_array(region), model, blend_margin_mm=0.0, device="cpu")
    assert result.slices_run == 3
    changed = result.output.array != ras.array
    assert not changed[region == 0].any() and changed[region > 0].mean() > 0.9
