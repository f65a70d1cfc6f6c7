"""ANT-GAN (Sun et al.): abnormal-to-normal translation with a global shortcut and the
anomaly-mask loss, and the ablations of its Table IV.

    L = L_GAN + lambda_CC L_CC + lambda_AM L_AM                                     (Eq. 1)

- L_GAN (Eq. 3): two generators G_A2N, G_N2A against PatchGAN discriminators D^N, D^A,
  least squares (the 30x30 map regressed to ones or zeros, Sec. III-B).
- L_CC (Eq. 4): L1 cycles, abnormal A -> N -> A ("AC") and normal N -> A -> N ("NC").
- L_AM (Eq. 2): squared L2 of G_A2N(x^a) - x^a outside the lesion mask M. Eq. 2 sums over
  pixels; we average over all pixels (masked ones count as zero) so that lambda_AM = 10 has
  the same scale as the mean-reduced cycle terms with lambda_CC = 10.
- Discriminators learn from a history of 50 generated images; Adam lr 2e-4, beta1 0.5; the
  learning rate decays linearly to zero over the second half of the run (as CycleGAN).

Beyond the paper (all off by default, so the defaults are Eq. 1):
- `lambda_twin`: L1 of G_A2N(x^a) against the healthy twin inside M, for data that has one
  (the phantom). L_AM says what to keep outside the lesion; nothing in Eq. 1 says what to put
  inside it but the discriminator, which learns that slowly. With the twin, the generator is
  taught the healthy tissue directly (pix2pix's L1 term, restricted to M).
- `lambda_identity`: L1 of G_A2N(x^n) against x^n on healthy slices (CycleGAN's identity
  loss): a healthy slice should come out unchanged, which keeps the mask empty on it.
- `lambda_gan`: the weight of both adversarial terms (1 in Eq. 1). At 0, with both cycles
  off, G_N2A and the discriminators have nothing to learn and are not run.
- `lambda_paint`: trains a reconstructor R(y, m) (Xia et al.'s R) on the phantom's pairs: the
  healthy twin y and the lesion mask m in, the lesion image x out (L1). Told where the lesion
  goes, it is what the LesionSynthesis panel paints with (role "reconstructor").
- `augment`: each batch varied by `data.augmentation.SliceAugmentation` (lesion contrast
  rescaled or reversed against the twin, tissue intensity curves, left-right flips), so a
  few dozen phantom cases teach more than their own lesions.
- `synthetic_lesions` (with `augment` and a twin): the probability that a lesion slice's
  lesion is replaced by new random blobs painted into its twin, so the generator and its
  gate meet a new lesion every step rather than the data's few hundred.
- `bias_fields` (with `augment`): the probability that a slice is shaded by a smooth random
  multiplicative field, so intensity nonuniformity in healthy tissue is not taken for a lesion.
- `random_contrast` (with `augment`): the probability that a slice's tissue contrast is
  redrawn by a random, possibly non-monotone curve (the lesion kept on top of its twin), so a
  tissue brighter than usual in an unseen contrast is not taken for a lesion.
- `random_geometry` (with `augment`): the probability that a slice is rotated, scaled,
  stretched and shifted in-plane (the lesion, its mask and its twin alike), so a head of
  another shape, size or position than the training cases' is not marked where it differs.
- `drop_modalities` (with `augment`, several modalities): the probability that a slice loses
  some of its sequences after the first, so one model also serves cases that lack them.
- `generator`: "resnet" (Table I) or "unet", a U-Net with the same global shortcut
  (`nets.unet.ShortcutUNet`, widths `ngf` * 2**level, `unet_depth` poolings).
- `gate` (U-Net only): G_A2N also predicts a gate in [0, 1] that scales its change, and
  `lambda_gate` trains the gate against the lesion mask (binary cross-entropy plus soft Dice;
  healthy slices count as all-zero masks). L_AM already asks for no change outside the
  lesion; the gate learns it as a segmentation, which converges in far fewer steps than
  pushing every healthy pixel's residual to zero, and treats dark and bright lesions alike.

Presets are the rows of the ablation (Table IV, Fig. 5) and the lambda_AM sweep (Fig. 12),
and `twin-gate`, the recipe of the shipped demo model (docs/ablation.md): gated U-Net,
augmented batches, L_AM outside the lesion, the twin inside it, the identity on healthy
slices, a reconstructor for painting, no adversarial terms.
Every preset keeps both adversarial directions of Eq. 3; the ablations switch the cycle
terms, the shortcut and L_AM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from ..data.augmentation import SliceAugmentation
from ..errors import InputError
from ..nets import build_network, from_net, to_net
from .base import HistoryPool, Losses, Method, Sampler, register_method, reported
from .options import AdamOptions

# Fig. 12 shows the sweep as images only; its values are not legible in our copy of the
# paper, so the sweep is a decade grid around the chosen lambda_AM = 10.
LAMBDA_AM_SWEEP = (0.1, 1.0, 10.0, 100.0)

_ABLATIONS: dict[str, dict[str, Any]] = {
    "gan": {"cycle_ac": False, "cycle_nc": False, "shortcut": False, "lambda_am": 0.0},
    "gan+ac": {"cycle_ac": True, "cycle_nc": False, "shortcut": False, "lambda_am": 0.0},
    "gan+nc": {"cycle_ac": False, "cycle_nc": True, "shortcut": False, "lambda_am": 0.0},
    "cyclegan": {"cycle_ac": True, "cycle_nc": True, "shortcut": False, "lambda_am": 0.0},
    "cyclegan+shortcut": {"cycle_ac": True, "cycle_nc": True, "shortcut": True, "lambda_am": 0.0},
    "antgan": {"cycle_ac": True, "cycle_nc": True, "shortcut": True, "lambda_am": 10.0},
}

# The shipped demo model's recipe (docs/ablation.md); data with healthy twins only.
TWIN_GATE: dict[str, Any] = {
    "generator": "unet", "shortcut": True, "gate": True, "augment": True, "cycle_ac": False, "cycle_nc": False,
    "lambda_gan": 0.0, "lambda_am": 100.0, "lambda_twin": 20.0, "lambda_identity": 20.0, "lambda_gate": 2.0,
    "lambda_paint": 10.0, "lr": 1e-3,
}


def anomaly_mask_loss(x: torch.Tensor, generated: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 2, mean-reduced: mean of ((1 - M) * (G(x) - x))**2; `mask` (N, 1, H, W) is 1 in lesions."""
    return torch.mean(((1.0 - mask) * (generated.float() - x.float())) ** 2)


