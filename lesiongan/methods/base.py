"""The base every training method builds on, and the contract with the training loop.

A method owns its networks, optimizers, learning-rate schedules, losses and history pools.
The loop (`lesiongan.train.loop`) owns everything else: data, AMP choice, checkpoints,
logs, sample grids and data parallelism. Per iteration the loop calls

    batch = method.make_batch(sampler, batch_size)   # unpaired or paired slices, on device
    losses = method.train_step(batch, step)          # one optimisation step of every network
                                                      # (losses as detached device tensors)
    method.end_step()                                 # learning-rate schedules

and now and then `method.sample_panels(batch)` for the PNG grid. Methods reach their
networks through `self.networks[name]` and update them only through
`self.backward_and_step(loss, optimizer_name)`, which handles the fp16 GradScaler and, in a
torchrun job, averages gradients across processes.

`train_step` returns its losses as detached 0-d tensors (`reported`), not floats: reading a
loss back is a host sync that stalls a GPU's queue, so the loop does it (`as_floats`) only
on the steps it logs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar, Iterable, Iterator, Protocol

import torch
import torch.distributed as dist
from torch import nn

from ..errors import InputError
from ..nets import to_net
from .options import MethodOptions

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
SAMPLE_KINDS = ("abnormal", "healthy", "any")
Losses = dict[str, torch.Tensor]


def reported(losses: dict[str, torch.Tensor]) -> Losses:
    """Losses as `train_step` returns them: detached fp32 tensors, still on the device."""
    return {name: value.detach().float() for name, value in losses.items()}


def as_floats(losses: dict[str, Any]) -> dict[str, float]:
    """Losses read back to the host (one sync for the lot on a GPU)."""
    if not losses:
        return {}
    values = [torch.as_tensor(value, dtype=torch.float32).reshape(()) for value in losses.values()]
    devices = {value.device for value in values}
    if len(devices) == 1:  # one device-to-host copy instead of one per loss
        return dict(zip(losses, torch.stack(values).tolist()))
    return {name: float(value) for name, value in zip(losses, values)}


class SliceData(Protocol):
    """What a method reads from the training slices (`lesiongan.data.slices.SliceSet`)."""

    images: torch.Tensor  # (N, C, H, W) in [0, 1]
    masks: torch.Tensor  # (N, 1, H, W), 1 = lesion
    truth: torch.Tensor | None  # (N, C, H, W) healthy twins in [0, 1], where the data has them


class Sampler(Protocol):
    """Draws slice indices of one kind; seeded, checkpointed and split across ranks by the loop."""

    slices: SliceData

    def draw(self, kind: str, n: int) -> torch.Tensor:
        """`n` indices into `slices` of slices that are "abnormal", "healthy" or "any"."""
        ...


class HistoryPool:
    """Shrivastava et al.'s image history: the discriminator sees older fakes half the time.

    Holds up to `size` images; each query image is, once the pool is full, swapped with a
    random stored one with probability 1/2. Its own generator makes the draw reproducible and
    the whole state (images and generator) checkpoints exactly.
    """

    def __init__(self, size: int = 50, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size <= 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator).item() < 0.5:
                slot = int(torch.randint(len(self.images), (), generator=self.generator))
                out.append(self.images[slot].clone())
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)

    def state_dict(self) -> dict[str, Any]:
        stacked = torch.cat(self.images).cpu() if self.images else torch.empty(0)
        return {"size": self.size, "images": stacked, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        self.size = int(state["size"])
        self.images = [image.unsqueeze(0).to(device) for image in state["images"]]
        self.generator.set_state(state["generator"])


def register_method(cls: type["Method"]) -> type["Method"]:
    """Class decorator: makes a method available by `cls.name` in `lesiongan.methods`."""
    from . import METHODS

    known = METHODS.get(cls.name)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise ValueError(f"training method {cls.name!r} is already registered by {known.__qualname__}")
    METHODS[cls.name] = cls
    return cls


class Method:
    """Base class of a training method; subclasses fill the class attributes and `build`,
    `make_batch`, `train_step` and `sample_panels`.

    Class attributes:
        name: the name used on the command line and stored in model files.
        description: one line for `lesiongan train --list-methods`.
        Options: a frozen dataclass (a `MethodOptions`) with every hyperparameter, its type
            and default; `self.options` is one of these (`--set` parses text by the type).
        presets: named sets of overrides (ablations, sweeps).
        default_preset: the preset used when none is asked for (None: plain defaults).
        sample_kinds: which kinds of slices the method needs (the loop checks they exist).

    A new method is one file in `lesiongan/methods/`: copy `_template.py` (see docs/methods.md).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type[MethodOptions]] = MethodOptions
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    default_preset: ClassVar[str | None] = None
    sample_kinds: ClassVar[tuple[str, ...]] = ("any",)

    def __init__(
        self,
        options: MethodOptions | Mapping[str, Any],
        channels: int,
        device: torch.device | str = "cpu",
        amp: str | None = None,
        total_steps: int = 1,
        seed: int = 0,
    ):
        if amp not in (None, "off", *AMP_DTYPES):
            raise ValueError(f"amp must be one of off, bf16, fp16, not {amp!r}")
        if isinstance(options, MethodOptions) and type(options) is not self.Options:
            options = options.to_dict()
        # A mapping (resolve_options' plain dict, a model file's provenance) over the defaults.
        self.options = options if isinstance(options, self.Options) else self.Options.make(options, self.name, text=True)
        self.channels = channels
        self.device = torch.device(device)
        self.amp = None if amp == "off" else amp
        self.total_steps = max(1, int(total_steps))
        self.seed = seed
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.roles: dict[str, str] = {}
        # Only fp16 needs loss scaling; bf16 has fp32's exponent range.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == "fp16")
        self.build()

    def role_networks(self) -> dict[str, nn.Module]:
        """The networks a model file holds, by role (`a2n`, `n2a`, ...): what `roles` names."""
        return {role: self.networks[name] for role, name in self.roles.items()}

    # --- what a method implements -------------------------------------------------------
    def build(self) -> None:
        """Networks (on `self.device`), optimizers, schedules, `roles` and any other state, from
        `self.options` and `self.channels`; called once, at the end of `__init__`."""

    def make_batch(self, sampler: Sampler, batch_size: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> Losses:
        raise NotImplementedError

    def sample_panels(self, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        """Titled (N, 1 or 3, H, W) tensors in [0, 1] for the sample grid; called under no_grad."""
        raise NotImplementedError

    def optional_modalities(self, modalities: list[str]) -> list[str]:
        """The modalities the trained networks can do without (the model file records them)."""
        return []

    def extra_state(self) -> dict[str, Any]:
        """State besides networks, optimizers, schedules and scaler (history pools...)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # --- helpers ------------------------------------------------------------------------
    def fetch(self, sampler: Sampler, kind: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`n` slices of `kind` on the device: images in [-1, 1] and their lesion masks."""
        return self._gather(sampler, self._draw(sampler, kind, n))

    def fetch_with_truth(self, sampler: Sampler, kind: str, n: int,
                         what: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As `fetch`, plus the slices' healthy twins in [-1, 1]: only data with ground truth
        (the phantom) has them; `what` names the option that needs them."""
        truth = getattr(sampler.slices, "truth", None)
        if truth is None:
            raise InputError("data", f"{what} needs the healthy twin of every image (the phantom writes "
                                     "<case>_<modality>_healthy.nii.gz); this data has none")
        indices = self._draw(sampler, kind, n)
        images, masks = self._gather(sampler, indices)
        return images, masks, to_net(truth[indices].to(self.device, torch.float32))

    @staticmethod
    def _draw(sampler: Sampler, kind: str, n: int) -> torch.Tensor:
        if kind not in SAMPLE_KINDS:
            raise ValueError(f"sample kind must be one of {SAMPLE_KINDS}, not {kind!r}")
        return sampler.draw(kind, n)

    def _gather(self, sampler: Sampler, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = sampler.slices.images[indices].to(self.device, torch.float32)
        masks = sampler.slices.masks[indices].to(self.device, torch.float32)
        return to_net(images), masks

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward passes when the loop asked for it."""
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[self.amp])

    def make_optimizer(self, name: str, networks: Iterable[str] | None = None, decay: bool = True) -> None:
        """Adam with the options' lr, beta1 and beta2 (an `AdamOptions`) over `networks` (by
        default the network called `name`), and its linear decay from `decay_start`; `decay`
        False for an optimizer that may never step (a scheduler must not step before it)."""
        o = self.options
        self.make_adam(name, [name] if networks is None else networks, o.lr, (o.beta1, o.beta2))
        if decay:
            self.add_linear_decay(name, o.decay_start)

    def make_adam(self, name: str, networks: Iterable[str], lr: float, betas: tuple[float, float]) -> None:
        params = [p for net in networks for p in self.networks[net].parameters()]
        # One fused kernel per step on a GPU instead of a few per tensor. The CPU keeps the
        # default implementation, so CPU runs stay bit-identical to earlier ones.
        fused = {"fused": True} if self.device.type == "cuda" else {}
        self.optimizers[name] = torch.optim.Adam(params, lr=lr, betas=betas, **fused)

    def add_linear_decay(self, optimizer: str, decay_start: float) -> None:
        """Constant learning rate, then linearly to zero over the last `1 - decay_start` of the run."""
        start = int(round(decay_start * self.total_steps))
        span = max(1, self.total_steps - start)

        def factor(step: int) -> float:
            return 1.0 - max(0, step - start) / span

        self.schedulers[optimizer] = torch.optim.lr_scheduler.LambdaLR(self.optimizers[optimizer], factor)

    @staticmethod
    def set_requires_grad(networks: Iterable[nn.Module], flag: bool) -> None:
        for net in networks:
            for p in net.parameters():
                p.requires_grad_(flag)

    def backward_and_step(self, loss: torch.Tensor, optimizer: str) -> None:
        """Backward, average gradients across ranks, then one (scaled) optimizer step."""
        opt = self.optimizers[optimizer]
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            _average_gradients(opt)
        self.scaler.step(opt)
        self.scaler.update()

    def end_step(self) -> None:
        for scheduler in self.schedulers.values():
            scheduler.step()

    def learning_rates(self) -> dict[str, float]:
        return {f"lr_{name}": opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}

    def train(self, mode: bool = True) -> None:
        for net in self.networks.values():
            net.train(mode)

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Networks in eval mode and no gradients, restored afterwards."""
        modes = {name: net.training for name, net in self.networks.items()}
        self.train(False)
        try:
            with torch.no_grad():
                yield
        finally:
            for name, net in self.networks.items():
                net.train(modes[name])

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint needs; only tensors and plain data (weights_only loadable)."""
        return {
            "networks": {name: net.state_dict() for name, net in self.networks.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "schedulers": {name: s.state_dict() for name, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, net in self.networks.items():
            net.load_state_dict(state["networks"][name])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][name])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.load_extra_state(state["extra"])


def _average_gradients(optimizer: torch.optim.Optimizer) -> None:
    """What DistributedDataParallel does, done per optimizer step.

    GAN steps freeze the other player's networks and run a discriminator several times per
    step, which DDP's bucketed reducer does not allow without find_unused_parameters and
    static-graph workarounds; one flat all-reduce per step is simple and exact.
    """
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
