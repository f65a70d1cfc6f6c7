"""Static checks of the PseudoHealthy module: the .ui and the widget agree, files compile,
qt/ctk stay in the widget file and LesionGANLib.widgets, and the CMake lists name every file."""

from __future__ import annotations

import pytest
import slicer_static as static

MODULE = static.moduleFolder("PseudoHealthy")
WIDGET_FILE = MODULE / "PseudoHealthy.py"
UI_FILE = MODULE / "Resources" / "UI" / "PseudoHealthy.ui"
SHARED_WIDGETS = static.SHARED_WIDGETS_FILE


def test_every_ui_name_the_widget_uses_exists():
    assert static.uiNamesUsed(WIDGET_FILE), "the widget uses no ui element: the check would be empty"
    missing = static.uiNamesMissing(WIDGET_FILE, UI_FILE)
    assert not missing, f"the widget uses {sorted(missing)}, which {UI_FILE.name} does not define"


@pytest.mark.parametrize("module", ["PseudoHealthy", "LesionSynthesis"])
def test_every_ui_name_the_shared_model_panel_uses_exists(module):
    """The panels built on LesionGANLib.widgets.ModelPanelWidget have the elements it drives."""
    assert "(ModelPanelWidget)" in (static.moduleFolder(module) / f"{module}.py").read_text(encoding="utf-8")
    used = static.uiNamesUsed(SHARED_WIDGETS)
    assert {"modelComboBox", "progressBar", "statusLabel"} <= used
    uiFile = static.moduleFolder(module) / "Resources" / "UI" / f"{module}.ui"
    missing = static.uiNamesMissing(SHARED_WIDGETS, uiFile)
    assert not missing, f"LesionGANLib.widgets uses {sorted(missing)}, which {uiFile.name} does not define"


def test_ui_uses_only_qt_ctk_and_slicer_widgets():
    classes = {widget.get("class") for widget in static.uiWidgets(UI_FILE).values()}
    assert "qMRMLNodeComboBox" in classes and "ctkSliderWidget" in classes
    assert not static.disallowedWidgetClasses(UI_FILE)
    # each parameter-linked widget names a field of the parameter node
    parameterNames, fields = static.parameterNames(UI_FILE), static.parameterNodeFields(WIDGET_FILE)
    assert parameterNames and parameterNames <= fields, parameterNames - fields


test_module_file_compiles = static.compileTest(MODULE)


def test_only_the_widget_file_and_shared_widgets_import_qt_or_ctk():
    assert {"slicer", "LesionGANLib"} <= static.importedModules(WIDGET_FILE)
    assert {"qt", "slicer"} <= static.importedModules(SHARED_WIDGETS)
    assert not static.libraryFilesImporting(MODULE, {"qt", "ctk"})
    shared = [path for path in static.pythonFiles(static.SHARED_PACKAGE) if path != SHARED_WIDGETS]
    assert shared and not [path.name for path in shared if {"qt", "ctk"} & static.importedModules(path)]


def test_cmake_lists_every_script_and_resource():
    assert not static.cmakeProblems(MODULE)


def test_icon_is_128_pixels():
    assert static.iconSize(MODULE) == (128, 128)
