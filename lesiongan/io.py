"""Writing files whole or not at all, and the checks every output goes through first.

Every file LesionGAN writes goes through `atomic_path`: the bytes go to a temporary file in
the same folder, are checked (`verify`), flushed to disk (fsync) and only then renamed over
the final name. A reader sees the old file or the whole new one; a full disk, a kill or an
exception leaves no partial file behind. A temporary file of a process that died (kill -9)
carries that process's id in its name, so `remove_stale_temporaries` can tell it from one
that a live process is still writing.

Before a command runs its first model, `check_outputs` refuses outputs that would replace
an input, a phantom's ground truth, or (without `overwrite`) any existing file, and
`check_writable_folder` finds an unwritable output folder (`output_folder` removes again a
folder it made that the run left empty).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import InputError, LesionGANError

# .<final name>.<pid>.<random>.tmp<suffix>: the pid says whose it is (see remove_stale_temporaries)
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp(?P<suffix>[.\w]*)$")


def _suffix(path: Path) -> str:
    return "".join(path.suffixes[-2:]) if path.name.endswith(".gz") else path.suffix


def temporary_name(path: Path) -> Path:
    """A fresh name beside `path` that keeps its suffixes (writers pick the format by them)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{_suffix(path)}")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to the disk; a folder that cannot be opened is skipped."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    try:
        handle = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.EROFS):  # a folder fsync some filesystems refuse
            raise
    finally:
        os.close(handle)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, verify: Callable[[Path], None] | None = None,
                overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without error the file is
    checked with `verify(temporary)` (which raises on a bad file), flushed to disk and renamed
    to `path`. On any error, the temporary file goes and `path` keeps what it held.

    With `overwrite=False` an existing `path` is never replaced (the check is atomic: a hard
    link that fails when the name is taken).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(path.parent, f"cannot create the output folder ({error.strerror or error})") from error
    temporary = temporary_name(path)
    try:
        yield temporary
        if not temporary.is_file():
            raise LesionGANError(f"{path}: nothing was written")
        if verify is not None:
            verify(temporary)
        # a fresh file is private to its writer; give it the mode a plain open() would
        os.chmod(temporary, 0o666 & ~_current_umask())
        _fsync(temporary)
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise InputError(path, "exists already; pass --overwrite to replace it") from None
        _fsync(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def write_failed(path: str | Path, error: BaseException) -> LesionGANError:
    """The error for a write that did not complete (a full disk, a file-size limit, ...)."""
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0][:200]
    return LesionGANError(f"{path}: could not be written, nothing was saved there ({reason}; is the disk full?)")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files (and staging folders) that processes which no longer run
    left in `folder`; a live writer's files are kept. Returns what was removed."""
    import shutil

    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _TEMPORARY.match(entry.name)
        if match is None or int(match["pid"]) == os.getpid() or _pid_alive(int(match["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def json_safe(value: Any) -> Any:
    """`value` with inf and nan as the strings 'inf', '-inf', 'nan' (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def write_json(path: str | Path, data: Any) -> Path:
    """Write `data` as indented UTF-8 JSON, whole or not at all; inf and nan become strings."""
    path = Path(path)
    text = json.dumps(json_safe(data), indent=2) + "\n"
    encoded = text.encode("utf-8")

    def same_size(temporary: Path) -> None:
        if temporary.stat().st_size != len(encoded):
            raise LesionGANError(f"{path}: the write was cut short (disk full?)")

    with atomic_path(path, verify=same_size) as temporary:
        temporary.write_bytes(encoded)
    return path


# --- checks before the first output --------------------------------------------------------------
def check_writable_folder(folder: str | Path) -> Path:
    """Make `folder` if needed and prove a file can be created in it; a clear error otherwise."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "is not a folder (a file has that name)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = temporary_name(folder / "write-test")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise InputError(folder, f"cannot write there ({error.strerror or error})") from error
    return folder


@contextlib.contextmanager
def output_folder(folder: str | Path) -> Iterator[Path]:
    """`check_writable_folder(folder)` for the block; the folders it had to make are removed
    again when the block leaves them empty (a run that failed before writing anything), so a
    failed run leaves no new folder behind. A folder that existed before is never removed."""
    folder = Path(folder).absolute()
    made = [path for path in (folder, *folder.parents) if not path.exists()]  # deepest first
    try:
        yield check_writable_folder(folder)
    finally:
        for path in made:
            try:
                path.rmdir()
            except OSError:  # it holds something (or was never made): it and its parents stay
                break


def is_ground_truth(path: str | Path) -> bool:
    """True for a phantom case's healthy ground truth (`<case>_<sequence>_healthy.nii.gz` in a
    folder that holds the phantom's `<case>_changed.nii.gz`): data nothing may overwrite."""
    path = Path(path)
    match = re.match(r"^(?P<case>.+)_[A-Za-z0-9]+_healthy\.nii(\.gz)?$", path.name)
    return bool(match) and any(path.parent.glob(f"{glob_escape(match['case'])}_changed.nii*"))


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def check_outputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path], overwrite: bool = False) -> None:
    """Refuse, before anything is written, an output that is also an input (compared as resolved
    paths), two outputs with one path, a phantom's ground truth, and (without `overwrite`) an
    existing file."""
    inputs_resolved = {Path(path).resolve() for path in inputs}
    seen: set[Path] = set()
    for output in outputs:
        output = Path(output)
        resolved = output.resolve()
        if resolved in inputs_resolved:
            raise InputError(output, "is also an input; writing it would destroy that input "
                                     "(choose another output folder)")
        if resolved in seen:
            raise InputError(output, "would be written twice in one run (two inputs give the same output name)")
        seen.add(resolved)
        if is_ground_truth(resolved):
            raise InputError(output, "is a phantom case's ground truth; it is never overwritten "
                                     "(choose another output folder)")
        if output.exists() and not overwrite:
            raise InputError(output, "exists already; pass --overwrite to replace it")


# --- one run per folder ----------------------------------------------------------------------------
@contextlib.contextmanager
def exclusive_lock(folder: str | Path, what: str = "run") -> Iterator[Path]:
    """Hold an exclusive lock on `folder` (a `.lock` file inside, locked with fcntl) for the
    block; a second process asking for it gets a clear error at once. The kernel drops the
    lock when the holder dies, so a killed run never leaves the folder locked."""
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / ".lock"
    handle = open(lock_path, "a+", encoding="ascii")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise InputError(folder, f"another {what} is using this folder ({holder}); "
                                     "wait for it to end or choose another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield lock_path
    finally:
        handle.close()


def folder_locked(folder: str | Path) -> bool:
    """True while a live process holds `exclusive_lock` on `folder`."""
    import fcntl

    lock_path = Path(folder) / ".lock"
    if not lock_path.exists():
        return False
    with open(lock_path, "a+", encoding="ascii") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
