"""Template of a training method: copy this one file to add a method (see docs/methods.md).

    cp lesiongan/methods/_template.py lesiongan/methods/mymethod.py

then, in the copy, set `name` (what `--method` takes) and `description`, and change the rest
to your method. This file itself is never loaded: files whose names start with "_" are left
out when the methods are found; the copy, without the "_", is found by itself. Nothing else
needs changing: `lesiongan train --list-methods` lists it, `lesiongan train --method mymethod`
trains it, the Slicer Training panel offers it, and its model file works in the PseudoHealthy
panel and `lesiongan infer` through its roles.

What the example does: a pseudo-healthy generator G (a ResNet with ANT-GAN's global
shortcut) that must leave the image as it is outside the lesion mask (ANT-GAN's L_AM) and
fool a PatchGAN discriminator D that sees real healthy slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..nets import build_network, from_net
from .antgan import anomaly_mask_loss, least_squares
from .base import Losses, Method, Sampler, register_method, reported
from .options import AdamOptions


@register_method  # makes the method known by its name
class TemplateMethod(Method):
    name = "template"  # CHANGE: the name on the command line and in model files
    description = "template method: G keeps non-lesion pixels (L_AM) and fools D, which sees healthy slices"

    # Every hyperparameter: its type and default. Values from presets, --set, a run's JSON
    # configuration or the Training panel are checked against these. AdamOptions brings lr,
    # beta1, beta2 and decay_start, which make_optimizer uses.
    # (Forget the decorator, and using the method says so.)
    @dataclass(frozen=True)
    class Options(AdamOptions):
        lambda_keep: float = 10.0  # the weight of L_AM
        shortcut: bool = True  # G(x) = x + 2 tanh(r): the identity at the start
        ngf: int = 32
        n_blocks: int = 6
        ndf: int = 32
        decay_start: float = 0.5

    # Named sets of options (-> --preset); default_preset is used when none is asked for.
    presets = {"small": {"ngf": 4, "n_blocks": 1, "ndf": 4}}
    default_preset = None
    # The kinds of slices make_batch draws; the loop checks the data has them.
    sample_kinds = ("abnormal", "healthy")

    def build(self) -> None:
        o, channels = self.options, self.channels  # typed: o.ngf, o.lambda_keep, ...
        # Networks come from the registry, so the model file can rebuild them (lesiongan/nets).
        self.networks["G"] = build_network("resnet_generator", in_channels=channels, out_channels=channels,
                                           ngf=o.ngf, n_blocks=o.n_blocks, shortcut=o.shortcut).to(self.device)
        self.networks["D"] = build_network("patch_discriminator", in_channels=channels, ndf=o.ndf).to(self.device)
        self.make_optimizer("G")  # Adam over G, decaying from decay_start
        self.make_optimizer("D")
        # What the model file exports, by role: "a2n" is the pseudo-healthy generator the
        # PseudoHealthy panel runs (others: "n2a", "segmentor", "reconstructor", "noise").
        self.roles = {"a2n": "G"}

    def make_batch(self, sampler: Sampler, batch_size: int) -> dict[str, torch.Tensor]:
        """One step's slices on the device, in the networks' range [-1, 1] (masks in [0, 1])."""
        abnormal, mask = self.fetch(sampler, "abnormal", batch_size)
        healthy, _ = self.fetch(sampler, "healthy", batch_size)
        return {"abnormal": abnormal, "mask": mask, "healthy": healthy}

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> Losses:
        """One optimisation step of every network; the losses to log, as `reported` tensors."""
        o, generator, discriminator = self.options, self.networks["G"], self.networks["D"]
        x, mask, healthy = batch["abnormal"], batch["mask"], batch["healthy"]

        self.set_requires_grad([discriminator], False)  # G's step leaves D as it is
        with self.autocast():  # mixed precision when the loop asks for it
            fake = generator(x)
            adversarial = least_squares(discriminator(fake), True)
            keep = anomaly_mask_loss(x, fake, mask)
            loss_g = adversarial + o.lambda_keep * keep
        self.backward_and_step(loss_g, "G")  # also averages gradients across torchrun processes

        self.set_requires_grad([discriminator], True)
        with self.autocast():
            loss_d = 0.5 * (least_squares(discriminator(healthy), True) + least_squares(discriminator(fake.detach()), False))
        self.backward_and_step(loss_d, "D")
        return reported({"G": loss_g, "adversarial": adversarial, "keep": keep, "D": loss_d})

    def sample_panels(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        """Titled images in [0, 1] for samples/latest.png (called without gradients)."""
        x = batch["abnormal"]
        fake = self.networks["G"](x).float()
        return [("abnormal x", from_net(x)), ("G(x)", from_net(fake)), ("|x - G(x)|", (fake - x).abs() / 2),
                ("lesion mask", batch["mask"])]
