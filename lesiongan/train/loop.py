"""THE training loop shared by every method.

    from lesiongan.train import TrainConfig, train
    model_path = train(TrainConfig(method="antgan", data="phantom/", out="runs/antgan", iterations=2000))

The loop owns what methods share: the slice data (subject-level train/validation split),
seeding and determinism, device and AMP choice, atomic checkpoints with exact resume, logs
(log.csv, TensorBoard, progress.json, console), sample grids, a clean stop (SIGINT/SIGTERM or a
STOP file), data parallelism under torchrun, and the export of the model file.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import time
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..data.volume import write_json
from ..errors import Cancelled, InputError
from ..io import exclusive_lock, remove_stale_temporaries
from ..device import resolve_device
from ..methods import get_method, resolve_options
from ..methods.base import Method, as_floats
from . import distributed
from .checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from .config import AMP_CHOICES, DEVICE_CHOICES, TrainConfig, check_config
from .grids import save_grid
from .runfolder import RunFolder
from .runlog import RunLog
from .sampler import SliceSampler
from .validate import check_checkpoint, check_options, check_resume, check_step_memory


# --- choices made once per run ----------------------------------------------------------------
def choose_device(requested: str, context: distributed.Context) -> torch.device:
    """The engine's rule (auto = CUDA when usable), then one GPU per local rank."""
    if requested not in DEVICE_CHOICES:
        raise InputError("--device", f"must be one of {', '.join(DEVICE_CHOICES)}, not {requested!r}")
    device = resolve_device(requested)
    if device.type == "cuda":
        return torch.device("cuda", context.local_rank % torch.cuda.device_count())
    return device


def choose_amp(requested: str, device: torch.device) -> str | None:
    """bf16 where the GPU has it, fp16 (with loss scaling) on older GPUs, none on the CPU."""
    if requested not in AMP_CHOICES:
        raise InputError("--amp", f"must be one of {', '.join(AMP_CHOICES)}, not {requested!r}")
    if requested == "off" or device.type != "cuda":
        return None
    if requested == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return requested


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Reproducible kernels where they exist; warn (not fail) where an op has none.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


# --- data -------------------------------------------------------------------------------------
def load_training_slices(config: TrainConfig, run: RunFolder, context: distributed.Context) -> tuple[Any, dict[str, Any]]:
    """The training SliceSet and a record of where it came from (split, data folder)."""
    if not isinstance(config.data, (str, os.PathLike)):
        return config.data, {"data": "in-memory slices", "split": None}
    from ..data import readers
    from ..data.slices import SliceSet

    root = Path(config.data)
    if not str(config.data) or not root.is_dir():
        raise InputError(root, "is not a data folder")
    subjects = readers.discover(root)
    if not 0 <= config.val_fraction < 1:
        raise InputError("val_fraction", f"must be in [0, 1), not {config.val_fraction}")
    if config.val_fraction > 0 and len(subjects) > 1:
        train_subjects, val_subjects = readers.split_subjects(subjects, (1 - config.val_fraction, config.val_fraction), seed=config.seed)
    else:
        train_subjects, val_subjects = list(subjects), []
    if not train_subjects:
        raise InputError(root, f"has too few subjects ({len(subjects)}) to hold out {config.val_fraction:.0%} for validation")
    split = {"train": [s.id for s in train_subjects], "validation": [s.id for s in val_subjects]}
    if context.is_main:
        write_json(run.split_file, split)
    slices = SliceSet.from_subjects(
        train_subjects,
        modalities=list(config.modalities),
        axis=config.axis,
        spacing=config.spacing,
        size=config.size,
        slice_range=config.slice_range,
    )
    return slices, {"data": str(root.resolve()), "split": split}


# --- the loop ---------------------------------------------------------------------------------
class StopRequest:
    """Set by SIGINT/SIGTERM or a `STOP` file in the run folder; restores the handlers on exit."""

    def __init__(self, run: RunFolder):
        self.run = run
        self.signalled = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopRequest":
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: only the STOP file works
            pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signalled = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def requested(self) -> bool:
        return self.signalled or self.run.stop_requested()


def _checkpoint_state(step: int, method: Method, sampler: SliceSampler, config: TrainConfig, options: dict, elapsed: float) -> dict:
    return {
        "step": step,
        "method": method.name,
        "options": options,
        "config": config.plain(),
        "state": method.state_dict(),
        "sampler": sampler.state_dict(),
        "rng": capture_rng(),
        "elapsed": elapsed,
    }


