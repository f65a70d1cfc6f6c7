"""Look-alikes of `slicer.ScriptedLoadableModule` and `slicer.i18n`: what a scripted module's
classes get from Slicer, as far as the LesionGAN modules use it."""

from __future__ import annotations

import os
import sys
import types
import unittest


def tr(text: str) -> str:
    return text


def translate(context: str, text: str) -> str:
    return text


i18n = types.ModuleType("slicer.i18n")
i18n.tr, i18n.translate = tr, translate


class ModuleParent:
    """What Slicer passes as `parent` to a module class (a qSlicerScriptedLoadableModule)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.title = ""
        self.categories: list[str] = []
        self.dependencies: list[str] = []
        self.contributors: list[str] = []
        self.helpText = ""
        self.acknowledgementText = ""
        self.icon = None
        self.isEntered = False


class ScriptedLoadableModule:
    def __init__(self, parent) -> None:
        self.parent = parent
        self.moduleName = type(self).__name__
        parent.title = ""
        parent.categories = []
        parent.dependencies = []
        import qt

        iconPath = os.path.join(os.path.dirname(parent.path), "Resources", "Icons", self.moduleName + ".png")
        if os.path.isfile(iconPath):
            parent.icon = qt.QIcon(iconPath)

    def resourcePath(self, filename: str) -> str:
        return os.path.join(os.path.dirname(self.parent.path), "Resources", filename)


class ScriptedLoadableModuleWidget:
    def __init__(self, parent=None) -> None:
        import qt
        import slicer

        super().__init__()
        self.moduleName = type(self).__name__.removesuffix("Widget")
        self.developerMode = False
        if parent is None:
            parent = slicer.qMRMLWidget()
            parent.setLayout(qt.QVBoxLayout())
            parent.setMRMLScene(slicer.mrmlScene)
        self.parent = parent
        self.layout = parent.layout()

    def resourcePath(self, filename: str) -> str:
        modulePath = sys.modules[type(self).__module__].__file__
        return os.path.join(os.path.dirname(modulePath), "Resources", filename)

    def setup(self) -> None:
        """Slicer adds its Reload & Test section here in developer mode only."""

    def cleanup(self) -> None:
        pass

    def enter(self) -> None:
        pass

    def exit(self) -> None:
        pass


class ScriptedLoadableModuleLogic:
    def __init__(self, parent=None) -> None:
        super().__init__()
        self.moduleName = type(self).__name__.removesuffix("Logic")
        self.isSingletonParameterNode = True

    def getParameterNode(self):
        import slicer

        node = slicer.mrmlScene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = slicer.mrmlScene.AddNode(self.createParameterNode())
        elif node.GetAttribute("ModuleName") != self.moduleName:
            node.SetAttribute("ModuleName", self.moduleName)
        return node

    def createParameterNode(self):
        import slicer

        node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
        node.UnRegister(None)
        node.SetSingletonTag(self.moduleName)
        node.SetName(slicer.mrmlScene.GenerateUniqueName(self.moduleName))
        node.SetAttribute("ModuleName", self.moduleName)
        return node


class ScriptedLoadableModuleTest(unittest.TestCase):
    def delayDisplay(self, message: str, msec: int = 1000) -> None:
        pass


module = types.ModuleType("slicer.ScriptedLoadableModule")
for _name in ("ScriptedLoadableModule", "ScriptedLoadableModuleWidget", "ScriptedLoadableModuleLogic",
              "ScriptedLoadableModuleTest"):
    setattr(module, _name, globals()[_name])
