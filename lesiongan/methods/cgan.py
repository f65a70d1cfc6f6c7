"""The conditional-GAN baseline of Xia et al. (Table 1): method `cgan`.

One deterministic pseudo-healthy generator conditioned on the image, trained on unpaired
data against a discriminator that tells real healthy slices from generated ones. An
identity term (L1 between G(x_h) and a healthy x_h) keeps healthy anatomy unchanged; with
no cycle nothing ties G(x_p) to its own input otherwise, which is the loss of 'identity'
the paper reports for this baseline. G and D are Xia's (Appendix A), so the comparison
with `phs-paired` / `phs-unpaired` isolates the training scheme. The CycleGAN baseline is
ANT-GAN's `cyclegan` preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..nets import from_net
from ..nets.unet import FactorDiscriminator, FactorGenerator
from .base import HistoryPool, Losses, Method, Sampler, register_method, reported
from .antgan import least_squares
from .factorization import XiaNetworkOptions


@register_method
class ConditionalGAN(Method):
    name = "cgan"
    description = "conditional GAN baseline (Xia et al. 2019, Table 1): G(x_p) judged against real healthy slices, plus identity L1"

    @dataclass(frozen=True)
    class Options(XiaNetworkOptions):
        lambda_gan: float = 1.0
        lambda_identity: float = 5.0

    presets = {"paper": {}, "small": {"ngf": 8, "n_blocks": 2, "ndf": 8}}
    sample_kinds = ("abnormal", "healthy")

    def build(self) -> None:
        o, channels = self.options, self.channels
        self.networks = {
            "G": FactorGenerator(channels, channels, ngf=o.ngf, n_blocks=o.n_blocks).to(self.device),
            "D": FactorDiscriminator(channels, ndf=o.ndf).to(self.device),
        }
        for name in self.networks:
            self.make_optimizer(name)
        self.roles = {"a2n": "G"}
        self.pool = HistoryPool(o.pool_size, seed=self.seed)

    def make_batch(self, sampler: Sampler, batch_size: int) -> dict[str, torch.Tensor]:
        abnormal, _ = self.fetch(sampler, "abnormal", batch_size)
        healthy, _ = self.fetch(sampler, "healthy", batch_size)
        return {"abnormal": abnormal, "healthy": healthy}

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> Losses:
        o, generator, discriminator = self.options, self.networks["G"], self.networks["D"]
        x_p, x_h = batch["abnormal"], batch["healthy"]
        self.set_requires_grad([discriminator], False)
        with self.autocast():
            fake = generator(x_p)
            l_gan = least_squares(discriminator(fake), True)
            l_identity = F.l1_loss(generator(x_h).float(), x_h.float())
            total = o.lambda_gan * l_gan + o.lambda_identity * l_identity
        self.backward_and_step(total, "G")
        self.set_requires_grad([discriminator], True)
        pooled = self.pool.query(fake.detach())
        with self.autocast():
            l_d = 0.5 * (least_squares(discriminator(x_h), True) + least_squares(discriminator(pooled), False))
        self.backward_and_step(l_d, "D")
        return reported({"gan": l_gan, "identity": l_identity, "D": l_d, "total": total})

    def sample_panels(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        x_p = batch["abnormal"][:, :1]
        healthy = self.networks["G"](batch["abnormal"])[:, :1]
        return [
            ("input", from_net(x_p).clamp(0, 1)),
            ("pseudo-healthy", from_net(healthy).clamp(0, 1)),
            ("difference", ((x_p - healthy).abs() / 2).clamp(0, 1)),
        ]

    def extra_state(self) -> dict[str, Any]:
        return {"pool": self.pool.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pool.load_state_dict(state["pool"], self.device)
