"""Panel pieces shared by the LesionGAN modules (PseudoHealthy, LesionSynthesis, LesionGANTraining).

The Qt side of the modules: the logics (the modules' *Lib packages and the rest of LesionGANLib)
stay free of qt and usable from the console. A widget takes its logic as a constructor argument
(a test or a script can pass its own); Slicer passes none and the widget makes the module's.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterable

import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

from . import dependencies

BROWSE_ITEM = "Browse..."
CATEGORY = "Image Synthesis"
ACKNOWLEDGEMENT_TEXT = """
Methods from: L. Sun et al., "An adversarial learning approach to medical image synthesis for
lesion detection" (ANT-GAN), IEEE J Biomed Health Inform 2020; T. Xia, A. Chartsias,
S. A. Tsaftaris, "Pseudo-healthy synthesis with pathology disentanglement and adversarial
learning", Medical Image Analysis 2020; C. Han et al., "GAN-based synthetic brain MR image
generation", IEEE ISBI 2018.
"""

ShowProgress = Callable[[str, int, int], None]


def describeModule(parent, title: str, helpText: str) -> None:
    """The module's entry in Slicer: category, authors and acknowledgement common to LesionGAN.
    No module depends on another: what they share is this package."""
    parent.title = title
    parent.categories = [CATEGORY]
    parent.dependencies = []
    parent.contributors = ["The LesionGAN authors"]
    parent.helpText = helpText
    parent.acknowledgementText = _(ACKNOWLEDGEMENT_TEXT)


def loadPanel(widget, uiFileName: str):
    """Load `Resources/UI/<uiFileName>` into the module panel; returns its named child widgets."""
    uiWidget = slicer.util.loadUI(widget.resourcePath(f"UI/{uiFileName}"))
    widget.layout.addWidget(uiWidget)
    ui = slicer.util.childWidgetVariables(uiWidget)
    uiWidget.setMRMLScene(slicer.mrmlScene)
    return ui


def showError(message: str, error: BaseException) -> None:
    """An error dialog with what failed, the error itself and (under Details) its traceback."""
    logging.error("%s %s", message, error)
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    slicer.util.errorDisplay(f"{message}\n\n{error}", detailedText=details)


def ensureDependencies(*purposes: str) -> bool:
    """Torch and the packages of `purposes` (see `LesionGANLib.dependencies`), checked at the
    first use rather than at import, so that the panels open in a Slicer without them. Every
    failure (no PyTorch extension, pip, an import) is shown in a dialog; False then."""
    try:
        return dependencies.ensure(purposes or ("inference",))
    except Exception as error:  # any failure must reach the user, not only the console
        showError(_("LesionGAN could not install what it needs."), error)
        return False


def showProgress(ui, text: str, done: int, total: int) -> None:
    """Progress on the panel's `progressBar` and `statusLabel`; lets a Cancel click through."""
    ui.progressBar.show()
    ui.progressBar.maximum = max(total, 1)
    ui.progressBar.value = done
    ui.statusLabel.text = f"{text}: {done}/{total}"
    slicer.app.processEvents()


# ---------------------------------------------------------------- models
class ModelChoice:
    """A model combo box: shipped, downloadable and registered models, then 'Browse...' for any
    model file. Its item data is a catalog name (downloaded on first use) or a file path."""

    def __init__(self, comboBox, moduleName: str, dialogParent=None) -> None:
        self.comboBox = comboBox
        self.moduleName = moduleName
        self.dialogParent = dialogParent

    def fill(self) -> None:
        """(Re)list the models, keeping the current choice: called on each entry into the
        module, so that a model registered meanwhile (by LesionGANTraining) is there."""
        combo = self.comboBox
        current = self.currentData() if combo.count else ""  # a browsed file is re-added by select()
        combo.blockSignals(True)
        try:
            combo.clear()
            try:
                from lesiongan.infer import catalog

                for entry in catalog.list_models():
                    label = entry.name if entry.available else _("{name} (download)").format(name=entry.name)
                    combo.addItem(label, entry.name if entry.source == "download" else str(entry.path))
                    combo.setItemData(combo.count - 1, entry.description, qt.Qt.ToolTipRole)
            except Exception as error:  # a broken manifest must not stop the panel from opening
                logging.warning("%s: could not list models: %s", self.moduleName, error)
            combo.addItem(BROWSE_ITEM, "")
            self.select(current)
        finally:
            combo.blockSignals(False)

    def currentData(self) -> str:
        return self.comboBox.itemData(self.comboBox.currentIndex) or ""

    def select(self, modelPath: str) -> None:
        """Show `modelPath`, adding it before 'Browse...' when the list does not have it."""
        combo = self.comboBox
        if not modelPath:
            return
        index = combo.findData(modelPath)
        if index < 0:
            combo.insertItem(combo.count - 1, os.path.basename(modelPath), modelPath)
            index = combo.findData(modelPath)
        combo.currentIndex = index

    def onActivated(self, index: int, parameterNode) -> None:
        """'Browse...' asks for a file (cancelled: back to the saved model); the choice is saved."""
        if self.comboBox.itemText(index) == BROWSE_ITEM:
            path = qt.QFileDialog.getOpenFileName(self.dialogParent, _("Choose a LesionGAN model file"), "",
                                                  _("Model files (*.pt *.pth *.safetensors);;All files (*)"))
            if path:
                self.select(path)
            elif parameterNode and parameterNode.modelPath:
                self.select(parameterNode.modelPath)
        if parameterNode:
            parameterNode.modelPath = self.currentData()

    def resolvedPath(self, showProgress: ShowProgress) -> str:
        """The model's local file; a catalog model is downloaded (and verified) on first use."""
        from lesiongan.infer import catalog

        def progress(done: int, total: int) -> None:
            showProgress(_("Downloading model"), done, total)

        return str(catalog.resolve_model(self.currentData(), progress=progress))


