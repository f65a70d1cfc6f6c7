"""Checkpoints: written atomically, the previous one kept, RNG states as plain tensors/lists.

`last.pt` is the newest, `previous.pt` the one before. Writing goes to a temporary file that
replaces `last.pt` only when complete, so a crash mid-write leaves the newest complete
checkpoint in place; loading falls back to `previous.pt` when `last.pt` is missing or
unreadable. Everything loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..io import remove_stale_temporaries, temporary_name, write_failed
from .runfolder import LAST_CHECKPOINT as LAST
from .runfolder import PREVIOUS_CHECKPOINT as PREVIOUS


def capture_rng() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and python RNG states in weights_only-safe types."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))


def save_checkpoint(folder: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write `state` as `folder/last.pt`, keeping the former `last.pt` as `previous.pt`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)  # what a run killed mid-write left behind
    last = folder / LAST
    # Not io.atomic_path: the old file has to move aside between the write and the swap. A
    # crash in between leaves only previous.pt, which load_checkpoint falls back to.
    temporary = temporary_name(last)
    try:
        try:
            torch.save(state, temporary)
        except RuntimeError as error:  # torch reports a short write (disk full) as a RuntimeError
            raise write_failed(last, error) from error
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        if last.exists():
            os.replace(last, folder / PREVIOUS)
        os.replace(temporary, last)
    finally:
        temporary.unlink(missing_ok=True)
    return last


def load_checkpoint(folder: str | os.PathLike, map_location: str | torch.device = "cpu",
                    validate: Callable[[Any, Path], None] | None = None) -> dict[str, Any]:
    """The newest readable checkpoint in `folder` (`last.pt`, else `previous.pt`) that passes
    `validate(checkpoint, path)` (which raises InputError on a bad one, e.g.
    `validate.check_checkpoint`); falling back to `previous.pt` is said on stderr, since it
    repeats some steps."""
    folder = Path(folder)
    problems = []
    for name in (LAST, PREVIOUS):
        path = folder / name
        if not path.exists():
            problems.append(f"{name} missing")
            continue
        try:
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
            if validate is not None:
                validate(checkpoint, path)
        except InputError as error:
            problems.append(f"{name} invalid ({error.problem})")
            continue
        except Exception as error:  # a truncated or corrupt file: try the previous one
            problems.append(f"{name} unreadable ({type(error).__name__}: {str(error)[:200]})")
            continue
        if problems and name == PREVIOUS:
            print(f"lesiongan: {folder}: {problems[-1]}; resuming from {PREVIOUS} "
                  f"(step {checkpoint['step']})", file=sys.stderr, flush=True)
        return checkpoint
    raise InputError(folder, "no checkpoint to resume from: " + "; ".join(problems))

