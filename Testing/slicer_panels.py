"""The LesionGAN panels run by their real widget classes on real MRML (see `slicerharness`):
a fixture that sets up the application and helpers that act as the user would."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

import slicerharness
from slicer_scene import SlicerScene

HARNESS_HOME = tempfile.mkdtemp(prefix="slicer-home-")
harness = slicerharness.install(HARNESS_HOME)
qt = harness.qt


class Panel:
    """A module's panel as Slicer shows it: module object, parent panel, widget, entered or not."""

    def __init__(self, name: str, logic=None) -> None:
        import slicer

        self.moduleFile, self.moduleParent = slicerharness.loadModule(name)
        self.parent = slicer.qSlicerScriptedLoadableModuleWidget()
        self.parent.setLayout(qt.QVBoxLayout())
        self.parent.setMRMLScene(slicer.mrmlScene)
        self.widget = getattr(self.moduleFile, f"{name}Widget")(self.parent, logic=logic)
        self.widget.setup()
        self.ui = self.widget.ui
        slicerharness.registerPanel(name, self.widget)

    def enter(self) -> None:
        self.parent._entered = True
        self.widget.enter()

    def exit(self) -> None:
        self.widget.exit()
        self.parent._entered = False

    def close(self) -> None:
        import slicer

        if self.parent._entered:
            self.exit()
        self.widget.cleanup()
        # Slicer's widgets stop observing the scene when they are destroyed; these look-alikes
        # are told to before the panel goes.
        for selector in self.parent.findChildren(slicer.qMRMLNodeComboBox):
            selector.setMRMLScene(None)
        self.parent.deleteLater()


def choose(comboBox, text: str) -> None:
    """Pick the item `text` as a user does (which emits `activated`)."""
    index = comboBox.findText(text)
    assert index >= 0, f"{text!r} is not in {[comboBox.itemText(i) for i in range(comboBox.count)]}"
    comboBox.currentIndex = index
    comboBox.activated.emit(index)


def click(button) -> None:
    assert button.enabled, f"{button.name} ({button.text}) is disabled"
    button.click()


def takeDialogs() -> list[dict]:
    shown = list(harness.dialogs)
    harness.dialogs.clear()
    return shown


def takeSlotErrors() -> list[BaseException]:
    raised = list(harness.slotErrors)
    harness.slotErrors.clear()
    return raised


@pytest.fixture
def app(tmp_path, monkeypatch):
    """A fresh scene as the application's, model registry and settings of its own; at the end
    no slot may have raised and no dialog may be left unchecked."""
    monkeypatch.setenv("LESIONGAN_CACHE", str(tmp_path / "cache"))
    qt.QSettings().clear()
    scene = SlicerScene.create()
    slicerharness.useScene(scene)
    harness.dialogs.clear()
    harness.slotErrors.clear()
    harness.fileDialogAnswers.clear()
    panels: list[Panel] = []

    def openPanel(name: str, logic=None) -> Panel:
        panel = Panel(name, logic)
        panel.enter()
        panels.append(panel)
        return panel

    harness.scene = scene
    harness.openPanel = openPanel
    yield harness
    for panel in panels:
        panel.close()
    errors, dialogs = takeSlotErrors(), takeDialogs()
    scene.close()
    assert not errors, f"slots raised: {errors!r}"
    assert not dialogs, f"dialogs shown and not checked: {dialogs!r}"
    assert not harness.fileDialogAnswers, "file dialog answers left unused"


def removeHarnessHome() -> None:
    shutil.rmtree(HARNESS_HOME, ignore_errors=True)


os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
