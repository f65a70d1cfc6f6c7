"""Pathology factorization (Xia, Chartsias, Tsaftaris, MIDL 2019): methods `phs-paired`, `phs-unpaired`.

A generator G removes the lesion (x_p -> x_h~), a segmentor S finds it (x_p -> m~), and a
reconstructor R puts it back from the two (R(x_h~, m~) -> x_p). Because R is told where the
lesion was, G does not have to hide it in the pseudo-healthy image (CycleGAN's one-to-many
problem). Two cycles (Sec. 3.3):

- P-H: x_p -> G, S -> R(G(x_p), S(x_p)) ~ x_p;
- H-H: a healthy x_h and the all-zero mask -> R(x_h, 0) = x_h~ -> G(x_h~) ~ x_h, S(x_h~) ~ 0.

Losses (Sec. 3.4, 4.1): L_CC (three L1 terms), least-squares L_GAN1 with D_x on images, and
either a Dice loss L_Seg on S (paired: 10 L_CC + 1 L_GAN1 + 10 L_Seg) or least-squares
L_GAN2 with D_m on masks drawn from other subjects (unpaired: 10 L_CC + 2 L_GAN1 + 10 L_GAN2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..nets import from_net, to_net
from ..nets.unet import FactorDiscriminator, FactorGenerator, ResidualUNet
from .antgan import least_squares
from .base import HistoryPool, Losses, Method, Sampler, register_method, reported
from .options import AdamOptions


# --- losses (pure functions) ---------------------------------------------------------------
def dice_loss(prediction: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss (Milletari et al.) per sample, averaged: 1 - (2|P.T| + s) / (|P| + |T| + s)."""
    prediction, target = prediction.float().flatten(1), target.float().flatten(1)
    overlap = (prediction * target).sum(1)
    return (1 - (2 * overlap + smooth) / (prediction.sum(1) + target.sum(1) + smooth)).mean()


class Cycles(NamedTuple):
    """Every tensor of the two cycles (images in [-1, 1], masks in [0, 1])."""

    healthy_from_p: torch.Tensor  # G(x_p)
    mask_p: torch.Tensor  # S(x_p)
    rebuilt_p: torch.Tensor  # R(G(x_p), S(x_p))
    mask_h: torch.Tensor  # the all-zero mask R receives in cycle H-H
    healthy_from_h: torch.Tensor  # R(x_h, 0)
    rebuilt_h: torch.Tensor  # G(R(x_h, 0))
    mask_rebuilt_h: torch.Tensor  # S(R(x_h, 0))


def run_cycles(generator: nn.Module, segmentor: nn.Module, reconstructor: nn.Module, x_p: torch.Tensor, x_h: torch.Tensor) -> Cycles:
    """Cycle P-H on the pathological batch and cycle H-H on the healthy batch (Sec. 3.3)."""
    healthy_from_p = generator(x_p)
    mask_p = segmentor(x_p)
    rebuilt_p = reconstructor(healthy_from_p, mask_p)
    # A healthy image has no lesion: R gets a black mask and must not invent one.
    mask_h = x_h.new_zeros((x_h.shape[0], 1, *x_h.shape[2:]))
    healthy_from_h = reconstructor(x_h, mask_h)
    return Cycles(healthy_from_p, mask_p, rebuilt_p, mask_h, healthy_from_h, generator(healthy_from_h), segmentor(healthy_from_h))


def cycle_consistency_loss(cycles: Cycles, x_p: torch.Tensor, x_h: torch.Tensor) -> torch.Tensor:
    """L_CC: |R(G(x_p), S(x_p)) - x_p| + |G(R(x_h, 0)) - x_h| + |S(R(x_h, 0)) - 0| (mean L1 each).

    The mask term is L1, not Dice: Dice against a black mask is 1 whatever S outputs.
    """
    return (
        F.l1_loss(cycles.rebuilt_p.float(), x_p.float())
        + F.l1_loss(cycles.rebuilt_h.float(), x_h.float())
        + F.l1_loss(cycles.mask_rebuilt_h.float(), cycles.mask_h.float())
    )