# ---------------------------------------------------------------- model panels
class ModelPanelWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel of a module that runs a model on an input volume: its .ui, logic and model choice,
    a parameter node kept in step with the scene, and runs with a progress bar and Cancel.
    A subclass sets `moduleName` (also its .ui file's name) and `logicClass`, and defines
    `connectPanel()` (its own signals) and `updateButtons(caller=None, event=None)`."""

    moduleName = ""
    logicClass: type | None = None
    purposes: tuple[str, ...] = ("inference",)  # what a run needs installed

    def __init__(self, parent=None, logic=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = logic
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._running = False
        self._cancelRequested = False

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.ui = loadPanel(self, f"{self.moduleName}.ui")
        if self.logic is None:
            self.logic = self.logicClass()
        self.models = ModelChoice(self.ui.modelComboBox, self.moduleName, self.parent)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.modelComboBox.connect("activated(int)", self.onModelActivated)
        self.ui.progressBar.hide()
        self.connectPanel()
        self.models.fill()
        self.initializeParameterNode()

    def connectPanel(self) -> None:
        raise NotImplementedError

    def updateButtons(self, caller=None, event=None) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.models.fill()
        self.initializeParameterNode()

    def exit(self) -> None:
        self.releaseParameterNode()

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    # ------------------------------------------------------------ parameter node
    def initializeParameterNode(self) -> None:
        """Show the module's parameter node; an empty input becomes the first scalar (not label) volume."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolume and not firstVolume.IsA("vtkMRMLLabelMapVolumeNode"):
                self._parameterNode.inputVolume = firstVolume

    def releaseParameterNode(self) -> None:
        """Disconnect the panel from its parameter node (a no-op when it is not connected)."""
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)

    def setParameterNode(self, parameterNode) -> None:
        self.releaseParameterNode()
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)
            self.models.select(self._parameterNode.modelPath)
            self.parameterNodeShown()
            self.updateButtons()

    def parameterNodeShown(self) -> None:
        """Called when a parameter node has been connected to the panel (before `updateButtons`)."""

    # ------------------------------------------------------------ running
    def onModelActivated(self, index: int) -> None:
        self.models.onActivated(index, self._parameterNode)
        self.modelChosen()
        self.updateButtons()

    def modelChosen(self) -> None:
        """Called when the user has picked a model."""

    def showProgress(self, text: str, done: int, total: int) -> None:
        showProgress(self.ui, text, done, total)

    def runCancellable(self, failureText: str, work: Callable, finished: Callable,
                       purposes: Iterable[str] | None = None) -> None:
        """Run `work(progress, cancel)` and pass its result to `finished`; calling again while it
        runs (the button has become Cancel) asks it to stop. A cancelled run adds nothing."""
        if self._running:
            self._cancelRequested = True
            self.ui.statusLabel.text = _("Cancelling...")
            return
        if not ensureDependencies(*(purposes or self.purposes)):
            return
        from lesiongan.errors import Cancelled

        self._running, self._cancelRequested = True, False
        self.updateButtons()
        try:
            with slicer.util.tryWithErrorDisplay(failureText, waitCursor=True):
                try:
                    result = work(lambda done, total: self.showProgress(_("Slices"), done, total),
                                  lambda: self._cancelRequested)
                except Cancelled:
                    self.ui.statusLabel.text = _("Cancelled; nothing was added to the scene.")
                    return
                finished(result)
        finally:
            self._running = False
            self.ui.progressBar.hide()
            self.updateButtons()
