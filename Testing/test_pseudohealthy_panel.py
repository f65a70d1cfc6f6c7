"""The PseudoHealthy panel's own code, driven as a user drives it: input and model, Apply,
the threshold slider (only the mask changes), Cancel in the middle of a run, leaving and
re-entering the module; errors reach the user in a dialog."""

from __future__ import annotations

import numpy as np
import pytest
import slicer
import torch

from LesionGANLib.nodes import volumeFromNode
from lesiongan.infer.engine import threshold_difference
from lesiongan.infer.modelfile import save_model
from lesiongan.nets import build_network
from slicer_panels import app, choose, click, qt, takeDialogs  # noqa: F401  (fixture)
from slicer_scene import obliqueGeometryVolume

CALIBRATED = 0.23  # the threshold the model file carries


@pytest.fixture(scope="module")
def modelPath(tmp_path_factory):
    torch.manual_seed(0)
    net = build_network("resnet_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1, shortcut=True)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_(0.0, 0.2)
    return str(save_model(tmp_path_factory.mktemp("model") / "calibrated.pt", method="antgan", networks={"a2n": net},
                          conventions={"modalities": ["flair"], "threshold": CALIBRATED}, provenance={}))


def openWithModel(app, modelPath):  # noqa: F811
    inputNode = app.scene.addVolume(obliqueGeometryVolume(), name="Case")
    panel = app.openPanel("PseudoHealthy")
    app.fileDialogAnswers.append(modelPath)
    choose(panel.ui.modelComboBox, "Browse...")
    panel.ui.inputSelector.setCurrentNode(inputNode)
    return panel, inputNode


def arrays(scene, outputs) -> dict:
    return {role: slicer.util.arrayFromVolume(node).copy() for role, node in outputs.items()
            if node.IsA("vtkMRMLVolumeNode")}


def test_threshold_starts_at_the_models_own_with_antgans_as_a_preset(app, modelPath):  # noqa: F811
    panel, _ = openWithModel(app, modelPath)
    assert panel.ui.modelComboBox.currentText == "calibrated.pt"
    assert panel.widget._parameterNode.modelPath == modelPath
    assert panel.ui.thresholdSliderWidget.value == pytest.approx(CALIBRATED)
    presets = [panel.ui.thresholdPresetComboBox.itemText(i) for i in range(panel.ui.thresholdPresetComboBox.count)]
    assert presets == ["This model's (0.23)", "ANT-GAN paper (0.1)"]
    choose(panel.ui.thresholdPresetComboBox, "ANT-GAN paper (0.1)")
    assert panel.ui.thresholdSliderWidget.value == pytest.approx(0.1)
    assert panel.widget._parameterNode.threshold == pytest.approx(0.1)


def test_apply_then_the_slider_changes_only_the_mask(app, modelPath):  # noqa: F811
    panel, inputNode = openWithModel(app, modelPath)
    before = slicer.util.arrayFromVolume(inputNode).copy()
    assert panel.ui.applyButton.text == "Apply" and panel.ui.applyButton.enabled
    click(panel.ui.applyButton)
    outputs = panel.widget.logic.outputNodes(inputNode)
    assert set(outputs) == {"pseudoHealthy", "difference", "foreground", "mask", "segmentation"}
    assert panel.ui.statusLabel.text.startswith("Done in ")
    assert not panel.ui.progressBar.visible
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(inputNode), before)
    red = app.scene.sliceLogics["Red"].GetSliceCompositeNode()
    assert red.GetForegroundVolumeID() == outputs["difference"].GetID()
    assert red.GetForegroundOpacity() == pytest.approx(panel.ui.opacitySliderWidget.value)

    first = arrays(app.scene, outputs)
    difference, foreground = volumeFromNode(outputs["difference"]), volumeFromNode(outputs["foreground"])
    inside = first["difference"][first["foreground"] > 0]
    newThreshold = round(float(np.quantile(inside, 0.5)), 2)
    assert newThreshold != pytest.approx(CALIBRATED)
    panel.ui.thresholdSliderWidget.value = newThreshold
    second = arrays(app.scene, outputs)
    for role in ("pseudoHealthy", "difference", "foreground"):
        np.testing.assert_array_equal(second[role], first[role])
    expected = threshold_difference(difference, newThreshold, foreground=foreground).array
    np.testing.assert_array_equal(second["mask"] > 0, expected > 0)
    assert (second["mask"] != first["mask"]).any()
    assert panel.ui.statusLabel.text == f"Threshold {newThreshold:.2f}: mask {int(expected.sum())} voxels."

    panel.ui.opacitySliderWidget.value = 0.8
    assert red.GetForegroundOpacity() == pytest.approx(0.8)


def test_cancel_in_the_middle_of_a_run_adds_nothing(app, modelPath):  # noqa: F811
    panel, inputNode = openWithModel(app, modelPath)
    nodes = app.scene.nodeCount()
    cancelAt = []

    def clickCancel():  # the user presses the button again while slices are being processed
        cancelAt.append(panel.ui.progressBar.value)
        assert panel.ui.applyButton.text == "Cancel"
        click(panel.ui.applyButton)

    qt.QTimer.singleShot(0, clickCancel)
    click(panel.ui.applyButton)
    assert cancelAt and cancelAt[0] < panel.ui.progressBar.maximum
    assert panel.ui.statusLabel.text == "Cancelled; nothing was added to the scene."
    assert app.scene.nodeCount() == nodes
    assert panel.widget.logic.outputNodes(inputNode) == {}
    assert panel.ui.applyButton.text == "Apply"


