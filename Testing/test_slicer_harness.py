"""The harness is strict where PythonQt and Slicer would let a mistake through unnoticed:
unknown attributes, properties and signals raise; and it behaves like PythonQt where the
panels depend on it (properties as attributes, connections by C++ signature, slot arity)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from slicer_panels import app, harness, qt  # noqa: F401  (fixture)


def test_unknown_attributes_properties_and_signals_raise(app):  # noqa: F811
    button = qt.QPushButton()
    with pytest.raises(AttributeError):
        button.txt  # noqa: B018  (a typo of text)
    with pytest.raises(AttributeError, match="no property or attribute 'enabeld'"):
        button.enabeld = False
    with pytest.raises(AttributeError, match="has no signal clickd"):
        button.connect("clickd(bool)", lambda: None)
    with pytest.raises(AttributeError, match="read-only"):
        button.width = 3
    selector = harness.slicer.qMRMLNodeComboBox()
    with pytest.raises(AttributeError, match="has no signal currentNodeChanged"):
        selector.connect("currentNodeChanged(vtkMRMLVolumeNode*)", lambda node: None)
    slider = harness.ctk.ctkSliderWidget()
    with pytest.raises(AssertionError, match="no reader"):
        slider.setDesignerProperty("value", ET.fromstring("<rect><x>1</x></rect>"))
    with pytest.raises(AttributeError, match="tickInterval"):
        slider.setDesignerProperty("tickInterval", ET.fromstring("<number>3</number>"))


def test_pythonqt_ways_properties_connections_and_slot_arguments(app):  # noqa: F811
    button = qt.QPushButton()
    button.text = "Apply"
    button.name = "applyButton"
    assert (button.text, button.name, button.enabled) == ("Apply", "applyButton", True)
    calls = []
    button.checkable = True
    button.connect("toggled(bool)", lambda: calls.append("none"))  # takes no argument: gets none
    button.connect("toggled(bool)", lambda checked: calls.append(checked))
    button.click()
    assert calls == ["none", True]
    button.connect("clicked()", lambda: 1 / 0)
    button.click()
    (error,) = harness.slotErrors
    harness.slotErrors.clear()
    assert isinstance(error, ZeroDivisionError)  # kept for the test, as PythonQt prints it


def test_the_node_selector_follows_the_scene(app):  # noqa: F811
    scene = app.scene.scene
    selector = harness.slicer.qMRMLNodeComboBox()
    selector.nodeTypes = ["vtkMRMLScalarVolumeNode"]
    selector.showChildNodeTypes = False
    selector.setMRMLScene(scene)
    changes = []
    selector.connect("currentNodeChanged(vtkMRMLNode*)", changes.append)
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "A")
    scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "Labels")  # a child type: not listed
    assert selector.nodeCount() == 1 and selector.currentNode() is volume and changes == [volume]
    scene.RemoveNode(volume)
    assert selector.currentNode() is None and changes == [volume, None]
