"""New images from noise with a DCGAN/WGAN generator (Han et al.): role `noise` of a model file."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from ..device import resolve_device
from ..infer.modelfile import ModelFile
from ..nets import from_net
from ..nets.registry import network_spec

NOISE_ROLE = "noise"


def sample_images(model: ModelFile, count: int, seed: int = 0, device: str = "auto") -> np.ndarray:
    """(count, C, H, W) float32 images in [0, 1] from `count` seeded latent vectors.

    The latent vectors are drawn on the CPU, so a seed gives the same images on any device.
    """
    if not isinstance(count, (int, np.integer)) or count < 1:
        raise InputError("image count", f"must be an integer >= 1, got {count!r}")
    target = resolve_device(device)
    net = model.network(NOISE_ROLE, target)
    latent = int(network_spec(net)["kwargs"].get("latent_dim", 100))
    generator = torch.Generator().manual_seed(int(seed))
    z = torch.randn(int(count), latent, generator=generator)
    with torch.inference_mode():
        images = net(z.to(target)).float().clamp(-1.0, 1.0)  # the paper's generator has no tanh
    return from_net(images).cpu().numpy().astype(np.float32)
