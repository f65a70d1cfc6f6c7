"""Image similarity on normalized [0, 1] intensities: PSNR, SSIM and masked MS-SSIM.

Volumes are `(z, y, x)` arrays; SSIM and MS-SSIM are computed slice-wise in 2D along z,
the way the 2D generators see them. A single 2D image `(y, x)` is one slice.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

from ..errors import InputError
from .arrays import ArrayLike, as_array, as_mask, same_shape

# Wang et al. (2003) MS-SSIM weights, finest scale first, as pytorch-msssim uses them.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_SIGMA = 1.5
SSIM_K = (0.01, 0.03)
SLICES_PER_BATCH = 32


def psnr(a: ArrayLike, b: ArrayLike, mask: ArrayLike | None = None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over the voxels of `mask` (all when None).

    Identical images give `math.inf`; an empty mask gives `math.nan` (nothing to compare).
    """
    x, y = as_array(a, "psnr image a"), as_array(b, "psnr image b")
    shape = same_shape({"psnr image a": x, "psnr image b": y})
    inside = as_mask(mask, "psnr mask", shape)
    if not inside.any():
        return math.nan
    mse = float(np.mean((x[inside] - y[inside]) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def _as_slices(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 2:
        return array[None]
    if array.ndim == 3:
        return array
    raise InputError(name, f"has {array.ndim} dimensions; expected a 2D image or a (z, y, x) volume")


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Per-voxel SSIM of Wang et al. (Gaussian window sigma 1.5, width 11), slice-wise in 2D.

    pytorch-msssim returns only the mean SSIM and scikit-image is not a dependency, so the
    map that masking needs is computed here with scipy's Gaussian filter (reflected borders;
    away from the border it equals pytorch-msssim's 'valid' map).
    """
    c1, c2 = (SSIM_K[0] * data_range) ** 2, (SSIM_K[1] * data_range) ** 2
    # sigma 0 along z keeps the filter 2D; truncate 10/3 sigma gives a radius of 5 (width 11).
    def blur(image: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(image, sigma=(0, SSIM_SIGMA, SSIM_SIGMA), truncate=10 / 3, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ssim(a: ArrayLike, b: ArrayLike, mask: ArrayLike | None = None, data_range: float = 1.0) -> float:
    """Mean SSIM over the voxels of `mask` (all when None), 2D slice-wise; `math.nan` if the mask is empty."""
    x = _as_slices(as_array(a, "ssim image a"), "ssim image a")
    y = _as_slices(as_array(b, "ssim image b"), "ssim image b")
    shape = same_shape({"ssim image a": x, "ssim image b": y})
    inside = as_mask(None if mask is None else _as_slices(as_array(mask, "ssim mask"), "ssim mask"), "ssim mask", shape)
    if not inside.any():
        return math.nan
    return float(ssim_map(x, y, data_range)[inside].mean())


def ms_ssim_scales(height: int, width: int, win_size: int = 11) -> int:
    """How many MS-SSIM scales (at most 5) an image of this size allows.

    The same rule pytorch-msssim applies for five scales: the smaller side must exceed
    (win_size - 1) * 2 ** (scales - 1), so that the coarsest scale still holds a window.
    """
    side = min(height, width)
    scales = 0
    while scales < len(MS_SSIM_WEIGHTS) and side > (win_size - 1) * 2**scales:
        scales += 1
    return scales


def _ms_ssim_batch(x: torch.Tensor, y: torch.Tensor, weights: tuple[float, ...], win_size: int, data_range: float) -> torch.Tensor:
    """MS-SSIM of each image of (N, 1, H, W) batches with len(weights) scales.

    pytorch-msssim's `ms_ssim` asserts that images are larger than 160 pixels whatever
    weights it is given, so the scale loop is repeated here around the same library's
    per-scale `_ssim` (identical to `ms_ssim` when five scales fit; see the tests).
    """
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    win = _fspecial_gauss_1d(win_size, SSIM_SIGMA).to(x.dtype).repeat(x.shape[1], 1, 1, 1)
    weights_tensor = x.new_tensor(weights)
    factors = []
    for scale in range(len(weights)):
        ssim_value, cs = _ssim(x, y, data_range=data_range, win=win, size_average=False, K=SSIM_K)
        if scale < len(weights) - 1:
            factors.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=padding)
            y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=padding)
    factors.append(torch.relu(ssim_value))
    return torch.prod(torch.stack(factors) ** weights_tensor.view(-1, 1, 1), dim=0).mean(1)


def masked_ms_ssim(a: ArrayLike, b: ArrayLike, mask: ArrayLike, win_size: int = 11, data_range: float = 1.0) -> float:
    """Xia et al.'s 'identity': MS-SSIM[mask * a, mask * b], mean over the slices the mask touches.

    `mask` marks the voxels to compare (for identity: foreground outside the lesion, i.e.
    (1 - m_p) restricted to the brain); both images are set to 0 elsewhere, as in the paper.
    Slices are 2D along z; MS-SSIM comes from pytorch-msssim (Gaussian window `win_size`,
    sigma 1.5, Wang et al.'s weights). Images too small for five scales use as many as fit
    (`ms_ssim_scales`) with the first weights renormalized to sum to 1. Returns `math.nan`
    when the mask is empty.
    """
    x = _as_slices(as_array(a, "identity image a"), "identity image a")
    y = _as_slices(as_array(b, "identity image b"), "identity image b")
    shape = same_shape({"identity image a": x, "identity image b": y})
    keep = as_mask(_as_slices(as_array(mask, "identity mask"), "identity mask"), "identity mask", shape)
    scales = ms_ssim_scales(shape[1], shape[2], win_size)
    if scales == 0:
        raise InputError("identity image a", f"slices of {shape[1]}x{shape[2]} pixels are smaller than the {win_size}-pixel MS-SSIM window")
    touched = keep.reshape(shape[0], -1).any(axis=1)
    if not touched.any():
        return math.nan
    weights = MS_SSIM_WEIGHTS
    if scales < len(MS_SSIM_WEIGHTS):
        kept = MS_SSIM_WEIGHTS[:scales]
        weights = tuple(w / sum(kept) for w in kept)
    x_masked = torch.from_numpy(np.where(keep, x, 0.0)[touched, None])
    y_masked = torch.from_numpy(np.where(keep, y, 0.0)[touched, None])
    with torch.no_grad():  # in chunks of slices, to bound memory on whole volumes
        values = [
            _ms_ssim_batch(x_masked[i : i + SLICES_PER_BATCH], y_masked[i : i + SLICES_PER_BATCH], weights, win_size, data_range)
            for i in range(0, len(x_masked), SLICES_PER_BATCH)
        ]
    return float(torch.cat(values).mean())
