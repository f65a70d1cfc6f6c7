"""Generators, discriminators and the other networks, rebuilt from plain data by name.

Networks take and give intensities in [-1, 1]; data lies in [0, 1]. `to_net` and `from_net`
are the one place that maps between the two.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from .registry import architectures, build_network, network_spec, register, unwrap

ArrayLike = TypeVar("ArrayLike", torch.Tensor, np.ndarray)


def to_net(x01: ArrayLike) -> ArrayLike:
    """[0, 1] data intensities -> [-1, 1] network range."""
    return x01 * 2 - 1


def from_net(y: ArrayLike) -> ArrayLike:
    """[-1, 1] network output -> [0, 1] data intensities."""
    return (y + 1) / 2


__all__ = ["architectures", "build_network", "from_net", "network_spec", "register", "to_net", "unwrap"]
