"""LesionSynthesis logic: paint a lesion where a mask says, random lesions, new images, the
Visual Turing Test. The console API: no dialogs, no Qt. From Slicer's Python console::

    from LesionSynthesisLib import LesionSynthesisLogic
    logic = LesionSynthesisLogic()
    volume = slicer.util.getNode("Healthy_flair")
    withLesion, lesion = logic.synthesizeLesion(volume, slicer.util.getNode("Segmentation"), "model.pt")
    withLesions, lesions = logic.randomLesions(volume, count=3, radiusMm=8, seed=1, model="model.pt")
    images = logic.sampleImages("wgan_flair.pt", count=50, seed=0)
"""

from __future__ import annotations

import logging

import numpy as np
import slicer

from LesionGANLib.models import ModelCache
from LesionGANLib.nodes import (
    copyParentTransform,
    placeInSubjectHierarchy,
    setSourceVolume,
    updateNodeFromVolume,
    volumeFromNode,
)
from LesionGANLib.scenelogic import SceneLogic
from lesiongan.data.volume import Volume
from lesiongan.errors import InputError, VolumeError
from lesiongan.progress import CancelCheck, ProgressCallback

# lesiongan.synthesis imports torch: it is imported where used, so that Slicer can load the
# module (and install torch at the first run) on a computer without torch.

SYNTHETIC_ROLE, LESION_ROLE, SAMPLES_ROLE = "lesionSynthetic", "lesionRegion", "noiseSamples"


