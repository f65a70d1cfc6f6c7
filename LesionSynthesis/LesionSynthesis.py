"""Lesion Synthesis: the Slicer module, its panel and its self-test.

The computation lives in LesionSynthesisLib (usable from the Python console); this file is the
only one of the module that imports qt/ctk (the panel pieces it shares with the other LesionGAN
modules are in LesionGANLib.widgets).
"""

from __future__ import annotations

import os
from typing import Annotated

import ctk
import numpy as np
import qt
import slicer
from slicer import vtkMRMLLabelMapVolumeNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
)

from LesionSynthesisLib import LesionSynthesisLogic  # first: in a source checkout it puts LesionGANLib on the path
from LesionGANLib.widgets import ModelPanelWidget, describeModule, ensureDependencies

TURING_IMAGE_PIXELS = 256


class LesionSynthesis(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        describeModule(self.parent, _("Lesion Synthesis"), _("""
Paints lesions into volumes with GAN generators: paint a region with the Segment Editor and
synthesize a lesion there, or place random lesions inside the brain and away from the ventricles.
Also generates new images from noise and runs the Visual Turing Test.
See the <a href="https://github.com/lesiongan/SlicerLesionGAN/blob/main/docs/lesion_synthesis.md">module documentation</a>.
"""))


@parameterNodeWrapper
class LesionSynthesisParameterNode:
    """What the panel shows; kept in the scene so it is saved with it."""

    inputVolume: vtkMRMLScalarVolumeNode
    modelPath: str = ""
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    lesionSegmentation: vtkMRMLSegmentationNode
    blendMargin: Annotated[float, WithinRange(0.0, 20.0)] = 2.0
    lesionCount: Annotated[int, WithinRange(1, 20)] = 3
    lesionRadius: Annotated[float, WithinRange(1.0, 50.0)] = 8.0
    lesionSeed: Annotated[int, WithinRange(0, 1000000)] = 0
    tissueMap: vtkMRMLLabelMapVolumeNode
    imageCount: Annotated[int, WithinRange(1, 1000)] = 50
    imageSeed: Annotated[int, WithinRange(0, 1000000)] = 0
    turingRealVolume: vtkMRMLScalarVolumeNode
    turingSyntheticVolume: vtkMRMLScalarVolumeNode
    turingCount: Annotated[int, WithinRange(1, 500)] = 50
    turingSeed: Annotated[int, WithinRange(0, 1000000)] = 0


class LesionSynthesisModuleLogic(LesionSynthesisLogic, ScriptedLoadableModuleLogic):
    """The console logic plus the module's parameter node (a Slicer-application feature)."""

    def __init__(self) -> None:
        super().__init__()
        self.moduleName = "LesionSynthesis"

    def getParameterNode(self) -> LesionSynthesisParameterNode:
        return LesionSynthesisParameterNode(ScriptedLoadableModuleLogic.getParameterNode(self))


def slicePixmap(image: np.ndarray, pixels: int = TURING_IMAGE_PIXELS) -> qt.QPixmap:
    """A grey-scale pixmap of a 2D slice, scaled to `pixels` (its own min..max on 0..255)."""
    low, high = float(image.min()), float(image.max())
    scaled = np.zeros(image.shape, np.uint8) if high <= low else ((image - low) / (high - low) * 255).astype(np.uint8)
    # PGM is the simplest format QPixmap reads from memory: a text header, then the bytes.
    data = b"P5 %d %d 255\n" % (scaled.shape[1], scaled.shape[0]) + np.ascontiguousarray(scaled).tobytes()
    pixmap = qt.QPixmap()
    pixmap.loadFromData(qt.QByteArray(data), "PGM")
    return pixmap.scaled(pixels, pixels, qt.Qt.KeepAspectRatio, qt.Qt.SmoothTransformation)


class LesionSynthesisWidget(ModelPanelWidget):
    moduleName = "LesionSynthesis"
    logicClass = LesionSynthesisModuleLogic

    def __init__(self, parent=None, logic=None) -> None:
        super().__init__(parent, logic)
        self._turing = None
        self._turingIndex = None
        self._runningButton = None

    def connectPanel(self) -> None:
        self.ui.segmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateSegmentEditor)
        self.ui.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateSegmentEditor)
        self.ui.synthesizeButton.connect("clicked(bool)", self.onSynthesize)
        self.ui.randomLesionsButton.connect("clicked(bool)", self.onRandomLesions)
        self.ui.sampleImagesButton.connect("clicked(bool)", self.onSampleImages)
        self.ui.startTuringButton.connect("clicked(bool)", self.onStartTuring)
        self.ui.turingRealButton.connect("clicked()", lambda: self.onTuringAnswer("real"))
        self.ui.turingSyntheticButton.connect("clicked()", lambda: self.onTuringAnswer("synthetic"))
        self.ui.saveTuringButton.connect("clicked(bool)", self.onSaveTuring)
        self.ui.machineTestButton.connect("clicked(bool)", self.onMachineTest)
        self.ui.noiseModelPathLineEdit.filters = ctk.ctkPathLineEdit.Files | ctk.ctkPathLineEdit.Readable
        self.ui.noiseModelPathLineEdit.connect("currentPathChanged(QString)", self.updateButtons)
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.segmentEditorNode())

    def enter(self) -> None:
        super().enter()
        self.ui.segmentEditorWidget.installKeyboardShortcuts()

    def exit(self) -> None:
        """As Slicer's Segment Editor does: no effect left active on the slice views, no shortcuts."""
        self.deactivateSegmentEditor()
        super().exit()

    def deactivateSegmentEditor(self) -> None:
        editor = self.ui.segmentEditorWidget
        editor.setActiveEffect(None)
        editor.uninstallKeyboardShortcuts()
        editor.removeViewObservations()

    def onSceneStartClose(self, caller, event) -> None:
        super().onSceneStartClose(caller, event)
        self.deactivateSegmentEditor()
        self._turing = None

    def onSceneEndClose(self, caller, event) -> None:
        super().onSceneEndClose(caller, event)
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.segmentEditorNode())

    def parameterNodeShown(self) -> None:
        self.updateSegmentEditor()

    def updateButtons(self, caller=None, event=None) -> None:
        parameters = self._parameterNode
        model = bool(self.models.currentData())
        volume = bool(parameters and parameters.inputVolume)
        for button, ready, text in (
                (self.ui.synthesizeButton, volume and model and parameters.lesionSegmentation, _("Synthesize lesion")),
                (self.ui.randomLesionsButton, volume and model, _("Place and synthesize"))):
            if self._running and button is self._runningButton:
                button.text, button.enabled = _("Cancel"), True
            else:
                button.text, button.enabled = text, bool(ready) and not self._running
        self.ui.sampleImagesButton.enabled = bool(self.ui.noiseModelPathLineEdit.currentPath) and not self._running
        self.ui.startTuringButton.enabled = bool(parameters and parameters.turingRealVolume
                                                 and parameters.turingSyntheticVolume)
        self.ui.machineTestButton.enabled = self.ui.startTuringButton.enabled
        self.ui.saveTuringButton.enabled = self._turing is not None

    # ------------------------------------------------------------ painting
    def segmentEditorNode(self):
        """The scene's segment editor node for this module (made once, a singleton)."""
        node = slicer.mrmlScene.GetSingletonNode("LesionSynthesis", "vtkMRMLSegmentEditorNode")
        if node is None:
            node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLSegmentEditorNode")
            node.UnRegister(None)
            node.SetSingletonTag("LesionSynthesis")
            node = slicer.mrmlScene.AddNode(node)
        return node

    def updateSegmentEditor(self, node=None) -> None:
        """The embedded Segment Editor paints into the chosen segmentation on the input volume."""
        # read the selectors themselves: the parameter node may not have caught up with them yet
        segmentation = self.ui.segmentationSelector.currentNode()
        volume = self.ui.inputSelector.currentNode()
        if segmentation and volume:
            segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
            if segmentation.GetSegmentation().GetNumberOfSegments() == 0:
                segmentation.GetSegmentation().AddEmptySegment("Lesion", "Lesion", (0.9, 0.2, 0.2))
            segmentation.CreateDefaultDisplayNodes()
        self.ui.segmentEditorWidget.setSegmentationNode(segmentation)
        self.ui.segmentEditorWidget.setSourceVolumeNode(volume)

    # ------------------------------------------------------------ running
    def runSynthesis(self, button, work) -> None:
        """Run `work(progress, cancel) -> (volumeNode, labelNode)` with progress and cancel on `button`."""

        def finished(nodes) -> None:
            volumeNode, labelNode = nodes
            slicer.util.setSliceViewerLayers(background=volumeNode, label=labelNode, fit=True)
            self.ui.statusLabel.text = _("Made {volume} and {label}.").format(
                volume=volumeNode.GetName(), label=labelNode.GetName())

        if not self._running:
            self._runningButton = button
        try:
            self.runCancellable(_("Lesion synthesis failed."), work, finished)
        finally:
            if not self._running:
                self._runningButton = None

    def onSynthesize(self) -> None:
        parameters = self._parameterNode
        self.runSynthesis(self.ui.synthesizeButton, lambda progress, cancel: self.logic.synthesizeLesion(
            parameters.inputVolume, parameters.lesionSegmentation, self.models.resolvedPath(self.showProgress),
            blendMargin=parameters.blendMargin, device=parameters.device, progress=progress, cancel=cancel))

    def onRandomLesions(self) -> None:
        parameters = self._parameterNode
        self.runSynthesis(self.ui.randomLesionsButton, lambda progress, cancel: self.logic.randomLesions(
            parameters.inputVolume, parameters.lesionCount, parameters.lesionRadius, parameters.lesionSeed,
            self.models.resolvedPath(self.showProgress), tissueNode=parameters.tissueMap,
            blendMargin=parameters.blendMargin, device=parameters.device, progress=progress, cancel=cancel))

    def onSampleImages(self) -> None:
        if not ensureDependencies("inference"):
            return
        parameters = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Generating images failed."), waitCursor=True):
            node = self.logic.sampleImages(self.ui.noiseModelPathLineEdit.currentPath, parameters.imageCount,
                                           parameters.imageSeed, device=parameters.device)
            slicer.util.setSliceViewerLayers(background=node, fit=True)
            parameters.turingSyntheticVolume = node
            self.ui.statusLabel.text = _("Generated {count} images in {name}.").format(
                count=parameters.imageCount, name=node.GetName())

    # ------------------------------------------------------------ Visual Turing Test
    def onStartTuring(self) -> None:
        parameters = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("The Visual Turing Test could not start.")):
            self._turing = self.logic.turingTest(parameters.turingRealVolume, parameters.turingSyntheticVolume,
                                                 parameters.turingCount, parameters.turingSeed)
            self.ui.turingResultLabel.text = ""
            self.showTuringItem(0)
        self.updateButtons()

    def showTuringItem(self, index) -> None:
        self._turingIndex = index
        answering = index is not None
        self.ui.turingRealButton.enabled = self.ui.turingSyntheticButton.enabled = answering
        if answering:
            self.ui.turingImageLabel.setPixmap(slicePixmap(self._turing.image(index)))
            self.ui.turingProgressLabel.text = _("Image {number} of {total}: real or synthetic?").format(
                number=index + 1, total=len(self._turing))
            self.ui.turingRealButton.setFocus()
            return
        self.ui.turingImageLabel.clear()
        score = self._turing.score()
        self.ui.turingProgressLabel.text = _("Done.")
        self.ui.turingResultLabel.text = _(
            "Accuracy {accuracy:.0f}% (50% is chance). Real selected as real: {rr}, real as synthetic: {rs}, "
            "synthetic as real: {sr}, synthetic as synthetic: {ss}.").format(
            accuracy=score.accuracy_percent, rr=score.real_as_real, rs=score.real_as_synthetic,
            sr=score.synthetic_as_real, ss=score.synthetic_as_synthetic)

    def onTuringAnswer(self, call: str) -> None:
        if self._turing is None or self._turingIndex is None:
            return
        self._turing.answer(self._turingIndex, call)
        self.showTuringItem(self._turing.next_unanswered())

    def onSaveTuring(self) -> None:
        if self._turing is None:
            return
        path = qt.QFileDialog.getSaveFileName(self.parent, _("Save the Visual Turing Test"), "turing.csv",
                                              _("CSV files (*.csv)"))
        if not path:
            return
        stem = path[:-4] if path.lower().endswith(".csv") else path
        with slicer.util.tryWithErrorDisplay(_("Saving the results failed.")):
            self._turing.save(stem + ".csv", stem + ".json")
            self.ui.statusLabel.text = _("Saved {csv} and {json}.").format(csv=stem + ".csv", json=stem + ".json")

    def onMachineTest(self) -> None:
        if not ensureDependencies("inference", "realism"):
            return
        parameters = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("The machine test failed."), waitCursor=True):
            accuracy = self.logic.machineTest(parameters.turingRealVolume, parameters.turingSyntheticVolume,
                                              seed=parameters.turingSeed)
            self.ui.turingResultLabel.text = _(
                "Classifier two-sample test: {accuracy:.0f}% accuracy (about 50%: it cannot tell them apart).").format(
                accuracy=100 * accuracy)


class LesionSynthesisTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer: a phantom-like volume, a painted region, a tiny untrained model."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_LesionSynthesis_paint()

    def test_LesionSynthesis_paint(self):
        import tempfile

        import torch

        from lesiongan.data.volume import Volume
        from lesiongan.infer.modelfile import save_model
        from LesionGANLib.nodes import updateNodeFromVolume
        from lesiongan.nets import build_network

        self.delayDisplay("Making a volume and a painted region")
        z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in (10, 32, 32)), indexing="ij")
        array = np.where(z**2 + y**2 + x**2 < 0.9, 400.0, 0.0).astype(np.float32)
        volume = Volume(array, (2.0, 2.0, 3.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        inputVolume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Healthy")
        updateNodeFromVolume(inputVolume, volume)
        region = np.zeros(array.shape, np.uint8)
        region[4:6, 12:18, 12:18] = 1
        labelmap = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "Painted")
        updateNodeFromVolume(labelmap, volume.with_array(region))
        before = slicer.util.arrayFromVolume(inputVolume).copy()

        self.delayDisplay("Synthesizing with a tiny reconstructor")
        torch.manual_seed(0)
        net = build_network("factor_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1, extra_channels=1)
        modelPath = os.path.join(tempfile.mkdtemp(), "reconstructor.pt")
        save_model(modelPath, method="phs-paired", networks={"reconstructor": net},
                   conventions={"modalities": ["flair"], "orientation": "LPS", "axis": "axial"}, provenance={})
        newVolume, lesion = LesionSynthesisLogic().synthesizeLesion(inputVolume, labelmap, modelPath,
                                                                    blendMargin=0.0, device="cpu")
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(inputVolume), before)
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(lesion), region)
        changed = slicer.util.arrayFromVolume(newVolume) != before
        self.assertFalse(changed[region == 0].any())
        self.assertTrue(changed[region > 0].any())
        self.delayDisplay("Test passed")
