"""Supervised abnormal-slice classification with a small VGG-like CNN: method `classification`.

ANT-GAN's Plain-VGG / ANT-VGG (Table VI; the second channel is a copy of the image or the
ANT-GAN difference map) and the lesion identifier trained with and without synthetic slices
(Table VII). Each batch is half abnormal, half healthy slices, so the classes stay balanced
whatever the data's ratio; the label is the kind the sampler drew.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..nets import from_net
from ..nets.classifier import VGGClassifier
from .base import Losses, Method, Sampler, register_method, reported
from .options import SupervisedOptions


@register_method
class Classification(Method):
    name = "classification"
    description = "slice classifier, lesion or not (Plain-VGG / ANT-VGG of ANT-GAN Table VI; Table VII augmentation)"

    @dataclass(frozen=True)
    class Options(SupervisedOptions):
        width: int = 32
        depth: int = 4

    presets = {"paper": {}, "small": {"width": 8, "depth": 3}}
    sample_kinds = ("abnormal", "healthy")

    def build(self) -> None:
        o, channels = self.options, self.channels
        self.networks["C"] = VGGClassifier(channels, width=o.width, depth=o.depth).to(self.device)
        self.make_optimizer("C")
        self.roles = {"classifier": "C"}

    def make_batch(self, sampler: Sampler, batch_size: int) -> dict[str, torch.Tensor]:
        abnormal = max(1, batch_size // 2)
        healthy = max(1, batch_size - abnormal)
        images = torch.cat([self.fetch(sampler, "abnormal", abnormal)[0], self.fetch(sampler, "healthy", healthy)[0]])
        labels = torch.cat([torch.ones(abnormal), torch.zeros(healthy)]).to(self.device)
        return {"images": images, "labels": labels}

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> Losses:
        with self.autocast():
            logits = self.networks["C"](batch["images"]).float()
        loss = F.binary_cross_entropy_with_logits(logits, batch["labels"])
        self.backward_and_step(loss, "C")
        accuracy = ((logits > 0).float() == batch["labels"]).float().mean()
        return reported({"bce": loss, "accuracy": accuracy})

    def sample_panels(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        images = batch["images"]
        probability = torch.sigmoid(self.networks["C"](images).float())
        # One grey tile per slice whose brightness is the predicted lesion probability.
        tiles = probability.view(-1, 1, 1, 1).expand(-1, 1, *images.shape[2:])
        return [("image", from_net(images[:, :1])), ("P(lesion)", tiles)]
