"""ResNet generator of Johnson et al. as used by CycleGAN and ANT-GAN (Sun et al., Tables I-II).

Encoder (7x7 conv, two stride-2 3x3 convs), residual blocks, decoder (two stride-2 3x3
transposed convs, 7x7 conv, tanh). Channels follow the reference CycleGAN generator
(ngf, 2ngf, 4ngf, then 2ngf, ngf on the way up); Table I prints 256 channels after the first
transposed conv, which contradicts the paper's own statement that it adopts [14]'s network,
so we keep the reference. Instance norm without affine parameters, convs with biases, as in
the reference implementation.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register


class ResidualBlock(nn.Module):
    """Table II: reflection pad + 3x3 conv, IN, ReLU, reflection pad + 3x3 conv, IN; plus x."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def init_gan_weights(net: nn.Module, std: float = 0.02) -> None:
    """Conv weights from N(0, std), biases zero: the DCGAN/CycleGAN initialisation."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


@register("resnet_generator")
class ResnetGenerator(nn.Module):
    """Image-to-image generator; input and output in [-1, 1], any H and W divisible by 4.

    `shortcut` adds ANT-GAN's global skip: output = clamp(x + 2 tanh(r), -1, 1) where r is
    what the network computes. The last conv starts at zero, so a new shortcut generator is
    exactly the identity and learns only the change (the lesion); the factor 2 lets the
    residual reach any value in [-1, 1] from any input, and the clamp keeps the output in range.

    `extra_channels` are further inputs (e.g. a lesion mask for a reconstructor) that are
    read but not part of the image: the shortcut adds to the first `in_channels` only.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        ngf: int = 64,
        n_blocks: int = 9,
        shortcut: bool = False,
        extra_channels: int = 0,
    ):
        super().__init__()
        if shortcut and in_channels != out_channels:
            raise ValueError(f"a shortcut generator needs in_channels == out_channels, not {in_channels} and {out_channels}")
        self.in_channels, self.out_channels, self.shortcut = in_channels, out_channels, shortcut
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels + extra_channels, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
        ]
        for factor in (1, 2):  # Conv2, Conv3: stride-2 down to 4 ngf
            layers += [
                nn.Conv2d(ngf * factor, ngf * factor * 2, 3, stride=2, padding=1),
                nn.InstanceNorm2d(ngf * factor * 2),
                nn.ReLU(True),
            ]
        layers += [ResidualBlock(ngf * 4) for _ in range(n_blocks)]
        for factor in (4, 2):  # Deconv1, Deconv2: stride-2 back to ngf
            layers += [
                nn.ConvTranspose2d(ngf * factor, ngf * factor // 2, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(ngf * factor // 2),
                nn.ReLU(True),
            ]
        self.last = nn.Conv2d(ngf, out_channels, 7)
        layers += [nn.ReflectionPad2d(3), self.last]
        self.body = nn.Sequential(*layers)
        init_gan_weights(self)
        if shortcut:
            nn.init.zeros_(self.last.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.body(x)
        if not self.shortcut:
            return torch.tanh(r)
        return torch.clamp(x[:, : self.in_channels] + 2 * torch.tanh(r), -1.0, 1.0)
