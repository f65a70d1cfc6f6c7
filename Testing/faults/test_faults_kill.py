"""kill -9 at random points of a training run, mid-checkpoint included: after resuming, the run
ends bitwise-identical to one that was never interrupted, and leaves nothing stale behind."""

from __future__ import annotations

import csv
import random
import re
import signal
import time
from pathlib import Path

import torch

from fault_support import TINY_TRAIN, lesiongan, start
from lesiongan.train.runfolder import RunFolder

ITERATIONS = 8
KILLS = 3
SEED = 20260517  # fixes the kill points, so a failure can be replayed
_TEMPORARY = re.compile(r"^\.last\.pt\.\d+\.[0-9a-f]{8}\.tmp")


def _train(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--iterations", str(ITERATIONS),
            "--checkpoint-every", "1", "--log-every", "1", *TINY_TRAIN, *extra]


def _logged_step(out: Path) -> int:
    try:
        rows = (out / "log.csv").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return 0
    return len(rows) - 1 if rows else 0


def _kill_at(process, out: Path, step: int, mid_checkpoint: bool, deadline_s: float = 120) -> str:
    """SIGKILL `process` once it has logged `step` (and, when `mid_checkpoint`, while a checkpoint
    is being written); returns where it was killed."""
    checkpoints = out / "checkpoints"
    ends = time.monotonic() + deadline_s
    while time.monotonic() < ends and process.poll() is None:
        if _logged_step(out) >= step:
            writing = checkpoints.is_dir() and any(_TEMPORARY.match(p.name) for p in checkpoints.iterdir())
            if writing or not mid_checkpoint:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return "mid-checkpoint" if writing else f"after step {_logged_step(out)}"
            if _logged_step(out) >= step + 2:  # the write was too quick to catch: kill here
                mid_checkpoint = False
        time.sleep(0.0005 if mid_checkpoint else 0.01)
    process.wait()
    return "finished before the kill"


def _weights(out: Path) -> dict[str, torch.Tensor]:
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["state"]["networks"]
    return {f"{net}.{key}": value for net, tensors in state.items() for key, value in tensors.items()}


def test_kill_9_then_resume_is_bitwise_identical_to_an_uninterrupted_run(pairs, tmp_path):
    reference = tmp_path / "reference"
    done = lesiongan(*_train(pairs, reference))
    assert done.returncode == 0, done.stderr[-2000:]

    out = tmp_path / "killed"
    rng = random.Random(SEED)
    steps = sorted(rng.sample(range(1, ITERATIONS), KILLS))
    where = []
    for round_, step in enumerate(steps):
        process = start(*_train(pairs, out, *(["--resume"] if round_ else [])))
        where.append(_kill_at(process, out, step, mid_checkpoint=round_ % 2 == 0))
        progress = RunFolder(out).read_progress()
        assert progress is None or progress["state"] in ("died", "finished"), progress
    print("kills:", where)
    finished = lesiongan(*_train(pairs, out, "--resume"))
    assert finished.returncode == 0, (where, finished.stderr[-2000:])

    first, second = _weights(reference), _weights(out)
    assert first.keys() == second.keys()
    assert [key for key in first if not torch.equal(first[key], second[key])] == [], where
    assert RunFolder(out).read_progress()["state"] == "finished"
    with (out / "log.csv").open(newline="", encoding="utf-8") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == list(range(1, ITERATIONS + 1))
    leftovers = [p.name for p in out.rglob(".*") if p.name != ".lock"]
    assert leftovers == [], leftovers
