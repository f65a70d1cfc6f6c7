"""ANT-GAN losses, presets and one training step."""

from __future__ import annotations

import torch

from lesiongan.methods import get_method, resolve_options
from lesiongan.methods.antgan import anomaly_mask_loss


def test_anomaly_mask_loss_ignores_lesion_changes_and_grows_outside() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    mask = torch.zeros(2, 1, 16, 16)
    mask[:, :, 4:8, 4:8] = 1
    inside_only = x + 0.7 * mask  # changes only lesion pixels
    assert anomaly_mask_loss(x, inside_only, mask) == 0
    small = x + 0.1 * (1 - mask)
    large = x + 0.3 * (1 - mask)
    assert 0 < anomaly_mask_loss(x, small, mask) < anomaly_mask_loss(x, large, mask)
    assert torch.isclose(anomaly_mask_loss(x, small, mask), torch.tensor(0.01 * (256 - 16) / 256))


def test_presets_follow_the_ablation_table() -> None:
    cls = get_method("antgan")
    assert cls.default_preset == "antgan"
    rows = {name: resolve_options(cls, name) for name in ("gan", "gan+ac", "gan+nc", "cyclegan", "cyclegan+shortcut", "antgan")}
    flags = {name: (o["cycle_ac"], o["cycle_nc"], o["shortcut"], o["lambda_am"] > 0) for name, o in rows.items()}
    assert flags == {
        "gan": (False, False, False, False),
        "gan+ac": (True, False, False, False),
        "gan+nc": (False, True, False, False),
        "cyclegan": (True, True, False, False),
        "cyclegan+shortcut": (True, True, True, False),
        "antgan": (True, True, True, True),
    }
    assert rows["antgan"]["lambda_am"] == 10 and rows["antgan"]["lambda_cc"] == 10 and rows["antgan"]["pool_size"] == 50
    assert resolve_options(cls, "antgan-am100")["lambda_am"] == 100


class _RandomSampler:
    def __init__(self) -> None:
        g = torch.Generator().manual_seed(1)
        self.slices = type("Slices", (), {})()
        self.slices.images = torch.rand(8, 1, 32, 32, generator=g)
        self.slices.masks = (torch.rand(8, 1, 32, 32, generator=g) > 0.8).float()

    def draw(self, kind: str, n: int) -> torch.Tensor:
        return torch.arange(n) % 8


def test_train_step_updates_generators_and_reports_every_term() -> None:
    torch.manual_seed(0)
    cls = get_method("antgan")
    method = cls(resolve_options(cls, None, {"ngf": 4, "ndf": 4, "n_blocks": 1}), channels=1, total_steps=4)
    assert method.roles == {"a2n": "G_A2N", "n2a": "G_N2A"}
    batch = method.make_batch(_RandomSampler(), 2)
    assert batch["abnormal"].min() >= -1 and batch["abnormal"].max() <= 1
    before = {k: v.clone() for k, v in method.networks["G_A2N"].state_dict().items()}
    losses = method.train_step(batch, 0)
    assert {"G_adv_a2n", "G_adv_n2a", "cycle_ac", "cycle_nc", "am", "D_N", "D_A", "nonlesion_l1"} <= set(losses)
    after = method.networks["G_A2N"].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # the G_A2N shortcut generator starts as the identity, so nothing outside the lesion moved yet
    assert losses["am"] == 0 and losses["nonlesion_l1"] == 0
    assert len(method.sample_panels(batch)) == 6


def _perturbed_method(**options: object) -> object:
    """An AntGAN whose generators are no longer the identity (a new shortcut generator is)."""
    torch.manual_seed(0)
    cls = get_method("antgan")
    method = cls(resolve_options(cls, None, {"ngf": 4, "ndf": 4, "n_blocks": 1, **options}), channels=1, total_steps=4)
    with torch.no_grad():
        for name in ("G_A2N", "G_N2A"):
            for parameter in method.networks[name].parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
    return method


class _TwinSampler(_RandomSampler):
    def __init__(self) -> None:
        super().__init__()
        self.slices.truth = (self.slices.images + 0.3 * self.slices.masks).clamp(0, 1)


