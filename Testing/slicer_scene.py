"""A Slicer-like MRML scene for tests outside Slicer, built from slicer-core as Slicer builds it.

Slicer's application sets up, per scene: the application logic, the color logic with its
default color tables, one slice logic (with slice and composite nodes) per slice view, and
the subject hierarchy. `SlicerScene` does the same with the real classes, no Qt.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field

import numpy as np
import pytest
import slicer
import vtk

from lesiongan.data.volume import Volume
from LesionGANLib.nodes import updateNodeFromVolume

# Slicer's default slice views and their orientations.
SLICE_VIEWS = {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}


@dataclass
class SlicerScene:
    scene: slicer.vtkMRMLScene
    applicationLogic: slicer.vtkSlicerApplicationLogic
    colorLogic: slicer.vtkSlicerColorLogic
    subjectHierarchyLogic: slicer.vtkSlicerSubjectHierarchyModuleLogic
    segmentationsLogic: slicer.vtkSlicerSegmentationsModuleLogic
    cacheDirectory: str
    sliceLogics: dict[str, slicer.vtkMRMLSliceLogic] = field(default_factory=dict)

    @classmethod
    def create(cls) -> SlicerScene:
        scene = slicer.vtkMRMLScene()
        # Slicer gives every scene a data I/O manager with a cache folder; .mrb reading needs it.
        cacheDirectory = tempfile.mkdtemp(prefix="slicer-cache-")
        cacheManager = slicer.vtkCacheManager()
        cacheManager.SetRemoteCacheDirectory(cacheDirectory)
        dataIOManager = slicer.vtkDataIOManager()
        dataIOManager.SetCacheManager(cacheManager)
        scene.SetCacheManager(cacheManager)
        scene.SetDataIOManager(dataIOManager)
        applicationLogic = slicer.vtkSlicerApplicationLogic()
        applicationLogic.SetMRMLScene(scene)
        colorLogic = slicer.vtkSlicerColorLogic()
        colorLogic.SetMRMLApplicationLogic(applicationLogic)
        colorLogic.SetMRMLScene(scene)  # adds the built-in default color tables
        subjectHierarchyLogic = slicer.vtkSlicerSubjectHierarchyModuleLogic()
        subjectHierarchyLogic.SetMRMLScene(scene)
        segmentationsLogic = slicer.vtkSlicerSegmentationsModuleLogic()
        segmentationsLogic.SetMRMLApplicationLogic(applicationLogic)
        segmentationsLogic.SetMRMLScene(scene)
        sliceLogics = {}
        collection = vtk.vtkCollection()
        for name, orientation in SLICE_VIEWS.items():
            sliceLogic = slicer.vtkMRMLSliceLogic()
            sliceLogic.SetMRMLApplicationLogic(applicationLogic)
            sliceLogic.SetMRMLScene(scene)
            sliceLogic.AddSliceNode(name).SetOrientation(orientation)  # also adds the composite node
            collection.AddItem(sliceLogic)
            sliceLogics[name] = sliceLogic
        applicationLogic.SetSliceLogics(collection)
        return cls(scene, applicationLogic, colorLogic, subjectHierarchyLogic, segmentationsLogic,
                   cacheDirectory, sliceLogics)

    def addVolume(self, volume: Volume, name: str = "Case", study: str | None = "Study",
                  className: str = "vtkMRMLScalarVolumeNode") -> slicer.vtkMRMLScalarVolumeNode:
        """A volume node with display node, under Patient/`study` in the subject hierarchy."""
        node = self.scene.AddNewNodeByClass(className, name)
        updateNodeFromVolume(node, volume)
        node.CreateDefaultDisplayNodes()
        node.CreateDefaultStorageNode()
        if study is not None:
            shNode = self.scene.GetSubjectHierarchyNode()
            patient = shNode.CreateSubjectItem(shNode.GetSceneItemID(), "Patient")
            studyItem = shNode.CreateStudyItem(patient, study)
            item = shNode.GetItemByDataNode(node)
            if item:
                shNode.SetItemParent(item, studyItem)
            else:
                shNode.CreateItem(studyItem, node)
        return node

    def nodeCount(self) -> int:
        return self.scene.GetNumberOfNodes()

    def close(self) -> None:
        self.applicationLogic.SetSliceLogics(None)
        for sliceLogic in self.sliceLogics.values():
            sliceLogic.SetMRMLScene(None)
        self.scene.Clear(True)
        shutil.rmtree(self.cacheDirectory, ignore_errors=True)


def obliqueGeometryVolume(shape=(6, 20, 18), seed: int = 0) -> Volume:
    """A small volume with anisotropic spacing and a rotated direction, so that any mix-up
    of axes or of LPS/RAS shows in the output geometry."""
    rng = np.random.default_rng(seed)
    angle = np.deg2rad(10.0)
    direction = (np.cos(angle), -np.sin(angle), 0.0, np.sin(angle), np.cos(angle), 0.0, 0.0, 0.0, 1.0)
    array = rng.uniform(50, 200, shape).astype(np.float32)
    array[:, :2] = 0  # background rows, as in skull-stripped MR
    return Volume(array, (1.1, 0.9, 2.5), (-12.0, 30.0, 7.5), direction)


@pytest.fixture
def slicer_scene():
    built = SlicerScene.create()
    yield built
    built.close()
