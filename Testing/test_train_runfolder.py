"""RunFolder names every file of a run once; the loop writes and the Training panel reads them there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lesiongan.errors import InputError
from lesiongan.io import exclusive_lock
from lesiongan.train.runfolder import RunFolder


def test_the_files_of_a_run_folder(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    assert run.path == tmp_path / "run" and os.fspath(run) == str(tmp_path / "run") == str(run)
    assert RunFolder(run) == run and Path(run) == run.path  # path-like: goes where a path goes
    names = {"checkpoints": run.checkpoints, "log.csv": run.log_csv, "tensorboard": run.tensorboard,
             "progress.json": run.progress_file, "config.json": run.config_file, "split.json": run.split_file,
             "distributed.json": run.distributed_file, "model.pt": run.model, "STOP": run.stop_file,
             "run.json": run.run_file, "train.log": run.train_log, "samples": run.samples}
    assert {name: path.relative_to(run.path).as_posix() for name, path in names.items()} == {n: n for n in names}
    assert run.latest_sample == run.path / "samples" / "latest.png"
    assert run.sample(42) == run.path / "samples" / "step_000042.png"


def test_stop_requests_checkpoints_and_progress(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    assert not run.stop_requested() and not run.has_checkpoint() and not run.holds_run()
    run.request_stop()
    assert run.stop_requested() and (tmp_path / "STOP").exists()
    run.clear_stop()
    run.clear_stop()  # nothing to clear: no error
    assert not run.stop_requested()

    (tmp_path / "checkpoints").mkdir()
    assert not run.has_checkpoint()  # an empty checkpoint folder holds nothing to resume
    (tmp_path / "checkpoints" / "previous.pt").write_bytes(b"")
    assert run.has_checkpoint()

    assert run.read_progress() is None
    (tmp_path / "progress.json").write_text(json.dumps({"state": "running", "step": 3}))
    assert run.holds_run()
    assert run.read_progress()["state"] == "died"  # says running, but no process holds the folder
    with exclusive_lock(tmp_path):
        assert run.read_progress() == {"state": "running", "step": 3}
    (tmp_path / "progress.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="not a progress record"):
        run.read_progress()
    (tmp_path / "progress.json").write_text("{")
    with pytest.raises(InputError, match="JSON"):
        run.read_progress()