def test_each_generator_term_is_the_loss_of_the_right_networks() -> None:
    """Every reported term equals the loss recomputed from the networks before the step: the
    cycles go through both generators in the right order, L_AM and the twin loss compare
    G_A2N's output, the identity term runs G_A2N on healthy slices."""
    import torch.nn.functional as F

    from lesiongan.methods.antgan import twin_loss

    method = _perturbed_method(lambda_twin=5.0, lambda_identity=2.0)
    batch = method.make_batch(_TwinSampler(), 2)
    nets = method.networks
    x_a, x_n, mask = batch["abnormal"], batch["healthy"], batch["abnormal_mask"]
    with torch.no_grad():
        expected = {
            "cycle_ac": F.l1_loss(nets["G_N2A"](nets["G_A2N"](x_a)), x_a),
            "cycle_nc": F.l1_loss(nets["G_A2N"](nets["G_N2A"](x_n)), x_n),
            "am": anomaly_mask_loss(x_a, nets["G_A2N"](x_a), mask),
            "twin": twin_loss(nets["G_A2N"](x_a), batch["abnormal_truth"], mask),
            "identity": F.l1_loss(nets["G_A2N"](x_n), x_n),
        }
    losses = method.train_step(batch, 0)
    for name, value in expected.items():
        assert value > 0, name
        assert torch.isclose(losses[name], value, rtol=1e-5), name
    assert torch.isclose(batch["abnormal_truth"], (x_a + 0.6 * mask).clamp(-1, 1)).all()


def test_anomaly_mask_loss_alone_trains_the_abnormal_to_normal_generator() -> None:
    """With the adversarial terms and cycles off, L_AM is G_A2N's only loss: the step must
    move G_A2N's weights, and only as much as lambda_AM asks (0 leaves them as they were)."""
    changes = {}
    for lambda_am in (0.0, 100.0):
        method = _perturbed_method(lambda_gan=0.0, cycle_ac=False, cycle_nc=False, lambda_am=lambda_am)
        batch = method.make_batch(_RandomSampler(), 2)
        before = [p.detach().clone() for p in method.networks["G_A2N"].parameters()]
        method.train_step(batch, 0)
        changes[lambda_am] = sum(float((p.detach() - b).abs().sum()) for p, b in zip(method.networks["G_A2N"].parameters(), before))
    assert changes[0.0] == 0
    assert changes[100.0] > 0


def test_twin_loss_needs_data_with_healthy_twins() -> None:
    import pytest

    from lesiongan.errors import InputError

    method = _perturbed_method(lambda_twin=1.0)
    sampler = _RandomSampler()
    sampler.slices.truth = None
    with pytest.raises(InputError, match="healthy twin"):
        method.make_batch(sampler, 2)


def test_paint_loss_trains_a_reconstructor_and_no_adversary_leaves_the_discriminators_alone() -> None:
    """lambda_paint adds R(y, m) -> x as the "reconstructor" role; with lambda_gan 0 and no
    cycles the discriminators and G_N2A have nothing to learn and stay as they were."""
    import torch.nn.functional as F

    method = _perturbed_method(lambda_gan=0.0, cycle_ac=False, cycle_nc=False, lambda_twin=1.0, lambda_paint=3.0)
    assert method.roles["reconstructor"] == "R" and not method.adversarial
    batch = method.make_batch(_TwinSampler(), 2)
    nets = method.networks
    with torch.no_grad():
        expected = F.l1_loss(nets["R"](torch.cat([batch["abnormal_truth"], batch["abnormal_mask"]], 1)),
                         batch["abnormal"])
    frozen = {name: [p.detach().clone() for p in nets[name].parameters()] for name in ("D_N", "D_A", "G_N2A", "R")}
    losses = method.train_step(batch, 0)
    assert torch.isclose(losses["paint"], expected, rtol=1e-5) and expected > 0
    assert "D_N" not in losses and "G_adv_a2n" not in losses
    for name in ("D_N", "D_A", "G_N2A"):
        assert all(torch.equal(p, b) for p, b in zip(nets[name].parameters(), frozen[name])), name
    assert not all(torch.equal(p, b) for p, b in zip(nets["R"].parameters(), frozen["R"]))


