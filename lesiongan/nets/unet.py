"""Networks of pathology factorization (Xia, Chartsias, Tsaftaris, MIDL 2019, Appendix A).

- `FactorGenerator`: Table 2 (generator G) and Table 3 (reconstructor R, which takes the
  image and the mask as two input channels).
- `ResidualUNet`: the segmentor S, a U-Net (Ronneberger et al.) with leaky ReLU and a
  residual connection on each level.
- `FactorDiscriminator`: Table 4 (D_x on images, D_m on masks).

Images enter and leave in [-1, 1] (the project's network range), so the generators end in
tanh where the paper's Keras code ended in sigmoid on [0, 1]. Masks are in [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register

LEAK = 0.2


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad H and W (bottom/right, replicating the border) up to a multiple; return the original size."""
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x, (height, width)


def _conv_in_act(cin: int, cout: int, kernel: int, stride: int = 1, act: nn.Module | None = None) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2),
        nn.InstanceNorm2d(cout, affine=True),
        act if act is not None else nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 conv + IN with leaky ReLU, added to the input and then leaky ReLU: Table 2's
    residual block (`cin` == `cout`) and a U-Net level of S, whose input a 1x1 convolution
    projects to `cout` channels when they differ."""

    def __init__(self, cin: int, cout: int | None = None):
        super().__init__()
        cout = cin if cout is None else cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.InstanceNorm2d(cout, affine=True),
            nn.LeakyReLU(LEAK, inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.InstanceNorm2d(cout, affine=True),
        )
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.act = nn.LeakyReLU(LEAK, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.skip(x) + self.body(x))


@register("factor_generator")
class FactorGenerator(nn.Module):
    """G (C image channels) and R (C image channels plus `extra_channels` = 1 mask) of Tables 2 and 3.

    conv7 -> two stride-2 conv3 -> `n_blocks` residual blocks -> two (upsample, conv3) -> conv3.
    Widths ngf, 2 ngf, 4 ngf (32, 64, 128 in the paper). Any H, W: padded to a multiple of 4
    and cropped back.
    """

    def __init__(self, in_channels: int, out_channels: int, ngf: int = 32, n_blocks: int = 6, extra_channels: int = 0):
        super().__init__()
        self.in_channels = in_channels + extra_channels
        self.net = nn.Sequential(
            _conv_in_act(in_channels + extra_channels, ngf, 7),
            _conv_in_act(ngf, 2 * ngf, 3, stride=2),
            _conv_in_act(2 * ngf, 4 * ngf, 3, stride=2),
            *[ResidualBlock(4 * ngf) for _ in range(n_blocks)],
            nn.Upsample(scale_factor=2, mode="nearest"),
            _conv_in_act(4 * ngf, 2 * ngf, 3),
            nn.Upsample(scale_factor=2, mode="nearest"),
            _conv_in_act(2 * ngf, ngf, 3),
            nn.Conv2d(ngf, out_channels, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """`x` in [-1, 1]; for R pass the mask ([0, 1], one channel) as `mask`."""
        if mask is not None:
            x = torch.cat([x, mask.to(x.dtype)], dim=1)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"FactorGenerator expects {self.in_channels} input channels, got {x.shape[1]}")
        padded, (height, width) = pad_to_multiple(x, 4)
        return self.net(padded)[..., :height, :width]


@register("residual_unet")
class ResidualUNet(nn.Module):
    """Segmentor S: U-Net with `depth` poolings, widths base * 2**level, leaky ReLU, residual levels.

    Takes an image in [-1, 1], gives a lesion probability map in [0, 1] (sigmoid).
    Any H, W: padded to a multiple of 2**depth and cropped back.
    """

    def __init__(self, in_channels: int, out_channels: int = 1, base: int = 64, depth: int = 4):
        super().__init__()
        widths = [base * 2**level for level in range(depth + 1)]
        self.depth = depth
        self.down = nn.ModuleList([ResidualBlock(in_channels, widths[0])])
        self.down.extend(ResidualBlock(widths[i], widths[i + 1]) for i in range(depth))
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth)))
        self.up = nn.ModuleList(ResidualBlock(2 * widths[i], widths[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    @property
    def min_size(self) -> int:
        """The smallest slice side it takes: its deepest level must keep more than one pixel
        for instance norm."""
        return 2**self.depth + 1

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The head's output before any activation, on x's H and W."""
        x, (height, width) = pad_to_multiple(x, 2**self.depth)
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for upsample, block in zip(self.upsample, self.up):
            x = block(torch.cat([upsample(x), skips.pop()], dim=1))
        return self.head(x)[..., :height, :width]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.residual(x))


