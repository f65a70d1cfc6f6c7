"""Static checks of the LesionSynthesis module: the .ui and the widget agree, files compile,
qt/ctk stay in the widget file, and the CMake lists name every file."""

from __future__ import annotations

import slicer_static as static

MODULE = static.moduleFolder("LesionSynthesis")
WIDGET_FILE = MODULE / "LesionSynthesis.py"
UI_FILE = MODULE / "Resources" / "UI" / "LesionSynthesis.ui"


def test_every_ui_name_the_widget_uses_exists():
    assert static.uiNamesUsed(WIDGET_FILE), "the widget uses no ui element: the check would be empty"
    missing = static.uiNamesMissing(WIDGET_FILE, UI_FILE)
    assert not missing, f"the widget uses {sorted(missing)}, which {UI_FILE.name} does not define"


def test_ui_has_the_panel_sections_and_only_slicer_widgets():
    widgets = {name: widget.get("class") for name, widget in static.uiWidgets(UI_FILE).items()}
    assert widgets["segmentEditorWidget"] == "qMRMLSegmentEditorWidget"
    for section in ("inputs", "paint", "random", "images", "turing"):
        assert widgets[f"{section}CollapsibleButton"] == "ctkCollapsibleButton"
    assert not static.disallowedWidgetClasses(UI_FILE)
    shortcuts = {name: prop.find("string").text for name, widget in static.uiWidgets(UI_FILE).items()
                 for prop in widget.findall("property") if prop.get("name") == "shortcut"}
    assert shortcuts == {"turingRealButton": "R", "turingSyntheticButton": "S"}
    parameterNames, fields = static.parameterNames(UI_FILE), static.parameterNodeFields(WIDGET_FILE)
    assert parameterNames and parameterNames <= fields, parameterNames - fields


test_module_file_compiles = static.compileTest(MODULE)


def test_only_the_widget_file_imports_qt_or_ctk():
    assert {"qt", "slicer"} <= static.importedModules(WIDGET_FILE)
    assert not static.libraryFilesImporting(MODULE, {"qt", "ctk"})


def test_core_package_imports_no_slicer_or_qt():
    for path in sorted((static.REPO / "lesiongan" / "synthesis").glob("*.py")):
        assert not {"slicer", "qt", "ctk", "vtk"} & static.importedModules(path), f"{path} imports the application"


def test_cmake_lists_every_script_and_resource():
    assert not static.cmakeProblems(MODULE)


def test_icon_is_128_pixels():
    assert static.iconSize(MODULE) == (128, 128)
