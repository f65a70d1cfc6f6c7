"""Random variations of training slices that keep a lesion slice, its mask and its healthy
twin aligned, so one phantom case teaches many lesion and tissue appearances.

A generator trained on a few dozen phantom cases learns those cases' lesions: it finds them
again on their own slices and misses a new case's lesion of another brightness. Three
variations, each drawn per slice and applied alike to every tensor of that slice:

- **lesion contrast**: the lesion slice becomes twin + a * (lesion - twin). |a| in
  `lesion_scale` makes a lesion fainter or stronger; a negative a (with probability
  `darken`) turns a lesion brighter than its surroundings into a darker one of the same shape
  and vice versa. Only slices with a twin get it (the twin says what the lesion added).
- **tissue contrast**: an intensity curve v -> gain * v ** gamma inside the brain (v > 0;
  outside stays 0), as the phantom's own acquisition draws, so the contrast between tissues
  varies beyond the phantom's profiles.
- **synthetic lesions** (`synthetic`): with that probability a lesion slice's lesion is
  replaced by new ones painted into its twin: 1-6 blobs of random size, elongation, rough
  outline, soft or sharp edge and texture, half of them with a fainter edema-like halo,
  each as bright or dark as the phantom's lesions (times the slice's median brain
  intensity), anywhere in the brain. The phantom has a few
  hundred lesions; a model that sees only those learns them, not what a lesion is. Fresh
  shapes and places every step are how the unsupervised anomaly-detection work (FPI, NSA)
  teaches a detector anomalies it has never seen, and the twin says exactly what was painted.
- **random contrast** (`contrast`): with that probability a slice's healthy tissue goes
  through a random piecewise-linear curve (`contrast_knots` knots, each drawn in [0.05, 1],
  blended with the identity by a random weight), which may reverse the order of two
  tissues, as SynthSeg draws any contrast. On a slice with a twin the curve reshapes the twin
  and the lesion rides on it unchanged (lesion = curve(twin) + (lesion - twin)), so the lesion
  stays as distinct from its surroundings as it was; a healthy slice is reshaped whole. A
  lesion slice without a twin is left alone: nothing says which intensities are the lesion.
- **bias fields** (`bias`): with that probability a slice is multiplied by a smooth random
  field exp(a * f), f in [-1, 1] over a 3-4 node grid, a up to `bias_strength` (one field
  per sequence, the same in every tensor of the slice). The phantom's 3D field is one smooth
  draw per case; a generator that has seen a few hundred of them takes a strongly shaded
  region of healthy tissue (a bright cerebellar hemisphere) for a lesion and darkens it.
- **left-right flip**: the brain is near-symmetric, so a flip is another plausible brain with
  the lesion on the other side.
- **geometry** (`geometry`): with that probability a slice is rotated (up to `rotation`
  degrees), scaled (`scale`, log-uniform), stretched along a random axis (`stretch`) and
  shifted (`shift`, of the slice's width), one in-plane affine map for every tensor of the
  slice (the mask resampled to its nearest pixel, so it stays binary). The phantom deforms
  its one anatomy per case; a few hundred cases are a few hundred head shapes, sizes and
  positions, and a generator that has learned those marks a new head's unusual fold. The
  same map for the lesion and its twin keeps what the lesion added exactly where the mask says.
- **missing modalities** (`drop_modalities`, multi-modal models): with that probability a
  slice loses some of its channels after the first (each with probability 0.7), set to 0 in
  every tensor of the slice, so the model also works when a case lacks a sequence (the
  engine then passes that channel as 0).

The lesion and tissue draws are per slice and per channel: a lesion bright in one sequence
may be faint or dark in another, as real lesions are.

Tensors are (N, C, H, W) in [0, 1] (data intensities, before `nets.to_net`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError


@dataclass(frozen=True)
class SliceAugmentation:
    lesion_scale: tuple[float, float] = (0.5, 1.3)  # |a|
    darken: float = 0.35  # probability that a < 0
    gamma: tuple[float, float] = (0.7, 1.4)  # log-uniform
    gain: tuple[float, float] = (0.85, 1.15)
    flip: float = 0.5
    drop_modalities: float = 0.0
    drop_each: float = 0.7
    synthetic: float = 0.0
    bias: float = 0.0
    bias_strength: tuple[float, float] = (0.05, 0.4)  # log-amplitude a, uniform
    contrast: float = 0.0
    contrast_knots: int = 8
    synthetic_count: tuple[int, int] = (1, 6)
    synthetic_radius: tuple[float, float] = (0.02, 0.18)  # of the slice's width, log-uniform
    bright_factor: tuple[float, float] = (1.2, 2.4)  # times the median brain intensity
    dark_factor: tuple[float, float] = (0.3, 0.8)
    geometry: float = 0.0
    rotation: float = 15.0  # degrees, either way
    scale: tuple[float, float] = (0.85, 1.15)  # log-uniform
    stretch: tuple[float, float] = (0.9, 1.1)  # one axis against the other, log-uniform
    shift: float = 0.05  # of the slice's width, either way

    def __post_init__(self) -> None:
        for name in ("darken", "flip", "drop_modalities", "drop_each", "synthetic", "bias", "contrast", "geometry"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(name, f"is a probability in [0, 1], got {getattr(self, name)!r}")

    @staticmethod
    def _uniform(shape: tuple[int, ...], bounds: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
        low, high = bounds
        return low + (high - low) * torch.rand(*shape, 1, 1, generator=generator)

    def lesion_pairs(self, lesion: torch.Tensor, twin: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """`lesion` with each slice's lesion contrast rescaled (and perhaps reversed) against its twin."""
        shape = lesion.shape[:2]
        scale = self._uniform(shape, self.lesion_scale, generator)
        sign = torch.where(torch.rand(*shape, 1, 1, generator=generator) < self.darken, -1.0, 1.0)
        scaled = twin + (sign * scale).to(lesion) * (lesion - twin)
        # Outside the brain both are 0 and stay so; inside, a reversed lesion must not leave the range.
        return torch.where((lesion > 0) | (twin > 0), scaled.clamp(0.0, 1.0), lesion)

    @staticmethod
    def _log_uniform(shape: tuple[int, ...], bounds: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
        low, high = (math.log(b) for b in bounds)
        return torch.exp(low + (high - low) * torch.rand(*shape, generator=generator))

    @staticmethod
    def _smooth_noise(size: tuple[int, int], nodes: int, generator: torch.Generator) -> torch.Tensor:
        """A smooth random field in about [0, 1]: `nodes` x `nodes` uniform draws, upsampled.
        Not the phantom's `smooth_field`: that one draws from numpy, and these draws must come
        from the torch generator whose state the training checkpoints keep."""
        coarse = torch.rand(1, 1, nodes, nodes, generator=generator)
        return F.interpolate(coarse, size=size, mode="bilinear", align_corners=True)[0, 0]

    def _blobs(self, brain: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft weights in [0, 1] of a few random blobs centred in `brain` (H, W), 0 outside
        it, and of the halo around each (an edema-like rim 1.2-2 times as wide; zero for half
        of the blobs)."""
        h, w = brain.shape
        centres = brain.nonzero()
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
        low, high = self.synthetic_count
        count = int(torch.randint(low, high + 1, (1,), generator=generator))
        # More blobs, smaller ones: the largest radius shrinks as 1 / sqrt(count).
        r_low, r_high = (math.log(b * w / count ** 0.5) for b in self.synthetic_radius)
        weight, halo = torch.zeros(h, w), torch.zeros(h, w)
        for _ in range(count):
            cy, cx = centres[int(torch.randint(len(centres), (1,), generator=generator))].tolist()
            position, elongation, angle, sharpness, rim = torch.rand(5, generator=generator).tolist()
            radius = max(math.exp(r_low + (r_high - r_low) * position), 1.0)
            ry, rx = radius, radius * (0.5 + 0.5 * elongation)
            cos, sin = math.cos(angle * math.pi), math.sin(angle * math.pi)
            u, v = cos * (ys - cy) + sin * (xs - cx), -sin * (ys - cy) + cos * (xs - cx)
            distance = torch.sqrt((u / ry) ** 2 + (v / rx) ** 2)
            distance = distance * (0.7 + 0.6 * self._smooth_noise((h, w), 6, generator))  # rough outline
            weight = torch.maximum(weight, torch.sigmoid((1.0 - distance) * (3.0 + 9.0 * sharpness) * 2))
            if rim < 0.5:
                halo = torch.maximum(halo, torch.sigmoid((1.0 - distance / (1.2 + 1.6 * rim)) * 6.0))
        return weight * brain, halo * brain

    def synthetic_lesions(self, lesion: torch.Tensor, mask: torch.Tensor, twin: torch.Tensor,
                          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """`lesion` and `mask` with the lesion of some slices replaced by new ones painted into the twin."""
        n, channels, h, w = twin.shape
        chosen = (torch.rand(n, generator=generator) < self.synthetic).nonzero().flatten().tolist()
        if not chosen:
            return lesion, mask
        lesion, mask = lesion.clone(), mask.clone()
        for i in chosen:
            healthy = twin[i].detach().float().cpu()
            brain = healthy[0] > 0
            if brain.sum() < 16:
                continue
            weight, halo = self._blobs(brain, generator)
            if not (weight > 0.5).any():
                continue
            # Per sequence, as the phantom's lesions: bright in one may be dark in another.
            dark = torch.rand(channels, generator=generator) < self.darken
            factors = torch.where(dark, self._uniform((channels,), self.dark_factor, generator)[:, 0, 0],
                                  self._uniform((channels,), self.bright_factor, generator)[:, 0, 0])
            median = torch.stack([c[brain].median() for c in healthy])
            rim_share = 0.3 + 0.4 * torch.rand(channels, generator=generator)  # the halo's share of the contrast
            texture = 0.85 + 0.3 * self._smooth_noise((h, w), 12, generator)
            painted = healthy * (1 - halo) + (healthy * (1 - rim_share[:, None, None]) +
                                              (median * factors * rim_share)[:, None, None]) * halo
            painted = painted * (1 - weight) + (median * factors)[:, None, None] * texture * weight
            lesion[i] = torch.where(brain, painted.clamp(0.0, 1.0), healthy).to(lesion)
            mask[i] = (torch.maximum(weight, halo) > 0.5).to(mask)
        return lesion, mask

    def tissue_curves(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        """One intensity curve per slice and channel, the same for every tensor in `tensors` (aligned slices)."""
        shape = tensors[0].shape[:2]
        gamma = self._log_uniform((*shape, 1, 1), self.gamma, generator)
        gain = self._uniform(shape, self.gain, generator)
        return [torch.where(t > 0, (gain.to(t) * t.clamp_min(0) ** gamma.to(t)).clamp(0.0, 1.0), t) for t in tensors]

    def contrast_curves(self, images: torch.Tensor, twin: torch.Tensor | None,
                        generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`images` (and `twin`) with some slices' tissue contrast redrawn (see the module's text)."""
        if self.contrast <= 0:  # draws nothing, so runs without the option keep their random stream
            return images, twin
        base = images if twin is None else twin
        n, channels = base.shape[:2]
        chosen = (torch.rand(n, generator=generator) < self.contrast).to(base.device)[:, None, None, None]
        knots = 0.05 + 0.95 * torch.rand(n, channels, self.contrast_knots, generator=generator)
        weight = torch.rand(n, channels, 1, generator=generator)
        flat = base.detach().float().clamp(0.0, 1.0).reshape(n, channels, -1)
        position = flat * (self.contrast_knots - 1)
        left = position.floor().clamp(0, self.contrast_knots - 2)
        fraction = position - left
        knots = knots.to(flat.device)
        curve = torch.gather(knots, 2, left.long()) * (1 - fraction) + torch.gather(knots, 2, left.long() + 1) * fraction
        remapped = ((1 - weight.to(flat)) * flat + weight.to(flat) * curve).reshape(base.shape).to(base)
        remapped = torch.where(chosen & (base > 0), remapped, base)
        if twin is None:
            return remapped, None
        lesion = torch.where(twin > 0, (remapped + images - twin).clamp(0.0, 1.0), images)
        return lesion, remapped

    def bias_fields(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        """Some slices shaded by a smooth multiplicative field per channel, the same in every tensor."""
        if self.bias <= 0:  # draws nothing, so runs without the option keep their random stream
            return tensors
        n, channels, h, w = tensors[0].shape
        chosen = (torch.rand(n, generator=generator) < self.bias).nonzero().flatten().tolist()
        if not chosen:
            return tensors
        fields = torch.ones(n, channels, h, w)
        for i in chosen:
            for c in range(channels):
                strength = float(self._uniform((1,), self.bias_strength, generator))
                nodes = 3 + int(torch.randint(2, (1,), generator=generator))
                fields[i, c] = torch.exp(strength * (2 * self._smooth_noise((h, w), nodes, generator) - 1))
        return [(t * fields.to(t)).clamp(0.0, 1.0) for t in tensors]

    def flips(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        """The same slices of every tensor mirrored left-right."""
        flip = (torch.rand(tensors[0].shape[0], generator=generator) < self.flip).to(tensors[0].device)
        return [torch.where(flip[:, None, None, None], t.flip(-1), t) for t in tensors]

    def warps(self, tensors: list[torch.Tensor], mask: torch.Tensor | None,
              generator: torch.Generator) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Some slices of every tensor (and of the mask, to its nearest pixel) moved by one
        random in-plane affine map per slice; the others untouched."""
        if self.geometry <= 0:  # draws nothing, so runs without the option keep their random stream
            return tensors, mask
        n = tensors[0].shape[0]
        chosen = torch.rand(n, generator=generator) < self.geometry
        angle = (2 * torch.rand(n, generator=generator) - 1) * math.radians(self.rotation)
        scale = self._log_uniform((n,), self.scale, generator)
        stretch = self._log_uniform((n,), self.stretch, generator).sqrt()
        axis = torch.rand(n, generator=generator) * math.pi
        shift = (2 * torch.rand(n, 2, generator=generator) - 1) * 2 * self.shift  # grid units span 2
        if not chosen.any():
            return tensors, mask

        def rotation(a: torch.Tensor) -> torch.Tensor:
            return torch.stack([torch.stack([a.cos(), -a.sin()], -1), torch.stack([a.sin(), a.cos()], -1)], -2)

        # The grid maps each output pixel to where it samples the input: the inverse of the
        # drawn map, so scaling by s samples at 1 / s, and stretching by st at 1 / st.
        unstretch = torch.diag_embed(torch.stack([1 / stretch, stretch], -1))
        inverse = rotation(axis) @ unstretch @ rotation(-axis) @ rotation(-angle) / scale[:, None, None]
        height, width = tensors[0].shape[-2:]
        # grid units run -1..1 on each axis: rotate in pixels, so a non-square slice is not sheared
        pixels = torch.tensor([width, height], dtype=torch.float32)
        inverse = torch.diag(1 / pixels) @ inverse @ torch.diag(pixels)
        theta = torch.cat([inverse, shift[:, :, None]], -1)[chosen]
        index = chosen.nonzero().flatten().to(tensors[0].device)
        grid = F.affine_grid(theta.to(tensors[0].device), [len(theta), 1, height, width], align_corners=False)

        def warp(t: torch.Tensor, mode: str) -> torch.Tensor:
            moved = F.grid_sample(t[index].float(), grid, mode=mode, align_corners=False)  # 0 outside the slice
            return t.index_copy(0, index, moved.to(t.dtype))

        return [warp(t, "bilinear") for t in tensors], (None if mask is None else warp(mask, "nearest"))

    def drop_channels(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        """The same channels (never the first) of the same slices set to 0 in every tensor."""
        n, channels = tensors[0].shape[:2]
        if self.drop_modalities <= 0 or channels < 2:
            return tensors
        dropped = (torch.rand(n, 1, generator=generator) < self.drop_modalities) & \
                  (torch.rand(n, channels, generator=generator) < self.drop_each)
        dropped[:, 0] = False
        keep = (~dropped).to(tensors[0].device)[:, :, None, None]
        return [t * keep.to(t.dtype) for t in tensors]

    def __call__(self, images: torch.Tensor, mask: torch.Tensor | None, twin: torch.Tensor | None,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """A varied copy of a batch of slices, their masks and their twins (either may be None:
        healthy slices have neither, and only a slice with a twin gets the lesion contrast)."""
        if twin is not None and mask is not None and self.synthetic > 0:
            images, mask = self.synthetic_lesions(images, mask, twin, generator)
        if twin is not None or mask is None:  # a lesion without its twin cannot be told from its tissue
            images, twin = self.contrast_curves(images, twin, generator)
        aligned = [images] if twin is None else [self.lesion_pairs(images, twin, generator), twin]
        aligned = self.drop_channels(self.bias_fields(self.tissue_curves(aligned, generator), generator), generator)
        flipped = self.flips(aligned + ([] if mask is None else [mask]), generator)
        aligned, mask = flipped[:len(aligned)], (None if mask is None else flipped[-1])
        aligned, mask = self.warps(aligned, mask, generator)
        return aligned[0], mask, (None if twin is None else aligned[1])
