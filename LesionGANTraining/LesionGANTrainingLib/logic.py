"""Training logic: start, follow, stop and resume `lesiongan train` runs in the background.

The run is a separate, detached process, so closing the panel (or Slicer) does not end it;
everything about it lives in its run folder and is found again from there. No Qt here:
this is also the Python console API::

    from LesionGANTrainingLib import LesionGANTrainingLogic
    logic = LesionGANTrainingLogic()
    print(logic.summarizeData("/data/BraTS2021"))
    run = logic.startRun("antgan", "/data/BraTS2021", "/runs/antgan1", iterations=20000, batchSize=4)
    logic.progress(run.runDir)["step"]
    logic.stopRun(run.runDir); logic.resumeRun(run.runDir)
    logic.useModel(run.runDir)  # once finished: listed in the PseudoHealthy panel
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lesiongan
from LesionGANLib.scenelogic import SceneLogic
from lesiongan.data.volume import write_json
from lesiongan.errors import InputError, ModelFileError
from lesiongan.plaindata import convert, describe
from lesiongan.train.config import TrainConfig
from lesiongan.train.runfolder import RunFolder

from . import processes

RUN_ATTRIBUTE = "LesionGAN.TrainingRun"  # on the loss table and chart: the run folder they show
# The TrainConfig settings startRun takes as its own arguments (or never: resume), not in `options`.
OWN_ARGUMENTS = ("method", "preset", "data", "out", "iterations", "batch_size", "device", "resume")


@dataclass
class RunHandle:
    """A started training process and its run folder."""

    runDir: Path
    pid: int
    command: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)

    def isAlive(self) -> bool:
        return processes.isAlive(self.pid)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the process to end; its exit status (None if not started from here)."""
        if self.process is None:
            return None
        return self.process.wait(timeout)


def _readJson(path: Path) -> dict[str, Any] | None:
    # progress.json is replaced atomically, so a read sees a whole file or none.
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def trainConfig(settings: dict[str, Any], options: dict[str, Any]) -> TrainConfig:
    """The run that startRun's own arguments (`settings`: TrainConfig fields) and its `options`
    ask for: an option named after a TrainConfig field (size, modalities, log_every, seed, amp,
    ...) sets it, `no_tensorboard` switches TensorBoard off, the others are the method's
    options. Text (the panel's "More options") is parsed by each setting's type; every name
    and value is checked (TrainConfig.from_plain)."""
    settings, methodOptions = dict(settings), {}
    for key, value in options.items():
        if key in OWN_ARGUMENTS:
            raise InputError(f"option {key}", "is set by its own argument of startRun, not through options")
        if key == "no_tensorboard":
            settings["tensorboard"] = not convert(value, bool, f"option {key}", text=True)
        elif key in TrainConfig.fields():
            settings[key] = value
        else:
            methodOptions[key] = value
    return TrainConfig.from_plain({**settings, "options": methodOptions}, text=True)


def optionsHelp(method: str) -> str:
    """What the panel's "More options" take: the run's settings and `method`'s options, each
    with its type (and an option with its default), from TrainConfig and the method's Options."""
    from lesiongan.methods import get_method

    cls = get_method(method)
    settings = [f"{name} ({describe(kind)})" for name, kind in TrainConfig.fields().items()
                if name not in OWN_ARGUMENTS]
    methodOptions = [f"{name}={default} ({kind})" for name, kind, default in cls.Options.describe()]
    return ("Space-separated key=value; a list as a,b; a switch by its name alone.\n"
            f"Run settings: {', '.join(settings)}, no_tensorboard.\n"
            f"Options of {cls.name} (with their defaults): {', '.join(methodOptions)}.")


def parseOptions(text: str) -> dict[str, Any]:
    """The panel's "More options" text, `key=value` separated by spaces, as startRun options:
    a value with commas is a list (size=128,128), a bare key is a switch (no_tensorboard)."""
    options: dict[str, Any] = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not key or (sep and not value):
            raise InputError(f"option {item!r}", "must be key=value (or a bare switch name)")
        options[key] = value.split(",") if "," in value else (value if sep else True)
    return options


def _pid(run: RunFolder) -> int | None:
    """The pid of the run's latest process started from here (None for a run started elsewhere)."""
    return (_readJson(run.run_file) or {}).get("pid")


def _waitForExit(pid: int, timeout: float, pollInterval: float) -> bool:
    deadline = time.monotonic() + timeout
    while processes.isAlive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(pollInterval)
    return True


