"""Panel pieces shared by the LesionGAN modules (PseudoHealthy, LesionSynthesis, Training).

The Qt side of the modules: their *Lib packages stay free of qt/ctk and usable from the console.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import qt
import slicer
import vtk
from slicer.i18n import tr as _

BROWSE_ITEM = "Browse..."
ACKNOWLEDGEMENT_TEXT = """
Methods from: L. Sun et al., "An adversarial learning approach to medical image synthesis for
lesion detection" (ANT-GAN), IEEE J Biomed Health Inform 2020; T. Xia, A. Chartsias,
S. A. Tsaftaris, "Pseudo-healthy synthesis with pathology disentanglement and adversarial
learning", Medical Image Analysis 2020; C. Han et al., "GAN-based synthetic brain MR image
generation", IEEE ISBI 2018.
"""

ShowProgress = Callable[[str, int, int], None]


def describeModule(parent, title: str, helpText: str, dependencies: list[str]) -> None:
    """The module's entry in Slicer: category, authors and acknowledgement common to LesionGAN."""
    parent.title = title
    parent.categories = ["Image Synthesis"]
    parent.dependencies = dependencies
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


def ensureDependencies() -> bool:
    """Torch (through the PyTorch extension) and the other packages are checked at the first run,
    not at import, so that the panels open in a Slicer without them."""
    from lesiongan.errors import LesionGANError
    from lesiongan.infer.dependencies import ensure_requirements

    try:
        return ensure_requirements(slicer, None, confirm=slicer.util.confirmOkCancelDisplay)
    except LesionGANError as error:  # the PyTorch extension is missing: the message says what to do
        slicer.util.errorDisplay(str(error))
        return False


def showProgress(ui, text: str, done: int, total: int) -> None:
    """Progress on the panel's `progressBar` and `statusLabel`; lets a Cancel click through."""
    ui.progressBar.show()
    ui.progressBar.maximum = max(total, 1)
    ui.progressBar.value = done
    ui.statusLabel.text = f"{text}: {done}/{total}"
    slicer.app.processEvents()


# ---------------------------------------------------------------- parameter node
def selectFirstVolume(parameterNode) -> None:
    """An empty input volume becomes the scene's first scalar (not label) volume."""
    if not parameterNode.inputVolume:
        firstVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
        if firstVolume and not firstVolume.IsA("vtkMRMLLabelMapVolumeNode"):
            parameterNode.inputVolume = firstVolume


def releaseParameterNode(widget, onModified: Callable) -> None:
    """Disconnect the widget's parameter node from its panel and from `onModified`."""
    if widget._parameterNode:
        widget._parameterNode.disconnectGui(widget._parameterNodeGuiTag)
        widget._parameterNodeGuiTag = None
        widget.removeObserver(widget._parameterNode, vtk.vtkCommand.ModifiedEvent, onModified)


def connectParameterNode(widget, parameterNode, onModified: Callable) -> None:
    """Make `parameterNode` the one the panel shows, `onModified` called on each change."""
    releaseParameterNode(widget, onModified)
    widget._parameterNode = parameterNode
    if parameterNode:
        widget._parameterNodeGuiTag = parameterNode.connectGui(widget.ui)
        widget.addObserver(parameterNode, vtk.vtkCommand.ModifiedEvent, onModified)


# ---------------------------------------------------------------- models
class ModelChoice:
    """A model combo box: shipped, downloadable and registered models, then 'Browse...' for any
    model file. Its item data is a catalog name (downloaded on first use) or a file path."""

    def __init__(self, comboBox, moduleName: str, dialogParent=None) -> None:
        self.comboBox = comboBox
        self.moduleName = moduleName
        self.dialogParent = dialogParent

    def fill(self) -> None:
        combo = self.comboBox
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
