"""Training on hostile settings: nonsense options end in one clear error before the run folder
is touched, a run folder takes one process, resume refuses changed settings and invalid
checkpoints, and what a killed run leaves behind is recognised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lesiongan.cli import main
from lesiongan.errors import InputError
from lesiongan.io import exclusive_lock
from lesiongan.limits import MemoryLimitError
from lesiongan.train import TrainConfig, train
from lesiongan.train.checkpoint import load_checkpoint, save_checkpoint
from lesiongan.train.runfolder import RunFolder
from lesiongan.train.validate import check_checkpoint
from test_train_loop import config


@pytest.mark.parametrize("options", [{"n_blocks": -1}, {"lambda_am": float("nan")}, {"lr": -0.01},
                                     {"lr": float("nan")}, {"ngf": 0}, {"ndf": 0}, {"beta1": 1.5},
                                     {"lambda_cc": float("inf")}, {"pool_size": -3}])
def test_nonsense_method_options_are_refused_before_the_folder_is_made(tmp_path, options):
    out = tmp_path / "run"
    settings = config(out)
    settings.options.update(options)
    with pytest.raises(InputError, match=f"option {next(iter(options))}"):
        train(settings)
    assert not out.exists()


@pytest.mark.parametrize("change, name", [({"checkpoint_every": 0}, "--checkpoint-every"),
                                          ({"checkpoint_every": -1}, "--checkpoint-every"),
                                          ({"log_every": 0}, "--log-every"), ({"sample_every": 0}, "--sample-every"),
                                          ({"size": (33, 35)}, "--size"), ({"spacing": 0.01}, "--spacing"),
                                          ({"seed": -1}, "--seed"), ({"seed": 10**20}, "--seed"),
                                          ({"iterations": 0}, "--iterations"), ({"batch_size": 0}, "--batch-size"),
                                          ({"val_fraction": 1.0}, "--val-fraction"),
                                          ({"modalities": ("flair", "flair")}, "--modalities")])
def test_nonsense_run_settings_are_refused(tmp_path, change, name):
    out = tmp_path / "run"
    with pytest.raises(InputError, match=name):
        train(config(out, **change))
    assert not out.exists()


def test_a_batch_beyond_memory_is_refused_before_any_allocation(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(MemoryLimitError, match="training step of 100000000 slice"):
        train(config(out, batch_size=100_000_000))
    assert not any((out / "checkpoints").glob("*.pt"))


@pytest.mark.parametrize("argument, named", [(["--set", "lr=-0.01"], "option lr"),
                                              (["--checkpoint-every", "0"], "--checkpoint-every"),
                                              (["--size", "33", "35"], "--size"), (["--seed", "-1"], "--seed"),
                                              (["--set", "ngf=0"], "option ngf")])
def test_the_train_command_prints_one_error_line(tmp_path, capsys, argument, named):
    out = tmp_path / "run"
    # the data folder is empty: the option is refused before the data are looked at
    assert main(["train", "--data", str(tmp_path), "--out", str(out), *argument]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err and "Traceback" not in err
    assert not out.exists()


def test_a_second_run_on_a_locked_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    with exclusive_lock(out, "training run"):
        with pytest.raises(InputError, match="another training run is using this folder"):
            train(config(out))
    assert not (out / "checkpoints").exists()


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A run stopped after 2 of 6 steps (its STOP file), ready to resume."""
    out = tmp_path_factory.mktemp("stopped")

    def stop_after_two(step, losses):
        if step == 2:
            (out / "STOP").write_text("")

    from lesiongan.errors import Cancelled

    with pytest.raises(Cancelled):
        train(config(out, on_step=stop_after_two))
    return out


@pytest.mark.parametrize("change", [{"seed": 4}, {"batch_size": 2}, {"iterations": 8}, {"modalities": ("t1",)}])
def test_resume_with_changed_settings_is_refused(stopped_run, change):
    key = next(iter(change))
    with pytest.raises(InputError, match=f"{key} .* -> "):
        train(config(stopped_run, resume=True, **change))


def _garble(folder: Path, name: str, edit) -> None:
    checkpoint = torch.load(folder / name, weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, folder / name)


def _first_weight(checkpoint: dict) -> torch.Tensor:
    networks = checkpoint["state"]["networks"]
    return next(iter(networks[next(iter(networks))].values()))