def _check_resumable(checkpoint: dict, method_name: str, options: dict, run: RunFolder) -> None:
    if checkpoint["method"] != method_name or checkpoint["options"] != options:
        raise InputError(
            run.checkpoints,
            f"was written by method {checkpoint['method']} with options {checkpoint['options']}; "
            f"this run asks for {method_name} with {options}",
        )


def train(config: TrainConfig) -> Path:
    """Train `config.method` and return the exported model file `<out>/model.pt`.

    Raises `Cancelled` after writing a checkpoint when asked to stop (signal or STOP file);
    `--resume` continues exactly where it stopped.
    """
    run = RunFolder(config.out)
    method_cls = get_method(config.method)
    check_config(config)
    options = resolve_options(method_cls, config.preset, config.options)
    check_options(options, method_cls.name)
    if run.path.exists() and not run.path.is_dir():
        raise InputError(run.path, "is a file, not a run folder")
    fresh = not run.path.exists()
    # One process per run folder: a second run on it would interleave logs and checkpoints.
    # Under torchrun rank 0 holds the lock for all ranks.
    lock = exclusive_lock(run.path, "training run") if os.environ.get("RANK", "0") == "0" else contextlib.nullcontext()
    with lock:
        try:
            if not config.resume and run.has_checkpoint():
                raise InputError(run.path, "already holds a run; pass resume=True (--resume) to continue it, or use a new folder")
            context = distributed.start(resolve_device(config.device).type)
            try:
                return _train(config, run, method_cls, options, context)
            finally:
                distributed.stop(context)
        except InputError:
            # A run refused before it began leaves no folder behind; removed while the lock is
            # held, so it is this run's folder and no other process's.
            if fresh and not run.has_checkpoint() and not run.progress_file.exists():
                shutil.rmtree(run.path, ignore_errors=True)
            raise


