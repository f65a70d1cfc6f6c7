"""Whole slices from noise (Han et al. 2018): methods `dcgan`, `wgan` and `wgan-gp`.

- `dcgan`: the standard GAN loss (non-saturating for G), Adam 2e-4, beta1 0.5, batch 64.
- `wgan`: the Wasserstein critic with weight clipping at c = 0.01, RMSprop 5e-5, batch 64,
  five critic steps per generator step (Arjovsky et al., as Han et al. train it).
- `wgan-gp`: the gradient penalty instead of clipping (Gulrajani et al.: lambda 10, Adam 1e-4,
  betas (0, 0.9), five critic steps, no batch norm in the critic): the stable option.

One `train_step` is one critic step; the generator steps on every `n_critic`-th. The image
size (64 or 128) is the `size` option; the slices must have been resized to it (data
option `--size`). With `concat` the sequences of multi-channel slices are pooled as
one-channel samples (Han et al.'s 'Concat'): each drawn slice gives one random sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..nets import from_net
from ..nets.noise import NoiseDiscriminator, NoiseGenerator
from .base import Losses, Method, Sampler, register_method, reported
from .options import MethodOptions

# Han et al. Sec. 3.2.1 as data options of `lesiongan train` (TrainConfig fields): sagittal
# slices #80-#149 of the 240 (FIRST <= k < STOP); the slices are then brought to the GAN's size.
HAN_DATA_OPTIONS: dict[str, Any] = {"axis": "sagittal", "slice_range": (80, 150)}


# --- losses (pure functions) ---------------------------------------------------------------
def clip_weights(net: nn.Module, clip: float) -> None:
    """WGAN's Lipschitz constraint: every critic parameter clamped to [-clip, clip]."""
    with torch.no_grad():
        for p in net.parameters():
            p.clamp_(-clip, clip)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP: mean (|grad critic(x)|_2 - 1)^2 at random points x between real and fake (fp32)."""
    alpha = torch.rand((real.shape[0], 1, 1, 1), generator=generator).to(real.device)
    between = (alpha * real.float() + (1 - alpha) * fake.float()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def critic_loss(kind: str, real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
    """Discriminator/critic loss: the GAN cross-entropy ("dcgan") or the negated Wasserstein estimate."""
    real_score, fake_score = real_score.float(), fake_score.float()
    if kind == "dcgan":
        return F.binary_cross_entropy_with_logits(real_score, torch.ones_like(real_score)) + F.binary_cross_entropy_with_logits(
            fake_score, torch.zeros_like(fake_score)
        )
    return fake_score.mean() - real_score.mean()


def generator_loss(kind: str, fake_score: torch.Tensor) -> torch.Tensor:
    """Generator loss: non-saturating -log D(G(z)) ("dcgan") or -critic(G(z))."""
    fake_score = fake_score.float()
    if kind == "dcgan":
        return F.binary_cross_entropy_with_logits(fake_score, torch.ones_like(fake_score))
    return -fake_score.mean()


# --- the methods -------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseOptions(MethodOptions):
    """DCGAN's settings; WGAN and WGAN-GP change some defaults."""

    # the slices: their size, and 'Concat' (every sequence a one-channel sample)
    size: int = 64
    concat: bool = False
    # the generator
    latent_dim: int = 100
    ngf: int = 32
    out_activation: Literal["none", "tanh"] = "none"  # the paper's generator has no tanh
    # the discriminator (critic)
    ndf: int = 32
    d_activation: Literal["elu", "leaky"] = "elu"
    d_norm: Literal["batch", "layer", "none"] = "batch"
    # the optimizer, the critic steps per generator step, weight clipping, gradient penalty
    optimizer: Literal["adam", "rmsprop"] = "adam"
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 1
    clip: float = 0.0
    lambda_gp: float = 0.0


_PRESETS: dict[str, dict[str, Any]] = {
    "han-64": {"size": 64},
    "han-128": {"size": 128},
    "han-concat-64": {"size": 64, "concat": True},
    "han-concat-128": {"size": 128, "concat": True},
    "small": {"size": 32, "ngf": 8, "ndf": 8, "latent_dim": 32},
}


