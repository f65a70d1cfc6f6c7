"""Conversions between MRML volume nodes and `lesiongan` volumes, and output-node bookkeeping.

Shared by the PseudoHealthy and LesionSynthesis logics. Arrays are copied both ways, so a
`Volume` never aliases a node's voxels (the input node can never be changed through it).
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from lesiongan.data.volume import Volume
from lesiongan.errors import VolumeError

# Reference role on an output node pointing at the volume it was computed from. It lives on
# the output, so the input node is never modified, and it survives scene save/load.
SOURCE_REFERENCE_ROLE = "LesionGANSource"
# Attribute naming what an output node is ("pseudoHealthy", "difference", ...).
ROLE_ATTRIBUTE = "LesionGAN.Role"


def ijkToRasArray(volumeNode: slicer.vtkMRMLVolumeNode) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(matrix)
    return slicer.util.arrayFromVTKMatrix(matrix)


def volumeFromNode(volumeNode: slicer.vtkMRMLScalarVolumeNode) -> Volume:
    """A float32 copy of the node's voxels with its geometry (parent transforms are not applied:
    outputs go on the same grid and under the same transform as the input)."""
    if volumeNode is None:
        raise VolumeError("input volume", "no volume node given")
    name = volumeNode.GetName()
    if not volumeNode.IsA("vtkMRMLScalarVolumeNode"):
        raise VolumeError(name, f"is a {volumeNode.GetClassName()}, a scalar volume is needed")
    imageData = volumeNode.GetImageData()
    if imageData is None or imageData.GetNumberOfPoints() == 0:
        raise VolumeError(name, "the volume node holds no image data")
    if imageData.GetNumberOfScalarComponents() != 1:
        raise VolumeError(name, f"has {imageData.GetNumberOfScalarComponents()} components per voxel, one is needed")
    array = np.array(slicer.util.arrayFromVolume(volumeNode), dtype=np.float32, copy=True)
    if array.ndim != 3 or min(array.shape) < 1:
        raise VolumeError(name, f"expected a 3D volume, got array shape {array.shape}")
    if not np.isfinite(array).all():
        raise VolumeError(name, "holds NaN or infinite values")
    return Volume.from_ijk_to_ras(array, ijkToRasArray(volumeNode))


def updateNodeFromVolume(volumeNode: slicer.vtkMRMLVolumeNode, volume: Volume, dtype: type | None = None) -> None:
    """Set the node's voxels (deep copy) and geometry from `volume`."""
    array = volume.array if dtype is None else volume.array.astype(dtype)
    slicer.util.updateVolumeFromArray(volumeNode, np.ascontiguousarray(array))
    volumeNode.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(volume.ijk_to_ras()))


def setSourceVolume(outputNode: slicer.vtkMRMLNode, sourceNode: slicer.vtkMRMLNode, role: str) -> None:
    outputNode.SetAttribute(ROLE_ATTRIBUTE, role)
    outputNode.SetNodeReferenceID(SOURCE_REFERENCE_ROLE, sourceNode.GetID())


def findOutputNodes(scene: slicer.vtkMRMLScene, sourceNode: slicer.vtkMRMLNode, roles: tuple[str, ...]) -> dict:
    """The newest node of each role computed from `sourceNode` (missing roles are absent)."""
    found: dict[str, slicer.vtkMRMLNode] = {}
    nodes = scene.GetNodes()
    for index in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(index)
        role = node.GetAttribute(ROLE_ATTRIBUTE)
        if role in roles and node.GetNodeReferenceID(SOURCE_REFERENCE_ROLE) == sourceNode.GetID():
            found[role] = node
    return found


def placeInSubjectHierarchy(scene: slicer.vtkMRMLScene, node: slicer.vtkMRMLNode,
                            sourceNode: slicer.vtkMRMLNode) -> None:
    """Put `node` beside `sourceNode` (under its study or patient), as Slicer's modules do."""
    shNode = scene.GetSubjectHierarchyNode()
    if shNode is None:
        return
    sourceItem = shNode.GetItemByDataNode(sourceNode)
    parentItem = shNode.GetItemParent(sourceItem) if sourceItem else shNode.GetSceneItemID()
    item = shNode.GetItemByDataNode(node)
    if item:
        shNode.SetItemParent(item, parentItem)
    else:
        shNode.CreateItem(parentItem, node)


def copyParentTransform(node: slicer.vtkMRMLTransformableNode, sourceNode: slicer.vtkMRMLTransformableNode) -> None:
    node.SetAndObserveTransformNodeID(sourceNode.GetTransformNodeID())
