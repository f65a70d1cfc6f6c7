"""Training module logic outside Slicer, with real `lesiongan train` processes on a tiny
phantom: start, follow, stop, resume, finish, register; bad inputs stop before any process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lesiongan.data.phantom import write_cases
from lesiongan.errors import InputError, LayoutError, ModelFileError
from lesiongan.infer import catalog
from lesiongan.train.checkpoint import load_checkpoint
from lesiongan.train.config import TrainConfig
from slicer_scene import slicer_scene  # noqa: F401  (fixture)
from LesionGANTrainingLib import LesionGANTrainingLogic, formatDuration, optionsHelp, parseOptions, processes, trainConfig

ITERATIONS = 100
# CI-sized: 32x32 slices, 4-channel generators, a log line (and progress.json) every step.
TINY_OPTIONS = {"size": (32, 32), "ngf": 4, "ndf": 4, "n_blocks": 1, "pool_size": 3, "log_every": 1,
                "checkpoint_every": 1000, "sample_every": 20, "no_tensorboard": True}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("phantom")
    write_cases(folder, 4, seed=0, size="tiny")
    return folder


def waitFor(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def loggedSteps(text: str) -> list[int]:
    return [int(step) for step in re.findall(r"^step (\d+)/", text, flags=re.MULTILINE)]


def test_summary_counts_subjects_modalities_and_slices(phantom: Path) -> None:
    summary = LesionGANTrainingLogic().summarizeData(phantom)
    assert summary["subjects"] == 4 and summary["layout"] == "brats2018"
    assert summary["modalities"]["flair"] == 4
    # 4 cases of 32 axial slices; the phantom's lesion cases have abnormal slices
    assert summary["healthySlices"] + summary["abnormalSlices"] == 4 * 32
    assert 0 < summary["abnormalSlices"] < 4 * 32


def test_start_stop_resume_finish_and_use_model(phantom: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LESIONGAN_CACHE", str(tmp_path / "cache"))
    logic = LesionGANTrainingLogic()
    runDir = tmp_path / "runs" / "tiny"
    run = logic.startRun("antgan", phantom, runDir, device="cpu", iterations=ITERATIONS, batchSize=2,
                         options=TINY_OPTIONS)
    record = json.loads((runDir / "run.json").read_text(encoding="utf-8"))
    assert record["pid"] == run.pid and record["command"][1:4] == ["-m", "lesiongan", "train"]
    # the process reads its configuration from run.json, written as a TrainConfig
    assert record["arguments"] == ["--config", str(runDir.resolve() / "run.json")]
    config = TrainConfig.from_plain(record["config"])
    assert (config.method, config.iterations, config.batch_size, config.size, config.tensorboard) == (
        "antgan", ITERATIONS, 2, (32, 32), False)
    assert config.options == {"ngf": 4, "ndf": 4, "n_blocks": 1, "pool_size": 3}
    if hasattr(os, "getsid"):  # its own session: closing Slicer's terminal or panel does not end it
        assert os.getsid(run.pid) == run.pid != os.getsid(0)

    first = waitFor(lambda: (p := logic.progress(runDir))["step"] > 0 and p, 60, "the first logged step")
    assert first["state"] == "running" and first["total"] == ITERATIONS and "G" in first["losses"]
    assert first["history"]["step"] and "G" in first["history"]

    assert logic.stopRun(runDir, gracePeriod=30) == "stopped"
    assert run.wait(120) == 0
    stopped = logic.progress(runDir)
    stoppedAt = stopped["step"]
    assert 0 < stoppedAt < ITERATIONS and stopped["model"] is None
    assert load_checkpoint(runDir / "checkpoints")["step"] == stoppedAt
    assert [(r["name"], r["state"], r["step"]) for r in logic.listRuns(runDir.parent)] == [("tiny", "stopped", stoppedAt)]
    with pytest.raises(ModelFileError, match="stopped, not finished"):
        logic.useModel(runDir)

    resumed = logic.resumeRun(runDir)
    assert resumed.command[-1] == "--resume" and resumed.pid != run.pid
    assert resumed.wait(600) == 0  # generous: CI shares its 2 cores with other training runs
    log = (runDir / "train.log").read_text(encoding="utf-8")
    resumedPart = log[log.rindex("=== resume"):]
    # the resumed process carries on from the checkpoint's step, not from zero
    assert loggedSteps(resumedPart)[0] == stoppedAt + 1
    assert loggedSteps(resumedPart)[-1] == ITERATIONS
    finished = logic.progress(runDir)
    assert finished["state"] == "finished" and finished["step"] == ITERATIONS
    assert finished["history"]["step"] == [float(s) for s in range(1, ITERATIONS + 1)]
    assert finished["sample"] and Path(finished["sample"]).stat().st_size > 0

    with pytest.raises(InputError, match="has finished"):
        logic.resumeRun(runDir)
    entry = logic.useModel(runDir, name="tiny-antgan")
    listed = {model.name: model for model in catalog.list_models()}
    assert listed["tiny-antgan"].path == (runDir / "model.pt").resolve()
    assert listed["tiny-antgan"].method == "antgan" and listed["tiny-antgan"].modality == "flair"
    assert entry.source == "registered"


def test_a_vanished_process_whose_progress_says_running_is_failed(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # a real pid whose process is gone (and reaped)
    runDir = tmp_path / "killed"
    runDir.mkdir()
    (runDir / "run.json").write_text(json.dumps({"pid": ended.pid, "arguments": []}))
    (runDir / "progress.json").write_text(json.dumps({"step": 3, "total": 10, "losses": {}, "state": "running"}))
    (runDir / "train.log").write_text("step 3/10\nKilled\n")
    logic = LesionGANTrainingLogic()
    progress = logic.progress(runDir)
    assert progress["state"] == "failed" and "Killed" in progress["error"]
    assert logic.listRuns(tmp_path)[0]["state"] == "failed"
    # a run that said "stopped" before its process ended is stopped, and resumable only with a checkpoint
    (runDir / "progress.json").write_text(json.dumps({"step": 3, "total": 10, "losses": {}, "state": "stopped"}))
    assert logic.runState(runDir) == "stopped"
    with pytest.raises(InputError, match="no checkpoint"):
        logic.resumeRun(runDir)
    # a run folder copied from a server has no run.json: its progress.json is all there is
    (runDir / "run.json").unlink()
    (runDir / "progress.json").write_text(json.dumps({"step": 3, "total": 10, "losses": {}, "state": "running"}))
    assert logic.runState(runDir) == "running"


@pytest.mark.parametrize("problem", ["empty data folder", "unknown preset", "unknown option", "missing modality",
                                     "zero iterations", "bad size", "used output folder", "no such python"])
def test_bad_input_is_refused_before_any_process_starts(problem: str, phantom: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "run"
    arguments = dict(method="antgan", dataFolder=phantom, outputFolder=out, device="cpu", iterations=5,
                     options=dict(TINY_OPTIONS))
    expected: type[Exception] = InputError
    if problem == "empty data folder":
        arguments["dataFolder"], expected = empty, LayoutError
    elif problem == "unknown preset":
        arguments["preset"] = "no-such-preset"
    elif problem == "unknown option":
        arguments["options"]["no_such_option"] = 1
    elif problem == "missing modality":
        arguments["options"]["modalities"] = ["t2f"]
    elif problem == "zero iterations":
        arguments["iterations"] = 0
    elif problem == "bad size":
        arguments["options"]["size"] = (32,)
    elif problem == "no such python":
        arguments["python"] = str(tmp_path / "bin" / "PythonSlicer")
    else:
        (out / "checkpoints").mkdir(parents=True)
    children = dict(processes._children)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(expected) as error:
        LesionGANTrainingLogic().startRun(**arguments)
    assert str(error.value)  # says which input and what is wrong
    assert processes._children == children, "a process was started"
    assert sorted(tmp_path.rglob("*")) == before, "files were written"


def test_panel_options_text_becomes_start_options() -> None:
    assert parseOptions("size=64,64 modalities=flair,t2 ngf=8 --no-tensorboard") == {
        "size": ["64", "64"], "modalities": ["flair", "t2"], "ngf": "8", "no_tensorboard": True}
    assert parseOptions("") == {}
    with pytest.raises(InputError, match="key=value"):
        parseOptions("ngf=")


def test_start_options_become_a_checked_train_config() -> None:
    own = {"method": "antgan", "data": "/data", "out": "/runs/a", "iterations": 10, "batch_size": 2, "device": "cpu"}
    config = trainConfig(own, parseOptions("size=64,64 modalities=flair,t2 ngf=8 lambda_am=2.5 seed=4 no_tensorboard"))
    assert (config.size, config.modalities, config.seed, config.tensorboard) == ((64, 64), ("flair", "t2"), 4, False)
    assert config.options == {"ngf": 8, "lambda_am": 2.5}
    assert trainConfig(own, {"size": (32, 32), "log_every": 1, "no_tensorboard": False}).tensorboard
    for options, words in (({"iterations": 5}, "option iterations: is set by its own argument"),
                           ({"resume": True}, "option resume: is set by its own argument"),
                           ({"lambda_am": "ten"}, "option lambda_am of antgan: must be a number"),
                           ({"log_every": "often"}, "log_every: must be a whole number"),
                           ({"no_tensorboard": "maybe"}, "option no_tensorboard: must be true or false")):
        with pytest.raises(InputError, match=words):
            trainConfig(own, options)


def test_the_options_help_lists_the_methods_options_with_types_and_defaults() -> None:
    text = optionsHelp("antgan")
    assert "lambda_am=10.0 (a number)" in text and "generator=resnet (one of resnet, unet)" in text
    assert "size (2 whole numbers or none)" in text and "no_tensorboard" in text
    assert "iterations" not in text  # a field of the panel, not of More options
    assert "n_critic=5 (a whole number)" in optionsHelp("wgan")


def test_eta_reads_as_seconds_minutes_or_hours() -> None:
    assert [formatDuration(s) for s in (None, 45, 600, 12_000)] == ["?", "45 s", "10 min", "3 h 20 min"]


def test_loss_plot_follows_log_csv(slicer_scene, tmp_path: Path) -> None:  # noqa: F811
    runDir = tmp_path / "run"
    runDir.mkdir()
    log = runDir / "log.csv"
    log.write_text("step,seconds,G,D_N,lr_G\n1,0.1,2.0,0.9,0.0002\n2,0.2,1.5,0.8,0.0002\n")
    logic = LesionGANTrainingLogic(scene=slicer_scene.scene)
    assert logic.updateLossPlot(tmp_path) is None  # nothing logged there
    chart = logic.updateLossPlot(runDir)
    series = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    assert [s.GetYColumnName() for s in series] == ["G", "D_N"]  # losses only, no learning rate
    table = series[0].GetTableNode()
    assert table.GetNumberOfRows() == 2 and table.GetTable().GetValueByName(1, "G").ToDouble() == 1.5
    with log.open("a") as handle:
        handle.write("3,0.3,1.2,0.7,0.0001\n4,0.4")  # the last row is being written
    again = LesionGANTrainingLogic(scene=slicer_scene.scene).updateLossPlot(runDir)  # e.g. the panel reopened
    assert again is chart and chart.GetNumberOfPlotSeriesNodes() == 2
    assert table.GetNumberOfRows() == 3
    assert slicer_scene.scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 1


def test_training_runs_with_slicers_own_python_inside_slicer(tmp_path: Path, monkeypatch) -> None:
    assert processes.pythonExecutable() == sys.executable  # outside Slicer
    name = "PythonSlicer.exe" if os.name == "nt" else "PythonSlicer"
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(InputError, match=f"bin/{name}"):
        processes.pythonExecutable(str(tmp_path))
    (tmp_path / "bin" / name).write_text("")
    assert processes.pythonExecutable(str(tmp_path)) == str(tmp_path / "bin" / name)
