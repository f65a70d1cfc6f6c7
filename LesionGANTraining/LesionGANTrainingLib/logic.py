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

import argparse
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

from . import processes

RUN_FILE = "run.json"
LOG_FILE = "train.log"
RUN_ATTRIBUTE = "LesionGAN.TrainingRun"  # on the loss table and chart: the run folder they show
# Flags the panel sets itself; `options` may not override them.
_FIXED_FLAGS = ("method", "preset", "data", "out", "iterations", "batch_size", "device", "resume", "list_methods")


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


class _TrainArguments(argparse.ArgumentParser):
    """`lesiongan train`'s own parser, checking a command before it is started; a bad
    argument raises an InputError instead of printing usage and exiting."""

    def __init__(self) -> None:
        from lesiongan.train.cli import add_arguments

        super().__init__(prog="lesiongan train", add_help=False)
        add_arguments(self)

    def error(self, message: str):  # type: ignore[override]
        raise InputError("training options", message)


def _optionArguments(options: dict[str, Any], flags: dict[str, argparse.Action]) -> list[str]:
    """`options` as command-line arguments: keys naming a `lesiongan train` flag (size,
    modalities, log_every, seed, amp, ...) become that flag; the others are method options
    (`--set key=value`)."""
    arguments: list[str] = []
    for key, value in options.items():
        if key in _FIXED_FLAGS:
            raise InputError(f"option {key}", "is set by its own argument of startRun, not through options")
        action = flags.get(key)
        if action is None:
            text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
            arguments += ["--set", f"{key}={text}"]
        elif action.nargs == 0:  # a switch such as --no-tensorboard
            arguments += [action.option_strings[0]] if value else []
        elif isinstance(value, (list, tuple)):
            arguments += [action.option_strings[0], *map(str, value)]
        elif value is not None:
            arguments += [action.option_strings[0], str(value)]
    return arguments


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

        `options` holds `lesiongan train` flags by their long name (size=(64, 64),
        modalities=["flair"], log_every=10, ...) and method options (ngf=32, ...). Nothing
        is written and no process starts when an input is wrong. `python` runs
        `-m lesiongan train`; by default Slicer's PythonSlicer inside Slicer, else this Python.
        """
        from lesiongan.methods import resolve_options
        from lesiongan.train.cli import parse_overrides

        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise InputError("iterations", f"must be a positive whole number, not {iterations!r}")
        if isinstance(batchSize, bool) or not isinstance(batchSize, int) or batchSize < 1:
            raise InputError("batch size", f"must be a positive whole number, not {batchSize!r}")
        out = self._checkOutputFolder(outputFolder)
        summary = self.summarizeData(dataFolder, countSlices=False)
        parser = _TrainArguments()
        flags = {action.dest: action for action in parser._actions if action.option_strings}
        command = ["--method", method, "--data", summary["folder"], "--out", str(out),
                   "--iterations", str(iterations), "--batch-size", str(batchSize), "--device", device]
        if preset:
            command += ["--preset", preset]
        command += _optionArguments(dict(options or {}), flags)
        parsed = parser.parse_args(command)
        resolve_options(method, preset, parse_overrides(parsed.overrides))  # unknown method/preset/option
        missing = [m for m in parsed.modalities if m not in summary["modalities"]]
        if missing:
            raise InputError(dataFolder, f"has no {', '.join(missing)} images; it has {', '.join(summary['modalities'])}")
        return self._launch(out, command, python)

    def resumeRun(self, runDir: str | os.PathLike, python: str | None = None) -> RunHandle:
        """Continue a stopped (or failed) run from its last checkpoint: same command + --resume,
        by default with the Python that started it."""
        runDir = Path(runDir)
        record = _readJson(runDir / RUN_FILE)
        if record is None:
            raise InputError(runDir, f"is not a run folder started from here (no readable {RUN_FILE})")
        if processes.isAlive(record.get("pid")):
            raise InputError(runDir, f"its run is still going (process {record['pid']})")
        if not (runDir / "checkpoints").is_dir():
            raise InputError(runDir, "has no checkpoint to resume from yet")
        if self.runState(runDir) == "finished":
            raise InputError(runDir, "has finished; start a new run to train more")
        command = list(record["arguments"])
        if "--resume" not in command:
            command.append("--resume")
        return self._launch(runDir, command, python or record.get("python"), previous=record)

    def requestStop(self, runDir: str | os.PathLike) -> bool:
        """Ask a running run to stop (a STOP file: it checkpoints and exits at its next step);
        False when there is no running process to ask."""
        runDir = Path(runDir)
        if not processes.isAlive((_readJson(runDir / RUN_FILE) or {}).get("pid")):
            return False
        (runDir / "STOP").touch()
        return True

    def terminateRun(self, runDir: str | os.PathLike) -> None:
        """SIGTERM the run's process: the loop still checkpoints; a process still loading its
        data (which clears an old STOP file when its loop begins) just ends."""
        pid = (_readJson(Path(runDir) / RUN_FILE) or {}).get("pid")
        if processes.isAlive(pid):
            processes.terminate(pid)

    def stopRun(self, runDir: str | os.PathLike, gracePeriod: float = 60.0, pollInterval: float = 0.2) -> str:
        """requestStop, then terminateRun when the process is still there after `gracePeriod`
        seconds; waits for the process to end and returns the run's state."""
        runDir = Path(runDir)
        pid = (_readJson(runDir / RUN_FILE) or {}).get("pid")
        if self.requestStop(runDir) and not _waitForExit(pid, gracePeriod, pollInterval):
            self.terminateRun(runDir)
            _waitForExit(pid, gracePeriod, pollInterval)
        return self.runState(runDir)

    def _checkOutputFolder(self, outputFolder: str | os.PathLike) -> Path:
        if not str(outputFolder).strip():
            raise InputError("output folder", "is not set")
        out = Path(outputFolder).expanduser().resolve()
        if out.exists() and not out.is_dir():
            raise InputError(out, "is a file, not a folder")
        if (out / "checkpoints").is_dir() or (out / RUN_FILE).exists():
            raise InputError(out, "already holds a run; resume it or choose a new output folder")
        return out

    def _launch(self, out: Path, arguments: list[str], python: str | None, previous: dict | None = None) -> RunHandle:
        python = python or processes.pythonExecutable(processes.runningSlicerHome())
        if not (Path(python).is_file() or shutil.which(python)):
            raise InputError(python, "no such Python executable to run training with")
        command = [python, "-m", "lesiongan", "train", *arguments]
        env = dict(os.environ)
        # Inside Slicer `lesiongan` sits beside the scripted modules, not in site-packages.
        packageParent = str(Path(lesiongan.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (packageParent, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"  # train.log follows the run line by line
        out.mkdir(parents=True, exist_ok=True)
        (out / "STOP").unlink(missing_ok=True)
        with open(out / LOG_FILE, "a", encoding="utf-8") as log:
            log.write(f"\n=== {'resume' if previous else 'start'} {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command)}\n")
        process = processes.startDetached(command, out / LOG_FILE, env)
        sessions = list((previous or {}).get("sessions", []))
        sessions.append({"pid": process.pid, "started": time.time(), "resume": previous is not None})
        write_json(out / RUN_FILE, {"pid": process.pid, "command": command, "arguments": arguments,
                                    "python": python, "sessions": sessions})
        return RunHandle(out, process.pid, command, process)

    # ------------------------------------------------------------ following runs
    def runState(self, runDir: str | os.PathLike) -> str:
        """running / stopped / finished / failed. A process started from here that is gone while
        its progress still says running (or never said anything) was killed or failed; a run
        started elsewhere (no run.json) has the state its progress.json says."""
        runDir = Path(runDir)
        pid = (_readJson(runDir / RUN_FILE) or {}).get("pid")
        if processes.isAlive(pid):
            return "running"
        state = (_readJson(runDir / "progress.json") or {}).get("state")
        if pid is None and state == "running":  # started elsewhere (a server): its word is all there is
            return state
        return state if state in ("stopped", "finished") else "failed"

    def lossHistory(self, runDir: str | os.PathLike) -> dict[str, list[float]]:
        """log.csv as columns: {"step": [...], "seconds": [...], "<loss>": [...]}."""
        columns: dict[str, list[float]] = {}
        try:
            with open(Path(runDir) / "log.csv", newline="", encoding="utf-8") as handle:
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
        runDir = Path(runDir)
        if not runDir.is_dir():
            raise InputError(runDir, "no such run folder")
        record = _readJson(runDir / RUN_FILE) or {}
        progress = _readJson(runDir / "progress.json") or {}
        info: dict[str, Any] = {"step": 0, "total": None, "losses": {}, "eta_seconds": None, **progress}
        info["state"] = self.runState(runDir)
        info["pid"] = record.get("pid")
        info["runDir"] = str(runDir)
        info["stopRequested"] = (runDir / "STOP").exists()
        info["history"] = self.lossHistory(runDir)
        sample, model = runDir / "samples" / "latest.png", runDir / "model.pt"
        info["sample"] = str(sample) if sample.is_file() else None
        info["model"] = str(model) if info["state"] == "finished" and model.is_file() else None
        code = processes.exitCode(record.get("pid") or 0)
        info["exitCode"] = code
        info["error"] = _tail(runDir / LOG_FILE) if info["state"] == "failed" else ""
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
            if not ((runDir / RUN_FILE).exists() or (runDir / "progress.json").exists()):
                continue
            progress = _readJson(runDir / "progress.json") or {}
            config = (_readJson(runDir / "config.json") or {}).get("config", {})
            record = _readJson(runDir / RUN_FILE) or {}
            arguments = record.get("arguments", [])
            method = config.get("method") or (arguments[arguments.index("--method") + 1] if "--method" in arguments else "")
            runs.append({"runDir": str(runDir), "name": runDir.name, "state": self.runState(runDir),
                         "step": progress.get("step", 0), "total": progress.get("total"), "method": method,
                         "modified": (runDir / RUN_FILE if (runDir / RUN_FILE).exists() else runDir).stat().st_mtime})
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

        runDir = Path(runDir)
        model = runDir / "model.pt"
        if not model.is_file():
            raise ModelFileError(model, f"does not exist: the run is {self.runState(runDir)}, not finished")
        config = (_readJson(runDir / "config.json") or {}).get("config", {})
        method = config.get("method", "")
        modalities = config.get("modalities") or []
        description = (f"{method} trained on {Path(config['data']).name} for {config.get('iterations')} iterations"
                       if isinstance(config.get("data"), str) else f"{method} trained in {runDir}")
        return register_model(model, name or runDir.name, description=description,
                              modality="+".join(modalities), method=method)
