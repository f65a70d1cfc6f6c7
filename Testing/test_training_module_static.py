"""Static checks of the LesionGANTraining module: the .ui and the widget agree, files compile, qt/ctk
stay in the widget file, the CMake lists name every file, the icon is 128 px."""

from __future__ import annotations

import slicer_static as static

MODULE = static.moduleFolder("LesionGANTraining")
WIDGET_FILE = MODULE / "LesionGANTraining.py"
UI_FILE = MODULE / "Resources" / "UI" / "LesionGANTraining.ui"


def test_every_ui_name_the_widget_uses_exists():
    used = static.uiNamesUsed(WIDGET_FILE)
    assert {"startButton", "stopButton", "resumeButton", "progressBar", "sampleLabel", "useModelButton"} <= used
    missing = static.uiNamesMissing(WIDGET_FILE, UI_FILE)
    assert not missing, f"the widget uses {sorted(missing)}, which {UI_FILE.name} does not define"


def test_ui_uses_only_qt_ctk_and_slicer_widgets_and_folder_pickers():
    widgets = static.uiWidgets(UI_FILE)
    assert not static.disallowedWidgetClasses(UI_FILE)
    for name in ("dataPathLineEdit", "outputPathLineEdit"):
        assert widgets[name].get("class") == "ctkPathLineEdit"
        filters = [p.findtext("set") for p in widgets[name].iter("property") if p.get("name") == "filters"]
        assert filters == ["ctkPathLineEdit::Dirs"], f"{name} must pick folders"
    devices = [item.findtext("property/string") for item in widgets["deviceComboBox"].iter("item")]
    assert devices == ["auto", "cpu", "cuda"]  # the choices of `lesiongan train --device`


test_module_file_compiles = static.compileTest(MODULE)


def test_only_the_widget_file_imports_qt_ctk_or_vtk():
    assert {"qt", "slicer"} <= static.importedModules(WIDGET_FILE)
    assert not static.libraryFilesImporting(MODULE, {"qt", "ctk", "vtk"})


def test_cmake_lists_every_script_and_resource_and_the_self_test():
    assert "class LesionGANTrainingTest(ScriptedLoadableModuleTest)" in WIDGET_FILE.read_text(encoding="utf-8")
    assert not static.cmakeProblems(MODULE)


def test_icon_is_128_pixels():
    assert static.iconSize(MODULE) == (128, 128)