def formatDuration(seconds: float | None) -> str:
    """An ETA for people: "?", "45 s", "12 min", "3 h 20 min"."""
    if seconds is None:
        return "?"
    minutes = round(seconds / 60)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class LesionGANTrainingLogic(SceneLogic):
    """Console API of the LesionGANTraining module; every method takes and returns plain data.
    The scene (default: Slicer's) only holds the loss plot."""

    # ------------------------------------------------------------ data
    def summarizeData(self, folder: str | os.PathLike, axis: str = "axial", countSlices: bool = True) -> dict[str, Any]:
        """What the readers find in `folder`: layout, subjects, modalities and (reading the
        masks only) the healthy and abnormal slice counts. A folder no reader knows raises a
        LayoutError that says which layouts were expected."""
        from lesiongan.data.readers import discover
        from lesiongan.data.slices import count_slices

        if not str(folder).strip():
            raise InputError("data folder", "is not set")
        subjects = discover(Path(folder))
        summary: dict[str, Any] = {
            "folder": str(Path(folder).resolve()),
            "layout": subjects[0].layout,
            "subjects": len(subjects),
            "modalities": dict(Counter(m for s in subjects for m in s.modalities)),
            "subjectsWithMask": sum(s.mask is not None for s in subjects),
        }
        if countSlices:
            counts = [count_slices(s, axis) for s in subjects]
            summary["healthySlices"] = sum(c[0] for c in counts)
            summary["abnormalSlices"] = sum(c[1] for c in counts)
        return summary

    # ------------------------------------------------------------ start / stop / resume
    def startRun(self, method: str, dataFolder: str | os.PathLike, outputFolder: str | os.PathLike,
                 preset: str | None = None, device: str = "auto", iterations: int = 1000, batchSize: int = 1,
                 options: dict[str, Any] | None = None, python: str | None = None) -> RunHandle:
        """Check everything, then start `lesiongan train` detached in `outputFolder`.

        `options` holds `lesiongan train` settings by their TrainConfig name (size=(64, 64),
        modalities=["flair"], log_every=10, ...) and method options (ngf=32, ...). The run's
        TrainConfig goes into `<outputFolder>/run.json`, which the process reads
        (`lesiongan train --config`). Nothing is written and no process starts when an input
        is wrong. `python` runs `-m lesiongan train`; by default Slicer's PythonSlicer inside
        Slicer, else this Python.
        """
        run = self._checkOutputFolder(outputFolder)
        summary = self.summarizeData(dataFolder, countSlices=False)
        config = trainConfig({"method": method, "preset": preset or None, "data": summary["folder"], "out": str(run),
                              "iterations": iterations, "batch_size": batchSize, "device": device}, dict(options or {}))
        missing = [m for m in config.modalities if m not in summary["modalities"]]
        if missing:
            raise InputError(dataFolder, f"has no {', '.join(missing)} images; it has {', '.join(summary['modalities'])}")
        return self._launch(run, ["--config", str(run.run_file)], python, config=config)

    def resumeRun(self, runDir: str | os.PathLike, python: str | None = None) -> RunHandle:
        """Continue a stopped (or failed) run from its last checkpoint: same command + --resume,
        by default with the Python that started it."""
        run = RunFolder(runDir)
        record = _readJson(run.run_file)
        if record is None:
            raise InputError(run.path, f"is not a run folder started from here (no readable {run.run_file.name})")
        if processes.isAlive(record.get("pid")):
            raise InputError(run.path, f"its run is still going (process {record['pid']})")
        if not run.checkpoints.is_dir():
            raise InputError(run.path, "has no checkpoint to resume from yet")
        if self.runState(run) == "finished":
            raise InputError(run.path, "has finished; start a new run to train more")
        command = list(record["arguments"])
        if "--resume" not in command:
            command.append("--resume")
        return self._launch(run, command, python or record.get("python"), previous=record)

    def requestStop(self, runDir: str | os.PathLike) -> bool:
        """Ask a running run to stop (a STOP file: it checkpoints and exits at its next step);
        False when there is no running process to ask."""
        run = RunFolder(runDir)
        if not processes.isAlive(_pid(run)):
            return False
        run.request_stop()
        return True

    def terminateRun(self, runDir: str | os.PathLike) -> None:
        """SIGTERM the run's process: the loop still checkpoints; a process still loading its
        data (which clears an old STOP file when its loop begins) just ends."""
        pid = _pid(RunFolder(runDir))
        if processes.isAlive(pid):
            processes.terminate(pid)

    def stopRun(self, runDir: str | os.PathLike, gracePeriod: float = 60.0, pollInterval: float = 0.2) -> str:
        """requestStop, then terminateRun when the process is still there after `gracePeriod`
        seconds; waits for the process to end and returns the run's state."""
        pid = _pid(RunFolder(runDir))
        if self.requestStop(runDir) and not _waitForExit(pid, gracePeriod, pollInterval):
            self.terminateRun(runDir)
            _waitForExit(pid, gracePeriod, pollInterval)
        return self.runState(runDir)

    def _checkOutputFolder(self, outputFolder: str | os.PathLike) -> RunFolder:
        if not str(outputFolder).strip():
            raise InputError("output folder", "is not set")
        run = RunFolder(Path(outputFolder).expanduser().resolve())
        if run.path.exists() and not run.path.is_dir():
            raise InputError(run.path, "is a file, not a folder")
        if run.checkpoints.is_dir() or run.run_file.exists():
            raise InputError(run.path, "already holds a run; resume it or choose a new output folder")
        return run

    def _launch(self, run: RunFolder, arguments: list[str], python: str | None, previous: dict | None = None,
                config: TrainConfig | None = None) -> RunHandle:
        """Start `python -m lesiongan train <arguments>` in `run`: a new run with its `config`
        (written to run.json first, where the process reads it), or the run `previous` (its
        run.json record) resumed."""
        python = python or processes.pythonExecutable(processes.runningSlicerHome())
        if not (Path(python).is_file() or shutil.which(python)):
            raise InputError(python, "no such Python executable to run training with")
        command = [python, "-m", "lesiongan", "train", *arguments]
        env = dict(os.environ)
        # Inside Slicer `lesiongan` sits beside the scripted modules, not in site-packages.
        packageParent = str(Path(lesiongan.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (packageParent, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"  # train.log follows the run line by line
        run.path.mkdir(parents=True, exist_ok=True)
        run.clear_stop()
        plain = config.plain() if config is not None else (previous or {}).get("config")
        record = {} if plain is None else {"config": plain}  # none in a run.json from before configs
        if config is not None:
            write_json(run.run_file, record)
        with open(run.train_log, "a", encoding="utf-8") as log:
            log.write(f"\n=== {'resume' if previous else 'start'} {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command)}\n")
        process = processes.startDetached(command, run.train_log, env)
        sessions = list((previous or {}).get("sessions", []))
        sessions.append({"pid": process.pid, "started": time.time(), "resume": previous is not None})
        write_json(run.run_file, {**record, "pid": process.pid, "command": command, "arguments": arguments,
                                  "python": python, "sessions": sessions})
        return RunHandle(run.path, process.pid, command, process)

    # ------------------------------------------------------------ following runs
    def runState(self, runDir: str | os.PathLike) -> str:
        """running / stopped / finished / failed. A process started from here that is gone while
        its progress still says running (or never said anything) was killed or failed; a run
        started elsewhere (no run.json) has the state its progress.json says."""
        run = RunFolder(runDir)
        pid = _pid(run)
        if processes.isAlive(pid):
            return "running"
        state = (_readJson(run.progress_file) or {}).get("state")
        if pid is None and state == "running":  # started elsewhere (a server): its word is all there is
            return state
        return state if state in ("stopped", "finished") else "failed"

    def lossHistory(self, runDir: str | os.PathLike) -> dict[str, list[float]]:
        """log.csv as columns: {"step": [...], "seconds": [...], "<loss>": [...]}."""
        columns: dict[str, list[float]] = {}
        try:
            with open(RunFolder(runDir).log_csv, newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    for key, value in row.items():
                        try:
                            columns.setdefault(key, []).append(float(value))
                        except (TypeError, ValueError):  # a row being appended right now
                            pass
        except OSError:
            return {}
        return columns

    def progress(self, runDir: str | os.PathLike) -> dict[str, Any]:
        """The run's progress.json (step, total, losses, eta_seconds, ...) with the state checked
        against the process, the loss history from log.csv, the latest sample image, the model
        file once written, and the end of train.log when the run failed."""
        run = RunFolder(runDir)
        if not run.path.is_dir():
            raise InputError(run.path, "no such run folder")
        record = _readJson(run.run_file) or {}
        progress = _readJson(run.progress_file) or {}
        info: dict[str, Any] = {"step": 0, "total": None, "losses": {}, "eta_seconds": None, **progress}
        info["state"] = self.runState(run)
        info["pid"] = record.get("pid")
        info["runDir"] = str(run)
        info["stopRequested"] = run.stop_requested()
        info["history"] = self.lossHistory(run)
        sample, model = run.latest_sample, run.model
        info["sample"] = str(sample) if sample.is_file() else None
        info["model"] = str(model) if info["state"] == "finished" and model.is_file() else None
        code = processes.exitCode(record.get("pid") or 0)
        info["exitCode"] = code
        info["error"] = _tail(run.train_log) if info["state"] == "failed" else ""
        return info

    def listRuns(self, rootFolder: str | os.PathLike) -> list[dict[str, Any]]:
        """Every run folder in `rootFolder` (and the folder itself if it is one), newest first:
        runDir, name, state, step, total, method."""
        root = Path(rootFolder)
        if not root.is_dir():
            raise InputError(root, "no such folder")
        candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
        runs = []
        for runDir in candidates:
            run = RunFolder(runDir)
            if not run.holds_run():
                continue
            progress = _readJson(run.progress_file) or {}
            record = _readJson(run.run_file) or {}
            config = (_readJson(run.config_file) or {}).get("config") or record.get("config") or {}
            arguments = record.get("arguments", [])  # a run started before run.json held its config
            method = config.get("method") or (arguments[arguments.index("--method") + 1] if "--method" in arguments else "")
            runs.append({"runDir": str(runDir), "name": runDir.name, "state": self.runState(run),
                         "step": progress.get("step", 0), "total": progress.get("total"), "method": method,
                         "modified": (run.run_file if run.run_file.exists() else runDir).stat().st_mtime})
        return sorted(runs, key=lambda run: run["modified"], reverse=True)

    def updateLossPlot(self, runDir: str | os.PathLike, history: dict[str, list[float]] | None = None):
        """The run's losses (log.csv) in a table node and a plot chart node with one line per
        loss (learning rates left out); made once per run folder, updated on each call.
        Returns the chart node (None before the first logged step); show it with
        `slicer.modules.plots.logic().ShowChartInLayout(chart)`."""
        import numpy as np
        import slicer.util

        runDir = Path(runDir).resolve()
        history = self.lossHistory(runDir) if history is None else history
        if not history.get("step"):
            return None
        length = min(len(values) for values in history.values())  # a row half-read while appended
        names = ["step"] + [name for name in history if name not in ("step", "seconds") and not name.startswith("lr_")]
        table, chart = self._lossPlotNodes(runDir)
        slicer.util.updateTableFromArray(table, [np.asarray(history[name][:length]) for name in names], names)
        plotted = {chart.GetNthPlotSeriesNode(i).GetYColumnName() for i in range(chart.GetNumberOfPlotSeriesNodes())}
        for name in names[1:]:
            if name in plotted:
                continue
            series = self.scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
            series.SetAndObserveTableNodeID(table.GetID())
            series.SetXColumnName("step")
            series.SetYColumnName(name)
            series.SetPlotType(series.PlotTypeScatter)
            series.SetMarkerStyle(series.MarkerStyleNone)
            series.SetUniqueColor()
            chart.AddAndObservePlotSeriesNodeID(series.GetID())
        return chart

    def _lossPlotNodes(self, runDir: Path):
        """The table and chart nodes of `runDir`, found by attribute (a reopened panel reuses them)."""
        nodes = {}
        for className in ("vtkMRMLTableNode", "vtkMRMLPlotChartNode"):
            found = [node for node in self.nodesOfClass(className) if node.GetAttribute(RUN_ATTRIBUTE) == str(runDir)]
            if found:
                nodes[className] = found[0]
            else:
                node = self.scene.AddNewNodeByClass(className, f"Training losses ({runDir.name})")
                node.SetAttribute(RUN_ATTRIBUTE, str(runDir))
                nodes[className] = node
        chart = nodes["vtkMRMLPlotChartNode"]
        chart.SetXAxisTitle("step")
        chart.SetYAxisTitle("loss")
        return nodes["vtkMRMLTableNode"], chart

    # ------------------------------------------------------------ using the result
    def useModel(self, runDir: str | os.PathLike, name: str | None = None):
        """Register the run's model.pt so the PseudoHealthy and LesionSynthesis panels list it
        (under `name`, default the run folder's name). Returns the catalog entry."""
        from lesiongan.infer.catalog import register_model

        run = RunFolder(runDir)
        model = run.model
        if not model.is_file():
            raise ModelFileError(model, f"does not exist: the run is {self.runState(run)}, not finished")
        config = (_readJson(run.config_file) or {}).get("config", {})
        method = config.get("method", "")
        modalities = config.get("modalities") or []
        description = (f"{method} trained on {Path(config['data']).name} for {config.get('iterations')} iterations"
                       if isinstance(config.get("data"), str) else f"{method} trained in {run}")
        return register_model(model, name or run.path.name, description=description,
                              modality="+".join(modalities), method=method)
