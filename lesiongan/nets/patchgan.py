"""PatchGAN discriminator (Isola et al.) as in ANT-GAN's Table III.

4x4 convs with strides 2, 2, 2, 1, 1; LeakyReLU 0.2; instance norm on all but the first and
the last. The stride-1 convs keep the size ('same' padding), so a 240x240 slice gives the
paper's 30x30 map. Table III keeps 4 ndf channels in the stride-1 conv (the reference
CycleGAN doubles to 8 ndf there); we follow the table.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register
from .resnet import init_gan_weights

# An even kernel needs uneven padding to keep the size: 1 before, 2 after (as padding="same").
_SAME_4X4 = (1, 2, 1, 2)


@register("patch_discriminator")
class PatchDiscriminator(nn.Module):
    """(N, C, H, W) in [-1, 1] -> (N, 1, H / 2**n_layers, W / 2**n_layers) real/fake scores."""

    def __init__(self, in_channels: int = 1, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        channels = ndf
        for n in range(1, n_layers):
            out = ndf * min(2**n, 8)
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.InstanceNorm2d(out), nn.LeakyReLU(0.2, True)]
            channels = out
        layers += [
            nn.ZeroPad2d(_SAME_4X4),
            nn.Conv2d(channels, channels, 4),
            nn.InstanceNorm2d(channels),
            nn.LeakyReLU(0.2, True),
            nn.ZeroPad2d(_SAME_4X4),
            nn.Conv2d(channels, 1, 4),
        ]
        self.body = nn.Sequential(*layers)
        init_gan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
