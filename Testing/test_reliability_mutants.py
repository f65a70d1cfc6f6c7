"""Tests that pin what mutation testing found unchecked: the terms of ANT-GAN's generator loss,
which generator closes which cycle, the shortcut's scale, and the mask's minimum component size."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lesiongan.data.volume import Volume
from lesiongan.errors import LesionGANError
from lesiongan.infer.engine import threshold_difference
from lesiongan.methods import get_method, resolve_options
from lesiongan.methods.antgan import anomaly_mask_loss, least_squares
from lesiongan.nets import build_network

IDENTITY = (1, 0, 0, 0, 1, 0, 0, 0, 1)


def _antgan_step(**options):
    torch.manual_seed(0)
    cls = get_method("antgan")
    method = cls(resolve_options(cls, None, {"ngf": 4, "ndf": 4, "n_blocks": 1, "shortcut": False, **options}),
                 channels=1, total_steps=4)
    g = torch.Generator().manual_seed(1)
    x_a, x_n = torch.rand(2, 1, 16, 16, generator=g) * 2 - 1, torch.rand(2, 1, 16, 16, generator=g) * 2 - 1
    mask = torch.zeros(2, 1, 16, 16)
    mask[:, :, 4:9, 4:9] = 1
    before = {name: copy.deepcopy(net) for name, net in method.networks.items()}
    losses = method.train_step({"abnormal": x_a, "abnormal_mask": mask, "healthy": x_n}, 0)
    return method, before, losses, (x_a, mask, x_n)


@pytest.mark.parametrize("lambda_am", [10.0, 0.5])
def test_generator_loss_is_the_sum_of_its_weighted_terms(lambda_am):
    method, before, losses, (x_a, mask, x_n) = _antgan_step(lambda_am=lambda_am)
    o = method.options
    assert losses["am"] > 0  # without the shortcut the generator changes non-lesion pixels at once
    expected = (losses["G_adv_a2n"] + losses["G_adv_n2a"] + o.lambda_cc * (losses["cycle_ac"] + losses["cycle_nc"])
                + o.lambda_am * losses["am"])
    assert torch.allclose(losses["G"], expected, rtol=1e-5)
    # and each term is what it says, computed here from the networks as they were before the step
    with torch.no_grad():
        fake_n, fake_a = before["G_A2N"](x_a), before["G_N2A"](x_n)
        assert torch.allclose(losses["am"], anomaly_mask_loss(x_a, fake_n, mask), rtol=1e-5)
        assert torch.allclose(losses["cycle_ac"], F.l1_loss(before["G_N2A"](fake_n), x_a), rtol=1e-5)
        assert torch.allclose(losses["cycle_nc"], F.l1_loss(before["G_A2N"](fake_a), x_n), rtol=1e-5)
        assert torch.allclose(losses["G_adv_a2n"], least_squares(before["D_N"](fake_n), True), rtol=1e-5)
        assert torch.allclose(losses["G_adv_n2a"], least_squares(before["D_A"](fake_a), True), rtol=1e-5)


def test_lambda_am_zero_leaves_the_mask_loss_out():
    method, _, losses, _ = _antgan_step(lambda_am=0.0, cycle_ac=False, cycle_nc=False)
    assert losses["am"] > 0
    assert torch.allclose(losses["G"], losses["G_adv_a2n"] + losses["G_adv_n2a"], rtol=1e-6)


def test_shortcut_adds_twice_tanh_of_the_residual():
    net = build_network("resnet_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1, shortcut=True)
    with torch.no_grad():
        net.last.weight.zero_()
        net.last.bias.fill_(0.1)  # the residual r is 0.1 everywhere
    x = torch.linspace(-0.5, 0.5, 16 * 16).reshape(1, 1, 16, 16)
    assert torch.allclose(net(x), x + 2 * torch.tanh(torch.tensor(0.1)), atol=1e-6)
    with torch.no_grad():
        net.last.bias.fill_(5.0)  # far beyond the range: clamped to 1
    assert torch.equal(net(x), torch.ones_like(x))
    with torch.no_grad():
        net.last.bias.fill_(-5.0)  # and below it: clamped to -1
    assert torch.equal(net(x), -torch.ones_like(x))
    plain = build_network("resnet_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1, shortcut=False)
    with torch.no_grad():
        plain.last.weight.zero_()
        plain.last.bias.fill_(0.1)
    assert torch.allclose(plain(x), torch.full_like(x, float(torch.tanh(torch.tensor(0.1)))), atol=1e-6)


@pytest.mark.parametrize("min_size, kept", [(0, {3, 2}), (2, {3, 2}), (3, {3}), (4, set())])
def test_min_component_size_keeps_components_of_exactly_that_size(min_size, kept):
    difference = np.zeros((1, 8, 8), np.float32)
    difference[0, 1, 1:4] = 0.5  # a component of 3 voxels
    difference[0, 6, 5:7] = 0.5  # one of 2
    mask = threshold_difference(Volume(difference, (1, 1, 1), (0, 0, 0), IDENTITY), 0.1,
                                min_component_size=min_size).array
    assert (mask[0, 1, 1:4].all() and mask[0, 1, 1:4].sum() == 3) == (3 in kept)
    assert bool(mask[0, 6, 5:7].all()) == (2 in kept)
    assert mask.sum() == sum(kept)


def test_threshold_is_strictly_above():
    difference = np.full((1, 4, 4), 0.1, np.float32)
    difference[0, 0, 0] = 0.1000001
    mask = threshold_difference(Volume(difference, (1, 1, 1), (0, 0, 0), IDENTITY), 0.1).array
    assert mask.sum() == 1 and mask[0, 0, 0] == 1


def test_dice_of_disjoint_masks_is_zero_and_within_limits_the_count():
    from lesiongan.metrics.detection import dice

    pred = np.zeros((1, 4, 4), bool)
    truth = np.zeros((1, 4, 4), bool)
    pred[0, 0, 0] = truth[0, 3, 3] = True  # one false positive, one false negative
    assert dice(pred, truth) == 0.0
    within = np.ones((1, 4, 4), bool)
    within[0, 0, 0] = False  # the false positive lies outside: nothing counted there
    truth[0, 1, 1] = pred[0, 1, 1] = True
    assert dice(pred, truth) == pytest.approx(2 / 4)
    assert dice(pred, truth, within) == pytest.approx(2 / 3)


def test_threshold_difference_argument_errors_name_the_argument():
    difference = Volume(np.zeros((1, 4, 4), np.float32), (1, 1, 1), (0, 0, 0), IDENTITY)
    assert threshold_difference(difference, 0).array.sum() == 0  # 0 is a valid threshold
    with pytest.raises(LesionGANError, match=r"^threshold: must be a number >= 0 in normalized units, got -0.5$"):
        threshold_difference(difference, -0.5)
    with pytest.raises(LesionGANError, match=r"^min_component_size: must be >= 0, got -1$"):
        threshold_difference(difference, 0.1, min_component_size=-1)
    other = Volume(np.zeros((1, 4, 5), np.uint8), (1, 1, 1), (0, 0, 0), IDENTITY)
    with pytest.raises(LesionGANError, match=r"^foreground: shape \(1, 4, 5\) differs from the difference map's "
                                             r"\(1, 4, 4\)$"):
        threshold_difference(difference, 0.1, other)


def test_least_squares_regresses_to_one_for_real_and_zero_for_fake():
    scores = torch.tensor([[0.0, 1.0], [0.5, 2.0]])
    assert float(least_squares(scores, True)) == pytest.approx(((1 + 0 + 0.25 + 1) / 4))
    assert float(least_squares(scores, False)) == pytest.approx(((0 + 1 + 0.25 + 4) / 4))
