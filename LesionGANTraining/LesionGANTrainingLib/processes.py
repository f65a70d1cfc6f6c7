"""Detached training processes: start one, tell whether it still runs, ask it to end.

A training run must outlive the panel (and Slicer itself), so it is started in its own
session / process group with its output going to a file, never to a pipe Slicer would
have to drain. Only the standard library is used: psutil is not always in Slicer's Python.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

# Children started by this Python, by pid: polling them reaps them, so a finished run does
# not linger as a zombie that still answers to its pid.
_children: dict[int, subprocess.Popen] = {}


def pythonExecutable(slicerHome: str | None = None) -> str:
    """The Python that runs `-m lesiongan train`: Slicer's PythonSlicer inside Slicer (the
    Slicer executable itself cannot run `-m`), the current interpreter elsewhere."""
    if slicerHome is None:
        return sys.executable
    name = "PythonSlicer.exe" if os.name == "nt" else "PythonSlicer"
    candidate = Path(slicerHome) / "bin" / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("PythonSlicer")
    if found:
        return found
    from lesiongan.errors import InputError

    raise InputError(slicerHome, f"has no bin/{name} to run training with")


def runningSlicerHome() -> str | None:
    """Slicer's home folder when this Python runs inside the Slicer application, else None."""
    try:
        import slicer

        return str(slicer.app.slicerHome)
    except (ImportError, AttributeError):  # plain Python, or slicer-core without the application
        return None


def startDetached(command: list[str], logPath: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `command` on its own, appending its stdout and stderr to `logPath`."""
    options: dict = {}
    if os.name == "nt":
        # No console window, and no Ctrl+C from Slicer's console group.
        options["creationflags"] = (getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
                                    | getattr(subprocess, "DETACHED_PROCESS", 0)
                                    | getattr(subprocess, "CREATE_NO_WINDOW", 0))
    else:
        options["start_new_session"] = True  # no SIGHUP/SIGINT when Slicer's terminal goes
    with open(logPath, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=env, close_fds=True, **options)
    _children[process.pid] = process
    return process


def exitCode(pid: int) -> int | None:
    """The exit status of a child this Python started and that has ended, else None."""
    process = _children.get(pid)
    return process.poll() if process is not None else None


def isAlive(pid: int | None) -> bool:
    """True while process `pid` runs (a zombie or a reused pid of another program is not)."""
    if not pid or pid <= 0:
        return False
    process = _children.get(pid)
    if process is not None:
        return process.poll() is None
    if os.name == "nt":
        return _windowsIsAlive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else: not our training run
        return False
    proc = Path("/proc") / str(pid)
    if proc.is_dir():  # Linux: rule out zombies and pids reused by other programs
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            commandLine = (proc / "cmdline").read_bytes()
        except OSError:
            return False
        return state != "Z" and b"lesiongan" in commandLine
    return True


def _windowsIsAlive(pid: int) -> bool:
    # os.kill(pid, 0) would terminate the process on Windows; ask the kernel instead.
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def terminate(pid: int) -> None:
    """SIGTERM (the training loop then checkpoints and exits; TerminateProcess on Windows)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
