"""Static checks of the LesionSynthesis module: the .ui and the widget agree, files compile,
qt/ctk stay in the widget file, and the CMake lists name every file."""

from __future__ import annotations

import ast
import py_compile
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

MODULE = Path(__file__).resolve().parents[1] / "LesionSynthesis"
WIDGET_FILE = MODULE / "LesionSynthesis.py"
UI_FILE = MODULE / "Resources" / "UI" / "LesionSynthesis.ui"
PYTHON_FILES = sorted(MODULE.rglob("*.py"))
ALLOWED_WIDGET_CLASS = re.compile(r"^(Q|ctk|qMRML|qSlicer)\w+$")


def _uiWidgets() -> dict[str, str]:
    root = ET.parse(UI_FILE).getroot()
    return {widget.get("name"): widget.get("class") for widget in root.iter("widget")}


def _importedModules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_every_ui_name_the_widget_uses_exists():
    used = set(re.findall(r"self\.ui\.(\w+)", WIDGET_FILE.read_text()))
    assert used, "the widget uses no ui element: the check would be empty"
    missing = used - set(_uiWidgets())
    assert not missing, f"the widget uses {sorted(missing)}, which {UI_FILE.name} does not define"


def test_ui_has_the_panel_sections_and_only_slicer_widgets():
    widgets = _uiWidgets()
    assert widgets["segmentEditorWidget"] == "qMRMLSegmentEditorWidget"
    for section in ("inputs", "paint", "random", "images", "turing"):
        assert widgets[f"{section}CollapsibleButton"] == "ctkCollapsibleButton"
    assert all(ALLOWED_WIDGET_CLASS.match(name) for name in widgets.values()), set(widgets.values())
    root = ET.parse(UI_FILE).getroot()
    shortcuts = {widget.get("name"): prop.find("string").text for widget in root.iter("widget")
                 for prop in widget.findall("property") if prop.get("name") == "shortcut"}
    assert shortcuts == {"turingRealButton": "R", "turingSyntheticButton": "S"}
    parameterNames = {prop.find("string").text for prop in root.iter("property")
                      if prop.get("name") == "SlicerParameterName"}
    fields = set(re.findall(r"^    (\w+): ", WIDGET_FILE.read_text(), flags=re.MULTILINE))
    assert parameterNames and parameterNames <= fields, parameterNames - fields


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda path: str(path.relative_to(MODULE)))
def test_module_file_compiles(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)


def test_only_the_widget_file_imports_qt_or_ctk():
    assert {"qt", "slicer"} <= _importedModules(WIDGET_FILE)
    for path in PYTHON_FILES:
        if path != WIDGET_FILE:
            assert not {"qt", "ctk"} & _importedModules(path), f"{path} imports qt or ctk"


def test_core_package_imports_no_slicer_or_qt():
    for path in sorted((MODULE.parent / "lesiongan" / "synthesis").glob("*.py")):
        assert not {"slicer", "qt", "ctk", "vtk"} & _importedModules(path), f"{path} imports the application"


def test_cmake_lists_every_script_and_resource():
    cmake = (MODULE / "CMakeLists.txt").read_text().replace("${MODULE_NAME}", "LesionSynthesis")
    assert "WITH_GENERIC_TESTS" in cmake and "slicer_add_python_unittest(SCRIPT LesionSynthesis.py)" in cmake
    shipped = [path for path in PYTHON_FILES if "Testing" not in path.parts]
    shipped += sorted((MODULE / "Resources").rglob("*.*"))
    for path in shipped:
        assert str(path.relative_to(MODULE)) in cmake, f"{path.name} is not listed in CMakeLists.txt"


def test_icon_is_128_pixels():
    with Image.open(MODULE / "Resources" / "Icons" / "LesionSynthesis.png") as icon:
        assert icon.size == (128, 128)
