"""A `qt` module as Slicer's Python has it (PythonQt), made from PySide6.

Every QObject class of QtCore, QtGui and QtWidgets is replaced by a subclass that behaves
the PythonQt way (see `pythonqt.PythonQtStyle`); the rest (QPixmap, QByteArray, Qt enums)
is PySide6's own. `QUiLoader` builds .ui files with these classes and with the look-alike
CTK and MRML widgets, and `QFileDialog` answers from a queue that a test fills (a test has
no user to pick a file).
"""

from __future__ import annotations

import types
import xml.etree.ElementTree as ET
from collections import deque

from PySide6 import QtCore, QtGui, QtUiTools, QtWidgets

from . import pythonqt
from .pythonqt import PythonQtStyle


def _styled(cls: type) -> type:
    return type(cls.__name__, (PythonQtStyle, cls), {"__module__": "qt"})


def build() -> types.ModuleType:
    qt = types.ModuleType("qt", "PythonQt's qt module, built on PySide6 for tests")
    for source in (QtCore, QtGui, QtWidgets):
        for name in dir(source):
            if name.startswith("_"):
                continue
            value = getattr(source, name)
            if isinstance(value, type) and issubclass(value, QtCore.QObject):
                value = _styled(value)
            setattr(qt, name, value)
    qt.QFileDialog = _fileDialogClass(qt.QFileDialog)
    qt.QUiLoader = UiLoader
    qt.SIGNAL = None  # PythonQt has no SIGNAL(): connections go through obj.connect("sig(args)", slot)
    del qt.SIGNAL
    return qt


# ---------------------------------------------------------------- file dialogs
fileDialogAnswers: deque[str] = deque()  # what the next getOpenFileName/getSaveFileName returns


def _fileDialogClass(base: type) -> type:
    def answer(*arguments, **keywords) -> str:
        if not fileDialogAnswers:
            raise AssertionError(f"a file dialog opened with no answer queued: {arguments[1:2]}")
        return fileDialogAnswers.popleft()

    # PythonQt returns the chosen path (a str), PySide6 a (path, filter) pair.
    return type("QFileDialog", (base,), {
        "getOpenFileName": staticmethod(answer),
        "getSaveFileName": staticmethod(answer),
        "getExistingDirectory": staticmethod(answer),
        "__module__": "qt",
    })


# ---------------------------------------------------------------- .ui files
widgetClasses: dict[str, type] = {}  # class name in .ui files -> class to build (filled by install)


class UiLoader:
    """`qt.QUiLoader().load(qfile)`: the .ui's widgets as PythonQt-style objects. Properties
    of look-alike widgets are set by the widget itself (`setDesignerProperty`, which raises on
    a property it does not have), and the .ui's signal/slot connections go through PythonQt's
    `connect` (so a C++ signature the look-alike lacks raises)."""

    def load(self, qfile) -> QtWidgets.QWidget:
        qfile.seek(0)
        root = ET.fromstring(bytes(qfile.readAll().data()))
        lookAlikeProperties: dict[str, list[ET.Element]] = {}
        for widget in root.iter("widget"):
            className = widget.get("class")
            if className not in widgetClasses:
                raise AssertionError(f"no class {className} for widget {widget.get('name')} in the .ui")
            if hasattr(widgetClasses[className], "setDesignerProperty"):
                properties = [p for p in widget.findall("property") if p.get("stdset") != "0"]
                for prop in properties:
                    widget.remove(prop)
                lookAlikeProperties[widget.get("name")] = properties
        connections = root.find("connections")
        if connections is not None:
            root.remove(connections)
        for custom in root.findall("customwidgets"):
            root.remove(custom)
        loader = _Loader()
        data = QtCore.QByteArray(ET.tostring(root))
        buffer = QtCore.QBuffer(data)
        buffer.open(QtCore.QIODevice.ReadOnly)
        pythonqt.loading[0] = True
        try:
            top = loader.load(buffer)
        finally:
            pythonqt.loading[0] = False
        if top is not None:
            top.__dict__.clear()  # the children QUiLoader set as attributes
        if top is None:
            raise RuntimeError(f"QUiLoader failed: {loader.errorString()}")
        named = {QtCore.QObject.objectName(child): child for child in top.findChildren(QtCore.QObject)}
        named[QtCore.QObject.objectName(top)] = top
        for name, properties in lookAlikeProperties.items():
            for prop in properties:
                named[name].setDesignerProperty(prop.get("name"), prop[0])
        for connection in (connections if connections is not None else []):
            sender, receiver = named[connection.findtext("sender")], named[connection.findtext("receiver")]
            slot = connection.findtext("slot")
            sender.connect(connection.findtext("signal"), getattr(receiver, slot.split("(")[0]))
        return top


class _Loader(QtUiTools.QUiLoader):
    def createWidget(self, className, parent=None, name=""):
        widget = widgetClasses[className](parent)
        widget.setObjectName(name)
        return widget
