"""A Slicer-like runtime for the LesionGAN panels' own code, outside Slicer.

`install()` puts in place what a scripted module finds in Slicer: a `qt` module (PySide6 in
PythonQt's manner, `qtmodule`), a `ctk` module and `slicer.qMRML*` widgets (look-alikes,
`lookalikes`), `slicer.ScriptedLoadableModule`, `slicer.i18n` and `slicer.parameterNodeWrapper`
(look-alikes), and an application (`slicer.app`, `slicer.mrmlScene`, `slicer.modules`) whose
scene, slice logics and module logics are real MRML from slicer-core (`Testing/slicer_scene.py`).
`slicer.util` is Slicer's own, from slicer-core. Qt runs offscreen.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtCore, QtWidgets  # noqa: E402

from . import lookalikes, parameters, pythonqt, qtmodule, scripted  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODULE_FOLDERS = ("PseudoHealthy", "LesionSynthesis", "LesionGANTraining")

_installed: dict = {}


class LayoutManager:
    """The slice views of `slicer.app.layoutManager()`: their real slice logics."""

    def __init__(self, sliceLogics: dict) -> None:
        self._sliceLogics = sliceLogics

    def sliceViewNames(self) -> list[str]:
        return list(self._sliceLogics)

    def sliceWidget(self, name: str):
        logic = self._sliceLogics[name]
        return types.SimpleNamespace(sliceLogic=lambda: logic, mrmlSliceNode=lambda: logic.GetSliceNode())

    def mrmlSliceLogics(self):
        import vtk

        collection = vtk.vtkCollection()
        for logic in self._sliceLogics.values():
            collection.AddItem(logic)
        return collection


class Application(QtCore.QObject):
    """`slicer.app`, as much of qSlicerApplication as the modules and slicer.util use."""

    applicationName = "3D Slicer"

    def __init__(self, qtApplication, mainWindow, slicerHome: str) -> None:
        super().__init__()
        self._qtApplication = qtApplication
        self._mainWindow = mainWindow
        self.slicerHome = slicerHome
        self.sliceLogics: dict = {}

    def testingEnabled(self) -> bool:
        return False  # dialogs go through ctkMessageBox, which records them

    def processEvents(self) -> None:
        self._qtApplication.processEvents()

    def setOverrideCursor(self, cursor) -> None:
        QtWidgets.QApplication.setOverrideCursor(cursor)

    def restoreOverrideCursor(self) -> None:
        QtWidgets.QApplication.restoreOverrideCursor()

    def topLevelWidgets(self) -> list:
        return [self._mainWindow]

    def layoutManager(self) -> LayoutManager:
        return LayoutManager(self.sliceLogics)

    def coreIOManager(self):
        return CoreIOManager()


class CoreIOManager:
    """`slicer.app.coreIOManager()` for `slicer.util.saveScene`: a scene file or a .mrb bundle."""

    def saveNodes(self, fileType: str, properties: dict, userMessages=None) -> bool:
        import slicer

        if fileType != "SceneFile":
            raise AssertionError(f"no {fileType} writer in the harness")
        fileName = str(properties["fileName"])
        if fileName.endswith(".mrb"):
            return bool(slicer.mrmlScene.WriteToMRB(fileName))
        slicer.mrmlScene.SetURL(fileName)
        return bool(slicer.mrmlScene.Commit())


def install(slicerHome: str) -> types.SimpleNamespace:
    """Make `import qt`, `import ctk` and the Slicer application parts work; once per process.
    `slicerHome` gets a bin/PythonSlicer (this Python), as a Slicer installation has."""
    if _installed:
        return _installed["harness"]
    qt = qtmodule.build()
    sys.modules["qt"] = qt
    ctk = types.ModuleType("ctk", "look-alike CTK widgets")
    for cls in (lookalikes.ctkCollapsibleButton, lookalikes.ctkSliderWidget, lookalikes.ctkPathLineEdit,
                lookalikes.ctkMessageBox):
        setattr(ctk, cls.__name__, cls)
    sys.modules["ctk"] = ctk
    qtmodule.widgetClasses.update({name: getattr(qt, name) for name in dir(qt)
                                   if isinstance(getattr(qt, name), type)
                                   and issubclass(getattr(qt, name), QtWidgets.QWidget)})
    qtmodule.widgetClasses.update({cls.__name__: cls for cls in lookalikes.WIDGETS})

    import slicer

    for name, module in (("ScriptedLoadableModule", scripted.module), ("i18n", scripted.i18n),
                         ("parameterNodeWrapper", parameters.module)):
        sys.modules[f"slicer.{name}"] = module
        setattr(slicer, name, module)
    for cls in (lookalikes.qMRMLWidget, lookalikes.qMRMLNodeComboBox, lookalikes.qMRMLSegmentEditorWidget,
                lookalikes.qSlicerScriptedLoadableModuleWidget):
        setattr(slicer, cls.__name__, cls)

    qtApplication = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["SlicerHarness"])
    settingsFolder = Path(slicerHome) / "settings"
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.IniFormat)
    QtCore.QSettings.setPath(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope, str(settingsFolder))
    qtApplication.setOrganizationName("LesionGANHarness")
    qtApplication.setApplicationName("Slicer")
    mainWindow = qt.QMainWindow()
    mainWindow.setObjectName("qSlicerMainWindow")
    binFolder = Path(slicerHome) / "bin"
    binFolder.mkdir(parents=True, exist_ok=True)
    pythonSlicer = binFolder / "PythonSlicer"
    if not pythonSlicer.exists():  # Slicer's PythonSlicer is a launcher of its Python, as this script is
        pythonSlicer.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        pythonSlicer.chmod(0o755)
    slicer.app = Application(qtApplication, mainWindow, str(slicerHome))
    harness = types.SimpleNamespace(qt=qt, ctk=ctk, slicer=slicer, app=slicer.app, dialogs=lookalikes.dialogs,
                                    slotErrors=pythonqt.slotErrors, fileDialogAnswers=qtmodule.fileDialogAnswers,
                                    mainWindow=mainWindow)
    _installed["harness"] = harness
    return harness


def useScene(sceneSetup) -> None:
    """Make `sceneSetup` (a `slicer_scene.SlicerScene`) the application's scene and logics."""
    import slicer

    slicer.mrmlScene = sceneSetup.scene
    slicer.app.sliceLogics = sceneSetup.sliceLogics
    plots = slicer.vtkSlicerPlotsLogic()
    plots.SetMRMLApplicationLogic(sceneSetup.applicationLogic)
    plots.SetMRMLScene(sceneSetup.scene)
    volumes = slicer.vtkSlicerVolumesLogic()
    volumes.SetMRMLApplicationLogic(sceneSetup.applicationLogic)
    volumes.SetMRMLScene(sceneSetup.scene)
    slicer.modules = types.SimpleNamespace(  # module panels register themselves (see `registerPanel`)
        plots=types.SimpleNamespace(logic=lambda: plots),
        volumes=types.SimpleNamespace(logic=lambda: volumes),
        segmentations=types.SimpleNamespace(logic=lambda: sceneSetup.segmentationsLogic),
    )


def loadModule(name: str):
    """Import module file `name` (as Slicer does at start-up) and make its module object."""
    import importlib

    for folder in (REPO, *(REPO / module for module in MODULE_FOLDERS)):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    moduleFile = importlib.import_module(name)
    parent = scripted.ModuleParent(moduleFile.__file__)
    getattr(moduleFile, name)(parent)
    return moduleFile, parent


def registerPanel(name: str, widget) -> None:
    """`slicer.modules.<name>.widgetRepresentation().self()` is `widget`, as in Slicer."""
    import slicer

    representation = types.SimpleNamespace(self=lambda: widget)
    setattr(slicer.modules, name.lower(), types.SimpleNamespace(widgetRepresentation=lambda: representation))
