"""PseudoHealthy logic against real MRML (slicer-core): nodes, geometry, display, re-threshold,
cancel, reuse of nodes, slice views and a .mrb round trip."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import slicer
import torch
import vtk
from scipy import ndimage

from lesiongan.data.volume import Volume
from lesiongan.errors import Cancelled, InputError, ModelFileError, VolumeError
from lesiongan.infer.modelfile import save_model
from lesiongan.nets import build_network
from PseudoHealthyLib import PseudoHealthyLogic
from PseudoHealthyLib.logic import ROLES, SEGMENT_ID
from LesionGANLib.nodes import ijkToRasArray, volumeFromNode
from slicer_scene import SlicerScene, obliqueGeometryVolume, slicer_scene  # noqa: F401  (fixture)

OUTPUT_IDS = ("pseudoHealthyNodeID", "differenceNodeID", "maskNodeID", "segmentationNodeID", "foregroundNodeID")


def randomGenerator(channels: int, seed: int = 0) -> torch.nn.Module:
    """A tiny generator with random weights: untrained, but its output differs from its input
    (a fresh shortcut generator is the identity and would leave an empty difference map)."""
    torch.manual_seed(seed)
    net = build_network("resnet_generator", in_channels=channels, out_channels=channels, ngf=4, n_blocks=1,
                        shortcut=True)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_(0.0, 0.2)
    return net


@pytest.fixture(scope="module")
def modelPath(tmp_path_factory):
    net = randomGenerator(1)
    return save_model(tmp_path_factory.mktemp("model") / "tiny.pt", method="antgan", networks={"a2n": net},
                      conventions={"modalities": ["flair"]}, provenance={"dataset": "synthetic test"})


@pytest.fixture
def case(slicer_scene):  # noqa: F811
    inputNode = slicer_scene.addVolume(obliqueGeometryVolume(), name="Case")
    display = inputNode.GetDisplayNode()
    display.SetAutoWindowLevel(False)
    display.SetWindowLevel(123.0, 77.0)
    return slicer_scene, inputNode, PseudoHealthyLogic(scene=slicer_scene.scene)


def _array(scene, nodeID: str) -> np.ndarray:
    return slicer.util.arrayFromVolume(scene.GetNodeByID(nodeID)).copy()


def _segmentArray(scene, segmentationNodeID: str, referenceNode) -> np.ndarray:
    """The 'Anomaly' segment exported to a labelmap on the reference volume's grid."""
    segmentationNode = scene.GetNodeByID(segmentationNodeID)
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "export")
    segmentIds = vtk.vtkStringArray()
    segmentIds.InsertNextValue(segmentationNode.GetSegmentation().GetSegmentIdBySegmentName(SEGMENT_ID))
    assert slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
        segmentationNode, segmentIds, labelmap, referenceNode)
    array = slicer.util.arrayFromVolume(labelmap).copy()
    scene.RemoveNode(labelmap)
    return array


def test_outputs_on_input_grid_and_input_untouched(case, modelPath):
    built, inputNode, logic = case
    before = slicer.util.arrayFromVolume(inputNode).copy()
    inputMTime = inputNode.GetMTime()
    displayMTime = inputNode.GetDisplayNode().GetMTime()
    calls = []
    result = logic.process(inputNode, modelPath, threshold=0.1, device="cpu",
                           progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] > 0
    assert result.device == "cpu" and result.seconds > 0 and result.slicesRun > 0
    for attribute in OUTPUT_IDS[:3] + OUTPUT_IDS[4:]:
        node = built.scene.GetNodeByID(getattr(result, attribute))
        assert node.GetImageData().GetDimensions() == inputNode.GetImageData().GetDimensions()
        np.testing.assert_allclose(ijkToRasArray(node), ijkToRasArray(inputNode), atol=1e-6)
    assert built.scene.GetNodeByID(result.maskNodeID).IsA("vtkMRMLLabelMapVolumeNode")
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(inputNode), before)
    assert inputNode.GetMTime() == inputMTime and inputNode.GetDisplayNode().GetMTime() == displayMTime
    # the pseudo-healthy volume is shown like the input
    display = built.scene.GetNodeByID(result.pseudoHealthyNodeID).GetDisplayNode()
    assert (display.GetWindow(), display.GetLevel()) == (123.0, 77.0)
    # outputs sit beside the input, in its study
    shNode = built.scene.GetSubjectHierarchyNode()
    study = shNode.GetItemParent(shNode.GetItemByDataNode(inputNode))
    for attribute in OUTPUT_IDS[:4]:
        item = shNode.GetItemByDataNode(built.scene.GetNodeByID(getattr(result, attribute)))
        assert shNode.GetItemParent(item) == study


