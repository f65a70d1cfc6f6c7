"""PythonQt's way of talking to Qt objects, on PySide6 objects.

Slicer's Python sees Qt through PythonQt: Qt properties read and write as attributes
(`button.text = "Apply"`, `combo.count`), signals connect by their C++ signature
(`button.connect("clicked(bool)", slot)`), a slot gets only as many signal arguments as it
takes, and `objectName` is also `name`. `PythonQtStyle` gives a PySide6 class that behaviour,
and is stricter than PythonQt where PythonQt would hide a mistake: a name that is neither a
property nor an attribute raises on write as on read, and an unknown signal raises.
"""

from __future__ import annotations

import inspect
import traceback

from PySide6 import QtCore

# Exceptions raised inside slots: Qt cannot pass them to the code that emitted the signal (nor
# can PythonQt, which prints them), so they are kept here for the tests to check.
slotErrors: list[BaseException] = []
# True while PySide6's QUiLoader builds a .ui: it sets each child as an attribute of the top
# widget, which PythonQt does not do (the loader removes them afterwards).
loading = [False]
# Properties that are also virtual methods: Shiboken looks these up on the Python object to
# find overrides when Qt calls them (layouts do), so they stay methods here (in PythonQt
# `widget.sizeHint` is the property's QSize).
VIRTUAL_METHODS = {"sizeHint", "minimumSizeHint"}
# (object id, property) being read: a property whose getter is a virtual method (QProgressBar's
# text) makes Shiboken look the name up again while it is read; that lookup gets the method.
_reading: set[tuple[int, str]] = set()


def _positionalCount(slot) -> int | None:
    """How many positional arguments `slot` takes (None: any number)."""
    try:
        parameters = inspect.signature(slot).parameters.values()
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in parameters:
        if parameter.kind == parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def pythonQtSlot(slot):
    """`slot` called as PythonQt calls it: with the first arguments of the signal that it takes;
    an exception is printed (as PythonQt does) and recorded in `slotErrors`."""
    count = _positionalCount(slot)

    def call(*arguments):
        try:
            return slot(*(arguments if count is None else arguments[:count]))
        except BaseException as error:  # noqa: BLE001  (a slot's failure must not be lost)
            traceback.print_exc()
            slotErrors.append(error)
            return None

    call.wrapped = slot
    return call


class PythonQtStyle:
    """Mixin (first base) for a PySide6 QObject class. A class may map C++ signal signatures to
    its Python signals in `CPP_SIGNALS` (for signals with MRML arguments, say)."""

    CPP_SIGNALS: dict[str, str] = {}

    def __getattribute__(self, name: str):
        if not name.startswith("_") and name not in VIRTUAL_METHODS and (id(self), name) not in _reading:
            meta = QtCore.QObject.metaObject(self)
            index = meta.indexOfProperty(name)
            if index >= 0:
                _reading.add((id(self), name))
                try:
                    return meta.property(index).read(self)
                finally:
                    _reading.discard((id(self), name))
            if name == "name":
                return QtCore.QObject.objectName(self)
            if name == "connect":  # Shiboken would answer with QObject's static connect
                return PythonQtStyle.connect.__get__(self)
        return super().__getattribute__(name)

    def __setattr__(self, name: str, value) -> None:
        if not name.startswith("_"):
            meta = QtCore.QObject.metaObject(self)
            index = meta.indexOfProperty(name)
            if index >= 0:
                prop = meta.property(index)
                if not prop.isWritable():
                    raise AttributeError(f"{type(self).__name__}.{name} is a read-only Qt property")
                if not prop.write(self, value):
                    raise TypeError(f"{type(self).__name__}.{name} cannot be set to {value!r}")
                return
            if name == "name":
                QtCore.QObject.setObjectName(self, value)
                return
            if not hasattr(type(self), name) and not loading[0]:
                raise AttributeError(f"{type(self).__name__} has no property or attribute {name!r} to set")
        super().__setattr__(name, value)

    @classmethod
    def _cppSignals(cls) -> dict[str, str]:
        signals: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            signals.update(getattr(klass, "CPP_SIGNALS", {}))
        return signals

    def connect(self, signature: str, slot) -> None:
        """PythonQt's `obj.connect("signal(args)", callable)`."""
        normalized = bytes(QtCore.QMetaObject.normalizedSignature(signature).data()).decode()
        python = self._cppSignals().get(normalized)
        if python is not None:
            getattr(self, python).connect(pythonQtSlot(slot))
            return
        if QtCore.QObject.metaObject(self).indexOfSignal(normalized) < 0:
            raise AttributeError(f"{type(self).__name__} has no signal {signature}")
        QtCore.QObject.connect(self, QtCore.SIGNAL(normalized), pythonQtSlot(slot))
