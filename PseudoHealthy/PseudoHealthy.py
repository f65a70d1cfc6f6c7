"""Pseudo-Healthy Synthesis: the Slicer module, its panel and its self-test.

The computation lives in PseudoHealthyLib (usable from the Python console); this file and
LesionGANLib.widgets (panel pieces the LesionGAN modules share) are the only ones that import qt.
"""

from __future__ import annotations

import os
import tempfile
from typing import Annotated

import numpy as np
import slicer
from slicer import vtkMRMLScalarVolumeNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, Minimum, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
)

from PseudoHealthyLib import PseudoHealthyLogic  # first: in a source checkout it puts LesionGANLib on the path
from LesionGANLib.widgets import ModelPanelWidget, describeModule

ANTGAN_THRESHOLD = 0.1  # the paper's threshold on the [0, 1] difference map, kept as a preset
# The extra sequences' selectors are made per model, so they are not fields of the parameter
# node: each choice is a node reference of this role on it, saved with the scene all the same.
SEQUENCE_REFERENCE_ROLE = "LesionGAN.sequence.{modality}"


class PseudoHealthy(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        describeModule(self.parent, _("Pseudo-Healthy Synthesis"), _("""
Turns a volume with lesions into its pseudo-healthy counterpart with a GAN generator, shows
|input - pseudo-healthy| as a heatmap and its thresholded mask as a labelmap and a segmentation.
Pick a volume and a model, press Apply, then move the threshold to adjust the mask.
See the <a href="https://github.com/lesiongan/SlicerLesionGAN/blob/main/docs/pseudohealthy.md">module documentation</a>.
"""))


@parameterNodeWrapper
class PseudoHealthyParameterNode:
    """What the panel shows; kept in the scene so it is saved with it."""

    inputVolume: vtkMRMLScalarVolumeNode
    modelPath: str = ""
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    threshold: Annotated[float, WithinRange(0.0, 1.0)] = ANTGAN_THRESHOLD  # replaced by the model's own
    heatmapOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    limitToForeground: bool = True
    minimumComponentSize: Annotated[int, Minimum(0)] = 0
    createNew: bool = False


class PseudoHealthyModuleLogic(PseudoHealthyLogic, ScriptedLoadableModuleLogic):
    """The console logic plus the module's parameter node (a Slicer-application feature)."""

    def __init__(self) -> None:
        super().__init__()
        self.moduleName = "PseudoHealthy"  # names the parameter node, whatever this class is called

    def getParameterNode(self) -> PseudoHealthyParameterNode:
        return PseudoHealthyParameterNode(ScriptedLoadableModuleLogic.getParameterNode(self))


class PseudoHealthyWidget(ModelPanelWidget):
    moduleName = "PseudoHealthy"
    logicClass = PseudoHealthyModuleLogic

    def __init__(self, parent=None, logic=None) -> None:
        super().__init__(parent, logic)
        self._thresholdModel = None  # the model whose own threshold the panel has taken
        self._sequenceSelectors: dict = {}  # modality -> node selector, for the model's sequences after the input

    def connectPanel(self) -> None:
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.thresholdSliderWidget.connect("valueChanged(double)", self.onThresholdChanged)
        self.ui.opacitySliderWidget.connect("valueChanged(double)", self.onOpacityChanged)
        self.ui.thresholdPresetComboBox.connect("activated(int)", self.onThresholdPreset)
        self.fillThresholdPresets(None)

    # ------------------------------------------------------------ threshold
    def fillThresholdPresets(self, modelThreshold: float | None) -> None:
        """The model's calibrated threshold (once known) and ANT-GAN's 0.1."""
        combo = self.ui.thresholdPresetComboBox
        combo.clear()
        if modelThreshold is not None:
            combo.addItem(_("This model's ({value:.3g})").format(value=modelThreshold), modelThreshold)
        combo.addItem(_("ANT-GAN paper ({value:.3g})").format(value=ANTGAN_THRESHOLD), ANTGAN_THRESHOLD)

    def modelChosen(self) -> None:
        self.useModelThreshold()

    def parameterNodeShown(self) -> None:
        if self._thresholdModel is None:
            self.useModelThreshold()
        for modality, selector in self._sequenceSelectors.items():  # a loaded scene's own choices
            selector.setCurrentNode(self.storedSequence(modality))

    def useModelThreshold(self, download: bool = False) -> None:
        """The threshold and the minimum mask component start at the chosen model file's own.
        Torch is needed to read them, and a catalog model its download: until the first Apply
        has both, Apply reads them."""
        path = self.models.currentData()
        if not path or not self._parameterNode or not (download or os.path.isfile(path)):
            return
        try:
            resolved = self.models.resolvedPath(self.showProgress)
            threshold = self.logic.modelThreshold(resolved)
        except ImportError:  # torch not installed yet: Apply installs it and comes back here
            return
        except Exception as error:  # a broken file: say so now, Apply would fail the same way
            self.ui.statusLabel.text = _("Cannot read the model: {error}").format(error=error)
            return
        self.fillThresholdPresets(threshold)
        loaded = self.logic.loadModel(resolved)  # cached by the threshold's read
        self.showSequenceSelectors(loaded.modalities, loaded.optional_modalities)
        self._thresholdModel = path
        self._parameterNode.threshold = threshold
        self._parameterNode.minimumComponentSize = self.logic.modelMinimumComponentSize(resolved)

    def showSequenceSelectors(self, modalities: list, optional: list) -> None:
        """One volume selector per sequence the model takes after the input volume (its first
        modality), under it in the Inputs section; a sequence the model can do without may stay
        empty. A one-sequence model shows none."""
        if list(self._sequenceSelectors) == list(modalities[1:]):
            return
        layout = self.ui.inputsCollapsibleButton.layout()  # the Inputs form
        for selector in self._sequenceSelectors.values():
            layout.removeRow(selector)
        self._sequenceSelectors = {}
        for modality in modalities[1:]:
            selector = slicer.qMRMLNodeComboBox()
            selector.nodeTypes = ["vtkMRMLScalarVolumeNode"]
            selector.showChildNodeTypes = False  # no labelmaps
            selector.noneEnabled = modality in optional
            selector.addEnabled = False
            selector.removeEnabled = False
            selector.setMRMLScene(slicer.mrmlScene)
            selector.setCurrentNode(self.storedSequence(modality))
            selector.toolTip = _("The {name} of the same case, co-registered with the input volume.").format(
                name=modality.upper()) + (_(" Optional: without it the model uses the other sequences.")
                                          if modality in optional else "")
            selector.connect("currentNodeChanged(vtkMRMLNode*)",
                             lambda node, modality=modality: self.storeSequence(modality, node))
            label = _("{name} (optional):") if modality in optional else _("{name}:")
            layout.addRow(label.format(name=modality.upper()), selector)
            self._sequenceSelectors[modality] = selector

    def storedSequence(self, modality: str):
        """The volume chosen for `modality` in this scene (None when none was)."""
        if not self._parameterNode:
            return None
        return self._parameterNode.parameterNode.GetNodeReference(SEQUENCE_REFERENCE_ROLE.format(modality=modality))

    def storeSequence(self, modality: str, node) -> None:
        if self._parameterNode:
            self._parameterNode.parameterNode.SetNodeReferenceID(SEQUENCE_REFERENCE_ROLE.format(modality=modality),
                                                                 node.GetID() if node else None)
        self.updateButtons()

    def otherSequences(self) -> dict:
        """The sequences chosen in the extra selectors: {modality: volume node}."""
        return {modality: selector.currentNode() for modality, selector in self._sequenceSelectors.items()
                if selector.currentNode() is not None}

    def onThresholdPreset(self, index: int) -> None:
        value = self.ui.thresholdPresetComboBox.itemData(index)
        if value is not None and self._parameterNode:
            self._parameterNode.threshold = float(value)

    def updateButtons(self, caller=None, event=None) -> None:
        if self._running:
            self.ui.applyButton.text = _("Cancel")
            self.ui.applyButton.enabled = True
            return
        self.ui.applyButton.text = _("Apply")
        needed = [selector for selector in self._sequenceSelectors.values() if not selector.noneEnabled]
        ready = bool(self._parameterNode and self._parameterNode.inputVolume and self.models.currentData()
                     and all(selector.currentNode() is not None for selector in needed))
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = _("Make the pseudo-healthy volume, heatmap and mask") if ready else _(
            "Select an input volume, a model and the sequences it needs")

    # ------------------------------------------------------------ running
    def onApplyButton(self) -> None:
        parameters = self._parameterNode
        missing: list = []  # the model's sequences the run goes without, for the status line

        def work(progress, cancel):
            if self._thresholdModel != self.models.currentData():  # torch was missing until now
                self.useModelThreshold(download=True)
            model, others = self.models.resolvedPath(self.showProgress), self.otherSequences()
            result = self.logic.process(
                parameters.inputVolume, model, threshold=parameters.threshold, device=parameters.device,
                otherSequences=others, limitToForeground=parameters.limitToForeground,
                minimumComponentSize=parameters.minimumComponentSize, createNew=parameters.createNew,
                heatmapOpacity=parameters.heatmapOpacity, progress=progress, cancel=cancel)
            missing[:] = self.logic.missingSequences(model, others)
            return result

        def finished(result) -> None:
            text = _("Done in {seconds:.1f} s on {device}; mask: {voxels} voxels.").format(
                seconds=result.seconds, device=result.device, voxels=result.maskVoxels)
            if missing:
                text += " " + _("Without {names}: a sequence more may find more.").format(
                    names=", ".join(m.upper() for m in missing))
            self.ui.statusLabel.text = text

        self.runCancellable(_("Pseudo-healthy synthesis failed."), work, finished)

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
        from LesionGANLib.nodes import updateNodeFromVolume
        from lesiongan.infer.catalog import default_model_path

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
        result = logic.process(inputVolume, modelPath, threshold=ANTGAN_THRESHOLD, device="auto")
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
