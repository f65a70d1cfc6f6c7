"""Supervised lesion segmentation with a residual U-Net: method `segmentation`.

Serves the benchmark three ways: the pretrained segmentor f_pre that scores Xia et al.'s
'healthiness', and ANT-GAN's Plain U-Net / ANT-UNet (Table V), whose second input channel is
a copy of the image or ANT-GAN's difference map. Loss: soft Dice plus binary cross-entropy
(Dice alone gives no gradient on slices without lesion); Dice is taken over the whole batch.
Half of each batch is abnormal slices, so lesions are seen often even when most slices are
healthy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..nets import from_net
from ..nets.unet import ResidualUNet
from .base import Losses, Method, Sampler, register_method, reported
from .factorization import dice_loss
from .options import SupervisedOptions


def segmentation_losses(prediction: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft Dice over the whole batch, as one image (nnU-Net's batch Dice), and BCE, in fp32
    (BCE on probabilities is unsafe under autocast). Per-slice Dice scores any positive pixel
    on a lesion-free slice as a total miss, and the net learns to predict nothing at all (seen:
    an all-zero f_pre after 3000 steps on the phantom)."""
    prediction, masks = prediction.float(), masks.float()
    dice = dice_loss(prediction.reshape(1, -1), masks.reshape(1, -1))
    return dice, F.binary_cross_entropy(prediction.clamp(1e-6, 1 - 1e-6), masks)


@register_method
class Segmentation(Method):
    name = "segmentation"
    description = "supervised U-Net lesion segmentation (f_pre for healthiness; Plain U-Net / ANT-UNet of ANT-GAN Table V)"

    @dataclass(frozen=True)
    class Options(SupervisedOptions):
        unet_base: int = 64
        unet_depth: int = 4

    presets = {"paper": {}, "small": {"unet_base": 8, "unet_depth": 3}}
    sample_kinds = ("abnormal",)

    def build(self) -> None:
        o, channels = self.options, self.channels
        self.networks["S"] = ResidualUNet(channels, 1, base=o.unet_base, depth=o.unet_depth).to(self.device)
        self.make_optimizer("S")
        self.roles = {"segmentor": "S"}

    def make_batch(self, sampler: Sampler, batch_size: int) -> dict[str, torch.Tensor]:
        abnormal = max(1, batch_size // 2)
        images, masks = self.fetch(sampler, "abnormal", abnormal)
        if batch_size > abnormal:
            other, other_masks = self.fetch(sampler, "any", batch_size - abnormal)
            images, masks = torch.cat([images, other]), torch.cat([masks, other_masks])
        return {"images": images, "masks": masks}

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> Losses:
        with self.autocast():
            prediction = self.networks["S"](batch["images"]).float()
        dice, bce = segmentation_losses(prediction, batch["masks"])
        self.backward_and_step(dice + bce, "S")
        return reported({"dice_loss": dice, "bce": bce})

    def sample_panels(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        images = batch["images"]
        return [
            ("image", from_net(images[:, :1])),
            ("S(image)", self.networks["S"](images).float()),
            ("lesion mask", batch["masks"]),
        ]