class NoiseGAN(Method):
    """Shared wiring; subclasses set `loss_kind` and the optimizer hyperparameters."""

    loss_kind: ClassVar[str] = "dcgan"
    sample_kinds = ("any",)
    presets = _PRESETS
    n_panel_samples = 8

    def build(self) -> None:
        o = self.options
        channels = 1 if o.concat else self.channels
        self.networks = {
            "G": NoiseGenerator(o.latent_dim, channels, size=o.size, ngf=o.ngf, out_activation=o.out_activation).to(self.device),
            "D": NoiseDiscriminator(channels, size=o.size, ndf=o.ndf, activation=o.d_activation, norm=o.d_norm).to(self.device),
        }
        for name in self.networks:
            params = self.networks[name].parameters()
            if o.optimizer == "rmsprop":
                self.optimizers[name] = torch.optim.RMSprop(params, lr=o.lr)
            else:
                self.optimizers[name] = torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2))
        self.roles = {"noise": "G"}
        # Own generators: the same noise for every sample grid, and a reproducible GP mix.
        self.noise_generator = torch.Generator().manual_seed(self.seed + 104729)
        self.fixed_noise = torch.randn(self.n_panel_samples, o.latent_dim, generator=torch.Generator().manual_seed(self.seed))

    def make_batch(self, sampler: Sampler, batch_size: int) -> dict[str, torch.Tensor]:
        images, _ = self.fetch(sampler, "any", batch_size)
        if self.options.concat:
            picks = torch.randint(images.shape[1], (batch_size,), generator=self.noise_generator).to(self.device)
            images = images[torch.arange(batch_size, device=self.device), picks][:, None]
        size = self.options.size
        if tuple(images.shape[-2:]) != (size, size):
            raise InputError(
                "training slices", f"are {images.shape[-2]}x{images.shape[-1]} but {self.name} makes {size}x{size} images; set the data size to {size}"
            )
        noise = torch.randn(batch_size, self.options.latent_dim, generator=self.noise_generator).to(self.device)
        return {"real": images, "noise": noise}

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> Losses:
        o, generator, critic = self.options, self.networks["G"], self.networks["D"]
        real, noise = batch["real"], batch["noise"]
        with self.autocast():
            fake = generator(noise)
            l_d = critic_loss(self.loss_kind, critic(real), critic(fake.detach()))
        losses = {"D": l_d}
        if o.lambda_gp > 0:
            penalty = gradient_penalty(critic, real, fake.detach(), self.noise_generator)
            l_d = l_d + o.lambda_gp * penalty
            losses["gp"] = penalty
        self.backward_and_step(l_d, "D")
        if o.clip > 0:
            clip_weights(critic, o.clip)
        if self.loss_kind != "dcgan":
            losses["wasserstein"] = -losses["D"]

        if (step + 1) % o.n_critic == 0:
            self.set_requires_grad([critic], False)
            with self.autocast():
                l_g = generator_loss(self.loss_kind, critic(fake))
            self.backward_and_step(l_g, "G")
            self.set_requires_grad([critic], True)
            losses["G"] = l_g  # only on the generator's steps
        return reported(losses)

    def sample_panels(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        samples = self.networks["G"](self.fixed_noise.to(self.device))[:, :1]
        return [("real", from_net(batch["real"][: self.n_panel_samples, :1]).clamp(0, 1)), ("generated", from_net(samples).clamp(0, 1))]

    def extra_state(self) -> dict[str, Any]:
        return {"noise_generator": self.noise_generator.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.noise_generator.set_state(state["noise_generator"])


@register_method
class DCGAN(NoiseGAN):
    name = "dcgan"
    description = "DCGAN slices from noise (Han et al. 2018): 64 or 128 px, Adam 2e-4, batch 64"
    loss_kind = "dcgan"
    Options = NoiseOptions


@register_method
class WGAN(NoiseGAN):
    name = "wgan"
    description = "WGAN slices from noise (Han et al. 2018): weight clipping 0.01, RMSprop 5e-5, 5 critic steps"
    loss_kind = "wgan"

    @dataclass(frozen=True)
    class Options(NoiseOptions):
        optimizer: Literal["adam", "rmsprop"] = "rmsprop"
        lr: float = 5e-5
        n_critic: int = 5
        clip: float = 0.01


@register_method
class WGANGP(WGAN):
    name = "wgan-gp"
    description = "WGAN-GP slices from noise: gradient penalty 10, Adam 1e-4 betas (0, 0.9), 5 critic steps (stable option)"

    @dataclass(frozen=True)
    class Options(NoiseOptions):
        lr: float = 1e-4
        beta1: float = 0.0
        beta2: float = 0.9
        n_critic: int = 5
        lambda_gp: float = 10.0
        out_activation: Literal["none", "tanh"] = "tanh"
        d_norm: Literal["batch", "layer", "none"] = "layer"  # batch norm would couple the samples the penalty treats one by one
