"""Look-alikes of the CTK and MRML widgets the LesionGAN panels use, on real MRML.

Each has the properties, methods and signals (by their C++ signatures) of the Slicer widget
that the panels and Slicer's own Python use, and nothing else: anything more raises. They
draw as plain Qt widgets (for the panel screenshots). The MRML side is real: node lists
come from the scene, painting writes into the segmentation through Slicer's segmentation logic.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import vtk
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Property, Signal

from .pythonqt import PythonQtStyle

dialogs: list[dict] = []  # every message box shown: {"text", "detailedText", "windowTitle"}


def designerValue(owner: type, element: ET.Element):
    """The value of a .ui <property> child element."""
    tag, text = element.tag, element.text or ""
    if tag == "string":
        return text
    if tag == "bool":
        return text == "true"
    if tag == "double":
        return float(text)
    if tag == "number":
        return int(text)
    if tag == "stringlist":
        return [item.text or "" for item in element.findall("string")]
    if tag in ("set", "enum"):
        value = 0
        for flag in text.split("|"):
            className, _, name = flag.strip().partition("::")
            if className != owner.__name__:
                raise AssertionError(f"{flag} is not a value of {owner.__name__}")
            value |= int(getattr(owner, name))
        return value
    raise AssertionError(f"no reader for .ui property values of type <{tag}>")


class LookAlike(PythonQtStyle):
    def setDesignerProperty(self, name: str, element: ET.Element) -> None:
        setattr(self, name, designerValue(type(self), element))


# ---------------------------------------------------------------- CTK
class ctkCollapsibleButton(LookAlike, QtWidgets.QGroupBox):
    """A titled box whose contents hide when collapsed."""

    contentsCollapsed = Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._collapsed = False
        self._text = ""

    def _showTitle(self) -> None:  # CTK draws an arrow: right when collapsed, down when open
        QtWidgets.QGroupBox.setTitle(self, ("\u25b8 " if self._collapsed else "\u25be ") + self._text)

    def _getText(self) -> str:
        return self._text

    def _setText(self, text: str) -> None:
        self._text = text
        self._showTitle()

    def _getCollapsed(self) -> bool:
        return self._collapsed

    def _setCollapsed(self, collapsed: bool) -> None:
        self._collapsed = bool(collapsed)
        for child in self.findChildren(QtWidgets.QWidget, options=QtCore.Qt.FindDirectChildrenOnly):
            child.setVisible(not self._collapsed)
        self._showTitle()
        self.contentsCollapsed.emit(self._collapsed)

    text = Property(str, _getText, _setText)
    collapsed = Property(bool, _getCollapsed, _setCollapsed)


class ctkSliderWidget(LookAlike, QtWidgets.QWidget):
    """A slider with a spin box; `value` is a double."""

    valueChanged = Signal(float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._spinBox = QtWidgets.QDoubleSpinBox(self)
        self._slider = QtWidgets.QSlider(QtCore.Qt.Horizontal, self)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._slider, 1)
        layout.addWidget(self._spinBox)
        self._pageStep = 1.0
        self._spinBox.valueChanged.connect(self._onSpinBox)
        self._slider.valueChanged.connect(self._onSlider)

    def _steps(self) -> int:
        step = self._spinBox.singleStep() or 1.0
        return max(1, round((self._spinBox.maximum() - self._spinBox.minimum()) / step))

    def _syncSlider(self) -> None:
        span = self._spinBox.maximum() - self._spinBox.minimum()
        self._slider.blockSignals(True)
        self._slider.setRange(0, self._steps())
        fraction = 0.0 if span <= 0 else (self._spinBox.value() - self._spinBox.minimum()) / span
        self._slider.setValue(round(fraction * self._steps()))
        self._slider.blockSignals(False)

    def _onSpinBox(self, value: float) -> None:
        self._syncSlider()
        self.valueChanged.emit(value)

    def _onSlider(self, position: int) -> None:
        self._spinBox.setValue(self._spinBox.minimum() + position * (self._spinBox.singleStep() or 1.0))

    def _getValue(self) -> float:
        return self._spinBox.value()

    def _setValue(self, value: float) -> None:
        self._spinBox.setValue(value)

    def _getMinimum(self) -> float:
        return self._spinBox.minimum()

    def _setMinimum(self, value: float) -> None:
        self._spinBox.setMinimum(value)
        self._syncSlider()

    def _getMaximum(self) -> float:
        return self._spinBox.maximum()

    def _setMaximum(self, value: float) -> None:
        self._spinBox.setMaximum(value)
        self._syncSlider()

    def _getSingleStep(self) -> float:
        return self._spinBox.singleStep()

    def _setSingleStep(self, value: float) -> None:
        self._spinBox.setSingleStep(value)
        self._syncSlider()

    def _getPageStep(self) -> float:
        return self._pageStep

    def _setPageStep(self, value: float) -> None:
        self._pageStep = value

    def _getDecimals(self) -> int:
        return self._spinBox.decimals()

    def _setDecimals(self, value: int) -> None:
        self._spinBox.setDecimals(value)

    def _getSuffix(self) -> str:
        return self._spinBox.suffix()

    def _setSuffix(self, value: str) -> None:
        self._spinBox.setSuffix(value)

    value = Property(float, _getValue, _setValue)
    minimum = Property(float, _getMinimum, _setMinimum)
    maximum = Property(float, _getMaximum, _setMaximum)
    singleStep = Property(float, _getSingleStep, _setSingleStep)
    pageStep = Property(float, _getPageStep, _setPageStep)
    decimals = Property(int, _getDecimals, _setDecimals)
    suffix = Property(str, _getSuffix, _setSuffix)


class ctkPathLineEdit(LookAlike, QtWidgets.QWidget):
    """A path field. Like CTK's, it reports `currentPathChanged(QString)` whenever its text
    becomes a path its filters accept: on every keystroke that makes one (see `typeText`)."""

    # ctkPathLineEdit::Filter (the values of QDir::Filter)
    Dirs, Files, Drives, NoSymLinks = 0x001, 0x002, 0x004, 0x008
    Readable, Writable, Executable = 0x010, 0x020, 0x040

    currentPathChanged = Signal(str)
    validInputChanged = Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._lineEdit = QtWidgets.QLineEdit(self)
        self._browse = QtWidgets.QToolButton(self)
        self._browse.setText("...")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._lineEdit, 1)
        layout.addWidget(self._browse)
        self._filters = self.Files | self.Dirs | self.Drives | self.Readable
        self._lineEdit.textChanged.connect(self._onText)

    def _accepts(self, path: str) -> bool:
        import os

        if not path:
            return False
        if self._filters & self.Dirs and os.path.isdir(path):
            return True
        return bool(self._filters & self.Files) and os.path.isfile(path)

    def _onText(self, text: str) -> None:
        if self._accepts(text):
            self.currentPathChanged.emit(text)

    def typeText(self, text: str) -> None:
        """What typing `text` at the end of the field does, one key at a time."""
        for character in text:
            self._lineEdit.setText(self._lineEdit.text() + character)

    def _getCurrentPath(self) -> str:
        return self._lineEdit.text()

    def _setCurrentPath(self, path: str) -> None:
        self._lineEdit.setText(path)

    def _getFilters(self) -> int:
        return self._filters

    def _setFilters(self, value: int) -> None:
        self._filters = int(value)

    currentPath = Property(str, _getCurrentPath, _setCurrentPath)
    filters = Property(int, _getFilters, _setFilters)


class ctkMessageBox(LookAlike, QtWidgets.QMessageBox):
    """Records what it would show; `exec_` answers OK without waiting for a user."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)

    def exec_(self) -> int:
        dialogs.append({"text": self.text, "detailedText": self.detailedText, "windowTitle": self.windowTitle})
        return int(QtWidgets.QMessageBox.Ok.value)

    exec = exec_


