"""PseudoHealthy logic: a volume node in; pseudo-healthy volume, heatmap, mask and segmentation out.

This is the console API (no dialogs, no Qt). The model runs through `lesiongan.infer`; the
nodes are made and updated here. Typical use from Slicer's Python console::

    from PseudoHealthyLib import PseudoHealthyLogic
    logic = PseudoHealthyLogic()
    result = logic.process(slicer.util.getNode("BraTS_flair"))  # the model's own threshold
    logic.rethreshold(slicer.util.getNode("BraTS_flair"), 0.1)   # ANT-GAN's
    logic.showResults(slicer.util.getNode("BraTS_flair"))
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import slicer

from LesionGANLib.models import ModelCache
from LesionGANLib.nodes import (
    copyParentTransform,
    findOutputNodes,
    placeInSubjectHierarchy,
    setSourceVolume,
    updateNodeFromVolume,
    volumeFromNode,
)
from LesionGANLib.scenelogic import SceneLogic
from lesiongan.errors import InputError, VolumeError
from lesiongan.progress import CancelCheck, ProgressCallback

ROLES = ("pseudoHealthy", "difference", "foreground", "mask", "segmentation")
SEGMENT_ID = "Anomaly"
SEGMENT_COLOR = (1.0, 0.85, 0.1)
HEATMAP_COLOR_NAMES = ("Inferno", "LesionGAN Heatmap")
# Attributes on the difference node that remember how the mask was made (for rethreshold).
THRESHOLD_ATTRIBUTE = "LesionGAN.Threshold"
FOREGROUND_ATTRIBUTE = "LesionGAN.LimitToForeground"
MIN_COMPONENT_ATTRIBUTE = "LesionGAN.MinimumComponentSize"
# matplotlib's inferno at 9 even stops (Slicer ships Inferno; slicer-core loads no color files).
_INFERNO_STOPS = np.array([
    (0.0015, 0.0005, 0.0139), (0.1293, 0.0473, 0.2908), (0.3415, 0.0623, 0.4294),
    (0.5409, 0.1347, 0.4151), (0.7357, 0.2159, 0.3302), (0.8943, 0.3534, 0.1936),
    (0.9784, 0.5579, 0.0349), (0.9746, 0.7977, 0.2063), (0.9884, 0.9984, 0.6449)])


@dataclass
class PseudoHealthyResult:
    """What one run made: node IDs, plus how long it took and where it ran."""

    pseudoHealthyNodeID: str
    differenceNodeID: str
    maskNodeID: str
    segmentationNodeID: str
    foregroundNodeID: str
    threshold: float
    maskVoxels: int
    seconds: float = 0.0
    device: str = ""
    slicesRun: int = 0


@dataclass
class PreparedRun:
    """One run's inputs, copied out of the scene by `PseudoHealthyLogic.prepare`."""

    inputVolume: slicer.vtkMRMLScalarVolumeNode
    volumes: list
    model: object
    threshold: float
    device: str
    limitToForeground: bool
    minimumComponentSize: int
    batchSize: int | None
    inference: object = None
    started: float = field(default_factory=time.perf_counter)

    def compute(self, progress: ProgressCallback | None = None,
                cancel: CancelCheck | None = None) -> "PreparedRun":
        """Run the model (no node is read or written: safe on a worker thread)."""
        from lesiongan.infer import engine

        self.inference = engine.run_model(self.volumes, self.model, role="a2n", threshold=self.threshold,
                                          limit_to_foreground=self.limitToForeground,
                                          min_component_size=self.minimumComponentSize, device=self.device,
                                          batch_size=self.batchSize, progress=progress, cancel=cancel)
        return self


