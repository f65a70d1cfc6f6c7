"""Xia et al.'s 'healthiness' of pseudo-healthy images, judged by a pretrained segmentor.

h = 1 - E[N(f(G(x_p)))] / E[N(m_p)]: the mean number of lesion pixels the segmentor f still
finds in the outputs, over the mean number of true lesion pixels per image. 1 means no
lesion is found; it falls below 0 when more is found than there was.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..errors import InputError
from .arrays import ArrayLike, as_array

# A CPU float32 (N, C, H, W) batch of [0, 1] images -> lesion probabilities (a GPU segmentor moves the batch itself).
Segmentor = Callable[[torch.Tensor], torch.Tensor]
BATCH_SIZE = 16


def _as_batch(outputs: ArrayLike) -> torch.Tensor:
    images = torch.from_numpy(as_array(outputs, "healthiness outputs").astype(np.float32))
    if images.ndim == 3:  # (N, H, W) slices: one channel
        images = images[:, None]
    if images.ndim != 4:
        raise InputError("healthiness outputs", f"has shape {tuple(images.shape)}; expected (N, C, H, W) or (N, H, W)")
    return images


def segment(images: ArrayLike, segmentor: Segmentor) -> torch.Tensor:
    """`segmentor`'s lesion probabilities (N, H, W) for (N, C, H, W) or (N, H, W) images in
    [0, 1], in batches of BATCH_SIZE, without gradients, in the mode the caller left it in."""
    batches = _as_batch(images)
    maps = []
    with torch.no_grad():
        for start in range(0, len(batches), BATCH_SIZE):
            batch = batches[start : start + BATCH_SIZE]
            probability = segmentor(batch)
            if probability.shape[0] != len(batch):
                raise InputError("segmentor", f"returned {probability.shape[0]} maps for {len(batch)} images")
            maps.append(probability.reshape(len(batch), *batch.shape[-2:]).float().cpu())
    return torch.cat(maps) if maps else torch.zeros(0)


def lesion_pixels(outputs: ArrayLike, segmentor: Segmentor, threshold: float = 0.5) -> np.ndarray:
    """Pixels per image that `segmentor` labels lesion (probability > threshold).

    `segmentor` maps a float32 (N, C, H, W) batch of [0, 1] images to lesion probabilities
    (N, 1, H, W) or (N, H, W).
    """
    probabilities = segment(outputs, segmentor)
    return (probabilities.reshape(len(probabilities), -1) > threshold).sum(dim=1).numpy()


def healthiness(outputs: ArrayLike, segmentor: Segmentor, mean_true_lesion_pixels: float, threshold: float = 0.5) -> float:
    """1 - (mean lesion pixels `segmentor` finds per output image) / `mean_true_lesion_pixels`.

    `outputs` are the pseudo-healthy images of pathological inputs, (N, C, H, W) or (N, H, W)
    in [0, 1]; `mean_true_lesion_pixels` is the mean lesion size of the true masks per image.
    """
    if not (mean_true_lesion_pixels > 0 and math.isfinite(mean_true_lesion_pixels)):
        raise InputError("mean_true_lesion_pixels", f"is {mean_true_lesion_pixels}; it must be a positive number")
    found = lesion_pixels(outputs, segmentor, threshold)
    return 1.0 - float(found.mean()) / float(mean_true_lesion_pixels)
