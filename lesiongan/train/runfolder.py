"""A training run's folder: every file in it named once, for the loop that writes them and for
whoever follows the run (the console, the Slicer Training panel, a script).

    run = RunFolder("runs/antgan")
    run.model                   # runs/antgan/model.pt
    run.read_progress()         # progress.json, or None before the run has one
    run.request_stop()          # the run checkpoints and ends at its next step

No torch here: the Training panel follows runs before PyTorch is installed. A RunFolder is
path-like, so it goes wherever a path does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io import folder_locked

# The checkpoint folder's two files: the newest, and the one before (see checkpoint.py).
LAST_CHECKPOINT, PREVIOUS_CHECKPOINT = "last.pt", "previous.pt"


@dataclass(frozen=True)
class RunFolder:
    path: Path

    def __init__(self, path: str | os.PathLike) -> None:
        object.__setattr__(self, "path", Path(path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)

    # --- what `lesiongan train` writes ------------------------------------------------------
    @property
    def checkpoints(self) -> Path:
        """The checkpoint folder: `last.pt` and `previous.pt`."""
        return self.path / "checkpoints"

    @property
    def log_csv(self) -> Path:
        """Step, seconds, every loss and learning rate, every `log_every` steps."""
        return self.path / "log.csv"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def progress_file(self) -> Path:
        """step, total, losses, eta_seconds, elapsed_seconds, state, pid (and error or model)."""
        return self.path / "progress.json"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    def sample(self, step: int) -> Path:
        """The sample grid written at `step`."""
        return self.samples / f"step_{step:06d}.png"

    @property
    def latest_sample(self) -> Path:
        return self.samples / "latest.png"

    @property
    def config_file(self) -> Path:
        """The configuration as the run used it: config, resolved options, device, AMP, world size."""
        return self.path / "config.json"

    @property
    def split_file(self) -> Path:
        """The subjects of the training and validation sides."""
        return self.path / "split.json"

    @property
    def distributed_file(self) -> Path:
        """torchrun runs only: each rank's weight hash."""
        return self.path / "distributed.json"

    @property
    def model(self) -> Path:
        """The exported model file, written when the run finishes."""
        return self.path / "model.pt"

    @property
    def stop_file(self) -> Path:
        """Present while a stop is asked for; the run removes it when it (re)starts."""
        return self.path / "STOP"

    # --- what the Training panel adds -------------------------------------------------------
    @property
    def run_file(self) -> Path:
        """The run's configuration (what `lesiongan train --config` reads) and its processes."""
        return self.path / "run.json"

    @property
    def train_log(self) -> Path:
        """stdout and stderr of every session of a run started from the panel."""
        return self.path / "train.log"

    # --- questions and requests -------------------------------------------------------------
    def has_checkpoint(self) -> bool:
        return any((self.checkpoints / name).exists() for name in (LAST_CHECKPOINT, PREVIOUS_CHECKPOINT))

    def holds_run(self) -> bool:
        """Whether a run was started here (from the panel, or one that has reported progress)."""
        return self.run_file.exists() or self.progress_file.exists()

    def request_stop(self) -> None:
        self.stop_file.touch()

    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    def clear_stop(self) -> None:
        self.stop_file.unlink(missing_ok=True)

    def read_progress(self) -> dict[str, Any] | None:
        """progress.json, or None before the run has one. A run that says "running" while no
        process holds the folder's lock was killed (kill -9, power loss): its state reads "died"."""
        path = self.progress_file
        try:
            progress = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise InputError(path, f"cannot be read as JSON ({error})") from error
        if not isinstance(progress, dict):
            raise InputError(path, "is not a progress record")
        if progress.get("state") == "running" and not folder_locked(self.path):
            progress["state"] = "died"
        return progress