def foreign_mask_indices(subject_ids: np.ndarray, abnormal: np.ndarray, image_indices: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """Indices of abnormal slices whose subjects differ from every subject of `image_indices`.

    D_m must learn what lesion masks look like, not which mask belongs to which image, so a
    real mask never comes from a subject whose image is in the same batch (Sec. 3.4).
    """
    taken = np.isin(subject_ids[abnormal], subject_ids[image_indices])
    allowed = abnormal[~taken]
    if allowed.size == 0:
        raise InputError(
            "training slices",
            f"unpaired training needs lesion masks from subjects other than the {len(set(subject_ids[image_indices].tolist()))} "
            "subjects of a batch; use more subjects with lesions or a smaller batch",
        )
    picks = torch.randint(allowed.size, (len(image_indices),), generator=generator).numpy()
    return allowed[picks]


# --- the methods -------------------------------------------------------------------------
@dataclass(frozen=True)
class XiaNetworkOptions(AdamOptions):
    """Xia et al.'s G (and R) and D (Appendix A), with a 50-image history for D; Adam
    (AdamOptions' defaults) as in Chartsias et al. (2018), whose settings the paper reuses,
    with no decay. The cGAN baseline trains the same networks."""

    ngf: int = 32
    n_blocks: int = 6
    ndf: int = 32
    pool_size: int = 50


@dataclass(frozen=True)
class FactorizationOptions(XiaNetworkOptions):
    """What both methods share: the weights of L_CC and L_GAN1, and the segmentor S."""

    lambda_cc: float = 10.0
    lambda_gan1: float = 1.0
    unet_base: int = 64
    unet_depth: int = 4


class PathologyFactorization(Method):
    """Shared wiring of `phs-paired` and `phs-unpaired`; `paired` picks L_Seg or L_GAN2."""

    paired: ClassVar[bool] = True
    sample_kinds = ("abnormal", "healthy")
    # small: narrow networks for phantom runs and CI; same structure as the paper's.
    presets = {"paper": {}, "small": {"ngf": 8, "n_blocks": 2, "ndf": 8, "unet_base": 8, "unet_depth": 3}}

    def build(self) -> None:
        o, channels = self.options, self.channels
        self.networks = {
            "G": FactorGenerator(channels, channels, ngf=o.ngf, n_blocks=o.n_blocks),
            "S": ResidualUNet(channels, 1, base=o.unet_base, depth=o.unet_depth),
            "R": FactorGenerator(channels, channels, ngf=o.ngf, n_blocks=o.n_blocks, extra_channels=1),
            "D_x": FactorDiscriminator(channels, ndf=o.ndf),
        }
        if not self.paired:
            self.networks["D_m"] = FactorDiscriminator(1, ndf=o.ndf)
        for net in self.networks.values():
            net.to(self.device)
        self.make_optimizer("generators", ["G", "S", "R"])
        self.discriminators = ["D_x"] if self.paired else ["D_x", "D_m"]
        for name in self.discriminators:
            self.make_optimizer(name)
        self.roles = {"a2n": "G", "segmentor": "S", "reconstructor": "R"}
        self.pools = {name: HistoryPool(o.pool_size, seed=self.seed + i) for i, name in enumerate(self.discriminators)}
        # Own generator for choosing other subjects' masks, so a resumed run draws the same.
        self.mask_generator = torch.Generator().manual_seed(self.seed + 7919)
        self._subject_cache: tuple[int, np.ndarray, np.ndarray] | None = None

    def make_batch(self, sampler: Sampler, batch_size: int) -> dict[str, torch.Tensor]:
        indices = sampler.draw("abnormal", batch_size)
        images = sampler.slices.images[indices].to(self.device, torch.float32)
        masks = sampler.slices.masks[indices].to(self.device, torch.float32)
        healthy, _ = self.fetch(sampler, "healthy", batch_size)
        batch = {"abnormal": to_net(images), "abnormal_mask": masks, "healthy": healthy}
        if not self.paired:
            subject_ids, abnormal = self._subjects(sampler.slices)
            foreign = foreign_mask_indices(subject_ids, abnormal, np.asarray(indices), self.mask_generator)
            batch["foreign_mask"] = sampler.slices.masks[torch.as_tensor(foreign)].to(self.device, torch.float32)
        return batch

    def _subjects(self, slices: Any) -> tuple[np.ndarray, np.ndarray]:
        if self._subject_cache is None or self._subject_cache[0] != id(slices):
            if getattr(slices, "subject_ids", None) is None:
                raise InputError("training slices", "unpaired training needs the subject of each slice (subject_ids)")
            subject_ids = np.asarray(slices.subject_ids)
            abnormal = np.flatnonzero(np.asarray(slices.labels).reshape(-1) == 1)
            self._subject_cache = (id(slices), subject_ids, abnormal)
        return self._subject_cache[1], self._subject_cache[2]

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> Losses:
        o, nets = self.options, self.networks
        x_p, x_h = batch["abnormal"], batch["healthy"]
        discriminators = [nets[name] for name in self.discriminators]

        self.set_requires_grad(discriminators, False)
        with self.autocast():
            cycles = run_cycles(nets["G"], nets["S"], nets["R"], x_p, x_h)
            l_cc = cycle_consistency_loss(cycles, x_p, x_h)
            l_gan1 = 0.5 * least_squares(nets["D_x"](cycles.healthy_from_p), True) + 0.5 * least_squares(
                nets["D_x"](cycles.healthy_from_h), True
            )
            if self.paired:
                l_mask = dice_loss(cycles.mask_p, batch["abnormal_mask"])
                total = o.lambda_cc * l_cc + o.lambda_gan1 * l_gan1 + o.lambda_seg * l_mask
            else:
                l_mask = 0.5 * least_squares(nets["D_m"](cycles.mask_p), True)
                total = o.lambda_cc * l_cc + o.lambda_gan1 * l_gan1 + o.lambda_gan2 * l_mask
        self.backward_and_step(total, "generators")
        self.set_requires_grad(discriminators, True)

        fake_images = self.pools["D_x"].query(torch.cat([cycles.healthy_from_p, cycles.healthy_from_h]).detach())
        with self.autocast():
            l_dx = 0.5 * (least_squares(nets["D_x"](x_h), True) + least_squares(nets["D_x"](fake_images), False))
        self.backward_and_step(l_dx, "D_x")
        losses = {"cc": l_cc, "gan1": l_gan1, "D_x": l_dx, "total": total}
        if self.paired:
            losses["seg_dice"] = l_mask
        else:
            fake_masks = self.pools["D_m"].query(cycles.mask_p.detach())
            with self.autocast():
                l_dm = 0.5 * (least_squares(nets["D_m"](batch["foreign_mask"]), True) + least_squares(nets["D_m"](fake_masks), False))
            self.backward_and_step(l_dm, "D_m")
            losses.update({"gan2": l_mask, "D_m": l_dm})
        return reported(losses)

    def sample_panels(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        x_p = batch["abnormal"]
        healthy = self.networks["G"](x_p)
        mask = self.networks["S"](x_p)
        first = slice(0, 1)  # panels show the first channel (sequence)
        return [
            ("input", from_net(x_p[:, first]).clamp(0, 1)),
            ("pseudo-healthy", from_net(healthy[:, first]).clamp(0, 1)),
            ("difference", ((x_p - healthy)[:, first].abs() / 2).clamp(0, 1)),
            ("S(x)", mask.clamp(0, 1)),
            ("true mask", batch["abnormal_mask"]),
            ("R(G(x), S(x))", from_net(self.networks["R"](healthy, mask)[:, first]).clamp(0, 1)),
        ]

    def extra_state(self) -> dict[str, Any]:
        return {"pools": {name: pool.state_dict() for name, pool in self.pools.items()}, "mask_generator": self.mask_generator.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        for name, pool in self.pools.items():
            pool.load_state_dict(state["pools"][name], self.device)
        self.mask_generator.set_state(state["mask_generator"])


@register_method
class PairedFactorization(PathologyFactorization):
    name = "phs-paired"
    description = "pathology factorization (Xia et al. 2019), paired: G, S with a Dice loss, R, D_x"

    @dataclass(frozen=True)
    class Options(FactorizationOptions):
        lambda_seg: float = 10.0


@register_method
class UnpairedFactorization(PathologyFactorization):
    name = "phs-unpaired"
    description = "pathology factorization (Xia et al. 2019), unpaired: G, S, R, D_x and D_m on other subjects' masks"
    paired = False

    @dataclass(frozen=True)
    class Options(FactorizationOptions):
        lambda_gan1: float = 2.0  # raised from 1 to 2 to focus on synthesis (Sec. 4.1)
        lambda_gan2: float = 10.0
