"""The LesionSynthesis panel's own code, driven as a user drives it: paint a region in the
embedded Segment Editor and synthesize a lesion there, place random lesions, generate images,
take a few rounds of the Visual Turing Test (and the machine's), and leave the module."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import slicer
from scipy import ndimage

from slicer_panels import app, choose, click  # noqa: F401  (fixture)
from synthesis_support import brain_with_ventricles, write_noise_model, write_painting_model


@pytest.fixture
def panel(app, tmp_path):  # noqa: F811
    volume, _ = brain_with_ventricles()
    inputNode = app.scene.addVolume(volume, "Healthy_flair")
    panel = app.openPanel("LesionSynthesis")
    app.fileDialogAnswers.append(str(write_painting_model(tmp_path / "reconstructor.pt")))
    choose(panel.ui.modelComboBox, "Browse...")
    segmentation = app.scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Lesions")
    panel.ui.segmentationSelector.setCurrentNode(segmentation)
    panel.ui.inputSelector.setCurrentNode(inputNode)
    return panel, inputNode, volume, segmentation


def test_paint_a_region_then_synthesize_a_lesion_there(app, panel):  # noqa: F811
    panel, inputNode, volume, segmentation = panel
    editor = panel.ui.segmentEditorWidget
    assert editor.segmentationNode() is segmentation and editor.sourceVolumeNode() is inputNode
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 1  # "Lesion", ready to paint
    assert panel.widget._parameterNode.lesionSegmentation is segmentation and panel.ui.synthesizeButton.enabled
    editor.setActiveEffectByName("Paint")
    region = np.zeros(volume.shape, bool)
    region[4:6, 12:16, 10:14] = True
    editor.activeEffect().paint(region)
    before = slicer.util.arrayFromVolume(inputNode).copy()

    click(panel.ui.synthesizeButton)
    withLesion = app.scene.scene.GetFirstNodeByName("Healthy_flair with lesion")
    label = app.scene.scene.GetFirstNodeByName("Healthy_flair lesion")
    assert withLesion is not None and label is not None
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(label) > 0, region)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(inputNode), before)
    changed = slicer.util.arrayFromVolume(withLesion) != before
    distance = ndimage.distance_transform_edt(~region, sampling=volume.spacing[::-1])
    margin = panel.ui.blendMarginSliderWidget.value
    assert changed[region].any() and not changed[distance > margin + 1e-6].any()
    assert panel.ui.statusLabel.text == f"Made {withLesion.GetName()} and {label.GetName()}."
    red = app.scene.sliceLogics["Red"].GetSliceCompositeNode()
    assert red.GetBackgroundVolumeID() == withLesion.GetID() and red.GetLabelVolumeID() == label.GetID()


def test_leaving_the_module_deactivates_the_segment_editor(app, panel):  # noqa: F811
    panel, *_ = panel
    editor = panel.ui.segmentEditorWidget
    assert editor.shortcutsInstalled
    editor.setActiveEffectByName("Paint")
    assert editor.viewObservations
    panel.exit()
    assert editor.activeEffect() is None
    assert not editor.shortcutsInstalled and not editor.viewObservations
    panel.enter()
    assert editor.shortcutsInstalled and editor.activeEffect() is None


def test_random_lesions_images_and_the_turing_test(app, panel, tmp_path):  # noqa: F811
    panel, inputNode, volume, _ = panel
    ui = panel.ui
    ui.lesionCountSpinBox.value = 2
    ui.lesionRadiusSliderWidget.value = 3.0
    ui.lesionSeedSpinBox.value = 4
    click(ui.randomLesionsButton)
    labels = slicer.util.arrayFromVolume(app.scene.scene.GetFirstNodeByName("Healthy_flair lesion"))
    assert set(np.unique(labels)) == {0, 1, 2}

    assert not ui.sampleImagesButton.enabled  # no noise model yet
    ui.noiseModelPathLineEdit.currentPath = str(write_noise_model(tmp_path / "wgan.pt"))
    assert ui.sampleImagesButton.enabled
    ui.imageCountSpinBox.value = 6
    click(ui.sampleImagesButton)
    generated = panel.widget._parameterNode.turingSyntheticVolume
    assert generated is not None and slicer.util.arrayFromVolume(generated).shape == (6, 32, 32)
    assert ui.turingSyntheticSelector.currentNode() is generated
    assert ui.statusLabel.text == f"Generated 6 images in {generated.GetName()}."

    ui.turingRealSelector.setCurrentNode(inputNode)
    ui.turingCountSpinBox.value = 3
    click(ui.startTuringButton)
    assert ui.turingProgressLabel.text == "Image 1 of 6: real or synthetic?"
    assert not ui.turingImageLabel.pixmap.isNull()  # PythonQt: a property
    answers = 0
    while ui.turingRealButton.enabled:
        click(ui.turingRealButton if answers % 2 else ui.turingSyntheticButton)
        answers += 1
    assert answers == 6 and ui.turingProgressLabel.text == "Done."
    assert ui.turingResultLabel.text.startswith("Accuracy ")
    app.fileDialogAnswers.append(str(tmp_path / "turing.csv"))
    click(ui.saveTuringButton)
    with open(tmp_path / "turing.csv", newline="") as handle:
        assert len(list(csv.reader(handle))) == 7  # header + 6 answers
    assert (tmp_path / "turing.json").is_file()

    click(ui.machineTestButton)
    assert ui.turingResultLabel.text.startswith("Classifier two-sample test: ")