def _train(config: TrainConfig, run: RunFolder, method_cls: type[Method], options: dict, context: distributed.Context) -> Path:
    device = choose_device(config.device, context)
    amp = choose_amp(config.amp, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    run.path.mkdir(parents=True, exist_ok=True)
    if context.is_main:
        # A STOP file ended the previous session; starting again means carrying on. Cleared
        # before the data loads, so a stop asked for while it loads is still honoured.
        run.clear_stop()
        # A run killed while writing progress.json or log.csv left its temporary behind.
        remove_stale_temporaries(run.path)
    slices, origin = load_training_slices(config, run, context)
    check_step_memory(config.batch_size, int(slices.images.shape[1]), tuple(slices.images.shape[2:]), options)

    seed_everything(config.seed)  # same on every rank: identical initial weights
    method = method_cls(options, channels=int(slices.images.shape[1]), device=device, amp=amp, total_steps=config.iterations, seed=config.seed + 1000 * context.rank)
    sampler = SliceSampler(slices, seed=config.seed + 1000 * context.rank, rank=context.rank, world_size=context.world_size)
    sampler.require(method_cls.sample_kinds, config.data)
    if config.init is not None:
        start_from_model(method, config.init, config.modalities)
    distributed.broadcast_weights(method.networks, context)
    if device.type == "cuda":
        # NHWC lets cuDNN run the convs on tensor cores under AMP (unmeasured: no GPU was at
        # hand). After the broadcast, which wants plain contiguous tensors.
        for net in method.networks.values():
            net.to(memory_format=torch.channels_last)
    # Fixed slices for the sample grids, drawn from their own generator so the run's data
    # order does not depend on how often grids are written.
    preview = method.make_batch(SliceSampler(slices, seed=config.seed + 7), min(4, max(1, sampler.count("any"))))

    step, elapsed = 0, 0.0
    if config.resume and run.has_checkpoint():
        checkpoint = load_checkpoint(run.checkpoints, map_location=device, validate=check_checkpoint)
        _check_resumable(checkpoint, method.name, options, run)
        check_resume(checkpoint["config"], config.plain(), run.path)
        method.load_state_dict(checkpoint["state"])
        step, elapsed = int(checkpoint["step"]), float(checkpoint["elapsed"])
        if not context.active:  # the saved data position and RNG are rank 0's
            sampler.load_state_dict(checkpoint["sampler"])
            restore_rng(checkpoint["rng"])
        del checkpoint

    distributed.any_rank(False, context, device)  # no rank looks for STOP before it is gone
    log = RunLog(run, config.iterations, step, elapsed, config.tensorboard) if context.is_main else None
    if log:
        write_json(run.config_file, {"config": config.plain(), "options": options, "world_size": context.world_size, "device": str(device), "amp": amp or "off"})
        log.progress(step, {}, "running")

    def checkpoint_now() -> None:
        if context.is_main:
            save_checkpoint(run.checkpoints, _checkpoint_state(step, method, sampler, config, options, log.elapsed()))

    losses: dict[str, float] = {}
    method.train(True)
    with StopRequest(run) as stop_request:
        try:
            while step < config.iterations:
                if distributed.any_rank(stop_request.requested(), context, device):
                    checkpoint_now()
                    if log:
                        log.progress(step, losses, "stopped")
                    raise Cancelled(f"training stopped at step {step} of {config.iterations}; checkpoint in {run.checkpoints}")
                batch = method.make_batch(sampler, config.batch_size)
                step_losses = method.train_step(batch, step)
                method.end_step()
                step += 1
                logging_now = bool(log) and (step % config.log_every == 0 or step == config.iterations)
                # A method may return its losses as device tensors: they are read back (a host
                # sync on a GPU) only when someone looks at them.
                if logging_now or config.on_step is not None or step == config.iterations:
                    losses = as_floats(step_losses)
                if logging_now:
                    log.log(step, {**losses, **method.learning_rates()})
                if log and (step % config.sample_every == 0 or step == config.iterations):
                    with method.evaluating():
                        panels = method.sample_panels(preview)
                    save_grid(panels, run.sample(step))
                    save_grid(panels, run.latest_sample)
                if step % config.checkpoint_every == 0 or step == config.iterations:
                    checkpoint_now()
                if config.on_step is not None:
                    config.on_step(step, losses)
        except Cancelled:
            raise
        except Exception as error:
            if log:  # the Training panel learns that the run died, and why
                log.progress(step, losses, "failed", error=f"{type(error).__name__}: {error}")
            raise
        finally:
            if log:
                log.close()

    digests = distributed.gather_strings(distributed.weights_digest(method.networks), context)
    if not context.is_main:
        return run.model
    if context.active:
        write_json(run.distributed_file, {"world_size": context.world_size, "weights_sha256": digests, "in_sync": len(set(digests)) == 1})
    model_path = export_model(run, method, slices, config, options, origin, context)
    log.progress(step, losses, "finished", model=str(model_path))
    return model_path


def start_from_model(method: Method, path: str | os.PathLike, modalities: Sequence[str] = ()) -> None:
    """Copy the weights of model file `path` into `method`'s networks, role by role (fine-tuning).

    Every role the method exports must be in the file with the same architecture; a checkpoint's
    resume is another thing (it restores optimizers, schedules and the data order too). A model
    on the first of this run's `modalities` (FLAIR, for FLAIR, T1, T2, T1ce) starts the wider
    run where its generators can widen (`load_narrower`): the new sequences come in at zero weight.
    """
    from ..infer.modelfile import load_model
    from ..nets.registry import network_spec, unwrap

    model = load_model(path)
    prefix = len(model.modalities) < len(modalities) and list(modalities[: len(model.modalities)]) == model.modalities
    for role, name in method.roles.items():
        if role not in model.roles:
            raise InputError("--init", f"{path} has no '{role}' network to start {name} from (it has: "
                                       f"{', '.join(model.roles)})")
        source, target = model.network(role), unwrap(method.networks[name])
        mismatch = f"{path}'s '{role}' network is a {network_spec(source)}, not the {network_spec(target)} this run trains"
        if network_spec(source) == network_spec(target):
            target.load_state_dict(source.state_dict())
        elif prefix and hasattr(target, "load_narrower") and type(source) is type(target):
            try:
                target.load_narrower(source)
            except ValueError as error:  # another width or depth: only the sequences may differ
                raise InputError("--init", f"{mismatch}, and cannot widen to it ({error})") from error
        else:
            raise InputError("--init", mismatch)


def export_model(run: RunFolder, method: Method, slices: Any, config: TrainConfig, options: dict, origin: dict, context: distributed.Context) -> Path:
    """`<out>/model.pt` with the method's roles, the data conventions and the provenance."""
    from ..infer.modelfile import save_model

    conventions = dict(getattr(slices, "meta", {}) or {})
    conventions.setdefault("modalities", list(config.modalities))
    optional = method.optional_modalities(list(conventions["modalities"]))
    if optional:
        conventions["optional_modalities"] = optional
    provenance = {
        "method": method.name,
        "preset": config.preset or method.default_preset,
        "options": options,
        "iterations": config.iterations,
        "batch_size": config.batch_size,
        "world_size": context.world_size,
        "seed": config.seed,
        "data": origin["data"],
        "split": origin["split"],
        "torch": str(torch.__version__),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return save_model(run.model, method=method.name, networks=method.role_networks(), conventions=conventions,
                      provenance=provenance)
