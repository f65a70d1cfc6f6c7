"""Shared pieces of the fault suite (no tests here): the command line in a child process, under
resource limits or to be killed, and a tiny phantom to train on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTING = Path(__file__).resolve().parents[1]
# A child that imports LesionGAN (and the test networks), then applies its limits, then runs the
# command line: the limits bind the command, not the interpreter's start-up.
_CHILD = """
import resource, sys
sys.path.insert(0, {testing!r})
import test_infer_support  # registers the test networks that model files in the tests use
import torch
from lesiongan.cli import main
for name, value in {limits!r}.items():
    kind = getattr(resource, name)
    if name == "RLIMIT_AS":  # what the interpreter holds already, plus the allowance
        with open("/proc/self/status") as status:
            used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
        value += used
    resource.setrlimit(kind, (value, resource.getrlimit(kind)[1]))
sys.exit(main(sys.argv[1:]))
"""
# Small networks and slices: a step takes milliseconds, so a run is mostly start-up.
TINY_TRAIN = ["--modalities", "image", "--set", "ngf=4", "--set", "ndf=4", "--set", "n_blocks=1", "--set", "pool_size=3",
              "--val-fraction", "0", "--no-tensorboard", "--device", "cpu", "--sample-every", "1000"]


def environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def command(*args: str, limits: dict[str, int] | None = None) -> list[str]:
    return [sys.executable, "-c", _CHILD.format(testing=str(TESTING), limits=dict(limits or {})), *map(str, args)]


def lesiongan(*args: str, limits: dict[str, int] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `lesiongan ARGS` in a child process and wait for it."""
    return subprocess.run(command(*args, limits=limits), capture_output=True, text=True, timeout=timeout,
                          env=environment())


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment())


def one_clear_line(result: subprocess.CompletedProcess) -> str:
    """The stderr of a failed command: exactly one error line, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.startswith("lesiongan ")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    return lines[0]
