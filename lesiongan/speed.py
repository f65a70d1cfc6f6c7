"""Speed against the plain reference, measured in one process (`lesiongan speed infer|train`).

`measure_infer` times the slice-at-a-time fp32 loop a first implementation would write
(`reference_difference`) against the shipped engine (`lesiongan.infer.engine.SliceInferer`) on
the same phantom volume and model, and checks that both give the same difference map on the
foreground slices. `measure_train` times the shipped ANT-GAN step (as the training loop runs it)
against a plain fp32 CycleGAN step (`PlainCycleGAN`) at the same networks and batch.
Every speed-up is a ratio of two timings taken in the same process; each timing is the
fastest of the repeats, since other work on a shared machine only ever slows a run down.
"""

from __future__ import annotations

import itertools
import os
import platform
import resource
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .data import normalize as normalization
from .data.normalize import foreground_mask
from .errors import InputError
from .nets import build_network, to_net

PHANTOM_SIZES = ("tiny", "brats")
# Largest |difference| (normalized [0, 1] units) allowed between reference and engine: fp32
# with different kernel choices and summation orders agrees to ~1e-5; 1e-3 is 1 % of the
# paper's mask threshold 0.1, so the masks cannot differ noticeably.
AGREEMENT_TOLERANCE = 1e-3


