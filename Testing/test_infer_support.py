"""Shared pieces of the inference tests (no tests here): a tiny registered generator whose
behaviour is known exactly, synthetic volumes, and a model file built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from lesiongan.data.volume import Volume
from lesiongan.infer.modelfile import save_model
from lesiongan.nets.registry import register


@register("test_ceiling_generator")
class CeilingGenerator(nn.Module):
    """Copies the image channels (an exact 1x1 identity convolution) and caps them at
    `ceiling` (network range): bright 'lesions' are removed, the rest is left alone.
    `ceiling=1` is the identity."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, extra_channels: int = 0,
                 ceiling: float = 1.0):
        super().__init__()
        self.ceiling = ceiling
        self.mix = nn.Conv2d(in_channels + extra_channels, out_channels, 1)
        with torch.no_grad():
            self.mix.weight.zero_()
            self.mix.bias.zero_()
            for channel in range(min(in_channels, out_channels)):
                self.mix.weight[channel, channel] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(x).clamp(max=self.ceiling)


def brain_volume(shape=(12, 20, 24), spacing=(1.0, 1.0, 2.0), direction=None, lesion=True,
                 seed=0) -> Volume:
    """An ellipsoid 'brain' (~300) on a zero background, with a bright blob (~1000), and two
    empty slices at each end of the z axis."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    inside = (z / 0.7) ** 2 + (y / 0.8) ** 2 + (x / 0.8) ** 2 < 1
    array = np.where(inside, 300 + 20 * rng.standard_normal(shape), 0).astype(np.float32)
    if lesion:
        blob = (z / 0.3) ** 2 + ((y - 0.2) / 0.3) ** 2 + ((x + 0.1) / 0.3) ** 2 < 1
        array[blob & inside] = 1000
    array[:2] = 0
    array[-2:] = 0
    return Volume(array, spacing, (10.0, -20.0, 5.0), direction or (1, 0, 0, 0, 1, 0, 0, 0, 1))


def write_model(path: Path, *, ceiling: float = 1.0, modalities=("flair",), extra_channels: int = 0,
                conventions: dict | None = None, role: str = "a2n", half: bool = False) -> Path:
    net = CeilingGenerator(len(modalities), len(modalities), extra_channels, ceiling)
    defaults = {"modalities": list(modalities), "orientation": "LPS", "axis": "axial", "spacing": None,
                "size": None, "normalization": {"kind": "mr", "options": {}}, "threshold": 0.1}
    defaults.update(conventions or {})
    return save_model(path, method="antgan", networks={role: net}, conventions=defaults,
                      provenance={"dataset": "synthetic", "iterations": 0}, half=half)
