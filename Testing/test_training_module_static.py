"""Static checks of the Training module: the .ui and the widget agree, files compile, qt/ctk
stay in the widget file, the CMake lists name every file, the icon is 128 px."""

from __future__ import annotations

import py_compile
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image
from test_pseudohealthy_static import ALLOWED_WIDGET_CLASS, _importedModules

MODULE = Path(__file__).resolve().parents[1] / "Training"
WIDGET_FILE = MODULE / "Training.py"
UI_FILE = MODULE / "Resources" / "UI" / "Training.ui"
PYTHON_FILES = sorted(MODULE.rglob("*.py"))


def uiWidgets() -> dict[str, ET.Element]:
    return {widget.get("name"): widget for widget in ET.parse(UI_FILE).getroot().iter("widget")}


def test_every_ui_name_the_widget_uses_exists():
    used = set(re.findall(r"self\.ui\.(\w+)", WIDGET_FILE.read_text()))
    assert {"startButton", "stopButton", "resumeButton", "progressBar", "sampleLabel", "useModelButton"} <= used
    missing = used - set(uiWidgets())
    assert not missing, f"the widget uses {sorted(missing)}, which {UI_FILE.name} does not define"


def test_ui_uses_only_qt_ctk_and_slicer_widgets_and_folder_pickers():
    widgets = uiWidgets()
    classes = {widget.get("class") for widget in widgets.values()}
    assert all(ALLOWED_WIDGET_CLASS.match(name) for name in classes), classes
    for name in ("dataPathLineEdit", "outputPathLineEdit"):
        assert widgets[name].get("class") == "ctkPathLineEdit"
        filters = [p.findtext("set") for p in widgets[name].iter("property") if p.get("name") == "filters"]
        assert filters == ["ctkPathLineEdit::Dirs"], f"{name} must pick folders"
    devices = [item.findtext("property/string") for item in widgets["deviceComboBox"].iter("item")]
    assert devices == ["auto", "cpu", "cuda"]  # the choices of `lesiongan train --device`


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda path: str(path.relative_to(MODULE)))
def test_module_file_compiles(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)


def test_only_the_widget_file_imports_qt_or_ctk():
    assert {"qt", "slicer"} <= _importedModules(WIDGET_FILE)
    libFiles = [path for path in PYTHON_FILES if path != WIDGET_FILE]
    assert libFiles
    for path in libFiles:
        assert not {"qt", "ctk", "vtk"} & _importedModules(path), f"{path} imports qt, ctk or vtk"


def test_cmake_lists_every_script_and_resource_and_the_self_test():
    cmake = (MODULE / "CMakeLists.txt").read_text().replace("${MODULE_NAME}", "Training")
    assert "WITH_GENERIC_TESTS" in cmake and "slicer_add_python_unittest(SCRIPT Training.py)" in cmake
    assert "class TrainingTest(ScriptedLoadableModuleTest)" in WIDGET_FILE.read_text()
    shipped = [path for path in PYTHON_FILES if "Testing" not in path.relative_to(MODULE).parts]
    shipped += sorted((MODULE / "Resources").rglob("*.*"))
    for path in shipped:
        assert str(path.relative_to(MODULE)) in cmake, f"{path.name} is not listed in CMakeLists.txt"


def test_icon_is_128_pixels():
    with Image.open(MODULE / "Resources" / "Icons" / "Training.png") as icon:
        assert icon.size == (128, 128)