@register("factor_discriminator")
class FactorDiscriminator(nn.Module):
    """D_x / D_m of Table 4: four stride-2 conv4 (widths ndf, 4 ndf, 8 ndf, 16 ndf = 32, 128,
    256, 512), IN and leaky ReLU on each, then a stride-1 conv4 to one channel and a sigmoid.
    208x160 in gives a 13x10 patch map, as in the table."""

    def __init__(self, in_channels: int, ndf: int = 32):
        super().__init__()
        widths = [in_channels, ndf, 4 * ndf, 8 * ndf, 16 * ndf]
        layers: list[nn.Module] = []
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(LEAK, inplace=True)]
        # Keras 'same' padding (1 before, 2 after) of the last stride-1 layer keeps the 13x10 map.
        layers += [nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(widths[-1], 1, 4, stride=1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register("unet_generator")
class ShortcutUNet(ResidualUNet):
    """Image-to-image U-Net with ANT-GAN's global shortcut: output = clamp(x + 2 tanh(r), -1, 1).

    The U-Net's skips carry full-resolution detail to the output, where the ResNet generator
    rebuilds it from a 4x downsampled code; for an output that must equal its input outside
    the lesion, that is most of the job. The head starts at zero, so a new generator is the
    identity (as `ResnetGenerator(shortcut=True)`). `extra_channels` are further inputs (a
    reconstructor's lesion mask) that are read but not part of the image.

    `gated`: one more head channel, a gate g = sigmoid(logit) in [0, 1] that says where the
    change goes: output = clamp(x + g * 2 tanh(r), -1, 1). Trained against the lesion mask,
    the gate keeps healthy tissue exactly as it came in, so the difference map is clean
    outside lesions and a dark lesion is found as readily as a bright one; `forward(x,
    with_gate=True)` also returns the gate's logits for that loss.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, base: int = 32, depth: int = 4,
                 extra_channels: int = 0, gated: bool = False):
        if in_channels != out_channels:
            raise ValueError(f"a shortcut generator needs in_channels == out_channels, not {in_channels} and {out_channels}")
        super().__init__(in_channels + extra_channels, out_channels + int(gated), base, depth)
        self.in_channels = in_channels
        self.gated = gated
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, with_gate: bool = False) -> Any:
        head = self.residual(x)
        change = 2 * torch.tanh(head[:, : self.in_channels])
        gate_logits = head[:, self.in_channels :] if self.gated else None
        if gate_logits is not None:
            change = torch.sigmoid(gate_logits) * change
        output = torch.clamp(x[:, : self.in_channels] + change, -1.0, 1.0)
        return (output, gate_logits) if with_gate else output

    def load_narrower(self, source: "ShortcutUNet") -> None:
        """Start from `source`, the same generator on the first of this one's image channels
        (a FLAIR model widened to FLAIR, T1, T2, T1ce): its weights copied, the new channels'
        inputs and outputs zero, so this network at first gives `source`'s output on those
        channels, the other channels unchanged, and the same gate."""
        narrow, wide, extra = source.in_channels, self.in_channels, self.spec["kwargs"]["extra_channels"]
        expected = {**self.spec["kwargs"], "in_channels": narrow, "out_channels": narrow}
        if source.spec["kwargs"] != expected or narrow >= wide:
            raise ValueError(f"cannot widen a {source.spec['kwargs']} generator to {self.spec['kwargs']}")
        state, own = source.state_dict(), self.state_dict()
        inputs = [*range(narrow), *range(wide, wide + extra)]  # image channels, then the extra ones
        outputs = [*range(narrow), *range(wide, wide + int(self.gated))]  # changes, then the gate
        for name in ("down.0.body.0.weight", "down.0.skip.weight"):
            widened = torch.zeros_like(own[name])
            widened[:, inputs] = state[name]
            state[name] = widened
        for name in ("head.weight", "head.bias"):
            widened = torch.zeros_like(own[name])
            widened[outputs] = state[name]
            state[name] = widened
        self.load_state_dict(state)
