"""A small VGG-like slice classifier (ANT-GAN Sec. IV-C's Plain-VGG / ANT-VGG, Table VI, and the
lesion identifier of Table VII): does a slice contain a lesion?

Blocks of two 3x3 convs (batch norm, ReLU) and a 2x2 max pool, widths doubling per block, then
global average pooling and one linear layer. Global pooling makes it work at any slice size,
so the same network serves the 32x32 phantom and 240x240 BraTS slices.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register


def _vgg_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(True),
        nn.MaxPool2d(2),
    )


@register("vgg_classifier")
class VGGClassifier(nn.Module):
    """(N, C, H, W) in [-1, 1] -> (N,) logits of 'the slice has a lesion'."""

    def __init__(self, in_channels: int = 1, width: int = 16, depth: int = 3):
        super().__init__()
        widths = [width * 2**level for level in range(depth)]
        blocks = [_vgg_block(cin, cout) for cin, cout in zip([in_channels, *widths[:-1]], widths)]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(widths[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3))
        return self.head(pooled).squeeze(1)
