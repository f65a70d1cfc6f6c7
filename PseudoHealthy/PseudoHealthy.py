"""Pseudo-Healthy Synthesis: the Slicer module, its panel and its self-test.

The computation lives in PseudoHealthyLib (usable from the Python console); this file is the
only one of the module that imports qt/ctk.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Annotated

import numpy as np
import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, Minimum, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from PseudoHealthyLib import PseudoHealthyLogic

BROWSE_ITEM = "Browse..."


class PseudoHealthy(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Pseudo-Healthy Synthesis")
        self.parent.categories = ["Image Synthesis"]
        self.parent.dependencies = []
        self.parent.contributors = ["The LesionGAN authors"]
        self.parent.helpText = _("""
Turns a volume with lesions into its pseudo-healthy counterpart with a GAN generator, shows
|input - pseudo-healthy| as a heatmap and its thresholded mask as a labelmap and a segmentation.
Pick a volume and a model, press Apply, then move the threshold to adjust the mask.
See the <a href="https://github.com/lesiongan/SlicerLesionGAN/blob/main/docs/pseudohealthy.md">module documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Methods from: L. Sun et al., "An adversarial learning approach to medical image synthesis for
lesion detection" (ANT-GAN), IEEE J Biomed Health Inform 2020; T. Xia, A. Chartsias,
S. A. Tsaftaris, "Pseudo-healthy synthesis with pathology disentanglement and adversarial
learning", Medical Image Analysis 2020; C. Han et al., "GAN-based synthetic brain MR image
generation", IEEE ISBI 2018.
""")


@parameterNodeWrapper
class PseudoHealthyParameterNode:
    """What the panel shows; kept in the scene so it is saved with it."""

    inputVolume: vtkMRMLScalarVolumeNode
    modelPath: str = ""
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    threshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.1
    heatmapOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    limitToForeground: bool = True
    minimumComponentSize: Annotated[int, Minimum(0)] = 0
    createNew: bool = False


class PseudoHealthyModuleLogic(PseudoHealthyLogic):
    """The console logic plus the module's parameter node (a Slicer-application feature)."""

    def __init__(self) -> None:
        super().__init__()
        self.moduleName = "PseudoHealthy"  # names the parameter node, whatever this class is called

    def getParameterNode(self) -> PseudoHealthyParameterNode:
        return PseudoHealthyParameterNode(ScriptedLoadableModuleLogic.getParameterNode(self))


class PseudoHealthyWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._running = False
        self._cancelRequested = False

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/PseudoHealthy.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = PseudoHealthyModuleLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.modelComboBox.connect("activated(int)", self.onModelActivated)
        self.ui.thresholdSliderWidget.connect("valueChanged(double)", self.onThresholdChanged)
        self.ui.opacitySliderWidget.connect("valueChanged(double)", self.onOpacityChanged)
        self.ui.progressBar.hide()
        self.fillModelComboBox()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateApplyButton)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    # ------------------------------------------------------------ parameter node
    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolume and not firstVolume.IsA("vtkMRMLLabelMapVolumeNode"):
                self._parameterNode.inputVolume = firstVolume

    def setParameterNode(self, parameterNode: PseudoHealthyParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateApplyButton)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateApplyButton)
            self.selectModelPath(self._parameterNode.modelPath)
            self.updateApplyButton()

    def updateApplyButton(self, caller=None, event=None) -> None:
        if self._running:
            self.ui.applyButton.text = _("Cancel")
            self.ui.applyButton.enabled = True
            return
        self.ui.applyButton.text = _("Apply")
        ready = bool(self._parameterNode and self._parameterNode.inputVolume and self.currentModelData())
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = _("Make the pseudo-healthy volume, heatmap and mask") if ready else _(
            "Select an input volume and a model")

    # ------------------------------------------------------------ models
    def fillModelComboBox(self) -> None:
        """Shipped, downloadable and registered models, then 'Browse...' for any model file."""
        combo = self.ui.modelComboBox
        combo.clear()
        try:
            from lesiongan.infer import catalog

            for entry in catalog.list_models():
                label = entry.name if entry.available else _("{name} (download)").format(name=entry.name)
                combo.addItem(label, entry.name if entry.source == "download" else str(entry.path))
                combo.setItemData(combo.count - 1, entry.description, qt.Qt.ToolTipRole)
        except Exception as error:  # a broken manifest must not stop the panel from opening
            logging.warning("PseudoHealthy: could not list models: %s", error)
        combo.addItem(BROWSE_ITEM, "")

    def currentModelData(self) -> str:
        return self.ui.modelComboBox.itemData(self.ui.modelComboBox.currentIndex) or ""

    def selectModelPath(self, modelPath: str) -> None:
        combo = self.ui.modelComboBox
        if not modelPath:
            return
        index = combo.findData(modelPath)
        if index < 0:
            combo.insertItem(combo.count - 1, os.path.basename(modelPath), modelPath)
            index = combo.findData(modelPath)
        combo.currentIndex = index

    def onModelActivated(self, index: int) -> None:
        if self.ui.modelComboBox.itemText(index) == BROWSE_ITEM:
            path = qt.QFileDialog.getOpenFileName(self.parent, _("Choose a LesionGAN model file"), "",
                                                  _("Model files (*.pt *.pth *.safetensors);;All files (*)"))
            if path:
                self.selectModelPath(path)
            elif self._parameterNode and self._parameterNode.modelPath:
                self.selectModelPath(self._parameterNode.modelPath)
        if self._parameterNode:
            self._parameterNode.modelPath = self.currentModelData()
        self.updateApplyButton()

    def resolvedModelPath(self) -> str:
        """The model's local file; a catalog model is downloaded (and verified) on first use."""
        from lesiongan.infer import catalog

        def progress(done: int, total: int) -> None:
            self.showProgress(_("Downloading model"), done, total)

        return str(catalog.resolve_model(self.currentModelData(), progress=progress))

    # ------------------------------------------------------------ running
    def ensureDependencies(self) -> bool:
        """Torch (through the PyTorch extension) and the other packages are checked at the first
        Apply, not at import, so that the panel opens in a Slicer without them."""
        from lesiongan.errors import LesionGANError
        from lesiongan.infer.dependencies import ensure_requirements

        try:
            return ensure_requirements(slicer, None, confirm=slicer.util.confirmOkCancelDisplay)
        except LesionGANError as error:  # the PyTorch extension is missing: the message says what to do
            slicer.util.errorDisplay(str(error))
            return False

    def showProgress(self, text: str, done: int, total: int) -> None:
        self.ui.progressBar.show()
        self.ui.progressBar.maximum = max(total, 1)
        self.ui.progressBar.value = done
        self.ui.statusLabel.text = f"{text}: {done}/{total}"
        slicer.app.processEvents()  # lets the Cancel click through

    def onApplyButton(self) -> None:
        if self._running:
            self._cancelRequested = True
            self.ui.statusLabel.text = _("Cancelling...")
            return
        if not self.ensureDependencies():
            return
        from lesiongan.errors import Cancelled

        parameters = self._parameterNode
        self._running, self._cancelRequested = True, False
        self.updateApplyButton()
        try:
            with slicer.util.tryWithErrorDisplay(_("Pseudo-healthy synthesis failed."), waitCursor=True):
                try:
                    result = self.logic.process(
                        parameters.inputVolume, self.resolvedModelPath(), threshold=parameters.threshold,
                        device=parameters.device, limitToForeground=parameters.limitToForeground,
                        minimumComponentSize=parameters.minimumComponentSize, createNew=parameters.createNew,
                        heatmapOpacity=parameters.heatmapOpacity,
                        progress=lambda done, total: self.showProgress(_("Slices"), done, total),
                        cancel=lambda: self._cancelRequested)
                except Cancelled:
                    self.ui.statusLabel.text = _("Cancelled; nothing was added to the scene.")
                    return
                self.ui.statusLabel.text = _("Done in {seconds:.1f} s on {device}; mask: {voxels} voxels.").format(
                    seconds=result.seconds, device=result.device, voxels=result.maskVoxels)
        finally:
            self._running = False
            self.ui.progressBar.hide()
            self.updateApplyButton()

    def onThresholdChanged(self, value: float) -> None:
        """Live mask update from the existing difference map (no model run)."""
        inputVolume = self._parameterNode.inputVolume if self._parameterNode else None
        if self._running or not inputVolume or "difference" not in self.logic.outputNodes(inputVolume):
            return
        with slicer.util.tryWithErrorDisplay(_("Re-thresholding failed.")):
            result = self.logic.rethreshold(inputVolume, value)
            self.ui.statusLabel.text = _("Threshold {value:.2f}: mask {voxels} voxels.").format(
                value=value, voxels=result.maskVoxels)

    def onOpacityChanged(self, value: float) -> None:
        inputVolume = self._parameterNode.inputVolume if self._parameterNode else None
        if inputVolume and "difference" in self.logic.outputNodes(inputVolume):
            self.logic.setHeatmapOpacity(value)


class PseudoHealthyTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer: a phantom case through the shipped demo model."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_PseudoHealthy_phantom()

    def test_PseudoHealthy_phantom(self):
        from lesiongan.data.phantom import make_case
        from lesiongan.infer.catalog import default_model_path
        from PseudoHealthyLib.nodes import updateNodeFromVolume

        self.delayDisplay("Making a phantom case")
        case = make_case(0, size="tiny")
        inputVolume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Phantom_flair")
        updateNodeFromVolume(inputVolume, case.volume(case.images["flair"].astype(np.float32)))
        inputVolume.CreateDefaultDisplayNodes()
        before = slicer.util.arrayFromVolume(inputVolume).copy()
        modelPath = default_model_path()
        self.assertTrue(modelPath.is_file(), f"the demo model {modelPath} is missing from the installation")

        self.delayDisplay("Running the demo model")
        logic = PseudoHealthyLogic()
        result = logic.process(inputVolume, modelPath, threshold=0.1, device="auto")
        logic.showResults(inputVolume, heatmapOpacity=0.5)
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(inputVolume), before)
        difference = slicer.util.arrayFromVolume(slicer.mrmlScene.GetNodeByID(result.differenceNodeID))
        self.assertEqual(difference.shape, before.shape)
        lesion = case.labels > 0
        # A trained generator changes the lesion far more than the healthy tissue.
        self.assertGreater(difference[lesion].mean(), 2 * difference[~lesion & (before > 0)].mean())
        self.assertGreater(result.maskVoxels, 0)

        self.delayDisplay("Re-thresholding")
        higher = logic.rethreshold(inputVolume, 0.3)
        self.assertLessEqual(higher.maskVoxels, result.maskVoxels)
        composite = slicer.app.layoutManager().sliceWidget("Red").sliceLogic().GetSliceCompositeNode()
        self.assertEqual(composite.GetForegroundVolumeID(), result.differenceNodeID)
        self.assertEqual(composite.GetLabelVolumeID(), result.maskNodeID)

        self.delayDisplay("Saving the scene")
        bundle = os.path.join(tempfile.mkdtemp(), "PseudoHealthyTest.mrb")
        self.assertTrue(slicer.util.saveScene(bundle))
        self.delayDisplay("Test passed")