def test_heatmap_mask_and_segmentation(case, modelPath):
    built, inputNode, logic = case
    result = logic.process(inputNode, modelPath, threshold=0.1, device="cpu")
    difference = built.scene.GetNodeByID(result.differenceNodeID)
    colorNode = difference.GetDisplayNode().GetColorNode()
    assert colorNode.GetName() in ("Inferno", "LesionGAN Heatmap")
    assert colorNode is logic.heatmapColorNode()  # made once, then found again
    mask = _array(built.scene, result.maskNodeID)
    assert 0 < result.maskVoxels == np.count_nonzero(mask) < mask.size
    # Worked out here from the nodes' arrays, not by the function the logic calls.
    expected = (_array(built.scene, result.differenceNodeID) > 0.1) & (_array(built.scene, result.foregroundNodeID) > 0)
    np.testing.assert_array_equal(mask > 0, expected)
    np.testing.assert_array_equal(_segmentArray(built.scene, result.segmentationNodeID, inputNode) > 0, mask > 0)


def test_rethreshold_changes_only_the_mask(case, modelPath):
    built, inputNode, logic = case
    first = logic.process(inputNode, modelPath, threshold=0.1, device="cpu")
    healthy = _array(built.scene, first.pseudoHealthyNodeID)
    difference = _array(built.scene, first.differenceNodeID)
    maskBefore = _array(built.scene, first.maskNodeID)
    nodeCount = built.nodeCount()
    second = logic.rethreshold(inputNode, 0.4)
    assert [getattr(second, name) for name in OUTPUT_IDS] == [getattr(first, name) for name in OUTPUT_IDS]
    assert built.nodeCount() == nodeCount
    maskAfter = _array(built.scene, first.maskNodeID)
    assert 0 < np.count_nonzero(maskAfter) < np.count_nonzero(maskBefore)
    assert not np.any(maskAfter & ~maskBefore)  # a higher threshold only removes voxels
    foreground = _array(built.scene, first.foregroundNodeID) > 0
    np.testing.assert_array_equal(maskAfter > 0, (difference > 0.4) & foreground)
    np.testing.assert_array_equal(_segmentArray(built.scene, first.segmentationNodeID, inputNode) > 0, maskAfter > 0)
    np.testing.assert_array_equal(_array(built.scene, first.pseudoHealthyNodeID), healthy)
    np.testing.assert_array_equal(_array(built.scene, first.differenceNodeID), difference)


def test_cancel_leaves_no_nodes(case, modelPath):
    built, inputNode, logic = case
    before = built.nodeCount()
    with pytest.raises(Cancelled):
        logic.process(inputNode, modelPath, device="cpu", cancel=lambda: True)
    assert built.nodeCount() == before
    assert logic.outputNodes(inputNode) == {}


