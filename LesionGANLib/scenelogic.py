"""The logic base shared by the LesionGAN modules: a scripted-module logic bound to a scene."""

from __future__ import annotations

import slicer

from lesiongan.errors import InputError, VolumeError

try:  # Inside Slicer the logic is a real scripted-module logic (parameter node, etc.).
    from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic
except ImportError:  # slicer-core (MRML without the application) has no scripted-module base.
    ScriptedLoadableModuleLogic = object


class SceneLogic(ScriptedLoadableModuleLogic):
    """A logic working on `scene`, or on the application's scene when none is given."""

    def __init__(self, scene: slicer.vtkMRMLScene | None = None) -> None:
        super().__init__()
        self._scene = scene

    @property
    def scene(self) -> slicer.vtkMRMLScene:
        scene = self._scene if self._scene is not None else getattr(slicer, "mrmlScene", None)
        if scene is None:
            raise InputError("scene", f"no MRML scene: pass one to {type(self).__name__}(scene=...)")
        return scene

    def addNode(self, className: str, name: str) -> slicer.vtkMRMLNode:
        """A new node of `className` named `name`, or `name_1`, ... when the scene has that name."""
        return self.scene.AddNewNodeByClass(className, self.scene.GenerateUniqueName(name))

    def nodesOfClass(self, className: str) -> list[slicer.vtkMRMLNode]:
        """The scene's nodes of `className`. Indexed access, because the collection that
        GetNodesByClass returns is a new reference Python would have to UnRegister."""
        scene = self.scene
        return [scene.GetNthNodeByClass(index, className)
                for index in range(scene.GetNumberOfNodesByClass(className))]

    def _checkInput(self, volumeNode: slicer.vtkMRMLScalarVolumeNode) -> None:
        """An image volume (not a labelmap) in this logic's scene."""
        if volumeNode is None:
            raise VolumeError("input volume", "no volume node given")
        if volumeNode.GetScene() is not self.scene:
            raise VolumeError(volumeNode.GetName(), "is not in the logic's scene")
        if volumeNode.IsA("vtkMRMLLabelMapVolumeNode"):
            raise VolumeError(volumeNode.GetName(), "is a labelmap; pick an image volume")
