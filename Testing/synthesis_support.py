"""Shared pieces of the lesion-synthesis tests (no tests here): a small brain-like volume with
dark central ventricles, and tiny untrained models of each painting kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lesiongan.data.volume import Volume
from lesiongan.infer.modelfile import save_model
from lesiongan.nets import build_network

CONVENTIONS = {"modalities": ["flair"], "orientation": "LPS", "axis": "axial",
               "normalization": {"kind": "mr", "options": {}}}


def brain_with_ventricles(shape=(10, 32, 30), spacing=(2.0, 2.0, 3.0), seed=0) -> tuple[Volume, np.ndarray]:
    """(volume, ventricles): an ellipsoid 'brain' (~400) on zero with a dark (~60) central
    ellipsoid 'ventricle'; the ventricle mask is the truth."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    brain = (z / 0.95) ** 2 + (y / 0.9) ** 2 + (x / 0.9) ** 2 < 1
    ventricles = (z / 0.35) ** 2 + (y / 0.3) ** 2 + (x / 0.15) ** 2 < 1
    array = np.where(brain, 400 + 15 * rng.standard_normal(shape), 0)
    array[ventricles] = 60 + 5 * rng.standard_normal(int(ventricles.sum()))
    return Volume(array.astype(np.float32), spacing, (5.0, -3.0, 2.0), (1, 0, 0, 0, 1, 0, 0, 0, 1)), ventricles


def write_painting_model(path: Path, role: str = "reconstructor") -> Path:
    """A tiny untrained reconstructor (factorization) or n2a (ANT-GAN) model: it changes every pixel."""
    torch.manual_seed(0)
    if role == "reconstructor":
        net = build_network("factor_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1, extra_channels=1)
        method = "phs-paired"
    else:
        net = build_network("resnet_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1)
        method = "antgan"
    return save_model(path, method=method, networks={role: net}, conventions=CONVENTIONS, provenance={})


def write_noise_model(path: Path, latent_dim: int = 8) -> Path:
    torch.manual_seed(0)
    net = build_network("noise_generator", latent_dim=latent_dim, size=32, ngf=4)
    return save_model(path, method="wgan", networks={"noise": net},
                      conventions={"modalities": ["flair"], "size": 32}, provenance={})
