"""LesionSynthesis logic against real MRML (slicer-core): painted segmentations and labelmaps,
random lesions, generated images, the Turing test from nodes; inputs untouched, cancels clean."""

from __future__ import annotations

import numpy as np
import pytest
import slicer
from scipy import ndimage

from lesiongan.errors import Cancelled, InputError, VolumeError
from LesionSynthesisLib import LesionSynthesisLogic
from LesionGANLib.nodes import updateNodeFromVolume
from slicer_scene import slicer_scene  # noqa: F401  (fixture)
from synthesis_support import brain_with_ventricles, write_noise_model, write_painting_model

MARGIN_MM = 2.0


@pytest.fixture
def case(slicer_scene, tmp_path):  # noqa: F811
    volume, ventricles = brain_with_ventricles()
    node = slicer_scene.addVolume(volume, "Healthy_flair")
    return slicer_scene, node, volume, ventricles, write_painting_model(tmp_path / "r.pt")


def _painted_labelmap(scene, volume):
    region = np.zeros(volume.shape, np.uint8)
    region[3:5, 20:24, 6:10] = 1
    labelmap = scene.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "Painted")
    updateNodeFromVolume(labelmap, volume.with_array(region))
    return labelmap, region


def _changed_only_near(output, volume, region):
    distance = ndimage.distance_transform_edt(region == 0, sampling=volume.spacing[::-1])
    changed = output != volume.array
    return not changed[distance >= MARGIN_MM].any() and changed[region > 0].any()


def test_synthesize_from_a_painted_segmentation(case):
    scene, node, volume, _, model = case
    labelmap, region = _painted_labelmap(scene, volume)
    segmentation = scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Paint")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(node)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    before = slicer.util.arrayFromVolume(node).copy()
    count = scene.nodeCount()
    newNode, lesionNode = LesionSynthesisLogic(scene.scene).synthesizeLesion(
        node, segmentation, model, blendMargin=MARGIN_MM, device="cpu")
    assert np.array_equal(slicer.util.arrayFromVolume(node), before)  # input untouched
    assert np.array_equal(slicer.util.arrayFromVolume(lesionNode), region)  # labelmap = painted region
    assert _changed_only_near(slicer.util.arrayFromVolume(newNode), volume, region)
    assert lesionNode.IsA("vtkMRMLLabelMapVolumeNode") and newNode.GetName() == "Healthy_flair with lesion"
    assert scene.nodeCount() > count
    shNode = scene.scene.GetSubjectHierarchyNode()
    assert shNode.GetItemParent(shNode.GetItemByDataNode(newNode)) == shNode.GetItemParent(
        shNode.GetItemByDataNode(node))


def test_synthesize_from_a_labelmap_with_an_n2a_generator(case, tmp_path):
    scene, node, volume, _, _ = case
    labelmap, region = _painted_labelmap(scene, volume)
    n2a = write_painting_model(tmp_path / "n2a.pt", "n2a")
    newNode, lesionNode = LesionSynthesisLogic(scene.scene).synthesizeLesion(
        node, labelmap, n2a, blendMargin=MARGIN_MM, device="cpu")
    assert np.array_equal(slicer.util.arrayFromVolume(lesionNode), region)
    assert _changed_only_near(slicer.util.arrayFromVolume(newNode), volume, region)


def test_cancel_and_bad_masks_leave_no_nodes(case):
    scene, node, volume, _, model = case
    labelmap, _ = _painted_labelmap(scene, volume)
    logic = LesionSynthesisLogic(scene.scene)
    count = scene.nodeCount()
    with pytest.raises(Cancelled):
        logic.synthesizeLesion(node, labelmap, model, device="cpu", cancel=lambda: True)
    with pytest.raises(InputError, match="paint"):
        logic.synthesizeLesion(node, None, model, device="cpu")
    with pytest.raises(VolumeError, match="labelmap"):
        logic.synthesizeLesion(labelmap, labelmap, model, device="cpu")
    assert scene.nodeCount() == count
    empty = scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Empty")
    with pytest.raises(InputError, match="no segment"):
        logic.synthesizeLesion(node, empty, model, device="cpu")
    assert scene.nodeCount() == count + 1  # only the empty segmentation the test added


def test_random_lesions_in_brain_and_out_of_ventricles(case):
    scene, node, volume, ventricles, model = case
    newNode, lesionNode = LesionSynthesisLogic(scene.scene).randomLesions(
        node, count=2, radiusMm=5.0, seed=3, model=model, blendMargin=MARGIN_MM, device="cpu")
    labels = slicer.util.arrayFromVolume(lesionNode)
    assert set(np.unique(labels)) == {0, 1, 2}
    brain = volume.array > 0
    assert not (labels.astype(bool) & ~brain).any() and not (labels.astype(bool) & ventricles).any()
    assert _changed_only_near(slicer.util.arrayFromVolume(newNode), volume, labels)


def test_sample_images_and_turing_test_from_nodes(case, tmp_path):
    scene, node, _, _, _ = case
    logic = LesionSynthesisLogic(scene.scene)
    samples = logic.sampleImages(write_noise_model(tmp_path / "noise.pt"), count=6, seed=2, device="cpu")
    array = slicer.util.arrayFromVolume(samples)
    assert array.shape == (6, 32, 32) and 0 <= array.min() and array.max() <= 1
    test = logic.turingTest(node, samples, nEach=4, seed=0)
    assert len(test) == 8 and {test.truth(i) for i in range(8)} == {"real", "synthetic"}
    # the real 32 x 30 slices are padded to the synthetic 32 x 32, so their size gives nothing away
    assert {test.image(i).shape for i in range(8)} == {(32, 32)}