def test_prepare_compute_store_is_process_in_steps_and_compute_leaves_the_scene_alone(case, modelPath):
    built, inputNode, logic = case
    whole = logic.process(inputNode, modelPath, device="cpu", createNew=True)
    before = built.nodeCount()
    run = logic.prepare(inputNode, modelPath, device="cpu")
    with pytest.raises(InputError, match="has not been computed"):
        logic.store(run)
    worker = threading.Thread(target=run.compute)  # as an application that keeps drawing runs it
    worker.start()
    worker.join()
    assert built.nodeCount() == before and run.inference is not None
    stepped = logic.store(run, createNew=True)
    assert built.nodeCount() > before
    np.testing.assert_array_equal(_array(built.scene, stepped.differenceNodeID),
                                  _array(built.scene, whole.differenceNodeID))
    assert stepped.maskVoxels == whole.maskVoxels


def test_a_run_whose_input_was_removed_stores_nothing(case, modelPath):
    built, inputNode, logic = case
    run = logic.prepare(inputNode, modelPath, device="cpu").compute()
    built.scene.RemoveNode(inputNode)
    before = built.nodeCount()
    with pytest.raises(InputError, match="removed from the scene while the model ran"):
        logic.store(run)
    assert built.nodeCount() == before


def test_second_run_reuses_nodes_unless_create_new(case, modelPath):
    built, inputNode, logic = case
    first = logic.process(inputNode, modelPath, device="cpu")
    count = built.nodeCount()
    second = logic.process(inputNode, modelPath, threshold=0.2, device="cpu")
    assert [getattr(second, name) for name in OUTPUT_IDS] == [getattr(first, name) for name in OUTPUT_IDS]
    assert built.nodeCount() == count
    third = logic.process(inputNode, modelPath, device="cpu", createNew=True)
    assert not {getattr(third, name) for name in OUTPUT_IDS} & {getattr(first, name) for name in OUTPUT_IDS}
    assert set(logic.outputNodes(inputNode)) == set(ROLES)


def test_show_results_sets_slice_views(case, modelPath):
    built, inputNode, logic = case
    result = logic.process(inputNode, modelPath, device="cpu", heatmapOpacity=0.3)
    for name, sliceLogic in built.sliceLogics.items():
        composite = sliceLogic.GetSliceCompositeNode()
        assert composite.GetBackgroundVolumeID() == inputNode.GetID(), name
        assert composite.GetForegroundVolumeID() == result.differenceNodeID
        assert composite.GetLabelVolumeID() == result.maskNodeID
        assert composite.GetForegroundOpacity() == pytest.approx(0.3)
        assert sliceLogic.GetSliceNode().GetUseLabelOutline()
    logic.setHeatmapOpacity(0.8)
    assert built.sliceLogics["Red"].GetSliceCompositeNode().GetForegroundOpacity() == pytest.approx(0.8)


def test_scene_saves_to_mrb_and_loads_back(case, modelPath, tmp_path):
    built, inputNode, logic = case
    result = logic.process(inputNode, modelPath, device="cpu")
    mask = _array(built.scene, result.maskNodeID)
    bundle = tmp_path / "case.mrb"
    assert built.scene.WriteToMRB(str(bundle))
    other = SlicerScene.create()
    loaded = other.scene
    assert loaded.ReadFromMRB(str(bundle))
    names = {node.GetName(): node for node in (loaded.GetNthNode(i) for i in range(loaded.GetNumberOfNodes()))}
    for attribute in OUTPUT_IDS:
        name = built.scene.GetNodeByID(getattr(result, attribute)).GetName()
        assert name in names, name
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(names["Case anomaly mask"]), mask)
    # the outputs still point at their input, so a later run or rethreshold finds them
    reloadedInput = names["Case"]
    reloadedLogic = PseudoHealthyLogic(scene=loaded)
    assert set(reloadedLogic.outputNodes(reloadedInput)) == set(ROLES)
    reloadedLogic.rethreshold(reloadedInput, 0.3)
    other.close()