class LesionSynthesisLogic(SceneLogic):
    """Synthesizes lesions into volume nodes; never modifies an input node."""

    def __init__(self, scene: slicer.vtkMRMLScene | None = None) -> None:
        super().__init__(scene)
        self._models = ModelCache()

    def loadModel(self, model: object = None) -> object:
        """A loaded model: None is the shipped demo model, a path or name is loaded (and cached)."""
        return self._models.load(model)

    # ---------------------------------------------------------------- regions
    def regionFromNode(self, maskNode: slicer.vtkMRMLNode, volumeNode: slicer.vtkMRMLScalarVolumeNode) -> np.ndarray:
        """The painted region (bool, the volume's (z, y, x) grid) of a segmentation (its visible
        segments) or of a labelmap on the volume's grid (its non-zero voxels)."""
        if maskNode is None:
            raise InputError("lesion mask", "no segmentation or labelmap given: paint the lesion first")
        name = maskNode.GetName()
        if maskNode.IsA("vtkMRMLSegmentationNode"):
            if maskNode.GetSegmentation().GetNumberOfSegments() == 0:
                raise InputError(name, "holds no segment: paint the lesion first")
            # Export needs a labelmap node in the scene: a scratch one, removed right after.
            labelmap = self.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "LesionSynthesis scratch")
            try:
                exported = slicer.vtkSlicerSegmentationsModuleLogic.ExportVisibleSegmentsToLabelmapNode(
                    maskNode, labelmap, volumeNode)
                if not exported or labelmap.GetImageData() is None:
                    raise VolumeError(name, "could not be exported to the volume's grid")
                region = volumeFromNode(labelmap)
            finally:
                self.scene.RemoveNode(labelmap)
            return region.array > 0
        if not maskNode.IsA("vtkMRMLScalarVolumeNode"):
            raise VolumeError(name, f"is a {maskNode.GetClassName()}; a segmentation or labelmap is needed")
        region = volumeFromNode(maskNode)
        if not region.same_grid(volumeFromNode(volumeNode)):
            raise VolumeError(name, f"is not on the grid of {volumeNode.GetName()}; resample it or use a segmentation")
        return region.array > 0

    # ---------------------------------------------------------------- synthesis
    def synthesizeLesion(self, volumeNode: slicer.vtkMRMLScalarVolumeNode, maskNode: slicer.vtkMRMLNode,
                         model: object = None, blendMargin: float | None = None, device: str = "auto",
                         progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
                         ) -> tuple[slicer.vtkMRMLScalarVolumeNode, slicer.vtkMRMLLabelMapVolumeNode]:
        """A new volume with a lesion synthesized inside the painted region and a labelmap of that
        region (label 1). Outside the region plus `blendMargin` mm (None: the library's default)
        the new volume equals the input."""
        self._checkInput(volumeNode)
        region = self.regionFromNode(maskNode, volumeNode)
        return self._paint(volumeNode, region.astype(np.uint8), model, blendMargin, device, progress, cancel)

    def randomLesions(self, volumeNode: slicer.vtkMRMLScalarVolumeNode, count: int, radiusMm: float,
                      seed: int = 0, model: object = None, tissueNode: slicer.vtkMRMLScalarVolumeNode | None = None,
                      blendMargin: float | None = None, device: str = "auto",
                      progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
                      ) -> tuple[slicer.vtkMRMLScalarVolumeNode, slicer.vtkMRMLLabelMapVolumeNode]:
        """`count` lesions of about `radiusMm` at random plausible places (inside the brain, away
        from the ventricles; `tissueNode` is a tissue map with CSF = 1 when known), then synthesized.
        The labelmap numbers the lesions 1..count."""
        from lesiongan.synthesis import random_lesion_masks

        self._checkInput(volumeNode)
        volume = volumeFromNode(volumeNode)
        tissue = None if tissueNode is None else volumeFromNode(tissueNode).array.astype(np.uint8)
        masks = random_lesion_masks(volume, count, radiusMm, seed, tissue=tissue)
        labels = np.zeros(volume.shape, dtype=np.uint8)
        for number, mask in enumerate(masks, start=1):
            labels[mask] = number
        return self._paint(volumeNode, labels, model, blendMargin, device, progress, cancel)

    def sampleImages(self, model: object, count: int, seed: int = 0, device: str = "auto",
                     name: str = "Generated images") -> slicer.vtkMRMLScalarVolumeNode:
        """`count` images from noise (a model with a `noise` network) stacked as the slices of a new
        volume node, intensities in [0, 1] (first channel for multi-sequence models)."""
        from lesiongan.synthesis.sampling import sample_images

        loaded = self.loadModel(model)
        images = sample_images(loaded, count, seed, device)[:, 0]
        spacing = float(loaded.conventions.get("spacing") or 1.0)
        volume = Volume(images, (spacing, spacing, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        node = self.addNode("vtkMRMLScalarVolumeNode", name)
        try:
            updateNodeFromVolume(node, volume)
            node.SetAttribute("LesionGAN.Role", SAMPLES_ROLE)
            node.SetAttribute("LesionGAN.Seed", str(int(seed)))
            node.CreateDefaultDisplayNodes()
        except Exception:
            self.scene.RemoveNode(node)
            raise
        return node

    # ---------------------------------------------------------------- Visual Turing Test
    @staticmethod
    def slicesOf(volumeNode: slicer.vtkMRMLScalarVolumeNode) -> list[np.ndarray]:
        """The volume's array slices (along k) that hold any foreground."""
        array = volumeFromNode(volumeNode).array
        return [plane for plane in array if plane.max() > plane.min()]

    def comparableSlices(self, realVolumeNode: slicer.vtkMRMLScalarVolumeNode,
                         syntheticVolumeNode: slicer.vtkMRMLScalarVolumeNode) -> tuple[list, list]:
        """(real, synthetic) slices of two volume nodes, the real ones centre-padded or cropped
        to the synthetic size (background filled), so that their size gives nothing away."""
        from lesiongan.data.slicing import center_pad_crop

        synthetic = self.slicesOf(syntheticVolumeNode)
        real = self.slicesOf(realVolumeNode)
        if synthetic and real:
            size = synthetic[0].shape
            real = [center_pad_crop(plane, size, fill=float(plane.min())) for plane in real]
        return real, synthetic

    def turingTest(self, realVolumeNode: slicer.vtkMRMLScalarVolumeNode,
                   syntheticVolumeNode: slicer.vtkMRMLScalarVolumeNode, nEach: int, seed: int = 0):
        """A Visual Turing Test (a `lesiongan.synthesis.TuringTest`) of `nEach` real and `nEach`
        synthetic slices of two volume nodes (see `comparableSlices`)."""
        from lesiongan.synthesis import TuringTest

        real, synthetic = self.comparableSlices(realVolumeNode, syntheticVolumeNode)
        return TuringTest(real, synthetic, nEach, seed)

    def machineTest(self, realVolumeNode: slicer.vtkMRMLScalarVolumeNode,
                    syntheticVolumeNode: slicer.vtkMRMLScalarVolumeNode, seed: int = 0) -> float:
        """The Turing test taken by a classifier (a two-sample test) on the same slices a person
        sees: its accuracy, about 0.5 when it cannot tell real from synthetic."""
        from lesiongan.synthesis import machine_judgement

        real, synthetic = self.comparableSlices(realVolumeNode, syntheticVolumeNode)
        return machine_judgement(real, synthetic, seed=seed)

    # ---------------------------------------------------------------- helpers
    def _paint(self, volumeNode, labels: np.ndarray, model, blendMargin, device, progress, cancel):
        from lesiongan.synthesis import BLEND_MARGIN_MM, paint_lesion

        volume = volumeFromNode(volumeNode)
        painted = paint_lesion(volume, volume.with_array(labels), self.loadModel(model),
                               blend_margin_mm=BLEND_MARGIN_MM if blendMargin is None else blendMargin,
                               device=device, progress=progress, cancel=cancel)
        logging.info("LesionSynthesis: %s painted with %s in %.1f s on %s", volumeNode.GetName(), painted.role,
                     painted.seconds, painted.device)
        # Nodes are made only once the model has finished: a cancel or failure leaves the scene as it was.
        scene, name, created = self.scene, volumeNode.GetName(), []
        try:
            outputNode = self._newNode("vtkMRMLScalarVolumeNode", f"{name} with lesion", volumeNode,
                                       SYNTHETIC_ROLE, created)
            updateNodeFromVolume(outputNode, painted.output)
            outputNode.CreateDefaultDisplayNodes()
            source, target = volumeNode.GetDisplayNode(), outputNode.GetDisplayNode()
            if source is not None and target is not None:
                target.SetAutoWindowLevel(False)
                target.SetWindowLevel(source.GetWindow(), source.GetLevel())
            labelNode = self._newNode("vtkMRMLLabelMapVolumeNode", f"{name} lesion", volumeNode, LESION_ROLE, created)
            updateNodeFromVolume(labelNode, volume.with_array(labels), dtype=np.uint8)
            labelNode.CreateDefaultDisplayNodes()
        except Exception:
            for node in created:
                scene.RemoveNode(node)
            raise
        return outputNode, labelNode

    def _newNode(self, className: str, name: str, sourceNode, role: str, created: list):
        node = self.addNode(className, name)
        created.append(node)
        setSourceVolume(node, sourceNode, role)
        copyParentTransform(node, sourceNode)
        placeInSubjectHierarchy(self.scene, node, sourceNode)
        return node
