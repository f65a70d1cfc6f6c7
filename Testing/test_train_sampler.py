"""The slice sampler: kinds, epochs without repeats, rank shares, exact state."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lesiongan.errors import InputError
from lesiongan.train.sampler import SliceSampler


def slices(labels: list[int]) -> SimpleNamespace:
    return SimpleNamespace(labels=torch.tensor(labels), images=None, masks=None)


def test_draws_kinds_without_repeats_within_an_epoch() -> None:
    sampler = SliceSampler(slices([1, 0, 1, 0, 1, 1]), seed=0)
    abnormal = sampler.draw("abnormal", 4)
    assert sorted(abnormal.tolist()) == [0, 2, 4, 5]
    assert set(sampler.draw("healthy", 5).tolist()) == {1, 3}
    assert len(sampler.draw("any", 6).unique()) == 6


def test_ranks_get_disjoint_shares() -> None:
    labels = [1, 0] * 6
    shares = [set(SliceSampler(slices(labels), seed=0, rank=r, world_size=2).draw("abnormal", 3).tolist()) for r in (0, 1)]
    assert not shares[0] & shares[1] and shares[0] | shares[1] == {0, 2, 4, 6, 8, 10}


def test_state_restores_the_exact_position() -> None:
    sampler = SliceSampler(slices([1, 0] * 5), seed=5)
    sampler.draw("abnormal", 3)
    state = sampler.state_dict()
    expected = [sampler.draw("abnormal", 4), sampler.draw("healthy", 7)]
    other = SliceSampler(slices([1, 0] * 5), seed=99)
    other.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(expected, [other.draw("abnormal", 4), other.draw("healthy", 7)]))


def test_missing_kind_names_the_source() -> None:
    with pytest.raises(InputError, match="data/x.*healthy"):
        SliceSampler(slices([1, 1]), seed=0).require(("abnormal", "healthy"), "data/x")
