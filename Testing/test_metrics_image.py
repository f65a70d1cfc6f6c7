"""PSNR, SSIM and masked MS-SSIM against known answers and against pytorch-msssim itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim as library_ms_ssim
from pytorch_msssim import ssim as library_ssim

from lesiongan.errors import InputError
from lesiongan.metrics.image import masked_ms_ssim, ms_ssim_scales, psnr, ssim


def _pair(shape: tuple[int, ...], noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.random(shape)
    return a, np.clip(a + rng.normal(0, noise, shape), 0, 1)


def test_psnr_identical_is_inf_and_constant_offset_is_exact() -> None:
    a, _ = _pair((3, 16, 16))
    assert psnr(a, a) == math.inf
    for offset in (0.1, 0.03, 0.25):
        assert psnr(a, a + offset) == pytest.approx(20 * math.log10(1 / offset), abs=1e-9)
    assert psnr(a, a + 0.1, data_range=2.0) == pytest.approx(20 * math.log10(2 / 0.1), abs=1e-9)


def test_psnr_counts_only_masked_voxels_and_accepts_tensors() -> None:
    a = np.zeros((2, 8, 8))
    b = a.copy()
    b[:, :4] = 0.5  # wrong only in the top half
    mask = np.zeros_like(a, dtype=bool)
    mask[:, 4:] = True
    assert psnr(a, b, mask) == math.inf
    assert psnr(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(~mask)) == pytest.approx(20 * math.log10(2))
    assert math.isnan(psnr(a, b, np.zeros_like(a)))


def test_psnr_rejects_mismatched_shapes_by_name() -> None:
    with pytest.raises(InputError, match="psnr image b"):
        psnr(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))


def test_ssim_matches_pytorch_msssim_away_from_the_border() -> None:
    a, b = _pair((2, 48, 48))
    interior = np.zeros_like(a, dtype=bool)
    interior[:, 5:-5, 5:-5] = True  # where the library's 'valid' window map is defined
    expected = float(library_ssim(torch.from_numpy(a[:, None]), torch.from_numpy(b[:, None]), data_range=1.0))
    assert ssim(a, b, interior) == pytest.approx(expected, abs=1e-6)  # the library window is float32
    assert ssim(a, a) == pytest.approx(1.0)


def test_ms_ssim_scales_follow_the_library_rule() -> None:
    assert ms_ssim_scales(161, 200) == 5  # pytorch-msssim's minimum for five scales at window 11
    assert ms_ssim_scales(160, 160) == 4
    assert ms_ssim_scales(32, 32) == 2
    assert ms_ssim_scales(11, 11) == 1
    assert ms_ssim_scales(10, 64) == 0


def test_masked_ms_ssim_equals_pytorch_msssim_with_five_scales() -> None:
    a, b = _pair((2, 176, 176))
    expected = float(library_ms_ssim(torch.from_numpy(a[:, None]), torch.from_numpy(b[:, None]), data_range=1.0))
    assert masked_ms_ssim(a, b, np.ones_like(a)) == pytest.approx(expected, abs=1e-10)


def test_masked_ms_ssim_small_images_use_fewer_scales() -> None:
    a, b = _pair((3, 32, 32))
    value = masked_ms_ssim(a, b, np.ones_like(a))
    assert 0.0 < value < 1.0
    assert masked_ms_ssim(a, a, np.ones_like(a)) == pytest.approx(1.0)
    with pytest.raises(InputError, match="smaller than the 11-pixel"):
        masked_ms_ssim(a[:, :8, :8], b[:, :8, :8], np.ones((3, 8, 8)))


def test_masked_ms_ssim_ignores_what_the_mask_leaves_out() -> None:
    a, _ = _pair((2, 40, 40))
    b = a.copy()
    b[:, 10:20, 10:20] = 1.0 - b[:, 10:20, 10:20]  # a 'lesion' the output changed
    keep = np.ones_like(a, dtype=bool)
    keep[:, 10:20, 10:20] = False
    assert masked_ms_ssim(a, b, keep) == pytest.approx(1.0)
    assert masked_ms_ssim(a, b, np.ones_like(a)) < 0.95
    original = b.copy()
    masked_ms_ssim(a, b, keep)
    assert np.array_equal(b, original)  # inputs are never modified


def test_masked_ms_ssim_skips_slices_the_mask_does_not_touch() -> None:
    a, b = _pair((2, 32, 32))
    keep = np.zeros_like(a, dtype=bool)
    keep[0] = True
    assert masked_ms_ssim(a, b, keep) == pytest.approx(masked_ms_ssim(a[:1], b[:1], keep[:1]))
    assert math.isnan(masked_ms_ssim(a, b, np.zeros_like(a)))
