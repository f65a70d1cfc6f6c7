"""Reorientation, resampling, normalization and slicing: each undoes exactly what it should."""

from __future__ import annotations

import numpy as np
import pytest

from lesiongan.data.normalize import denormalize, fit_normalization, foreground_mask, normalize
from lesiongan.data.orientation import orientation_of, reorient
from lesiongan.data.resample import resample, resample_inplane
from lesiongan.data.slicing import AXES, from_slices, to_slices
from lesiongan.data.volume import Volume
from lesiongan.errors import InputError

from test_data_volume import make_volume


def test_reorient_there_and_back_is_exact() -> None:
    volume = make_volume()  # oblique direction
    original = orientation_of(volume)
    for code in ["LPS", "RAS", "SAL", "PRI"]:
        turned = reorient(volume, code)
        assert orientation_of(turned) == code
        back = reorient(turned, original)
        np.testing.assert_array_equal(back.array, volume.array)
        # The array is exact; the origin is recomputed in floating point, so to rounding only.
        assert back.spacing == volume.spacing
        np.testing.assert_allclose(back.origin, volume.origin, rtol=0, atol=1e-12)
        np.testing.assert_allclose(back.direction, volume.direction, rtol=0, atol=1e-12)


def test_reorient_moves_array_axes_not_physical_positions() -> None:
    axial = Volume(np.arange(24, dtype=np.float32).reshape(2, 3, 4), (1, 2, 3), (0, 0, 0), np.eye(3).ravel())
    ras = reorient(axial, "RAS")
    # LPS -> RAS flips x and y; the voxel at a corner is the same point in space.
    np.testing.assert_array_equal(ras.array, axial.array[:, ::-1, ::-1])
    corner = np.asarray(ras.to_sitk().TransformIndexToPhysicalPoint((3, 2, 0)))
    np.testing.assert_allclose(corner, axial.origin, atol=1e-12)
    with pytest.raises(InputError, match="LPX"):
        reorient(axial, "LPX")


def test_resample_by_spacing_keeps_centre_and_content() -> None:
    array = np.zeros((8, 16, 16), np.float32)
    array[:, 4:12, 4:12] = 1.0
    volume = Volume(array, (1, 1, 2), (5, 6, 7), np.eye(3).ravel())
    half = resample(volume, spacing=(2, 2, 2))
    assert half.shape == (8, 8, 8)
    assert half.array.dtype == np.float32
    centre = lambda v: np.asarray(v.origin) + np.asarray(v.spacing) * (np.array(v.shape[::-1]) - 1) / 2  # noqa: E731
    np.testing.assert_allclose(centre(half), centre(volume))
    assert half.array[:, 2:6, 2:6].min() > 0.99 and half.array[:, 0, :].max() < 1e-6
    # Nearest keeps labels and their type; a reference gives back the input grid.
    labels = volume.with_array((array * 3).astype(np.uint8))
    coarse = resample(labels, size=(8, 8, 8), interpolation="nearest")
    assert coarse.array.dtype == np.uint8 and set(np.unique(coarse.array)) == {0, 3}
    back = resample(coarse, reference=labels, interpolation="nearest")
    assert back.same_grid(labels)
    assert (back.array == labels.array).mean() > 0.9
    with pytest.raises(InputError, match="cubic"):
        resample(volume, spacing=(2, 2, 2), interpolation="cubic")


def test_resample_inplane_keeps_slices_in_place() -> None:
    rng = np.random.default_rng(1)
    volume = Volume(rng.random((5, 12, 10)).astype(np.float32), (0.8, 0.8, 3.0), (0, 0, 0), np.eye(3).ravel())
    axial = resample_inplane(volume, 1.6, "axial")
    assert axial.spacing == (1.6, 1.6, 3.0) and axial.shape == (5, 6, 5)
    # Each new axial slice comes from its own old slice only: constant slices stay constant.
    layered = volume.with_array(np.broadcast_to(np.arange(5, dtype=np.float32)[:, None, None] + 1, (5, 12, 10)).copy())
    np.testing.assert_allclose(resample_inplane(layered, 1.6, "axial").array[:, 1:-1, 1:-1],
                               np.broadcast_to(np.arange(5.0)[:, None, None] + 1, (5, 4, 3)), atol=1e-5)
    sagittal = resample_inplane(volume, (0.4, 1.5), "sagittal")  # width = y, height = z
    assert sagittal.spacing == (0.8, 0.4, 1.5)


