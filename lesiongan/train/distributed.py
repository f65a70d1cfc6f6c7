"""Data parallelism through torchrun: process group from its environment, rank helpers.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address; a plain `python` run
has none of them and trains as a single process.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device_type: str) -> Context:
    """Join the torchrun job (gloo on CPU, NCCL on GPU), or a single-process context."""
    if not launched_by_torchrun():
        return Context()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def stop(context: Context) -> None:
    if context.active and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_weights(networks: dict[str, nn.Module], context: Context) -> None:
    """Every rank starts from rank 0's weights."""
    if context.active:
        for net in networks.values():
            for tensor in net.state_dict().values():
                dist.broadcast(tensor, 0)


def any_rank(flag: bool, context: Context, device: torch.device) -> bool:
    """True on every rank when it is true on one (a stop request must stop all ranks together)."""
    if not context.active:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def weights_digest(networks: dict[str, nn.Module]) -> str:
    """SHA-256 of every network's weights, to check that the ranks stayed in step."""
    digest = hashlib.sha256()
    for name in sorted(networks):
        for key, tensor in sorted(networks[name].state_dict().items()):
            digest.update(f"{name}.{key}".encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def gather_strings(text: str, context: Context) -> list[str]:
    if not context.active:
        return [text]
    out: list[str] = [""] * context.world_size
    dist.all_gather_object(out, text)
    return out
