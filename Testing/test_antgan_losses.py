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
