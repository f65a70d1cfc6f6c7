"""What a run reports while it trains: log.csv, progress.json, TensorBoard and the console.

Only rank 0 of a torchrun job makes one of these. `progress.json` is the machine-readable
state the Slicer Training panel follows (step, total, losses, eta_seconds, state).
"""

from __future__ import annotations

import csv
import os
import sys
import time
from typing import Any

from ..io import atomic_path, write_json
from .runfolder import RunFolder


class RunLog:
    """Appends losses to log.csv and TensorBoard, keeps progress.json and a progress line."""

    def __init__(self, run: RunFolder, total: int, start_step: int, elapsed: float = 0.0, tensorboard: bool = True):
        self.run, self.total, self.start_step = run, total, start_step
        self.started = time.monotonic() - elapsed
        self.resumed_at = time.monotonic()
        self.csv_path = run.log_csv
        self.columns: list[str] | None = None
        self._keep_rows_up_to(start_step)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run.tensorboard), purge_step=start_step + 1)
            except ImportError:  # tensorboard is optional ("train" extra)
                self.writer = None
        self.bar = None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=start_step, unit="it", dynamic_ncols=True)
            except ImportError:
                self.bar = None

    def _keep_rows_up_to(self, step: int) -> None:
        """On resume, drop rows logged after the checkpoint, which the run is about to redo."""
        if not self.csv_path.exists():
            return
        with self.csv_path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if rows:
            self.columns = list(rows[0].keys())
        kept = [row for row in rows if int(row["step"]) <= step]
        with atomic_path(self.csv_path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns or ["step", "seconds"])
            writer.writeheader()
            writer.writerows(kept)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self, step: int) -> float | None:
        done = step - self.start_step
        if done <= 0:
            return None
        return (time.monotonic() - self.resumed_at) / done * (self.total - step)

    def log(self, step: int, losses: dict[str, float]) -> None:
        row = {"step": step, "seconds": round(self.elapsed(), 3), **losses}
        new_file = not self.csv_path.exists() or self.columns is None
        if self.columns is None:
            self.columns = list(row)
        with self.csv_path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(row)
        if self.writer is not None:
            for key, value in losses.items():
                self.writer.add_scalar(f"train/{key}", value, step)
        self.progress(step, losses, "running")
        eta = self.eta(step)
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in list(losses.items())[:4]})
        else:
            eta_text = "?" if eta is None else f"{eta:.0f}s"
            shown = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
            print(f"step {step}/{self.total} eta {eta_text} {shown}", file=sys.stderr, flush=True)

    def progress(self, step: int, losses: dict[str, float], state: str, **extra: Any) -> None:
        eta = 0.0 if state == "finished" else self.eta(step)
        write_json(
            self.run.progress_file,
            {"step": step, "total": self.total, "losses": losses, "eta_seconds": eta, "elapsed_seconds": self.elapsed(),
             "state": state, "pid": os.getpid(), **extra},
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()