# --- machine and memory -----------------------------------------------------------------------
def machine_info(device: torch.device) -> dict[str, Any]:
    """What a timing depends on: CPU model, cores, torch threads, load, GPU name."""
    cpu_model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu_model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu_model)
    except OSError:
        pass
    info: dict[str, Any] = {
        "device": str(device),
        "cpu_model": cpu_model,
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _rss_bytes() -> int:
    """Resident memory now (Linux /proc); elsewhere the peak so far, the best the OS offers."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Peak memory of a block: CUDA's allocator peak on a GPU; on the CPU the peak resident
    size above the start, sampled every 20 ms (ru_maxrss only ever grows over the process, so
    it cannot tell the second of two runs apart)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_bytes = 0
        self._stop = threading.Event()

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._start = self._peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self._peak = max(self._peak, _rss_bytes())

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._start
        else:
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self._peak, _rss_bytes()) - self._start


@dataclass
class Timing:
    seconds: list[float]
    peak_memory_mb: float

    @property
    def best(self) -> float:
        return min(self.seconds)


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> tuple[Timing, Any]:
    """`repeats` timed runs of `fn` (after nothing: the caller warms up); the last result."""
    seconds, peak, result = [], 0, None
    for _ in range(repeats):
        with PeakMemory(device) as memory:
            started = time.perf_counter()
            result = fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds.append(time.perf_counter() - started)
        peak = max(peak, memory.peak_bytes)
    return Timing(seconds, peak / 2**20), result


# --- inference --------------------------------------------------------------------------------
def reference_difference(arrays: list[np.ndarray], net: torch.nn.Module, device: torch.device,
                         normalization_spec: dict[str, Any]) -> np.ndarray:
    """THE REFERENCE: what a first implementation would write. Every axial slice, one at a
    time, fp32, under no_grad, uncropped (padded to a multiple of 4 only, as the generators
    need). Returns |G(x) - x| in normalized [0, 1] units, the maximum over channels, (z, y, x).

    Normalization is the project's, fitted on the foreground as the engine fits it, and the
    background keeps its value, so the two differ only in how the network is run.
    """
    foreground = foreground_mask(arrays)
    kind, options = normalization_spec.get("kind", "mr"), normalization_spec.get("options") or {}
    normalized = np.stack([normalization.normalize(a, normalization.fit_normalization(a, kind=kind, foreground=foreground, **options))
                           for a in arrays], axis=1).astype(np.float32)  # (z, C, y, x)
    height, width = normalized.shape[2:]
    pad_y, pad_x = -height % 4, -width % 4
    difference = np.empty((normalized.shape[0], height, width), dtype=np.float32)
    with torch.no_grad():
        for z in range(normalized.shape[0]):
            x = to_net(torch.from_numpy(normalized[z : z + 1]).to(device))
            # pad with the background (0 normalized, -1 in the network's range)
            padded = F.pad(x, (pad_x // 2, pad_x - pad_x // 2, pad_y // 2, pad_y - pad_y // 2), value=-1.0)
            y = net(padded)[:, :, pad_y // 2 : pad_y // 2 + height, pad_x // 2 : pad_x // 2 + width]
            difference[z] = ((y - x).abs() / 2).amax(dim=1)[0].cpu().numpy()
    return difference * foreground  # the change counts on the foreground only, as in the engine


def random_model_file(folder: Path, ngf: int, n_blocks: int = 9, seed: int = 0) -> Path:
    """A model file holding an ANT-GAN-shaped generator (shortcut) with random weights.

    The last conv gets random weights too (a new shortcut generator starts at exactly the
    identity, which would make any comparison of outputs trivially pass).
    """
    from .infer.modelfile import save_model

    torch.manual_seed(seed)
    net = build_network("resnet_generator", in_channels=1, out_channels=1, ngf=ngf, n_blocks=n_blocks, shortcut=True)
    torch.nn.init.normal_(net.last.weight, 0.0, 0.02)
    conventions = {"modalities": ["flair"], "axis": "axial", "normalization": {"kind": "mr", "options": {}}}
    return save_model(folder / "random_model.pt", method="antgan", networks={"a2n": net}, conventions=conventions,
                      provenance={"note": "random weights, for timing"})


def _phantom_in_model_frame(model: Any, size: str, seed: int) -> list[Any]:
    """The phantom's volumes for the model's modalities, already in the model's orientation and
    in-plane spacing, so that both runs see the same slices and the timings hold no resampling."""
    from .data.orientation import reorient
    from .data.phantom import make_case
    from .data.resample import resample_inplane

    case = make_case(seed, size=size)
    missing = [m for m in model.modalities if m not in case.images]
    if missing:
        raise InputError(model.path, f"takes modalities {missing} that the phantom does not have ({', '.join(case.images)})")
    if str(model.conventions.get("axis", "axial")) != "axial":
        raise InputError(model.path, "speed infer times axial models only")
    volumes = [case.volume(case.images[m].astype(np.float32)) for m in model.modalities]
    if model.conventions.get("orientation"):
        volumes = [reorient(v, model.conventions["orientation"]) for v in volumes]
    if model.conventions.get("spacing") is not None:
        volumes = [resample_inplane(v, model.conventions["spacing"], "axial") for v in volumes]
    return volumes


def measure_infer(model_path: str | None, size: str, device_name: str, repeats: int, ngf: int,
                seed: int = 0, crop: bool = False) -> dict[str, Any]:
    """Reference against engine on one phantom volume; timings, memory, ratio and agreement.
    With `crop`, the engine's approximate crop=True mode is timed and compared as well."""
    from .device import resolve_device
    from .infer.engine import SliceInferer
    from .infer.modelfile import load_model

    if size not in PHANTOM_SIZES:
        raise InputError("--size", f"must be one of {', '.join(PHANTOM_SIZES)}, not {size!r}")
    if repeats < 1:
        raise InputError("--repeats", f"must be >= 1, not {repeats}")
    device = resolve_device(device_name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(model_path) if model_path else random_model_file(Path(folder), ngf)
        model = load_model(path)
        volumes = _phantom_in_model_frame(model, size, seed)
        net = model.network("a2n", device)
        arrays = [v.array for v in volumes]
        spec = model.conventions.get("normalization") or {"kind": "mr", "options": {}}

        def reference() -> np.ndarray:
            return reference_difference(arrays, net, device, spec)

        runs: dict[str, Callable[[], Any]] = {
            "reference": reference,
            "engine": lambda: SliceInferer(device=device)(volumes, model, "a2n"),
        }
        if crop:
            runs["engine_crop"] = lambda: SliceInferer(device=device, crop=True)(volumes, model, "a2n")
        # Warm up on one slice (first-call kernel choices; a whole extra volume would double a
        # CPU measurement's time), then take turns so that a change in machine load hits all alike.
        with torch.no_grad():
            padded = [n + (-n % 4) for n in arrays[0].shape[1:]]
            net(torch.zeros((1, len(arrays), *padded), device=device))
        timings = {name: Timing([], 0.0) for name in runs}
        results: dict[str, Any] = {}
        for _ in range(repeats):
            for name, fn in runs.items():
                timing, results[name] = _timed(fn, device, 1)
                timings[name].seconds += timing.seconds
                timings[name].peak_memory_mb = max(timings[name].peak_memory_mb, timing.peak_memory_mb)
        threshold = model.threshold
        model_description = {"file": str(model_path) if model_path else None,
                             **model._entries["a2n"]["kwargs"], "arch": model._entries["a2n"]["arch"]}

    slices = arrays[0].shape[0]
    expected = results["reference"]
    foreground_slices = results["engine"].foreground.array.reshape(slices, -1).any(axis=1)

    expected_mask = (expected > threshold) & (results["engine"].foreground.array > 0)

    def agreement(result: Any) -> dict[str, Any]:
        gap = np.abs(result.difference.array - expected)[foreground_slices]
        brain_gap = gap[result.foreground.array[foreground_slices] > 0]
        largest = float(gap.max()) if gap.size else 0.0
        mask = result.mask.array > 0
        both = int(np.count_nonzero(mask & expected_mask))
        total = int(np.count_nonzero(mask)) + int(np.count_nonzero(expected_mask))
        return {"max_abs_difference": largest, "mean_abs_difference": float(gap.mean()) if gap.size else 0.0,
                "max_abs_difference_in_foreground": float(brain_gap.max()) if brain_gap.size else 0.0,
                "mask_dice": 2 * both / total if total else 1.0, "threshold": threshold,
                "tolerance": AGREEMENT_TOLERANCE, "within_tolerance": largest <= AGREEMENT_TOLERANCE}

    def summary(name: str) -> dict[str, Any]:
        timing = timings[name]
        out = {"seconds_per_volume": timing.best, "seconds_all": timing.seconds,
               "slices_per_s": slices / timing.best, "peak_memory_mb": timing.peak_memory_mb}
        if name != "reference":
            out.update(slices_run=results[name].slices_run, batch_size=results[name].batch_size,
                       speedup=timings["reference"].best / timing.best, agreement=agreement(results[name]))
        return out

    report = {
        "benchmark": "infer",
        "machine": machine_info(device),
        "volume": {"phantom_size": size, "shape_zyx": list(arrays[0].shape), "slices": slices,
                   "foreground_slices": int(foreground_slices.sum()), "seed": seed},
        "model": model_description,
        "repeats": repeats,
        **{name: summary(name) for name in runs},
    }
    report["speedup"] = report["engine"]["speedup"]
    report["agreement"] = report["engine"]["agreement"]
    return report


# --- training ---------------------------------------------------------------------------------
class PlainCycleGAN:
    """THE REFERENCE training step: a plain fp32 CycleGAN as a first implementation would write
    it. Two generators, two PatchGAN discriminators, LSGAN + lambda * cycle L1, Adam(2e-4, 0.5),
    losses read back every step; no pools, no AMP, no identity loss."""

    def __init__(self, channels: int, ngf: int, ndf: int, n_blocks: int, device: torch.device, lambda_cycle: float = 10.0):
        def generator() -> torch.nn.Module:
            return build_network("resnet_generator", in_channels=channels, out_channels=channels, ngf=ngf, n_blocks=n_blocks).to(device)

        def discriminator() -> torch.nn.Module:
            return build_network("patch_discriminator", in_channels=channels, ndf=ndf).to(device)

        self.g_ab, self.g_ba, self.d_a, self.d_b = generator(), generator(), discriminator(), discriminator()
        self.lambda_cycle = lambda_cycle
        self.opt_g = torch.optim.Adam(itertools.chain(self.g_ab.parameters(), self.g_ba.parameters()), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(itertools.chain(self.d_a.parameters(), self.d_b.parameters()), lr=2e-4, betas=(0.5, 0.999))

    def step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, float]:
        fake_b, fake_a = self.g_ab(real_a), self.g_ba(real_b)
        for p in itertools.chain(self.d_a.parameters(), self.d_b.parameters()):
            p.requires_grad_(False)
        score_b, score_a = self.d_b(fake_b), self.d_a(fake_a)
        loss_g = (F.mse_loss(score_b, torch.ones_like(score_b)) + F.mse_loss(score_a, torch.ones_like(score_a))
                  + self.lambda_cycle * (F.l1_loss(self.g_ba(fake_b), real_a) + F.l1_loss(self.g_ab(fake_a), real_b)))
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        for p in itertools.chain(self.d_a.parameters(), self.d_b.parameters()):
            p.requires_grad_(True)
        loss_d = 0.0
        for d, real, fake in ((self.d_a, real_a, fake_a), (self.d_b, real_b, fake_b)):
            real_score, fake_score = d(real), d(fake.detach())
            loss_d = loss_d + 0.5 * (F.mse_loss(real_score, torch.ones_like(real_score)) + F.mse_loss(fake_score, torch.zeros_like(fake_score)))
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        return {"G": loss_g.item(), "D": float(loss_d.item())}


@dataclass
class _SyntheticSlices:
    """Random slices in the shape the sampler reads: half abnormal (a brighter square, its mask,
    and the slice without it as the healthy twin, for recipes that learn from twins)."""

    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    truth: torch.Tensor

    @classmethod
    def make(cls, count: int, size: int, seed: int, channels: int = 1) -> "_SyntheticSlices":
        generator = torch.Generator().manual_seed(seed)
        truth = 0.1 + 0.6 * torch.rand((count, channels, size, size), generator=generator)
        masks = torch.zeros((count, 1, size, size))
        masks[: count // 2, :, size // 4 : size // 2, size // 4 : size // 2] = 1
        labels = (masks.flatten(1).amax(1) > 0).long()
        return cls(truth + 0.3 * masks, masks, labels, truth)


def measure_train(ngf: int, size: int, batch_size: int, iterations: int, device_name: str, n_blocks: int = 9,
                  seed: int = 0, preset: str = "antgan", channels: int = 1, compile_networks: bool = False,
                  overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The loop's ANT-GAN step (`preset`: the paper's, or twin-gate, the demo model's recipe, with
    `overrides` of its options) against the plain CycleGAN step at the same width, on `channels` sequences;
    iterations/s and images/s. With `compile_networks` the step's networks go through
    `torch.compile` first (the warm-up steps, compilation included, are reported)."""
    from .device import resolve_device
    from .methods import get_method, resolve_options
    from .train.loop import choose_amp, seed_everything
    from .train.sampler import SliceSampler

    for name, value in (("--ngf", ngf), ("--size", size), ("--batch-size", batch_size), ("--iterations", iterations),
                        ("--channels", channels)):
        if value < 1:
            raise InputError(name, f"must be >= 1, not {value}")
    if size % 4:
        raise InputError("--size", f"must be a multiple of 4 (two stride-2 levels), not {size}")
    device = resolve_device(device_name)
    seed_everything(seed)
    slices = _SyntheticSlices.make(max(8, 2 * batch_size), size, seed, channels)
    method_cls = get_method("antgan")
    options = resolve_options(method_cls, preset, {**(overrides or {}), "ngf": ngf, "n_blocks": n_blocks})
    amp = choose_amp("auto", device)
    method = method_cls(options, channels=channels, device=device, amp=amp, total_steps=iterations + 1, seed=seed)
    method.train(True)
    if compile_networks:  # the optimizers hold the same parameters: only the call goes through the compiler
        for name in method.roles.values():
            method.networks[name] = torch.compile(method.networks[name])
    sampler = SliceSampler(slices, seed=seed)
    step_counter = itertools.count()

    def shipped_step() -> None:  # as lesiongan.train.loop runs it
        batch = method.make_batch(sampler, batch_size)
        method.train_step(batch, next(step_counter))
        method.end_step()

    plain = PlainCycleGAN(channels, ngf, options["ndf"], n_blocks, device)
    real_a = to_net(slices.images[:batch_size]).to(device)
    real_b = to_net(slices.images[-batch_size:]).to(device)

    def plain_step() -> None:
        plain.step(real_a, real_b)

    started = time.perf_counter()
    shipped_step()  # warm-up: first-call kernel choices, allocator growth (and compilation)
    shipped_step()
    warmup = time.perf_counter() - started
    plain_step()
    shipped, reference = Timing([], 0.0), Timing([], 0.0)
    for _ in range(iterations):  # alternate, so a change in machine load hits both alike
        for timing, fn in ((reference, plain_step), (shipped, shipped_step)):
            measured, _ = _timed(fn, device, 1)
            timing.seconds += measured.seconds
            timing.peak_memory_mb = max(timing.peak_memory_mb, measured.peak_memory_mb)

    def summary(timing: Timing) -> dict[str, Any]:
        # the median step: a training run's speed is its typical step, not its luckiest one
        per_step = float(np.median(timing.seconds))
        return {"seconds_per_iteration": per_step, "seconds_all": timing.seconds, "iterations_per_s": 1 / per_step,
                "images_per_s": 2 * batch_size / per_step, "peak_memory_mb": timing.peak_memory_mb}

    return {
        "benchmark": "train",
        "machine": machine_info(device),
        "setup": {"preset": preset, "generator": options["generator"], "ngf": ngf, "ndf": options["ndf"],
                  "n_blocks": n_blocks, "size": size, "batch_size": batch_size, "channels": channels,
                  "iterations": iterations, "amp": amp or "off", "compiled": compile_networks,
                  "warmup_seconds": warmup,
                  "images_per_iteration": 2 * batch_size},
        "reference": summary(reference),
        "shipped": summary(shipped),
        "speedup": float(np.median(reference.seconds) / np.median(shipped.seconds)),
    }