@pytest.mark.parametrize("edit, problem", [
    (lambda c: _first_weight(c).fill_(float("nan")), "NaN or infinite values in state.networks"),
    (lambda c: c.__setitem__("step", -50), "invalid step -50"),
    (lambda c: c.pop("sampler"), "lacks sampler"),
    (lambda c: c.__setitem__("step", 10**6), "beyond the run's"),
])
def test_an_invalid_checkpoint_is_refused_on_resume(tmp_path, edit, problem):
    save_checkpoint(tmp_path, {"step": 1})
    good = {"step": 2, "method": "antgan", "options": {}, "config": {"iterations": 6}, "state": {"networks": {
        "G": {"w": torch.ones(3)}}}, "sampler": {}, "rng": {}, "elapsed": 1.0}
    save_checkpoint(tmp_path, good)
    check_checkpoint(torch.load(tmp_path / "last.pt", weights_only=True), tmp_path / "last.pt")
    _garble(tmp_path, "last.pt", edit)
    with pytest.raises(InputError, match=problem):
        load_checkpoint(tmp_path, validate=check_checkpoint)


def test_falling_back_to_the_previous_checkpoint_is_said(tmp_path, capsys):
    state = {"step": 1, "method": "antgan", "options": {}, "config": {}, "state": {}, "sampler": {}, "rng": {},
             "elapsed": 0.0}
    save_checkpoint(tmp_path, state)
    save_checkpoint(tmp_path, {**state, "step": 2})
    (tmp_path / "last.pt").write_bytes(b"garbage")
    assert load_checkpoint(tmp_path, validate=check_checkpoint)["step"] == 1
    assert "resuming from previous.pt (step 1)" in capsys.readouterr().err


def test_checkpoint_temporaries_of_killed_runs_are_removed(tmp_path):
    import subprocess
    import sys

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    stale = tmp_path / f".last.pt.{dead}.0badf00d.tmp.pt"
    stale.write_bytes(b"x" * 1000)
    save_checkpoint(tmp_path, {"step": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_a_resumed_run_removes_what_a_killed_write_left_in_its_folder(tmp_path):
    """A kill during the atomic write of progress.json leaves its temporary in the run folder;
    the next start of that run (resume or not) clears it, and keeps a live writer's."""
    import os
    import subprocess
    import sys

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    out = tmp_path / "run"
    out.mkdir()
    stale = out / f".progress.json.{dead}.0badf00d.tmp.json"
    live = out / f".log.csv.{os.getppid()}.0badf00d.tmp.csv"
    stale.write_text("{")
    live.write_text("step")
    train(config(out, iterations=2))
    assert not stale.exists() and live.exists()


def test_a_killed_run_reads_as_died(tmp_path):
    (tmp_path / "progress.json").write_text(json.dumps({"state": "running", "step": 3}))
    assert RunFolder(tmp_path).read_progress()["state"] == "died"
    with exclusive_lock(tmp_path):
        assert RunFolder(tmp_path).read_progress()["state"] == "running"
    assert RunFolder(tmp_path / "nothing").read_progress() is None


def test_a_finished_run_writes_its_pid_and_reads_finished(tmp_path):
    out = tmp_path / "run"
    train(config(out, iterations=2, checkpoint_every=1, sample_every=1, log_every=1))
    progress = RunFolder(out).read_progress()
    assert progress["state"] == "finished" and isinstance(progress["pid"], int)


def test_a_run_refused_by_the_lock_never_removes_the_winners_folder(tmp_path, monkeypatch):
    """Two runs start on a new folder at once: the one that loses the lock must leave the
    folder the winner has just made alone, though the folder did not exist when it started."""
    import contextlib

    from lesiongan.train import loop

    out = tmp_path / "run"

    @contextlib.contextmanager
    def winner_holds_it(folder, what="run"):
        folder.mkdir(parents=True)
        (folder / "split.json").write_text("{}")  # the winner's first file
        raise InputError(folder, f"another {what} is using this folder")
        yield  # pragma: no cover

    monkeypatch.setattr(loop, "exclusive_lock", winner_holds_it)
    with pytest.raises(InputError, match="another training run"):
        train(config(out))
    assert (out / "split.json").read_text() == "{}"
