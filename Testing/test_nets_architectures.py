"""Generator and discriminator against ANT-GAN Tables I-III."""

from __future__ import annotations

import torch

from lesiongan.nets import build_network, network_spec


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_generator_parameter_counts_match_reference_resnet9() -> None:
    # The reference CycleGAN resnet_9blocks (3 in, 3 out, ngf 64, biased convs, IN without
    # affine) has 11,378,179 parameters. With 1 in / 1 out, the first 7x7 conv loses
    # 2*64*49 weights and the last loses 2*(64*49) weights and 2 biases:
    # 11,378,179 - 6,272 - 6,274 = 11,365,633.
    assert n_params(build_network("resnet_generator", in_channels=3, out_channels=3)) == 11_378_179
    assert n_params(build_network("resnet_generator", in_channels=1, out_channels=1)) == 11_365_633
    # The shortcut changes no weights; a mask channel adds one input plane to the first conv.
    assert n_params(build_network("resnet_generator", shortcut=True)) == 11_365_633
    assert n_params(build_network("resnet_generator", extra_channels=1)) == 11_365_633 + 64 * 49


def test_generator_layer_shapes_follow_table_one() -> None:
    gen = build_network("resnet_generator", ngf=64)
    convs = [m for m in gen.body.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert len(convs) == 3 + 9 * 2 + 2 + 1  # Conv1-3, 9 residual blocks of 2, Deconv1-2, Conv4
    first, last = convs[0], convs[-1]
    assert first.kernel_size == (7, 7) and first.out_channels == 64
    assert [c.out_channels for c in convs[1:3]] == [128, 256] and all(c.stride == (2, 2) for c in convs[1:3])
    assert all(c.in_channels == c.out_channels == 256 and c.kernel_size == (3, 3) for c in convs[3:21])
    assert all(isinstance(c, torch.nn.ConvTranspose2d) and c.stride == (2, 2) for c in convs[21:23])
    assert last.kernel_size == (7, 7) and last.out_channels == 1


def test_generator_keeps_size_and_range() -> None:
    gen = build_network("resnet_generator", ngf=8, n_blocks=2)
    out = gen(torch.rand(2, 1, 40, 48) * 2 - 1)
    assert out.shape == (2, 1, 40, 48) and out.abs().max() <= 1


def test_shortcut_generator_starts_at_identity_and_plain_does_not() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    shortcut = build_network("resnet_generator", ngf=8, n_blocks=2, shortcut=True)
    plain = build_network("resnet_generator", ngf=8, n_blocks=2, shortcut=False)
    assert torch.allclose(shortcut(x), x, atol=1e-6)
    assert (plain(x) - x).abs().mean() > 0.1
    # the shortcut adds to the image channels only when a mask channel rides along
    with_mask = build_network("resnet_generator", ngf=8, n_blocks=2, shortcut=True, extra_channels=1)
    assert with_mask(torch.cat([x, torch.ones_like(x)], 1)).shape == x.shape


def test_patch_discriminator_table_three() -> None:
    disc = build_network("patch_discriminator", in_channels=1, ndf=64, n_layers=3)
    convs = [m for m in disc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1] and all(c.kernel_size == (4, 4) for c in convs)
    norms = [m for m in disc.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert len(norms) == 3  # none after Conv1 or Conv5
    # 1*64*16+64 + 64*128*16+128 + 128*256*16+256 + 256*256*16+256 + 256*16+1
    assert n_params(disc) == 1_709_761
    with torch.no_grad():
        assert disc(torch.zeros(1, 1, 240, 240)).shape == (1, 1, 30, 30)
    assert network_spec(disc) == {"arch": "patch_discriminator", "kwargs": {"in_channels": 1, "ndf": 64, "n_layers": 3}}
