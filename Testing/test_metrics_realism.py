"""Healthiness with a known segmentor, the classifier two-sample test and the Fréchet distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesiongan.errors import InputError
from lesiongan.metrics.healthiness import healthiness, lesion_pixels
from lesiongan.metrics.realism import c2st_accuracy, frechet_distance, image_features


def _bright_pixels(batch: torch.Tensor) -> torch.Tensor:
    """A stand-in segmentor: 'lesion' wherever the image is brighter than 0.9."""
    return (batch[:, :1] > 0.9).float()


def test_healthiness_counts_what_the_segmentor_still_finds() -> None:
    outputs = np.full((4, 1, 8, 8), 0.5)
    assert healthiness(outputs, _bright_pixels, mean_true_lesion_pixels=10) == 1.0
    outputs[0, 0, :2, :5] = 1.0  # 10 'lesion' pixels left in one of 4 images: mean 2.5
    assert lesion_pixels(outputs, _bright_pixels).tolist() == [10, 0, 0, 0]
    assert healthiness(outputs, _bright_pixels, mean_true_lesion_pixels=10) == pytest.approx(1 - 2.5 / 10)
    assert healthiness(outputs[:, 0], _bright_pixels, mean_true_lesion_pixels=5) == pytest.approx(0.5)
    with pytest.raises(InputError, match="mean_true_lesion_pixels"):
        healthiness(outputs, _bright_pixels, mean_true_lesion_pixels=0)


def _disks(n: int, rng: np.random.Generator) -> np.ndarray:
    """Bright disks of random centre, radius and intensity on a dark background, with noise."""
    yy, xx = np.mgrid[:32, :32]
    images = []
    for _ in range(n):
        cy, cx = rng.uniform(10, 22, 2)
        radius = rng.uniform(6, 10)
        disk = ((yy - cy) ** 2 + (xx - cx) ** 2 < radius**2) * rng.uniform(0.5, 0.9)
        images.append(np.clip(disk + rng.normal(0, 0.02, disk.shape), 0, 1))
    return np.array(images)


def test_c2st_is_chance_for_one_distribution_and_perfect_against_noise() -> None:
    rng = np.random.default_rng(0)
    real, other_real = _disks(100, rng), _disks(100, rng)
    assert 0.35 <= c2st_accuracy(real, other_real) <= 0.65
    assert c2st_accuracy(real, rng.random(real.shape)) >= 0.95
    with pytest.raises(InputError, match="fake"):
        c2st_accuracy(real, real[:, :16])


def test_frechet_distance_zero_for_the_same_set_and_growing_with_a_shift() -> None:
    rng = np.random.default_rng(1)
    real, other_real = _disks(40, rng), _disks(40, rng)
    features = image_features(real)
    assert features.shape == (40, 64)
    assert np.array_equal(features, image_features(real))  # fixed, seeded extractor
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    same_kind = frechet_distance(features, image_features(other_real))
    shifted = frechet_distance(features, image_features(np.clip(other_real + 0.2, 0, 1)))
    assert shifted > 10 * same_kind > 0
    plain = rng.normal(size=(200, 3))
    assert frechet_distance(plain, plain + [2.0, 0, 0]) == pytest.approx(4.0, rel=1e-6)
