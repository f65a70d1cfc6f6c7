"""Shapes of the pathology-factorization and noise-GAN networks against the papers' tables."""

from __future__ import annotations

import pytest
import torch

from lesiongan.nets import build_network, network_spec
from lesiongan.nets.noise import NoiseDiscriminator, NoiseGenerator
from lesiongan.nets.unet import FactorDiscriminator, FactorGenerator, ResidualUNet


def test_xia_appendix_a_shapes() -> None:
    """Tables 2-4 at the paper's 208x160: G and R keep the size, D gives a 13x10 map."""
    x = torch.rand(1, 1, 208, 160) * 2 - 1
    mask = torch.zeros(1, 1, 208, 160)
    generator, reconstructor = FactorGenerator(1, 1, ngf=4, n_blocks=1), FactorGenerator(1, 1, ngf=4, n_blocks=1, extra_channels=1)
    # Table 2: the bottleneck is (52, 40, 4 ngf) after two stride-2 convs.
    bottleneck = generator.net[:3](x)
    assert bottleneck.shape == (1, 16, 52, 40)
    y = generator(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert reconstructor(x, mask).shape == x.shape
    with pytest.raises(ValueError, match="2 input channels"):
        reconstructor(x)
    d = FactorDiscriminator(1, ndf=2)
    assert d(x).shape == (1, 1, 13, 10)
    # Table 4 widths 32, 128, 256, 512 at ndf = 32.
    assert [m.out_channels for m in FactorDiscriminator(1).net if isinstance(m, torch.nn.Conv2d)] == [32, 128, 256, 512, 1]


def test_residual_unet_any_size_gives_probability_mask() -> None:
    unet = ResidualUNet(2, 1, base=4, depth=3)
    out = unet(torch.randn(2, 2, 30, 22))
    assert out.shape == (2, 1, 30, 22)
    assert out.min() >= 0 and out.max() <= 1
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in unet.modules())


@pytest.mark.parametrize("size", [64, 128])
def test_han_noise_nets_make_and_score_whole_slices(size: int) -> None:
    generator = NoiseGenerator(latent_dim=16, size=size, ngf=4)
    critic = NoiseDiscriminator(size=size, ndf=4)
    fake = generator(torch.randn(3, 16))
    assert fake.shape == (3, 1, size, size)
    assert critic(fake).shape == (3,)
    # 128 px has one more stage than 64 px (widths doubled at the deep end).
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in generator.modules()) == (5 if size == 64 else 6)
    with pytest.raises(ValueError, match="size"):
        NoiseGenerator(size=100)


def test_specs_rebuild_the_same_networks() -> None:
    for net in (FactorGenerator(1, 1, ngf=4, n_blocks=1, extra_channels=1), ResidualUNet(1, base=4, depth=2), NoiseGenerator(latent_dim=8, size=32, ngf=4, out_activation="tanh")):
        spec = network_spec(net)
        rebuilt = build_network(spec["arch"], **spec["kwargs"])
        rebuilt.load_state_dict(net.state_dict())
        assert network_spec(rebuilt) == spec
    assert network_spec(NoiseGenerator(latent_dim=8, size=32, ngf=4))["kwargs"]["latent_dim"] == 8
