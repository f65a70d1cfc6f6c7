"""DCGAN-style generator and discriminator/critic for whole slices from noise (Han et al. 2018).

The paper uses the DCGAN architecture (Radford et al.) with all filters 4x4, half the channel
widths (ngf = ndf = 32), no tanh at the generator's end and ELU in the discriminator, at
64x64 and 128x128; WGAN uses the same networks. 128 px adds one up/down-sampling stage.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .registry import register

SIZES = (32, 64, 128, 256)  # 64 and 128 are the paper's; 32 keeps tests small


def _stages(size: int) -> int:
    """Number of stride-2 stages between a 4x4 map and `size`."""
    if size not in SIZES:
        raise ValueError(f"image size must be one of {SIZES}, got {size}")
    return int(math.log2(size)) - 2


@register("noise_generator")
class NoiseGenerator(nn.Module):
    """z (N, latent_dim) -> slice (N, out_channels, size, size).

    ConvT 4x4 from 1x1 to 4x4, then stride-2 ConvT 4x4 stages with batch norm and ReLU,
    halving widths down to ngf. `out_activation` "none" is the paper's (no tanh); "tanh"
    bounds the output to the network range [-1, 1].
    """

    def __init__(self, latent_dim: int = 100, out_channels: int = 1, size: int = 64, ngf: int = 32, out_activation: str = "none"):
        super().__init__()
        if out_activation not in ("none", "tanh"):
            raise ValueError(f"out_activation must be 'none' or 'tanh', got {out_activation!r}")
        self.latent_dim = latent_dim
        stages = _stages(size)
        widths = [ngf * 2 ** (stages - 1 - i) for i in range(stages)]  # e.g. 256, 128, 64, 32 at 64 px
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        layers.append(nn.ConvTranspose2d(widths[-1], out_channels, 4, 2, 1))
        if out_activation == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.net(z)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # GroupNorm with one group normalizes over (C, H, W) per sample, as WGAN-GP asks
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {kind!r}")


@register("noise_discriminator")
class NoiseDiscriminator(nn.Module):
    """slice (N, in_channels, size, size) -> one raw score per sample (N,).

    Stride-2 conv 4x4 stages widening from ndf down to a 4x4 map, then a 4x4 conv to 1x1.
    No sigmoid: DCGAN applies it inside its loss, a WGAN critic needs the raw score.
    `norm` "batch" is DCGAN's; WGAN-GP needs per-sample normalization ("layer" or "none").
    """

    def __init__(self, in_channels: int = 1, size: int = 64, ndf: int = 32, activation: str = "elu", norm: str = "batch"):
        super().__init__()
        acts = {"elu": lambda: nn.ELU(inplace=True), "leaky": lambda: nn.LeakyReLU(0.2, inplace=True)}
        if activation not in acts:
            raise ValueError(f"activation must be one of {sorted(acts)}, got {activation!r}")
        stages = _stages(size)
        widths = [ndf * 2**i for i in range(stages)]  # e.g. 32, 64, 128, 256 at 64 px
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1), acts[activation]()]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=norm == "none"), _norm(norm, cout), acts[activation]()]
        layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()