class _VisibleLesionSampler(_RandomSampler):
    """Bright squares on a dim background: lesions a gate can learn to find."""

    def __init__(self) -> None:
        super().__init__()
        masks = torch.zeros(8, 1, 32, 32)
        for i in range(8):
            masks[i, :, 4 + i : 12 + i, 6 + 2 * i : 14 + 2 * i] = 1
        self.slices.masks = masks
        self.slices.truth = 0.4 * self.slices.images
        self.slices.images = self.slices.truth + 0.5 * masks


def test_gate_loss_is_the_cross_entropy_and_soft_dice_against_the_mask() -> None:
    import torch.nn.functional as F

    from lesiongan.methods.antgan import gate_loss

    mask = torch.zeros(2, 1, 8, 8)
    mask[0, :, 2:5, 2:5] = 1
    right, wrong = 20 * (2 * mask - 1), -20 * (2 * mask - 1)
    assert gate_loss(right, mask) < 1e-3 < 1.5 < gate_loss(wrong, mask)
    logits = torch.randn(2, 1, 8, 8)
    p = torch.sigmoid(logits)
    dice = (2 * (p * mask).sum() + 1) / (p.sum() + mask.sum() + 1)
    assert torch.isclose(gate_loss(logits, mask), F.binary_cross_entropy_with_logits(logits, mask) + 1 - dice)


def test_gated_generator_starts_as_the_identity_and_its_gate_learns_the_mask() -> None:
    """A gated U-Net changes nothing where its gate is shut; lambda_gate trains the gate
    against the lesion mask (abnormal slices) and against an empty mask (healthy slices)."""
    import pytest

    from lesiongan.errors import InputError
    from lesiongan.nets import build_network, network_spec

    net = build_network("unet_generator", in_channels=1, out_channels=1, base=4, depth=2, gated=True)
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    out, logits = net(x, with_gate=True)
    assert torch.equal(out, x) and logits.shape == (2, 1, 16, 16)
    spec = network_spec(net)
    assert network_spec(build_network(spec["arch"], **spec["kwargs"]))["kwargs"]["gated"] is True
    with torch.no_grad():  # the same change everywhere; the gate's bias opens or shuts it
        net.head.bias[0] = 0.5
        net.head.bias[1] = -30.0
        shut = net(x)
        net.head.bias[1] = 30.0
        open_ = net(x)
    assert torch.allclose(shut, x, atol=1e-6)
    assert torch.allclose(open_, (x + 2 * torch.tanh(torch.tensor(0.5))).clamp(-1, 1), atol=1e-5)

    cls = get_method("antgan")
    options = {"ngf": 4, "ndf": 4, "generator": "unet", "unet_depth": 2, "gate": True, "lambda_gan": 0.0,
               "cycle_ac": False, "cycle_nc": False, "lambda_twin": 1.0, "lambda_identity": 1.0, "lr": 1e-2}
    torch.manual_seed(0)
    method = cls(resolve_options(cls, None, {**options, "lambda_gate": 1.0}), channels=1, total_steps=60)
    sampler = _VisibleLesionSampler()
    first = method.train_step(method.make_batch(sampler, 4), 0)["gate"]
    for step in range(1, 40):
        last = method.train_step(method.make_batch(sampler, 4), step)["gate"]
    assert last < 0.7 * first
    # without lambda_gate, the gate's head is untouched by the gate loss: its loss does not fall as far
    torch.manual_seed(0)
    ungated = cls(resolve_options(cls, None, {**options, "lambda_gate": 0.0}), channels=1, total_steps=60)
    for step in range(40):
        other = ungated.train_step(ungated.make_batch(sampler, 4), step)["gate"]
    assert last < other
    with pytest.raises(InputError, match="gate"):
        cls(resolve_options(cls, None, {"ngf": 4, "ndf": 4, "n_blocks": 1, "gate": True}), channels=1)
