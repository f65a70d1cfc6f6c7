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
- **left-right flip**: the brain is near-symmetric, so a flip is another plausible brain with
  the lesion on the other side.
- **missing modalities** (`drop_modalities`, multi-modal models): with that probability a
  slice loses some of its channels after the first (each with probability 0.7), set to 0 in
  every tensor of the slice, so the model also works when a case lacks a sequence (the
  engine then passes that channel as 0).

The lesion and tissue draws are per slice and per channel: a lesion bright in one sequence
may be faint or dark in another, as real lesions are.

Tensors are (N, C, H, W) in [0, 1] (data intensities, before `nets.to_net`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

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

    def __post_init__(self) -> None:
        for name in ("darken", "flip", "drop_modalities", "drop_each"):
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

    def tissue_curves(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        """One intensity curve per slice and channel, the same for every tensor in `tensors` (aligned slices)."""
        shape = tensors[0].shape[:2]
        low, high = (torch.log(torch.tensor(b)) for b in self.gamma)
        gamma = torch.exp(low + (high - low) * torch.rand(*shape, 1, 1, generator=generator))
        gain = self._uniform(shape, self.gain, generator)
        return [torch.where(t > 0, (gain.to(t) * t.clamp_min(0) ** gamma.to(t)).clamp(0.0, 1.0), t) for t in tensors]

    def flips(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        """The same slices of every tensor mirrored left-right."""
        flip = (torch.rand(tensors[0].shape[0], generator=generator) < self.flip).to(tensors[0].device)
        return [torch.where(flip[:, None, None, None], t.flip(-1), t) for t in tensors]

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
        aligned = [images] if twin is None else [self.lesion_pairs(images, twin, generator), twin]
        aligned = self.drop_channels(self.tissue_curves(aligned, generator), generator)
        flipped = self.flips(aligned + ([] if mask is None else [mask]), generator)
        images, twin = flipped[0], (None if twin is None else flipped[1])
        return images, (None if mask is None else flipped[-1]), twin