def test_bad_inputs_are_named(case, modelPath, tmp_path):
    built, inputNode, logic = case
    with pytest.raises(ModelFileError, match="missing.pt"):
        logic.process(inputNode, tmp_path / "missing.pt")
    with pytest.raises(InputError, match="run process first"):
        logic.rethreshold(inputNode, 0.2)
    labelmap = built.addVolume(Volume(np.ones((2, 3, 4), np.float32), (1, 1, 1), (0, 0, 0),
                                      (1, 0, 0, 0, 1, 0, 0, 0, 1)), name="Labels", study=None,
                               className="vtkMRMLLabelMapVolumeNode")
    with pytest.raises(InputError, match="Labels"):
        logic.process(labelmap, modelPath)
    nodes = built.nodeCount()
    with pytest.raises(InputError, match="model: must be a model file path.*not int 12345"):
        logic.process(inputNode, model=12345)
    assert built.nodeCount() == nodes


def test_the_threshold_is_the_models_own_unless_given(case, tmp_path):
    built, inputNode, logic = case
    net = randomGenerator(1)
    calibrated = save_model(tmp_path / "calibrated.pt", method="antgan", networks={"a2n": net},
                            conventions={"modalities": ["flair"], "threshold": 0.3, "min_component_size": 50},
                            provenance={})
    assert logic.modelThreshold(calibrated) == pytest.approx(0.3)
    assert logic.modelMinimumComponentSize(calibrated) == 50
    result = logic.process(inputNode, calibrated)
    assert result.threshold == pytest.approx(0.3)
    mask = _array(built.scene, result.maskNodeID) > 0
    above = (_array(built.scene, result.differenceNodeID) > 0.3) & (_array(built.scene, result.foregroundNodeID) > 0)
    labels, _ = ndimage.label(above)
    sizes = np.bincount(labels.ravel())
    # the model's own minimum component size, not none: components under 50 voxels are gone
    assert np.array_equal(mask, above & (sizes[labels] >= 50) & (labels > 0))
    assert not np.array_equal(mask, above)
    assert logic.process(inputNode, calibrated, threshold=0.1).threshold == pytest.approx(0.1)


def test_heatmap_prefers_slicers_inferno(case):
    built, _, logic = case
    # In Slicer the color logic loads Inferno.txt from its default color files.
    inferno = built.scene.AddNewNodeByClass("vtkMRMLColorTableNode", "Inferno")
    before = built.nodeCount()
    assert logic.heatmapColorNode() is inferno
    assert built.nodeCount() == before


def test_other_sequences_reach_the_model_and_an_optional_one_may_be_left_out(case, tmp_path):
    built, inputNode, logic = case
    net = randomGenerator(2, seed=1)
    conventions = {"modalities": ["flair", "t1"], "optional_modalities": ["t1"]}
    twoSequences = save_model(tmp_path / "two.pt", method="antgan", networks={"a2n": net},
                              conventions=conventions, provenance={})
    volume = volumeFromNode(inputNode)
    t1Node = built.addVolume(volume.with_array(volume.array[::-1].copy()), name="CaseT1")
    t1Before = slicer.util.arrayFromVolume(t1Node).copy()
    assert logic.missingSequences(twoSequences) == ["t1"] and logic.missingSequences(twoSequences, {"t1": t1Node}) == []
    withT1 = _array(built.scene, logic.process(inputNode, twoSequences, otherSequences={"t1": t1Node},
                                               createNew=True).differenceNodeID)
    alone = _array(built.scene, logic.process(inputNode, twoSequences, createNew=True).differenceNodeID)
    assert not np.allclose(withT1, alone)  # the T1 went into the network
    assert np.array_equal(slicer.util.arrayFromVolume(t1Node), t1Before)
    with pytest.raises(InputError, match="t2 is not a sequence this model takes"):
        logic.process(inputNode, twoSequences, otherSequences={"t2": t1Node})
    needsT1 = save_model(tmp_path / "needs.pt", method="antgan", networks={"a2n": net},
                         conventions={"modalities": ["flair", "t1"]}, provenance={})
    nodes = built.nodeCount()
    with pytest.raises(VolumeError, match="volume 1"):
        logic.process(inputNode, needsT1)
    assert built.nodeCount() == nodes
