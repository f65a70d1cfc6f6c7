"""Seeded epoch-wise sampling of slice indices by kind, split across ranks, checkpointable."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import InputError
from ..methods.base import SAMPLE_KINDS, SliceData


class SliceSampler:
    """Draws indices of "abnormal", "healthy" or "any" slices without replacement per epoch.

    Each kind has its own shuffled order and cursor; an exhausted order is reshuffled. With
    `world_size` > 1 every rank draws from its own share of each kind (every world_size-th
    index), so the ranks see different slices. The state (generator, orders, cursors) is the
    exact data position a checkpoint needs.
    """

    def __init__(self, slices: SliceData, seed: int, rank: int = 0, world_size: int = 1):
        self.slices = slices
        labels = torch.as_tensor(slices.labels).reshape(-1)
        every = torch.arange(labels.numel())
        self.pools: dict[str, torch.Tensor] = {"abnormal": every[labels == 1], "healthy": every[labels == 0], "any": every}
        for kind, indices in self.pools.items():
            share = indices[rank::world_size]
            # A kind too small to split keeps all its slices on every rank.
            self.pools[kind] = share if share.numel() > 0 else indices
        self.generator = torch.Generator().manual_seed(seed)
        self.orders: dict[str, torch.Tensor] = {}
        self.cursors: dict[str, int] = {}

    def count(self, kind: str) -> int:
        return int(self.pools[kind].numel())

    def require(self, kinds: tuple[str, ...], source: object) -> None:
        """An InputError naming `source` when a kind the method needs has no slices."""
        for kind in kinds:
            if self.count(kind) == 0:
                raise InputError(source, f"has no {kind} slices, which this method needs for training")

    def draw(self, kind: str, n: int) -> torch.Tensor:
        if kind not in SAMPLE_KINDS:
            raise ValueError(f"sample kind must be one of {SAMPLE_KINDS}, not {kind!r}")
        pool = self.pools[kind]
        if pool.numel() == 0:
            raise InputError("training slices", f"no {kind} slices to draw")
        out = []
        while n > 0:
            order, cursor = self.orders.get(kind), self.cursors.get(kind, 0)
            if order is None or cursor >= order.numel():
                order, cursor = pool[torch.randperm(pool.numel(), generator=self.generator)], 0
                self.orders[kind] = order
            take = order[cursor : cursor + n]
            self.cursors[kind] = cursor + take.numel()
            out.append(take)
            n -= take.numel()
        return torch.cat(out)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "orders": dict(self.orders), "cursors": dict(self.cursors)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.orders = dict(state["orders"])
        self.cursors = {kind: int(cursor) for kind, cursor in state["cursors"].items()}
