"""Two other anomaly maps of a gated generator, scored by the project's own commands.

`lesiongan calibrate` and `lesiongan evaluate` run with the network the engine calls replaced
for the run by one of:
- `gate`: the gate's sigmoid as the change (so the map is the gate, the model's own
  probability that it replaced a voxel) instead of |x - G(x)|;
- `flip`: the mean of G(x) and the mirror of G(mirror(x)) (left-right test-time averaging,
  twice the inference time).

    .venv/bin/python scripts/map_variants.py flip calibrate --model M --data val --out m.pt --smooth-mm 1 --min-size 20
    .venv/bin/python scripts/map_variants.py flip evaluate --model m.pt --data test-id --split all --segmentor none --out e

docs/ablation.md keeps what they scored. The override lives here, not in the engine: neither
variant was kept.
"""

from __future__ import annotations

import sys

import torch

from lesiongan.cli import main
from lesiongan.infer import engine


class MapVariant(torch.nn.Module):
    def __init__(self, net: torch.nn.Module, variant: str):
        super().__init__()
        self.net, self.variant = net, variant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.variant == "flip":
            return (self.net(x) + self.net(x.flip(-1)).flip(-1)) / 2
        _, logits = self.net(x, with_gate=True)
        return x[:, : self.net.in_channels] + 2 * torch.sigmoid(logits)  # the engine halves the network's range


VARIANTS = ("gate", "flip")

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in VARIANTS:
        sys.exit(f"usage: map_variants.py {{{','.join(VARIANTS)}}} calibrate|evaluate ...")
    variant, forward_slices = sys.argv[1], engine._forward_slices
    engine._forward_slices = lambda net, *args, **kwargs: forward_slices(MapVariant(net, variant), *args, **kwargs)
    sys.exit(main(sys.argv[2:]))
