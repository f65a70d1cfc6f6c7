"""Realism of synthesized images: a classifier two-sample test and an FID-style distance.

C2ST (Lopez-Paz and Oquab, 2017; proposed for brain MR GANs by Han et al.): train a
classifier to tell real from synthetic images and report its accuracy on held-out images;
about 0.5 means the two sets cannot be told apart, 1.0 that they always can. It is the
computational counterpart of the Visual Turing Test.

`frechet_distance` is the Fréchet distance between Gaussians fitted to image features, as
in FID; the features here come from `image_features`, a fixed, seeded random convolutional
network that needs no download. The numbers are 'FID-style': comparable with each other,
not with Inception-FID values in the literature.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg

from ..errors import InputError
from .arrays import ArrayLike, as_array

C2ST_SIZE = 16  # images are averaged down to 16x16 pixels before the classifier
FEATURE_CHANNELS = (16, 32, 64)


def _images(images: ArrayLike, name: str) -> torch.Tensor:
    """(N, C, H, W) float32 from (N, H, W) or (N, C, H, W)."""
    array = torch.from_numpy(as_array(images, name).astype(np.float32))
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4:
        raise InputError(name, f"has shape {tuple(array.shape)}; expected (N, H, W) or (N, C, H, W)")
    return array


def c2st_accuracy(real: ArrayLike, fake: ArrayLike, seed: int = 0, test_fraction: float = 0.5) -> float:
    """Held-out accuracy of a logistic regression telling `real` from `fake` images.

    Images are averaged down to 16x16 (low frequencies are where GAN artefacts and
    intensity shifts show, and few features keep a small sample from being overfitted),
    standardized, and split stratified into train and test halves with `seed`.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    a, b = _images(real, "c2st real images"), _images(fake, "c2st fake images")
    if a.shape[1:] != b.shape[1:]:
        raise InputError("c2st fake images", f"are {tuple(b.shape[1:])}, the real ones {tuple(a.shape[1:])}")
    for name, group in (("c2st real images", a), ("c2st fake images", b)):
        if len(group) < 4:
            raise InputError(name, f"has {len(group)} images; at least 4 are needed to train and test")
    pooled = torch.nn.functional.adaptive_avg_pool2d(torch.cat([a, b]), C2ST_SIZE)
    features = pooled.reshape(len(pooled), -1).numpy()
    labels = np.r_[np.zeros(len(a), int), np.ones(len(b), int)]
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=test_fraction, stratify=labels, random_state=seed)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    classifier.fit(x_train, y_train)
    return float(classifier.score(x_test, y_test))


def image_features(images: ArrayLike, seed: int = 0) -> np.ndarray:
    """(N, 64) features of (N, [C,] H, W) images from a fixed random conv net (seeded, no download).

    Three 3x3 stride-2 convolutions with ReLU, then global average pooling: random
    convolutional features respond to local texture and contrast, which is what an
    intensity change or a GAN artefact alters.
    """
    x = _images(images, "feature images")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        channels = x.shape[1]
        for width in FEATURE_CHANNELS:
            weight = torch.randn(width, channels, 3, 3, generator=generator) / (3 * channels**0.5)
            x = torch.relu(torch.nn.functional.conv2d(x, weight, stride=2, padding=1))
            channels = width
        return x.mean(dim=(2, 3)).double().numpy()


def frechet_distance(features_a: ArrayLike, features_b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two (N, D) feature sets.

    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), with scipy's `sqrtm`; a tiny
    diagonal offset is added when the product is singular (few samples), as pytorch-fid does.
    """
    a, b = as_array(features_a, "features a"), as_array(features_b, "features b")
    for name, f in (("features a", a), ("features b", b)):
        if f.ndim != 2 or len(f) < 2:
            raise InputError(name, f"has shape {f.shape}; expected (N, D) with N >= 2")
    if a.shape[1] != b.shape[1]:
        raise InputError("features b", f"has {b.shape[1]} features per sample, features a has {a.shape[1]}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # singular products are expected with few samples
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
        if not np.all(np.isfinite(root)):
            offset = np.eye(len(cov_a)) * 1e-6
            root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    root = np.real(root)  # rounding leaves a negligible imaginary part
    distance = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))
    return max(distance, 0.0)
