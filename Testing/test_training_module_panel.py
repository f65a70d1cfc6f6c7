"""The LesionGANTraining panel's own code, driven as a user drives it, with a real background
`lesiongan train` process on a tiny phantom: choose the data folder (typed), start, watch the
progress, Stop, Resume, and 'Use this model', after which the other panels list the model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from LesionGANTrainingLib import LesionGANTrainingLogic
from lesiongan.data.phantom import write_cases
from slicer_panels import app, choose, click, qt, takeDialogs, takeSlotErrors  # noqa: F401  (fixture)

TINY_OPTIONS = ("size=32,32 ngf=4 ndf=4 n_blocks=1 pool_size=3 log_every=1 checkpoint_every=1000 "
                "sample_every=20 no_tensorboard")


class CountingLogic(LesionGANTrainingLogic):
    """The module's logic, counting how often the panel reads the data folder."""

    def __init__(self) -> None:
        super().__init__()
        self.summaries: list[bool] = []

    def summarizeData(self, folder, axis="axial", countSlices=True):
        self.summaries.append(countSlices)
        return super().summarizeData(folder, axis, countSlices)


def waitFor(app, condition, timeout: float, what: str):  # noqa: F811
    """Let the panel's timers run (as Slicer's event loop does) until `condition()`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.app.processEvents()
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("phantom")
    write_cases(folder, 4, seed=0, size="tiny")
    return folder


def test_typing_the_data_folder_reads_it_once_typing_pauses(app, phantom, tmp_path):  # noqa: F811
    logic = CountingLogic()
    panel = app.openPanel("LesionGANTraining", logic=logic)
    field = panel.ui.dataPathLineEdit
    field.typeText(str(phantom))  # prefixes such as /tmp are valid folders: each one is reported
    assert logic.summaries == []
    assert panel.ui.dataSummaryLabel.text == "Reading the folder..."
    waitFor(app, lambda: logic.summaries, 5, "the summary")
    assert logic.summaries == [True]
    assert panel.ui.dataSummaryLabel.text.startswith("brats2018: 4 subjects")
    assert "healthy and" in panel.ui.dataSummaryLabel.text

    field.currentPath = str(phantom / "absent")
    field.currentPath = str(tmp_path)  # a folder, but not a data set: the label says why
    waitFor(app, lambda: len(logic.summaries) == 2, 5, "the second summary")
    assert "layout" in panel.ui.dataSummaryLabel.text.lower()


def test_start_watch_stop_resume_and_use_the_model(app, phantom, tmp_path):  # noqa: F811
    panel = app.openPanel("LesionGANTraining")
    ui = panel.ui
    assert ui.methodComboBox.currentData == "antgan"
    ui.dataPathLineEdit.currentPath = str(phantom)
    choose(ui.deviceComboBox, "cpu")
    ui.iterationsSpinBox.value = 120
    ui.batchSizeSpinBox.value = 2
    ui.optionsLineEdit.text = TINY_OPTIONS
    runDir = tmp_path / "runs" / "tiny"
    ui.outputPathLineEdit.currentPath = str(runDir)
    click(ui.startButton)
    assert panel.widget.runDir == runDir
    assert not ui.startButton.enabled and ui.stopButton.enabled
    panel.widget.timer.setInterval(100)  # poll faster than the panel's 2 s, to Stop in time

    waitFor(app, lambda: ui.progressBar.value > 0 or ui.statusLabel.text.startswith("Failed"), 120, "progress")
    assert ui.statusLabel.text.startswith("Running: step ")
    assert ui.progressBar.maximum == 120
    assert ui.runsComboBox.currentText.startswith("tiny: running")

    click(ui.stopButton)
    assert ui.statusLabel.text == "Stopping after the current step..."
    waitFor(app, lambda: ui.resumeButton.enabled, 120, "the run to stop")
    stoppedAt = ui.progressBar.value
    assert ui.statusLabel.text == f"Stopped at step {stoppedAt}/120; Resume continues from there."
    assert 0 < stoppedAt < 120 and not ui.useModelButton.enabled

    click(ui.resumeButton)
    waitFor(app, lambda: ui.useModelButton.enabled, 240, "the run to finish")
    assert ui.progressBar.value == 120
    assert ui.statusLabel.text.startswith("Finished: 120 steps.")
    assert panel.widget.chartNode is not None and ui.showPlotButton.enabled
    click(ui.showPlotButton)
    assert not ui.sampleLabel.pixmap.isNull()

    ui.modelNameLineEdit.text = "tiny-panel-model"
    click(ui.useModelButton)
    assert ui.statusLabel.text.startswith("Registered as 'tiny-panel-model'")

    for module in ("PseudoHealthy", "LesionSynthesis"):
        other = app.openPanel(module)
        combo = other.ui.modelComboBox
        assert "tiny-panel-model" in [combo.itemText(i) for i in range(combo.count)], module


def test_more_options_tell_the_chosen_methods_options(app):  # noqa: F811
    panel = app.openPanel("LesionGANTraining")
    ui = panel.ui
    assert ui.methodComboBox.currentData == "antgan"
    assert "lambda_am=10.0 (a number)" in ui.optionsLineEdit.toolTip
    choose(ui.methodComboBox, "wgan")
    assert "n_critic=5 (a whole number)" in ui.optionsLineEdit.toolTip and "lambda_am" not in ui.optionsLineEdit.toolTip


def test_a_start_that_cannot_run_says_why_and_starts_nothing(app, tmp_path):  # noqa: F811
    panel = app.openPanel("LesionGANTraining")
    ui = panel.ui
    ui.dataPathLineEdit.currentPath = str(tmp_path)  # no data set here
    ui.outputPathLineEdit.currentPath = str(tmp_path / "runs" / "never")
    click(ui.startButton)
    (dialog,) = takeDialogs()
    assert dialog["text"].startswith("Training could not start.")
    assert [type(error).__name__ for error in takeSlotErrors()] == ["LayoutError"]
    assert not (tmp_path / "runs" / "never").exists() and panel.widget.runDir is None


def test_reopening_follows_the_newest_run_and_shows_a_failed_ones_log(app, tmp_path):  # noqa: F811
    runs = tmp_path / "runs"
    failed = runs / "crashed"
    failed.mkdir(parents=True)
    (failed / "run.json").write_text(json.dumps({"pid": 2 ** 22 + 12345, "arguments": ["--method", "wgan"]}))
    (failed / "progress.json").write_text(json.dumps({"step": 7, "total": 50, "losses": {"G": 1.5}, "state": "running"}))
    (failed / "train.log").write_text("step 7/50\nRuntimeError: CUDA out of memory\n")
    qt.QSettings().setValue("LesionGAN/Training/runsFolder", str(runs))
    panel = app.openPanel("LesionGANTraining")
    ui = panel.ui
    assert panel.widget.runDir == failed
    assert ui.runsComboBox.currentText == "crashed: failed 7/50"
    assert ui.statusLabel.text.startswith("Failed or killed at step 7.") and "CUDA out of memory" in ui.statusLabel.text
    assert ui.resumeButton.enabled and not ui.stopButton.enabled and not ui.useModelButton.enabled
    assert ui.progressBar.value == 7 and ui.progressBar.maximum == 50
    panel.exit()
    panel.enter()
    assert ui.statusLabel.text.startswith("Failed or killed at step 7.")
