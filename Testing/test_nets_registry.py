"""The network registry rebuilds networks from plain data; the [0,1] <-> [-1,1] mapping."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lesiongan.errors import InputError
from lesiongan.nets import build_network, from_net, network_spec, register, to_net


@register("test_tiny_net")
class TinyNet(nn.Module):
    def __init__(self, channels: int, width: int = 3, *, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(channels, width, 1, bias=bias)


def test_spec_records_defaults_and_rebuilds_same_shapes() -> None:
    net = TinyNet(2, bias=False)
    spec = network_spec(net)
    assert spec == {"arch": "test_tiny_net", "kwargs": {"channels": 2, "width": 3, "bias": False}}
    again = build_network(spec["arch"], **spec["kwargs"])
    assert again.conv.weight.shape == net.conv.weight.shape and again.conv.bias is None
    # the spec is a copy: editing it does not change the network's record
    spec["kwargs"]["width"] = 99
    assert net.spec["kwargs"]["width"] == 3


def test_spec_looks_through_wrappers() -> None:
    net = TinyNet(1)
    assert network_spec(nn.DataParallel(net))["kwargs"]["channels"] == 1


def test_unknown_architecture_and_bad_arguments_are_input_errors() -> None:
    with pytest.raises(InputError, match="no_such_net"):
        build_network("no_such_net")
    with pytest.raises(InputError, match="test_tiny_net"):
        build_network("test_tiny_net", depth=3)
    with pytest.raises(InputError, match="not a registered network"):
        network_spec(nn.Conv2d(1, 1, 1))


def test_to_net_and_from_net_are_inverse() -> None:
    x = torch.tensor([0.0, 0.25, 1.0])
    assert torch.equal(to_net(x), torch.tensor([-1.0, -0.5, 1.0]))
    assert torch.equal(from_net(to_net(x)), x)


def test_every_method_and_network_module_registers_without_being_imported_first():
    import subprocess
    import sys

    # A fresh interpreter: nothing imported the benchmark's methods or the classifier net yet.
    code = ("from lesiongan.methods import get_method; from lesiongan.nets import build_network; "
            "get_method('segmentation'); get_method('classification'); "
            "build_network('vgg_classifier', in_channels=1)")
    subprocess.run([sys.executable, "-c", code], check=True)