def twin_loss(generated: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of |G(x) - y| over the lesion pixels M: the generator against the healthy twin y,
    inside the lesion only (outside it, L_AM already asks for x itself). Averaged over the
    lesion rather than the slice, so a small lesion teaches as much per pixel as a large one."""
    error = (mask * (generated.float() - truth.float()).abs()).sum()
    return error / (mask.sum() * generated.shape[1]).clamp_min(1)


def gate_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the gate's logits against the lesion mask, plus the soft Dice
    loss over the whole batch (so the few lesion pixels weigh as much as the many healthy ones)."""
    logits, mask = logits.float(), mask.float()
    probability = torch.sigmoid(logits)
    dice = (2 * (probability * mask).sum() + 1.0) / (probability.sum() + mask.sum() + 1.0)
    return F.binary_cross_entropy_with_logits(logits, mask) + (1.0 - dice)


def least_squares(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """LSGAN loss: the score map regressed to all ones (real) or all zeros (fake)."""
    scores = scores.float()
    return F.mse_loss(scores, torch.ones_like(scores) if real else torch.zeros_like(scores))


@register_method
class AntGAN(Method):
    name = "antgan"
    description = "ANT-GAN (Sun et al.): CycleGAN with a global shortcut and the anomaly-mask loss; Table IV ablations"

    @dataclass(frozen=True)
    class Options(AdamOptions):
        generator: Literal["resnet", "unet"] = "resnet"
        ngf: int = 64
        n_blocks: int = 9
        unet_depth: int = 4
        ndf: int = 64
        n_layers_d: int = 3
        shortcut: bool = True
        gate: bool = False
        augment: bool = False
        drop_modalities: float = 0.0
        synthetic_lesions: float = 0.0
        bias_fields: float = 0.0
        random_contrast: float = 0.0
        random_geometry: float = 0.0
        lambda_gate: float = 1.0
        cycle_ac: bool = True
        cycle_nc: bool = True
        lambda_cc: float = 10.0
        lambda_am: float = 10.0
        lambda_gan: float = 1.0
        lambda_twin: float = 0.0
        lambda_identity: float = 0.0
        lambda_paint: float = 0.0
        pool_size: int = 50
        decay_start: float = 0.5

    presets = {
        **_ABLATIONS,
        **{f"antgan-am{value:g}": {**_ABLATIONS["antgan"], "lambda_am": value} for value in LAMBDA_AM_SWEEP},
        "twin-gate": TWIN_GATE,
    }
    default_preset = "antgan"
    sample_kinds = ("abnormal", "healthy")

    def build(self) -> None:
        o, channels, seed = self.options, self.channels, self.seed
        self.networks["G_A2N"] = self.build_generator(o, channels, gated=o.gate)
        self.networks["G_N2A"] = self.build_generator(o, channels)
        if o.lambda_paint > 0:
            self.networks["R"] = self.build_generator(o, channels, extra_channels=1)
        for name in ("D_N", "D_A"):
            self.networks[name] = build_network("patch_discriminator", in_channels=channels, ndf=o.ndf, n_layers=o.n_layers_d)
        for net in self.networks.values():
            net.to(self.device)
        self.make_optimizer("G", [name for name in ("G_A2N", "G_N2A", "R") if name in self.networks])
        self.make_optimizer("D", ["D_N", "D_A"], decay=self.adversarial)  # D never steps without an adversary
        # One pool per discriminator, each with its own stream of random draws.
        self.pools = {"D_N": HistoryPool(o.pool_size, seed * 2 + 1), "D_A": HistoryPool(o.pool_size, seed * 2 + 2)}
        for name in ("drop_modalities", "bias_fields", "random_contrast", "random_geometry"):
            if getattr(o, name) > 0 and not o.augment:
                raise InputError(name, "acts through the batch augmentation: set augment=true too")
        if o.synthetic_lesions > 0 and not (o.augment and (o.lambda_twin > 0 or o.lambda_paint > 0)):
            raise InputError("synthetic_lesions", "paints into the healthy twin through the batch augmentation: "
                                                  "set augment=true and lambda_twin or lambda_paint > 0 "
                                                  "(the batches then carry the twin)")
        self.augmentation = SliceAugmentation(drop_modalities=o.drop_modalities, synthetic=o.synthetic_lesions,
                                              bias=o.bias_fields, contrast=o.random_contrast,
                                              geometry=o.random_geometry) \
            if o.augment else None
        self.augment_rng = torch.Generator().manual_seed(seed * 2 + 3)
        self.roles = {"a2n": "G_A2N", "n2a": "G_N2A", **({"reconstructor": "R"} if "R" in self.networks else {})}

    def optional_modalities(self, modalities: list[str]) -> list[str]:
        """With `drop_modalities`, every sequence after the first was absent in some batches."""
        o = self.options
        return list(modalities[1:]) if o.drop_modalities > 0 else []

    @property
    def adversarial(self) -> bool:
        """Whether G_N2A and the discriminators take part (they do in every row of Table IV)."""
        o = self.options
        return o.lambda_gan > 0 or o.cycle_ac or o.cycle_nc

    @staticmethod
    def build_generator(o: "AntGAN.Options", channels: int, extra_channels: int = 0, gated: bool = False) -> torch.nn.Module:
        if o.generator == "unet":
            if not o.shortcut:
                raise InputError("generator", "the U-Net generator always has the global shortcut; use "
                                              "generator=resnet for the ablations without it")
            return build_network("unet_generator", in_channels=channels, out_channels=channels, base=o.ngf,
                                 depth=o.unet_depth, extra_channels=extra_channels, gated=gated)
        if gated:
            raise InputError("gate", "the gate is an option of the U-Net generator (generator=unet)")
        return build_network("resnet_generator", in_channels=channels, out_channels=channels, ngf=o.ngf,
                             n_blocks=o.n_blocks, shortcut=o.shortcut, extra_channels=extra_channels)

    def make_batch(self, sampler: Sampler, batch_size: int) -> dict[str, torch.Tensor]:
        batch = {}
        if self.options.lambda_twin > 0 or self.options.lambda_paint > 0:
            batch["abnormal"], batch["abnormal_mask"], batch["abnormal_truth"] = self.fetch_with_truth(
                sampler, "abnormal", batch_size, "lambda_twin or lambda_paint")
        else:
            batch["abnormal"], batch["abnormal_mask"] = self.fetch(sampler, "abnormal", batch_size)
        batch["healthy"], _ = self.fetch(sampler, "healthy", batch_size)
        if self.augmentation is not None:
            self.augment_batch(batch)
        return batch

    def augment_batch(self, batch: dict[str, torch.Tensor]) -> None:
        """Vary the batch in place (in data intensities, so the curves act on [0, 1]); the
        draws come from a CPU generator and act on the tensors where they are."""
        augmentation, rng = self.augmentation, self.augment_rng
        twin = batch.get("abnormal_truth")
        lesion, mask, twin = augmentation(from_net(batch["abnormal"]), batch["abnormal_mask"],
                                          None if twin is None else from_net(twin), rng)
        healthy, _, _ = augmentation(from_net(batch["healthy"]), None, None, rng)
        batch["abnormal"], batch["abnormal_mask"], batch["healthy"] = to_net(lesion), mask, to_net(healthy)
        if twin is not None:
            batch["abnormal_truth"] = to_net(twin)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> Losses:
        o, nets = self.options, self.networks
        x_a, mask, x_n = batch["abnormal"], batch["abnormal_mask"], batch["healthy"]
        discriminators = [nets["D_N"], nets["D_A"]]

        # Generators: fool the (frozen) discriminators, close the cycles, keep non-lesion pixels.
        self.set_requires_grad(discriminators, False)
        with self.autocast():
            if o.gate:
                fake_n, gate_logits = nets["G_A2N"](x_a, with_gate=True)
                gate_parts = [(gate_logits, mask)]
            else:
                fake_n = nets["G_A2N"](x_a)
            am = anomaly_mask_loss(x_a, fake_n, mask)
            loss_g = o.lambda_am * am
            losses = {}
            if self.adversarial:
                fake_a = nets["G_N2A"](x_n)
                adv_a2n = least_squares(nets["D_N"](fake_n), True)
                adv_n2a = least_squares(nets["D_A"](fake_a), True)
                loss_g = loss_g + o.lambda_gan * (adv_a2n + adv_n2a)
                losses |= {"G_adv_a2n": adv_a2n.detach(), "G_adv_n2a": adv_n2a.detach()}
            if o.cycle_ac:
                cycle_ac = F.l1_loss(nets["G_N2A"](fake_n).float(), x_a)
                loss_g = loss_g + o.lambda_cc * cycle_ac
                losses["cycle_ac"] = cycle_ac.detach()
            if o.cycle_nc:
                cycle_nc = F.l1_loss(nets["G_A2N"](fake_a).float(), x_n)
                loss_g = loss_g + o.lambda_cc * cycle_nc
                losses["cycle_nc"] = cycle_nc.detach()
            if o.lambda_twin > 0:
                twin = twin_loss(fake_n, batch["abnormal_truth"], mask)
                loss_g = loss_g + o.lambda_twin * twin
                losses["twin"] = twin.detach()
            if o.lambda_identity > 0:
                if o.gate:
                    same, healthy_gate_logits = nets["G_A2N"](x_n, with_gate=True)
                    gate_parts.append((healthy_gate_logits, torch.zeros_like(healthy_gate_logits)))
                else:
                    same = nets["G_A2N"](x_n)
                identity = F.l1_loss(same.float(), x_n)
                loss_g = loss_g + o.lambda_identity * identity
                losses["identity"] = identity.detach()
            if o.gate:
                gate = gate_loss(torch.cat([p[0] for p in gate_parts]), torch.cat([p[1] for p in gate_parts]))
                loss_g = loss_g + o.lambda_gate * gate
                losses["gate"] = gate.detach()
            if o.lambda_paint > 0:
                # R paints the lesion back into the healthy twin where the mask says.
                painted = nets["R"](torch.cat([batch["abnormal_truth"], mask], dim=1))
                paint = F.l1_loss(painted.float(), x_a)
                loss_g = loss_g + o.lambda_paint * paint
                losses["paint"] = paint.detach()
        self.backward_and_step(loss_g, "G")
        losses["am"] = am.detach()
        losses["G"] = loss_g.detach()

        if self.adversarial:
            # Discriminators: real slices against generated ones drawn from the history pools.
            self.set_requires_grad(discriminators, True)
            with self.autocast():
                pooled_n = self.pools["D_N"].query(fake_n.detach().float())
                pooled_a = self.pools["D_A"].query(fake_a.detach().float())
                d_n = 0.5 * (least_squares(nets["D_N"](x_n), True) + least_squares(nets["D_N"](pooled_n), False))
                d_a = 0.5 * (least_squares(nets["D_A"](x_a), True) + least_squares(nets["D_A"](pooled_a), False))
            self.backward_and_step(d_n + d_a, "D")
            losses["D_N"], losses["D_A"] = d_n.detach(), d_a.detach()
        # Watched by the tests and the docs: how much G_A2N changes healthy tissue, [0, 1] units.
        outside = 1.0 - mask
        losses["nonlesion_l1"] = ((fake_n.detach().float() - x_a).abs() * outside).sum() / (2 * outside.sum() * self.channels).clamp_min(1)
        return reported(losses)

    def sample_panels(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        nets = self.networks
        x_a, x_n = batch["abnormal"], batch["healthy"]
        fake_n = nets["G_A2N"](x_a).float()
        fake_a = nets["G_N2A"](x_n).float()
        return [
            ("abnormal x", from_net(x_a)),
            ("G_A2N(x)", from_net(fake_n)),
            ("|x - G_A2N(x)|", (fake_n - x_a).abs() / 2),
            ("lesion mask", batch["abnormal_mask"]),
            ("healthy y", from_net(x_n)),
            ("G_N2A(y)", from_net(fake_a)),
        ]

    def extra_state(self) -> dict[str, Any]:
        return {**{name: pool.state_dict() for name, pool in self.pools.items()}, "augment_rng": self.augment_rng.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        for name, pool in self.pools.items():
            pool.load_state_dict(state[name], self.device)
        if "augment_rng" in state:  # checkpoints from before augmentation have none
            self.augment_rng.set_state(state["augment_rng"])