class PseudoHealthyLogic(SceneLogic):
    """Runs a pseudo-healthy generator on volume nodes; never modifies the input node."""

    def __init__(self, scene: slicer.vtkMRMLScene | None = None) -> None:
        super().__init__(scene)
        self._models = ModelCache()

    # ---------------------------------------------------------------- model
    def loadModel(self, model: object = None) -> object:
        """A loaded model file: `None` means the shipped demo model; a path or model name is
        loaded once and cached until the file changes; a loaded model is taken as it is."""
        return self._models.load(model)

    def modelThreshold(self, model: object = None) -> float:
        """The mask threshold the model file carries (what `process` uses when given none)."""
        return self._models.threshold(model)

    def modelMinimumComponentSize(self, model: object = None) -> int:
        """The smallest mask component the model file keeps, in voxels (what `process` uses when given none)."""
        return int(self.loadModel(model).conventions.get("min_component_size", 0))

    # ---------------------------------------------------------------- process
    def process(self, inputVolume: slicer.vtkMRMLScalarVolumeNode, model: object = None,
                threshold: float | None = None,
                device: str = "auto", *, otherSequences: dict | None = None,
                limitToForeground: bool = True, minimumComponentSize: int | None = None,
                batchSize: int | None = None, createNew: bool = False, heatmapOpacity: float | None = None,
                progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
                ) -> PseudoHealthyResult:
        """Run the model on `inputVolume` and add (or update) the output nodes.

        `inputVolume` is the model's first modality (FLAIR for the shipped model). A model that
        takes more sequences gets them from `otherSequences` ({"t1": node, ...}, co-registered
        with the input); one it can do without may be left out (see `missingSequences`).
        `threshold` None is the model file's own (calibrated) threshold, and
        `minimumComponentSize` None the model file's own (0 for a file without one).
        A second run on the same input updates the nodes of the first unless `createNew`.
        With `heatmapOpacity` the slice views also show the results (see `showResults`).
        `progress(done, total)` is called as slices are processed; when `cancel()` returns
        True the run stops with `lesiongan.errors.Cancelled` and no node is added or changed.

        This is `prepare`, `PreparedRun.compute` and `store` in one call; an application
        that keeps drawing while the model runs calls them apart (see `prepare`).
        """
        run = self.prepare(inputVolume, model, threshold, device, otherSequences=otherSequences,
                           limitToForeground=limitToForeground, minimumComponentSize=minimumComponentSize,
                           batchSize=batchSize)
        return self.store(run.compute(progress, cancel), createNew=createNew, heatmapOpacity=heatmapOpacity)

    def prepare(self, inputVolume: slicer.vtkMRMLScalarVolumeNode, model: object = None,
                threshold: float | None = None, device: str = "auto", *, otherSequences: dict | None = None,
                limitToForeground: bool = True, minimumComponentSize: int | None = None,
                batchSize: int | None = None) -> "PreparedRun":
        """Check the inputs and copy their voxels out of the scene (arguments as in `process`).

        The returned run's `compute` touches no node, so it may run on a worker thread while
        the scene keeps being drawn; `store` then writes the results on the scene's thread."""
        self._checkInput(inputVolume)
        loadedModel = self.loadModel(model)
        volumes = self._sequenceVolumes(inputVolume, loadedModel, otherSequences or {})
        if threshold is None:
            threshold = float(loadedModel.threshold)
        if minimumComponentSize is None:
            minimumComponentSize = int(loadedModel.conventions.get("min_component_size", 0))
        logging.info("PseudoHealthy: processing %s", inputVolume.GetName())
        return PreparedRun(inputVolume, volumes, loadedModel, float(threshold), device, bool(limitToForeground),
                           int(minimumComponentSize), batchSize)

    def store(self, run: "PreparedRun", *, createNew: bool = False,
              heatmapOpacity: float | None = None) -> PseudoHealthyResult:
        """Add (or update) the output nodes of a computed run; see `process`."""
        if run.inference is None:
            raise InputError("run", "has not been computed: call its compute() first")
        scene, inputVolume, inference = self.scene, run.inputVolume, run.inference
        if not scene.IsNodePresent(inputVolume):
            raise InputError(inputVolume.GetName(), "was removed from the scene while the model ran")
        # Nodes are touched only once the model has finished: a cancel or a failure before
        # leaves the scene as it was.
        outputs = {} if createNew else findOutputNodes(scene, inputVolume, ROLES)
        created: list[slicer.vtkMRMLNode] = []
        try:
            outputs = self._makeMissingNodes(inputVolume, outputs, created)
            updateNodeFromVolume(outputs["pseudoHealthy"], inference.output, dtype=np.float32)
            updateNodeFromVolume(outputs["difference"], inference.difference, dtype=np.float32)
            updateNodeFromVolume(outputs["foreground"], inference.foreground, dtype=np.uint8)
            self._copyWindowLevel(inputVolume, outputs["pseudoHealthy"])
            difference = outputs["difference"]
            difference.SetAttribute(FOREGROUND_ATTRIBUTE, str(int(run.limitToForeground)))
            difference.SetAttribute(MIN_COMPONENT_ATTRIBUTE, str(run.minimumComponentSize))
            maskVoxels = self._updateMask(inputVolume, outputs, inference.mask, run.threshold)
        except Exception:
            for node in created:
                scene.RemoveNode(node)
            raise
        seconds = time.perf_counter() - run.started
        if heatmapOpacity is not None:
            self.showResults(inputVolume, heatmapOpacity)
        logging.info("PseudoHealthy: done in %.1f s on %s", seconds, inference.device)
        return self._result(outputs, run.threshold, maskVoxels, seconds=seconds, device=str(inference.device),
                            slicesRun=int(inference.slices_run))

    def missingSequences(self, model: object = None, otherSequences: dict | None = None) -> list[str]:
        """The model's sequences after the first that `otherSequences` does not give (the panel
        says the result then rests on fewer sequences)."""
        return [m for m in self.loadModel(model).modalities[1:] if m not in (otherSequences or {})]

    def _sequenceVolumes(self, inputVolume, model, otherSequences: dict) -> list:
        """The volumes in the model's modality order: the input first, then `otherSequences`
        (None where one is not given: the engine refuses that unless the model can do without it)."""
        unknown = sorted(set(otherSequences) - set(model.modalities[1:]))
        if unknown:
            raise InputError("other sequences", f"{', '.join(unknown)} is not a sequence this model takes after "
                                                f"the input ({', '.join(model.modalities)})")
        for node in otherSequences.values():
            self._checkInput(node)
        return [volumeFromNode(inputVolume)] + [
            volumeFromNode(otherSequences[m]) if otherSequences.get(m) is not None else None
            for m in model.modalities[1:]]

    def rethreshold(self, inputVolume: slicer.vtkMRMLScalarVolumeNode, threshold: float, *,
                    limitToForeground: bool | None = None,
                    minimumComponentSize: int | None = None) -> PseudoHealthyResult:
        """Remake the mask and segmentation from the existing difference map, without the model.
        Options left as None keep what the last run used."""
        from lesiongan.infer import engine

        outputs = findOutputNodes(self.scene, inputVolume, ROLES)
        missing = [role for role in ROLES if role not in outputs]
        if missing:
            raise InputError(inputVolume.GetName() if inputVolume else "input volume",
                             f"has no pseudo-healthy results to re-threshold (missing {', '.join(missing)}); run process first")
        difference = outputs["difference"]
        if limitToForeground is None:
            limitToForeground = difference.GetAttribute(FOREGROUND_ATTRIBUTE) != "0"
        if minimumComponentSize is None:
            minimumComponentSize = int(difference.GetAttribute(MIN_COMPONENT_ATTRIBUTE) or 0)
        foreground = volumeFromNode(outputs["foreground"]) if limitToForeground else None
        mask = engine.threshold_difference(volumeFromNode(difference), threshold, foreground=foreground,
                                           min_component_size=minimumComponentSize)
        difference.SetAttribute(FOREGROUND_ATTRIBUTE, str(int(bool(limitToForeground))))
        difference.SetAttribute(MIN_COMPONENT_ATTRIBUTE, str(int(minimumComponentSize)))
        maskVoxels = self._updateMask(inputVolume, outputs, mask, threshold)
        return self._result(outputs, threshold, maskVoxels)

    def outputNodes(self, inputVolume: slicer.vtkMRMLScalarVolumeNode) -> dict:
        """The result nodes of `inputVolume` by role (empty before the first run)."""
        return findOutputNodes(self.scene, inputVolume, ROLES)

    # ---------------------------------------------------------------- views
    def showResults(self, inputVolume: slicer.vtkMRMLScalarVolumeNode, heatmapOpacity: float = 0.5,
                    showMask: bool = True) -> None:
        """Every slice view: the input as background, the heatmap as foreground at
        `heatmapOpacity`, the mask as a label outline."""
        outputs = findOutputNodes(self.scene, inputVolume, ROLES)
        if "difference" not in outputs:
            raise InputError(inputVolume.GetName(), "has no pseudo-healthy results to show; run process first")
        scene = self.scene
        for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
            composite = scene.GetNthNodeByClass(index, "vtkMRMLSliceCompositeNode")
            composite.SetBackgroundVolumeID(inputVolume.GetID())
            composite.SetForegroundVolumeID(outputs["difference"].GetID())
            composite.SetForegroundOpacity(float(np.clip(heatmapOpacity, 0.0, 1.0)))
            composite.SetLabelVolumeID(outputs["mask"].GetID() if showMask and "mask" in outputs else None)
            composite.SetLabelOpacity(1.0)
        for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
            scene.GetNthNodeByClass(index, "vtkMRMLSliceNode").SetUseLabelOutline(True)

    def setHeatmapOpacity(self, opacity: float) -> None:
        """Change the heatmap's opacity in every slice view (nothing else)."""
        scene = self.scene
        for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
            scene.GetNthNodeByClass(index, "vtkMRMLSliceCompositeNode").SetForegroundOpacity(
                float(np.clip(opacity, 0.0, 1.0)))

    def heatmapColorNode(self) -> slicer.vtkMRMLColorNode:
        """Slicer's Inferno color table when the scene has it, else our own copy of it (made once)."""
        scene = self.scene
        for name in HEATMAP_COLOR_NAMES:
            node = scene.GetFirstNodeByName(name)
            if node is not None and node.IsA("vtkMRMLColorNode"):
                return node
        node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", HEATMAP_COLOR_NAMES[-1])
        node.SetTypeToUser()
        node.SetNumberOfColors(256)
        positions = np.linspace(0.0, 1.0, len(_INFERNO_STOPS))
        for index, value in enumerate(np.linspace(0.0, 1.0, 256)):
            red, green, blue = (np.interp(value, positions, _INFERNO_STOPS[:, c]) for c in range(3))
            node.SetColor(index, f"{value:.3f}", red, green, blue, 1.0)
        node.SetAttribute("Category", "LesionGAN")
        return node

    # ---------------------------------------------------------------- helpers
    def _makeMissingNodes(self, inputVolume, outputs: dict, created: list) -> dict:
        scene = self.scene
        name = inputVolume.GetName()
        kinds = {
            "pseudoHealthy": ("vtkMRMLScalarVolumeNode", f"{name} pseudo-healthy"),
            "difference": ("vtkMRMLScalarVolumeNode", f"{name} difference"),
            "foreground": ("vtkMRMLLabelMapVolumeNode", f"{name} foreground"),
            "mask": ("vtkMRMLLabelMapVolumeNode", f"{name} anomaly mask"),
            "segmentation": ("vtkMRMLSegmentationNode", f"{name} anomaly"),
        }
        outputs = dict(outputs)
        for role, (className, nodeName) in kinds.items():
            if role in outputs:
                continue
            node = self.addNode(className, nodeName)
            created.append(node)
            if role == "foreground":
                node.HideFromEditorsOn()  # kept only so that rethreshold can limit the mask
            setSourceVolume(node, inputVolume, role)
            copyParentTransform(node, inputVolume)
            placeInSubjectHierarchy(scene, node, inputVolume)
            outputs[role] = node
        return outputs

    def _copyWindowLevel(self, inputVolume, outputVolume) -> None:
        outputVolume.CreateDefaultDisplayNodes()
        source = inputVolume.GetDisplayNode()
        target = outputVolume.GetDisplayNode()
        if source is None or target is None:
            return
        target.SetAutoWindowLevel(False)
        target.SetWindowLevel(source.GetWindow(), source.GetLevel())
        if source.GetColorNodeID():
            target.SetAndObserveColorNodeID(source.GetColorNodeID())

    def _showAsHeatmap(self, differenceNode, threshold: float) -> None:
        differenceNode.CreateDefaultDisplayNodes()
        display = differenceNode.GetDisplayNode()
        display.SetAndObserveColorNodeID(self.heatmapColorNode().GetID())
        display.SetAutoWindowLevel(False)
        # Differences are in normalized [0, 1] units; the colors span 0..2x the threshold and
        # values below half the threshold are transparent, so healthy tissue stays readable.
        display.SetWindowLevelMinMax(0.0, max(2.0 * threshold, 1e-3))
        display.SetAutoThreshold(False)
        display.SetApplyThreshold(True)
        display.SetLowerThreshold(0.5 * threshold)
        display.SetUpperThreshold(1.0)

    def _updateMask(self, inputVolume, outputs: dict, mask, threshold: float) -> int:
        """Write the mask into the labelmap and rebuild the segmentation from it."""
        labelmap = outputs["mask"]
        updateNodeFromVolume(labelmap, mask, dtype=np.uint8)
        labelmap.CreateDefaultDisplayNodes()
        outputs["difference"].SetAttribute(THRESHOLD_ATTRIBUTE, repr(float(threshold)))
        self._showAsHeatmap(outputs["difference"], threshold)
        segmentationNode = outputs["segmentation"]
        segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(inputVolume)
        segmentation = segmentationNode.GetSegmentation()
        segmentation.RemoveAllSegments()
        if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentationNode):
            raise VolumeError(labelmap.GetName(), "could not be imported into a segmentation")
        if segmentation.GetNumberOfSegments() == 0:  # an empty mask imports no segment
            segmentation.AddEmptySegment(SEGMENT_ID, SEGMENT_ID, SEGMENT_COLOR)
        else:
            segment = segmentation.GetNthSegment(0)
            segment.SetName(SEGMENT_ID)
            segment.SetColor(*SEGMENT_COLOR)
        segmentationNode.CreateDefaultDisplayNodes()
        # The labelmap already draws the outline in slice views; the segmentation is for 3D.
        segmentationNode.GetDisplayNode().SetVisibility2D(False)
        return int(np.count_nonzero(mask.array))

    @staticmethod
    def _result(outputs: dict, threshold: float, maskVoxels: int, **timing) -> PseudoHealthyResult:
        return PseudoHealthyResult(
            pseudoHealthyNodeID=outputs["pseudoHealthy"].GetID(),
            differenceNodeID=outputs["difference"].GetID(),
            maskNodeID=outputs["mask"].GetID(),
            segmentationNodeID=outputs["segmentation"].GetID(),
            foregroundNodeID=outputs["foreground"].GetID(),
            threshold=float(threshold), maskVoxels=maskVoxels, **timing)
