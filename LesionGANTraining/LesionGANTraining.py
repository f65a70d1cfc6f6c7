"""LesionGAN Training: the Slicer module that trains LesionGAN generators in a background process.

The work lives in LesionGANTrainingLib (usable from the Python console); this file is the only
one of the module that imports qt/ctk. A run is a detached `lesiongan train` process: closing the
panel or Slicer leaves it running, and the panel finds it again in its run folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import qt
import slicer
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

from LesionGANTrainingLib import LesionGANTrainingLogic, formatDuration, optionsHelp, parseOptions  # first: in a source checkout it puts LesionGANLib on the path
from LesionGANLib import widgets
from LesionGANLib.widgets import describeModule, loadPanel
from LesionGANTrainingLib.processes import pythonExecutable

POLL_MILLISECONDS = 2000
SUMMARY_DELAY_MILLISECONDS = 700  # the data folder is read once typing in its field has paused
STOP_GRACE_SECONDS = 60.0  # after a STOP request, SIGTERM a process that is still there
SAMPLE_WIDTH = 384
SETTINGS_PREFIX = "LesionGAN/Training/"


class LesionGANTraining(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        describeModule(self.parent, _("LesionGAN Training"), _("""
Trains pseudo-healthy (ANT-GAN, pathology factorization, cGAN) and image (DCGAN, WGAN)
generators on a data folder, in a background process that goes on when the panel or Slicer is
closed. Follow the progress, the losses and the latest samples; stop, resume, and register the
finished model for the PseudoHealthy and LesionSynthesis panels.
See the <a href="https://github.com/lesiongan/SlicerLesionGAN/blob/main/docs/training_module.md">module documentation</a>.
"""))


class LesionGANTrainingWidget(ScriptedLoadableModuleWidget):
    purposes = ("inference", "training")  # what a run needs installed

    def __init__(self, parent=None, logic=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        self.logic = logic
        self.runDir: Path | None = None
        self.stopRequestedAt: float | None = None
        self.sampleModified = 0.0
        self.chartNode = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.ui = loadPanel(self, "LesionGANTraining.ui")
        if self.logic is None:
            self.logic = LesionGANTrainingLogic()
        self.settings = qt.QSettings()
        self.timer = qt.QTimer()
        self.timer.setInterval(POLL_MILLISECONDS)
        self.timer.connect("timeout()", self.refresh)
        # ctkPathLineEdit reports every keystroke that makes a valid path: wait for a pause.
        self.summaryTimer = qt.QTimer()
        self.summaryTimer.setSingleShot(True)
        self.summaryTimer.setInterval(SUMMARY_DELAY_MILLISECONDS)
        self.summaryTimer.connect("timeout()", self.summarizeDataFolder)

        self.ui.dataPathLineEdit.connect("currentPathChanged(QString)", self.onDataFolderChanged)
        self.ui.methodComboBox.connect("currentIndexChanged(int)", self.fillPresetComboBox)
        self.ui.startButton.connect("clicked(bool)", self.onStart)
        self.ui.stopButton.connect("clicked(bool)", self.onStop)
        self.ui.resumeButton.connect("clicked(bool)", self.onResume)
        self.ui.runsComboBox.connect("activated(int)", self.onRunSelected)
        self.ui.showPlotButton.connect("clicked(bool)", self.onShowPlot)
        self.ui.useModelButton.connect("clicked(bool)", self.onUseModel)

        self.fillMethodComboBox()
        # The last data folder comes back without counting slices (slow on a whole data set).
        self.ui.dataPathLineEdit.blockSignals(True)
        self.ui.dataPathLineEdit.currentPath = self.setting("dataFolder", "")
        self.ui.dataPathLineEdit.blockSignals(False)
        self.onDataFolderChanged(self.ui.dataPathLineEdit.currentPath, countSlices=False)
        self.ui.outputPathLineEdit.currentPath = ""
        self.updateButtons(None)
        self.fillRunsComboBox()
        if self.ui.runsComboBox.count:  # reopened: follow the newest run, which may still be training
            self.follow(Path(self.ui.runsComboBox.itemData(0)))

    def cleanup(self) -> None:
        self.timer.stop()  # the training process itself goes on
        self.summaryTimer.stop()

    def enter(self) -> None:
        self.fillRunsComboBox(self.runDir)
        if self.runDir is not None:
            self.refresh()

    def exit(self) -> None:
        self.timer.stop()

    # ------------------------------------------------------------ settings
    def setting(self, key: str, default: str) -> str:
        value = self.settings.value(SETTINGS_PREFIX + key)
        return str(value) if value else default

    def runsRoot(self) -> Path:
        """Where new runs go and where the panel looks for runs: the last output folder's parent."""
        return Path(self.setting("runsFolder", str(Path.home() / "LesionGAN" / "runs")))

    # ------------------------------------------------------------ inputs
    def fillMethodComboBox(self) -> None:
        """Methods and presets come from the `lesiongan.methods` registry (needs PyTorch)."""
        combo = self.ui.methodComboBox
        combo.clear()
        try:
            from lesiongan.methods import available_methods

            for name, cls in sorted(available_methods().items()):
                combo.addItem(name, name)
                combo.setItemData(combo.count - 1, cls.description, qt.Qt.ToolTipRole)
        except ImportError as error:  # PyTorch missing: installed at the first Start
            logging.warning("Training: methods unavailable until PyTorch is installed: %s", error)
            self.ui.statusLabel.text = _("PyTorch is not installed yet: press Start to install it.")
            return
        index = combo.findData(self.setting("method", "antgan"))
        combo.currentIndex = max(index, 0)
        self.fillPresetComboBox()

    def fillPresetComboBox(self, index: int = -1) -> None:
        from lesiongan.methods import get_method

        combo = self.ui.presetComboBox
        combo.clear()
        method = self.ui.methodComboBox.currentData
        if not method:
            return
        cls = get_method(method)
        default = cls.default_preset
        combo.addItem(_("default ({name})").format(name=default) if default else _("none"), "")
        for preset in cls.presets:
            combo.addItem(preset, preset)
        self.ui.optionsLineEdit.toolTip = optionsHelp(method)  # the method's options, types and defaults

    def onDataFolderChanged(self, path: str, countSlices: bool = True) -> None:
        """A new path in the field: summarized once the user has stopped typing."""
        self.summaryTimer.stop()
        if not path:
            self.ui.dataSummaryLabel.text = _("Choose a data folder.")
        elif countSlices:
            self.ui.dataSummaryLabel.text = _("Reading the folder...")
            self.summaryTimer.start()
        else:
            self.summarizeDataFolder(countSlices=False)

    def summarizeDataFolder(self, countSlices: bool = True) -> None:
        """What the readers find in the data folder; with `countSlices` also the slice counts
        (reads every mask: slow on a whole data set)."""
        path = self.ui.dataPathLineEdit.currentPath
        if not path:
            return
        from lesiongan.errors import LesionGANError

        try:
            with slicer.util.WaitCursor():
                summary = self.logic.summarizeData(path, countSlices=countSlices)
        except LesionGANError as error:  # not a data folder (yet): the label says why
            self.ui.dataSummaryLabel.text = str(error)
            return
        except Exception as error:  # unreadable files and the like: shown, not only logged
            self.ui.dataSummaryLabel.text = str(error)
            widgets.showError(_("The data folder could not be read."), error)
            return
        modalities = ", ".join(f"{name} ({count})" for name, count in summary["modalities"].items())
        text = _("{layout}: {subjects} subjects; {modalities}").format(
            layout=summary["layout"], subjects=summary["subjects"], modalities=modalities)
        if countSlices:
            text += _("; {healthy} healthy and {abnormal} abnormal axial slices (background included)").format(
                healthy=summary["healthySlices"], abnormal=summary["abnormalSlices"])
        self.ui.dataSummaryLabel.text = text

    # ------------------------------------------------------------ start / stop / resume
    def ensureDependencies(self) -> bool:
        ready = widgets.ensureDependencies(*self.purposes)
        if ready and not self.ui.methodComboBox.count:  # installed just now: the methods can be listed
            self.fillMethodComboBox()
        return ready

    def onStart(self) -> None:
        if not self.ensureDependencies():
            return
        method = self.ui.methodComboBox.currentData
        outputFolder = self.ui.outputPathLineEdit.currentPath or str(
            self.runsRoot() / f"{method}-{time.strftime('%Y%m%d-%H%M%S')}")
        with slicer.util.tryWithErrorDisplay(_("Training could not start."), waitCursor=True):
            run = self.logic.startRun(
                method, self.ui.dataPathLineEdit.currentPath, outputFolder,
                preset=self.ui.presetComboBox.currentData or None, device=self.ui.deviceComboBox.currentText,
                iterations=self.ui.iterationsSpinBox.value, batchSize=self.ui.batchSizeSpinBox.value,
                options=parseOptions(self.ui.optionsLineEdit.text), python=pythonExecutable(slicer.app.slicerHome))
            for key, value in (("dataFolder", self.ui.dataPathLineEdit.currentPath), ("method", method),
                               ("runsFolder", str(run.runDir.parent))):
                self.settings.setValue(SETTINGS_PREFIX + key, value)
            self.ui.outputPathLineEdit.currentPath = ""  # the next Start makes a new run folder
            self.follow(run.runDir)

    def onStop(self) -> None:
        if self.runDir is not None and self.logic.requestStop(self.runDir):
            self.stopRequestedAt = time.monotonic()
            self.ui.statusLabel.text = _("Stopping after the current step...")
            self.ui.stopButton.enabled = False

    def onResume(self) -> None:
        if self.runDir is None or not self.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Training could not resume."), waitCursor=True):
            run = self.logic.resumeRun(self.runDir, python=pythonExecutable(slicer.app.slicerHome))
            self.follow(run.runDir)

    # ------------------------------------------------------------ following a run
    def fillRunsComboBox(self, select: Path | None = None) -> None:
        combo = self.ui.runsComboBox
        combo.clear()
        root = self.runsRoot()
        if not root.is_dir():
            return
        for run in self.logic.listRuns(root):
            combo.addItem(f"{run['name']}: {run['state']} {run['step']}/{run['total'] or '?'}", run["runDir"])
        if select is not None:
            combo.currentIndex = max(combo.findData(str(select)), 0)

    def onRunSelected(self, index: int) -> None:
        runDir = self.ui.runsComboBox.itemData(index)
        if runDir:
            self.follow(Path(runDir))

    def follow(self, runDir: Path) -> None:
        self.runDir, self.stopRequestedAt, self.sampleModified, self.chartNode = Path(runDir), None, 0.0, None
        self.fillRunsComboBox(self.runDir)
        self.ui.modelNameLineEdit.text = ""
        self.refresh()

    def refresh(self) -> None:
        """One poll of the run: progress bar, status, loss table and plot, sample image, buttons."""
        if self.runDir is None:
            return
        info = self.logic.progress(self.runDir)
        state, step, total = info["state"], int(info["step"] or 0), int(info["total"] or 0)
        self.ui.progressBar.maximum = max(total, 1)
        self.ui.progressBar.value = min(step, max(total, 1))
        losses = "  ".join(f"{name} {value:.3g}" for name, value in list(info["losses"].items())[:4])
        if state == "running":
            text = _("Running: step {step}/{total}, about {eta} left. {losses}").format(
                step=step, total=total or "?", eta=formatDuration(info["eta_seconds"]), losses=losses)
        elif state == "finished":
            text = _("Finished: {step} steps. Press 'Use this model' to list it in the other panels.").format(step=step)
        elif state == "stopped":
            text = _("Stopped at step {step}/{total}; Resume continues from there.").format(step=step, total=total)
        else:
            text = _("Failed or killed at step {step}. The end of train.log:\n{log}").format(step=step, log=info["error"])
        self.ui.statusLabel.text = text
        self.chartNode = self.logic.updateLossPlot(self.runDir, info["history"]) or self.chartNode
        self.updateSample(info["sample"])
        if state == "running" and self.stopRequestedAt and time.monotonic() - self.stopRequestedAt > STOP_GRACE_SECONDS:
            self.logic.terminateRun(self.runDir)
        if state == "running":
            self.timer.start()
        else:
            self.timer.stop()
            self.stopRequestedAt = None
            self.fillRunsComboBox(self.runDir)
        self.updateButtons(state)

    def updateButtons(self, state: str | None) -> None:
        self.ui.startButton.enabled = state != "running"
        self.ui.stopButton.enabled = state == "running" and self.stopRequestedAt is None
        self.ui.resumeButton.enabled = state in ("stopped", "failed")
        self.ui.useModelButton.enabled = state == "finished"
        self.ui.showPlotButton.enabled = self.chartNode is not None

    def onShowPlot(self) -> None:
        if self.chartNode is not None:
            slicer.modules.plots.logic().ShowChartInLayout(self.chartNode)

    def updateSample(self, samplePath: str | None) -> None:
        if not samplePath:
            self.ui.sampleLabel.clear()
            return
        modified = os.path.getmtime(samplePath)
        if modified == self.sampleModified:
            return
        pixmap = qt.QPixmap(samplePath)
        if not pixmap.isNull():
            width = min(SAMPLE_WIDTH, max(self.ui.sampleLabel.width, 128))
            self.ui.sampleLabel.setPixmap(pixmap.scaledToWidth(width, qt.Qt.SmoothTransformation))
            self.sampleModified = modified

    def onUseModel(self) -> None:
        if self.runDir is None:
            return
        with slicer.util.tryWithErrorDisplay(_("The model could not be registered.")):
            entry = self.logic.useModel(self.runDir, self.ui.modelNameLineEdit.text.strip() or None)
            self.ui.statusLabel.text = _("Registered as '{name}': the PseudoHealthy and LesionSynthesis panels "
                                         "list it.").format(name=entry.name)


class LesionGANTrainingTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer: a tiny run on a tiny phantom, stopped, resumed, finished, registered."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_LesionGANTraining_tinyRun()

    def waitFor(self, condition, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            slicer.app.processEvents()
            time.sleep(0.2)
        self.fail(f"timed out after {timeout} s waiting for {what}")

    def test_LesionGANTraining_tinyRun(self):
        from lesiongan.data.phantom import write_cases
        from lesiongan.infer import catalog

        folder = Path(tempfile.mkdtemp())
        self.delayDisplay("Making a tiny phantom")
        write_cases(folder / "phantom", 4, seed=0, size="tiny")
        logic = LesionGANTrainingLogic()
        python = pythonExecutable(slicer.app.slicerHome)
        options = {"size": (32, 32), "ngf": 4, "ndf": 4, "n_blocks": 1, "pool_size": 3, "log_every": 1,
                   "sample_every": 10, "no_tensorboard": True}
        runDir = folder / "runs" / "tiny"

        self.delayDisplay("Starting a background run")
        run = logic.startRun("antgan", folder / "phantom", runDir, device="cpu", iterations=40, batchSize=2,
                             options=options, python=python)
        self.waitFor(lambda: logic.progress(runDir)["step"] > 0, 180, "the first step")

        self.delayDisplay("Stopping and resuming")
        self.assertEqual(logic.stopRun(runDir, gracePeriod=60), "stopped")
        stoppedAt = logic.progress(runDir)["step"]
        resumed = logic.resumeRun(runDir, python=python)
        self.assertNotEqual(resumed.pid, run.pid)
        self.waitFor(lambda: logic.runState(runDir) != "running", 300, "the run to end")
        finished = logic.progress(runDir)
        self.assertEqual((finished["state"], finished["step"]), ("finished", 40))
        self.assertGreater(finished["step"], stoppedAt)

        self.delayDisplay("Following the run in the panel")
        widget = slicer.modules.lesiongantraining.widgetRepresentation().self()
        widget.follow(runDir)
        self.assertEqual(widget.ui.progressBar.value, 40)
        self.assertTrue(widget.ui.useModelButton.enabled)
        self.assertIsNotNone(widget.chartNode)
        table = widget.chartNode.GetNthPlotSeriesNode(0).GetTableNode()
        self.assertEqual(table.GetNumberOfRows(), 40)

        self.delayDisplay("Registering the model")
        previousCache = os.environ.get("LESIONGAN_CACHE")
        os.environ["LESIONGAN_CACHE"] = str(folder / "cache")  # leave the user's registry alone
        try:
            logic.useModel(runDir, name="tiny-training-test")
            self.assertIn("tiny-training-test", [entry.name for entry in catalog.list_models()])
        finally:
            if previousCache is None:
                os.environ.pop("LESIONGAN_CACHE")
            else:
                os.environ["LESIONGAN_CACHE"] = previousCache
        self.delayDisplay("Test passed")
