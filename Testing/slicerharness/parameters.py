"""A look-alike of `slicer.parameterNodeWrapper`, for the parameter nodes the panels declare.

As Slicer's: a decorated class of annotated fields wraps a vtkMRMLScriptedModuleNode; values
live in the node (plain values as parameters, nodes as node references), a default is written
when a field is missing, validators (Choice, WithinRange, Minimum) raise ValueError, and
`connectGui` ties each widget with a `SlicerParameterName` property to its field both ways
(widget writes from the node are not signal-blocked, as in Slicer).
"""

from __future__ import annotations

import types
import typing

import vtk


class Choice:
    def __init__(self, choices) -> None:
        self.choices = list(choices)

    def validate(self, value) -> None:
        if value not in self.choices:
            raise ValueError(f"{value!r} is not one of {self.choices}")


class WithinRange:
    def __init__(self, minimum, maximum) -> None:
        self.minimum, self.maximum = minimum, maximum

    def validate(self, value) -> None:
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"{value!r} is not within [{self.minimum}, {self.maximum}]")


class Minimum:
    def __init__(self, minimum) -> None:
        self.minimum = minimum

    def validate(self, value) -> None:
        if value < self.minimum:
            raise ValueError(f"{value!r} is less than {self.minimum}")


def _isNodeType(kind) -> bool:
    return isinstance(kind, type) and kind.__name__.startswith("vtkMRML")


class _Field:
    def __init__(self, name: str, hint, default) -> None:
        self.name = name
        self.kind, self.validators = hint, []
        if typing.get_origin(hint) is typing.Annotated:
            self.kind, *self.validators = typing.get_args(hint)
        self.default = default

    def read(self, node):
        if _isNodeType(self.kind):
            return node.GetNodeReference(self.name)
        text = node.GetParameter(self.name)
        if self.kind is bool:
            return text == "True"
        return self.kind(text)

    def write(self, node, value) -> None:
        if _isNodeType(self.kind):
            if value is not None and not value.IsA(self.kind.__name__):
                raise ValueError(f"{self.name}: {value.GetClassName()} is not a {self.kind.__name__}")
            node.SetNodeReferenceID(self.name, value.GetID() if value is not None else None)
            return
        value = self.kind(value)
        for validator in self.validators:
            validator.validate(value)
        node.SetParameter(self.name, str(value))


class _Connector:
    """One widget tied to one field."""

    def __init__(self, widget, field: _Field) -> None:
        import qt
        import slicer

        import ctk

        self.widget = widget
        kinds = [(qt.QCheckBox, "checked", "toggled(bool)"), (qt.QSpinBox, "value", "valueChanged(int)"),
                 (qt.QDoubleSpinBox, "value", "valueChanged(double)"),
                 (ctk.ctkSliderWidget, "value", "valueChanged(double)"),
                 (qt.QLineEdit, "text", "textChanged(QString)"),
                 (ctk.ctkPathLineEdit, "currentPath", "currentPathChanged(QString)"),
                 (slicer.qMRMLNodeComboBox, None, "currentNodeChanged(vtkMRMLNode*)"),
                 (qt.QComboBox, None, "currentIndexChanged(int)")]
        for widgetClass, self.property, self.signal in kinds:
            if isinstance(widget, widgetClass):
                break
        else:
            raise RuntimeError(f"no GUI connector for {type(widget).__name__} ({field.name})")
        self.choices = None
        if isinstance(widget, qt.QComboBox):
            choice = next((v for v in field.validators if isinstance(v, Choice)), None)
            if choice is None:
                raise RuntimeError(f"{field.name}: a QComboBox needs the Choice annotation")
            self.choices = choice.choices
            widget.clear()
            for value in self.choices:
                widget.addItem(str(value))

    def read(self):
        if self.choices is not None:
            return self.choices[self.widget.currentIndex]
        if self.property is None:
            return self.widget.currentNode()
        return getattr(self.widget, self.property)

    def write(self, value) -> None:
        if self.choices is not None:
            self.widget.currentIndex = self.choices.index(value)
        elif self.property is None:
            self.widget.setCurrentNode(value)
        else:
            setattr(self.widget, self.property, value)


def parameterNodeWrapper(cls):
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {name: _Field(name, hint, cls.__dict__.get(name)) for name, hint in hints.items()}

    class Wrapper:
        __name__ = cls.__name__
        __qualname__ = cls.__qualname__

        def __init__(self, parameterNode) -> None:
            object.__setattr__(self, "parameterNode", parameterNode)
            object.__setattr__(self, "_guis", {})
            object.__setattr__(self, "_updating", False)
            with_defaults = [f for f in fields.values() if not _isNodeType(f.kind)
                             and not parameterNode.GetParameterNames().count(f.name)]
            for field in with_defaults:
                default = field.default if field.default is not None else field.kind()
                field.write(parameterNode, default)

        def __getattr__(self, name):
            if name in fields:
                return fields[name].read(self.parameterNode)
            raise AttributeError(f"{cls.__name__} has no parameter {name!r}")

        def __setattr__(self, name, value) -> None:
            if name not in fields:
                raise AttributeError(f"{cls.__name__} has no parameter {name!r}")
            fields[name].write(self.parameterNode, value)

        # the parameter node's own methods that Slicer's wrapper passes through
        def AddObserver(self, *arguments):
            return self.parameterNode.AddObserver(*arguments)

        def RemoveObserver(self, tag):
            return self.parameterNode.RemoveObserver(tag)

        def StartModify(self):
            return self.parameterNode.StartModify()

        def EndModify(self, wasModifying):
            return self.parameterNode.EndModify(wasModifying)

        def connectGui(self, gui) -> int:
            widgets = {}
            for widget in vars(gui).values():
                name = widget.property("SlicerParameterName") if hasattr(widget, "property") else None
                if name:
                    if name not in fields:
                        raise AttributeError(f"widget {widget.name} names {name!r}, "
                                             f"which {cls.__name__} does not have")
                    widgets[name] = _Connector(widget, fields[name])
            tag = len(self._guis) + 1
            while tag in self._guis:
                tag += 1
            for name, connector in widgets.items():
                connector.write(getattr(self, name))
                connector.widget.connect(connector.signal, self._guiChanged(name, connector))
            observer = self.parameterNode.AddObserver(vtk.vtkCommand.ModifiedEvent, lambda *a: self._updateGui())
            self._guis[tag] = (widgets, observer)
            return tag

        def _guiChanged(self, name, connector):
            def changed():
                if not self._updating and tag_alive():
                    setattr(self, name, connector.read())

            def tag_alive():
                return any(connector is c for widgets, _ in self._guis.values() for c in widgets.values())

            return changed

        def _updateGui(self) -> None:
            if self._updating:
                return
            object.__setattr__(self, "_updating", True)
            try:
                for widgets, _ in list(self._guis.values()):
                    for name, connector in widgets.items():
                        connector.write(getattr(self, name))
            finally:
                object.__setattr__(self, "_updating", False)

        def disconnectGui(self, tag) -> None:
            widgets, observer = self._guis.pop(tag, ({}, None))
            if observer is not None:
                self.parameterNode.RemoveObserver(observer)

    return Wrapper


module = types.ModuleType("slicer.parameterNodeWrapper")
for _name in ("parameterNodeWrapper", "Choice", "WithinRange", "Minimum"):
    setattr(module, _name, globals()[_name])