def test_leaving_and_reentering_keeps_the_choices_and_lists_new_models(app, modelPath, tmp_path):  # noqa: F811
    from lesiongan.infer import catalog

    panel, inputNode = openWithModel(app, modelPath)
    panel.ui.minimumComponentSizeSpinBox.value = 3
    panel.exit()
    registered = tmp_path / "registered.pt"
    registered.write_bytes(open(modelPath, "rb").read())
    catalog.register_model(registered, "my-trained-model", description="trained meanwhile")
    panel.ui.minimumComponentSizeSpinBox.value = 5  # not connected while the module is left
    assert panel.widget._parameterNode.minimumComponentSize == 3
    panel.enter()
    combo = panel.ui.modelComboBox
    assert "my-trained-model" in [combo.itemText(i) for i in range(combo.count)]
    assert combo.currentText == "calibrated.pt"
    assert panel.ui.minimumComponentSizeSpinBox.value == 3
    assert panel.ui.inputSelector.currentNode() is inputNode


def test_a_failed_run_and_a_failed_install_are_shown_in_a_dialog(app, modelPath, monkeypatch, tmp_path):  # noqa: F811
    panel, inputNode = openWithModel(app, modelPath)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    app.fileDialogAnswers.append(str(broken))
    choose(panel.ui.modelComboBox, "Browse...")
    takeDialogs()
    assert panel.ui.statusLabel.text.startswith("Cannot read the model")
    click(panel.ui.applyButton)
    from slicer_panels import takeSlotErrors

    (dialog,) = takeDialogs()
    assert dialog["text"].startswith("Pseudo-healthy synthesis failed.") and "broken.pt" in dialog["text"]
    assert [type(error).__name__ for error in takeSlotErrors()] == ["ModelFileError"]  # re-raised, as Slicer does

    import subprocess

    from lesiongan.infer import dependencies

    def failingPip(requirements):
        raise subprocess.CalledProcessError(1, ["pip", "install", *requirements])

    monkeypatch.setitem(dependencies.PURPOSES, "inference", ("lesiongan-absent-test-package>=1",))
    monkeypatch.setattr(slicer.util, "pip_install", failingPip)
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda text, **kw: True)
    app.fileDialogAnswers.append(modelPath)
    choose(panel.ui.modelComboBox, "Browse...")
    click(panel.ui.applyButton)
    (dialog,) = takeDialogs()
    assert dialog["text"].startswith("LesionGAN could not install what it needs.")
    assert "CalledProcessError" in dialog["detailedText"]
    assert panel.widget.logic.outputNodes(inputNode) == {}


def test_a_model_of_several_sequences_gets_a_selector_for_each_after_the_input(app, modelPath, tmp_path):  # noqa: F811
    torch.manual_seed(1)
    net = build_network("resnet_generator", in_channels=3, out_channels=3, ngf=4, n_blocks=1, shortcut=True)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_(0.0, 0.2)
    path = str(save_model(tmp_path / "three.pt", method="antgan", networks={"a2n": net}, provenance={},
                          conventions={"modalities": ["flair", "t1", "t2"], "optional_modalities": ["t2"]}))
    panel, inputNode = openWithModel(app, path)
    selectors = panel.widget._sequenceSelectors
    assert list(selectors) == ["t1", "t2"]
    assert not selectors["t1"].noneEnabled and selectors["t2"].noneEnabled  # T1 is needed, T2 is not
    assert not panel.ui.applyButton.enabled  # until the needed T1 is chosen
    volume = volumeFromNode(inputNode)
    t1Node = app.scene.addVolume(volume.with_array(volume.array[::-1].copy()), name="CaseT1")
    selectors["t1"].setCurrentNode(t1Node)
    assert panel.ui.applyButton.enabled
    click(panel.ui.applyButton)
    assert panel.ui.statusLabel.text.startswith("Done in ") and "Without T2" in panel.ui.statusLabel.text
    withoutT2 = slicer.util.arrayFromVolume(panel.widget.logic.outputNodes(inputNode)["difference"]).copy()
    selectors["t2"].setCurrentNode(t1Node)
    click(panel.ui.applyButton)
    assert "Without" not in panel.ui.statusLabel.text
    withT2 = slicer.util.arrayFromVolume(panel.widget.logic.outputNodes(inputNode)["difference"])
    assert not np.allclose(withT2, withoutT2)  # the T2 selector's node went into the network

    # The choices are kept in the scene's parameter node: a panel shown afresh (as after
    # loading a saved scene) finds them there.
    references = panel.widget._parameterNode.parameterNode
    assert references.GetNodeReferenceID("LesionGAN.sequence.t1") == t1Node.GetID()
    again = app.openPanel("PseudoHealthy")
    app.fileDialogAnswers.append(path)
    choose(again.ui.modelComboBox, "Browse...")
    assert {m: s.currentNode().GetID() for m, s in again.widget._sequenceSelectors.items()} == {
        "t1": t1Node.GetID(), "t2": t1Node.GetID()}
    assert again.ui.applyButton.enabled
    again.widget._sequenceSelectors["t2"].setCurrentNode(None)  # emptied: the scene forgets it too
    assert references.GetNodeReferenceID("LesionGAN.sequence.t2") is None
    again.close()

    app.fileDialogAnswers.append(modelPath)  # back to a one-sequence model: the extra selectors go
    choose(panel.ui.modelComboBox, "Browse...")
    assert panel.widget._sequenceSelectors == {}
    assert panel.ui.inputsCollapsibleButton.layout().rowCount() == 3  # input, model, device