# ---------------------------------------------------------------- MRML widgets
class qMRMLWidget(LookAlike, QtWidgets.QWidget):
    mrmlSceneChanged = Signal(object)
    CPP_SIGNALS = {"mrmlSceneChanged(vtkMRMLScene*)": "mrmlSceneChanged"}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._scene = None

    def setMRMLScene(self, scene) -> None:
        self._scene = scene
        self.mrmlSceneChanged.emit(scene)

    def mrmlScene(self):
        return self._scene


class qSlicerScriptedLoadableModuleWidget(qMRMLWidget):
    """The panel Slicer gives a scripted module's widget as `parent`."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._entered = False

    def _getEntered(self) -> bool:
        return self._entered

    isEntered = Property(bool, _getEntered)


class qMRMLNodeComboBox(LookAlike, QtWidgets.QWidget):
    """The nodes of `nodeTypes` in the scene, kept up to date as nodes come and go."""

    currentNodeChanged = Signal(object)
    currentNodeChangedBool = Signal(bool)
    currentNodeIDChanged = Signal(str)
    nodeAdded = Signal(object)
    CPP_SIGNALS = {"currentNodeChanged(vtkMRMLNode*)": "currentNodeChanged",
                   "currentNodeChanged(bool)": "currentNodeChangedBool",
                   "nodeAdded(vtkMRMLNode*)": "nodeAdded"}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._combo = QtWidgets.QComboBox(self)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._combo)
        self._scene = None
        self._observations: list[int] = []
        self._nodeTypes: list[str] = []
        self._noneEnabled = False
        self._addEnabled = True
        self._removeEnabled = True
        self._showChildNodeTypes = True
        self._nodes: list = []
        self._current = None
        self._combo.activated.connect(self._onActivated)

    # properties
    def _getNodeTypes(self) -> list:
        return list(self._nodeTypes)

    def _setNodeTypes(self, value: list) -> None:
        self._nodeTypes = list(value)
        self._refresh()

    def _getNoneEnabled(self) -> bool:
        return self._noneEnabled

    def _setNoneEnabled(self, value: bool) -> None:
        self._noneEnabled = bool(value)
        self._refresh()

    def _getAddEnabled(self) -> bool:
        return self._addEnabled

    def _setAddEnabled(self, value: bool) -> None:
        self._addEnabled = bool(value)

    def _getRemoveEnabled(self) -> bool:
        return self._removeEnabled

    def _setRemoveEnabled(self, value: bool) -> None:
        self._removeEnabled = bool(value)

    def _getShowChildNodeTypes(self) -> bool:
        return self._showChildNodeTypes

    def _setShowChildNodeTypes(self, value: bool) -> None:
        self._showChildNodeTypes = bool(value)
        self._refresh()

    def _getCurrentNodeID(self) -> str:
        return self._current.GetID() if self._current is not None else ""

    def _setCurrentNodeID(self, nodeID: str) -> None:
        self.setCurrentNodeID(nodeID)

    nodeTypes = Property("QStringList", _getNodeTypes, _setNodeTypes)
    noneEnabled = Property(bool, _getNoneEnabled, _setNoneEnabled)
    addEnabled = Property(bool, _getAddEnabled, _setAddEnabled)
    removeEnabled = Property(bool, _getRemoveEnabled, _setRemoveEnabled)
    showChildNodeTypes = Property(bool, _getShowChildNodeTypes, _setShowChildNodeTypes)
    currentNodeID = Property(str, _getCurrentNodeID, _setCurrentNodeID)

    # scene
    def setMRMLScene(self, scene) -> None:
        if self._scene is not None:
            for tag in self._observations:
                self._scene.RemoveObserver(tag)
        self._scene, self._observations = scene, []
        if scene is not None:
            for event in (scene.NodeAddedEvent, scene.NodeRemovedEvent, scene.EndCloseEvent):
                self._observations.append(scene.AddObserver(event, self._onSceneChanged))
        self._refresh()

    def mrmlScene(self):
        return self._scene

    def _onSceneChanged(self, caller, event) -> None:
        # Slicer's C++ combo box drops its observers in its destructor; a Python widget can be
        # emptied at interpreter exit before the scene it observes sends its last events.
        if getattr(self, "_scene", None) is not None:
            self._refresh()

    def _accepts(self, node) -> bool:
        if node.GetHideFromEditors() or not self._nodeTypes:
            return False
        if self._showChildNodeTypes:
            return any(node.IsA(nodeType) for nodeType in self._nodeTypes)
        return node.GetClassName() in self._nodeTypes

    def _refresh(self) -> None:
        scene = self._scene
        nodes = []
        if scene is not None:
            for index in range(scene.GetNumberOfNodes()):
                node = scene.GetNthNode(index)
                if self._accepts(node):
                    nodes.append(node)
        self._nodes = nodes
        self._combo.blockSignals(True)
        self._combo.clear()
        if self._noneEnabled:
            self._combo.addItem("None")
        for node in nodes:
            self._combo.addItem(node.GetName())
        self._combo.blockSignals(False)
        current = self._current if any(node is self._current for node in nodes) else None
        if current is None and not self._noneEnabled and nodes:
            current = nodes[0]  # as Slicer's: without "None" the first node is selected
        self._select(current, force=current is not self._current)

    def _select(self, node, force: bool = True) -> None:
        changed = node is not self._current
        self._current = node
        offset = 1 if self._noneEnabled else 0
        index = next((i for i, candidate in enumerate(self._nodes) if candidate is node), None)
        self._combo.setCurrentIndex(offset + index if index is not None else (0 if self._noneEnabled else -1))
        if changed or force:
            self.currentNodeChanged.emit(node)
            self.currentNodeChangedBool.emit(node is not None)
            self.currentNodeIDChanged.emit(node.GetID() if node is not None else "")

    def _onActivated(self, index: int) -> None:
        offset = 1 if self._noneEnabled else 0
        self._select(self._nodes[index - offset] if index >= offset else None)

    # API
    def currentNode(self):
        return self._current

    def setCurrentNode(self, node) -> None:
        if node is not None and not any(candidate is node for candidate in self._nodes):
            self._refresh()
        if node is not None and not any(candidate is node for candidate in self._nodes):
            raise AssertionError(f"{self.name}: {node.GetName()} is not a node this selector lists")
        if node is not self._current:
            self._select(node)

    def setCurrentNodeID(self, nodeID: str) -> None:
        self.setCurrentNode(self._scene.GetNodeByID(nodeID) if nodeID else None)

    def nodeCount(self) -> int:
        return len(self._nodes)

    def nodeFromIndex(self, index: int):
        return self._nodes[index]


class _PaintEffect:
    """The Paint effect as the editor widget's active effect: `paint(mask)` does what painting
    over the slice views does, adding the voxels of `mask` (on the source volume's grid) to
    the selected segment."""

    def __init__(self, editor: qMRMLSegmentEditorWidget) -> None:
        self.editor = editor

    def name(self) -> str:
        return "Paint"

    def paint(self, mask: np.ndarray) -> None:
        import slicer

        segmentation, volume = self.editor.segmentationNode(), self.editor.sourceVolumeNode()
        if segmentation is None or volume is None:
            raise AssertionError("painting needs a segmentation and a source volume")
        segmentId = self.editor.mrmlSegmentEditorNode().GetSelectedSegmentID() or \
            segmentation.GetSegmentation().GetNthSegmentID(0)
        scene = segmentation.GetScene()
        labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "paint stroke")
        try:
            matrix = vtk.vtkMatrix4x4()
            volume.GetIJKToRASMatrix(matrix)
            labelmap.SetIJKToRASMatrix(matrix)
            painted = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segmentId, volume) \
                if segmentation.GetSegmentation().GetSegment(segmentId).GetRepresentation("Binary labelmap") else None
            mask = mask.astype(np.uint8) if painted is None else np.maximum(painted, mask.astype(np.uint8))
            slicer.util.updateVolumeFromArray(labelmap, mask)
            segmentIds = vtk.vtkStringArray()
            segmentIds.InsertNextValue(segmentId)
            if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
                    labelmap, segmentation, segmentIds):
                raise AssertionError("painting into the segment failed")
        finally:
            scene.RemoveNode(labelmap)


class qMRMLSegmentEditorWidget(LookAlike, QtWidgets.QWidget):
    """The embedded Segment Editor: segmentation, source volume, the active effect (Paint),
    keyboard shortcuts and observations of the slice views."""

    EFFECTS = ("Paint", "Erase")
    shortcutsInstalled = False  # what exit() must undo, for the tests to see
    viewObservations = False

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._scene = None
        self._editorNode = None
        self._segmentation = None
        self._volume = None
        self._effect = None
        self.shortcutsInstalled = False
        self.viewObservations = False
        self._label = QtWidgets.QLabel("Segment Editor", self)
        buttons = QtWidgets.QHBoxLayout()
        for effect in ("Paint", "Draw", "Erase", "Threshold"):
            buttons.addWidget(QtWidgets.QToolButton(text=effect))
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._label)
        layout.addLayout(buttons)

    def setMRMLScene(self, scene) -> None:
        self._scene = scene

    def mrmlScene(self):
        return self._scene

    def setMRMLSegmentEditorNode(self, node) -> None:
        self._editorNode = node

    def mrmlSegmentEditorNode(self):
        return self._editorNode

    def setSegmentationNode(self, node) -> None:
        self._segmentation = node
        if self._editorNode is not None:
            self._editorNode.SetAndObserveSegmentationNode(node)

    def segmentationNode(self):
        return self._segmentation

    def setSourceVolumeNode(self, node) -> None:
        self._volume = node
        if self._editorNode is not None:
            self._editorNode.SetAndObserveSourceVolumeNode(node)

    def sourceVolumeNode(self):
        return self._volume

    def setActiveEffectByName(self, name: str) -> None:
        if name not in self.EFFECTS:
            raise AssertionError(f"no effect {name!r} in the look-alike editor")
        self.setActiveEffect(_PaintEffect(self))

    def setActiveEffect(self, effect) -> None:
        self._effect = effect
        if effect is not None:
            self.viewObservations = True  # an effect observes the slice views' events

    def activeEffect(self):
        return self._effect

    def installKeyboardShortcuts(self) -> None:
        self.shortcutsInstalled = True

    def uninstallKeyboardShortcuts(self) -> None:
        self.shortcutsInstalled = False

    def removeViewObservations(self) -> None:
        self.viewObservations = False

    def setupViewObservations(self) -> None:
        self.viewObservations = True


WIDGETS = (ctkCollapsibleButton, ctkSliderWidget, ctkPathLineEdit, qMRMLWidget, qMRMLNodeComboBox,
           qMRMLSegmentEditorWidget)