def test_mr_normalization_clips_at_foreground_percentile_and_inverts() -> None:
    rng = np.random.default_rng(2)
    array = np.zeros((6, 10, 10), np.float32)
    array[1:5, 2:8, 2:8] = rng.uniform(100, 1100, (4, 6, 6))
    params = fit_normalization(array, "mr")
    foreground = array[array > 0]
    assert params["kind"] == "mr" and params["high"] == pytest.approx(np.percentile(foreground, 99.5))
    normalized = normalize(array, params)
    assert normalized.dtype == np.float32 and normalized.min() == 0.0 and normalized.max() == 1.0
    inside = array <= params["high"]
    np.testing.assert_allclose(denormalize(normalized, params)[inside], array[inside], rtol=1e-5, atol=1e-3)
    assert (denormalize(normalized, params)[~inside] == pytest.approx(params["high"]))  # clipped stays clipped
    # An explicit foreground mask changes the percentile; the input array is never modified.
    copy = array.copy()
    only_low = (array > 0) & (array < 300)
    assert fit_normalization(array, "mr", foreground=only_low)["high"] < 300
    np.testing.assert_array_equal(array, copy)
    import json
    assert json.loads(json.dumps(params)) == params


def test_ct_window_and_inverse() -> None:
    hounsfield = np.array([-1024, -160, 0, 40, 240, 3000], np.float32).reshape(1, 2, 3)
    params = fit_normalization(hounsfield, "ct")
    assert (params["low"], params["high"]) == (-160.0, 240.0)
    normalized = normalize(hounsfield, params)
    np.testing.assert_allclose(normalized.ravel(), [0, 0, 0.4, 0.5, 1, 1])
    np.testing.assert_allclose(denormalize(normalized, params).ravel()[1:5], [-160, 0, 40, 240], atol=1e-4)
    brain = fit_normalization(hounsfield, "ct", level=40, width=80)
    assert (brain["low"], brain["high"]) == (0.0, 80.0)


def test_normalization_rejects_bad_options() -> None:
    with pytest.raises(InputError, match="pet"):
        fit_normalization(np.ones((2, 2, 2)), "pet")
    with pytest.raises(InputError, match="percentile"):
        fit_normalization(np.ones((2, 2, 2)), "mr", window=3)
    for constant in (np.zeros((2, 2, 2)), np.full((2, 2, 2), -3.0)):
        with pytest.raises(InputError, match="no foreground intensity above its background"):
            fit_normalization(constant, "mr")


def test_mr_normalization_of_a_shifted_volume_is_the_plain_ones() -> None:
    # A z-scored volume (negative background and dark tissue) must look to a model exactly as
    # the same volume before the z-score did: clipping at 0 would make its dark half background.
    rng = np.random.default_rng(3)
    plain = np.zeros((6, 8, 8), np.float32)
    plain[1:5, 2:6, 2:6] = rng.uniform(50, 900, (4, 4, 4))
    shifted = (plain - plain[plain > 0].mean()) / plain[plain > 0].std()
    assert (shifted[plain > 0] < 0).mean() > 0.3
    foreground = foreground_mask([shifted])
    np.testing.assert_array_equal(foreground, plain > 0)
    np.testing.assert_allclose(normalize(shifted, fit_normalization(shifted, "mr", foreground=foreground)),
                               normalize(plain, fit_normalization(plain, "mr")), atol=1e-5)


@pytest.mark.parametrize("axis", list(AXES))
def test_slicing_round_trip(axis: str) -> None:
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    slices = to_slices(array, axis)
    assert slices.shape[0] == array.shape[AXES[axis]]
    np.testing.assert_array_equal(from_slices(slices, axis), array)


def test_slice_shapes_follow_lps_axes() -> None:
    array = np.zeros((2, 3, 4))
    assert to_slices(array, "axial").shape == (2, 3, 4)
    assert to_slices(array, "coronal").shape == (3, 2, 4)
    assert to_slices(array, "sagittal").shape == (4, 2, 3)
    with pytest.raises(InputError, match="oblique"):
        to_slices(array, "oblique")


def test_foreground_is_above_background_in_any_modality() -> None:
    flair = np.zeros((1, 2, 3), np.float32)
    flair[0, 0, 0] = 5
    ct = np.full((1, 2, 3), -1000, np.float32)
    ct[0, 1, 2] = 40
    np.testing.assert_array_equal(foreground_mask([flair, ct]), [[[True, False, False], [False, False, True]]])
