"""Helpers for the static checks of the Slicer module folders (no Slicer needed): the .ui file,
the imports of each script, compilation, the CMake lists and the icon. The tests that use them
are in test_<module>_static.py."""

from __future__ import annotations

import ast
import py_compile
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
ALLOWED_WIDGET_CLASS = re.compile(r"^(Q|ctk|qMRML|qSlicer)\w+$")
SHARED_PACKAGE = REPO / "LesionGANLib"  # the Slicer package the modules share
SHARED_WIDGETS_FILE = SHARED_PACKAGE / "widgets.py"  # its only part that talks to Qt


def moduleFolder(name: str) -> Path:
    return REPO / name


def pythonFiles(module: Path) -> list[Path]:
    return sorted(module.rglob("*.py"))


def uiWidgets(uiFile: Path) -> dict[str, ET.Element]:
    """The .ui file's widgets by name."""
    return {widget.get("name"): widget for widget in ET.parse(uiFile).getroot().iter("widget")}


def uiNamesUsed(widgetFile: Path) -> set[str]:
    """The `self.ui.<name>` elements the widget file uses."""
    return set(re.findall(r"self\.ui\.(\w+)", widgetFile.read_text(encoding="utf-8")))


def uiNamesMissing(widgetFile: Path, uiFile: Path) -> set[str]:
    return uiNamesUsed(widgetFile) - set(uiWidgets(uiFile))


def disallowedWidgetClasses(uiFile: Path) -> set[str]:
    """Classes in the .ui that are not Qt, CTK or Slicer widgets."""
    classes = {widget.get("class") for widget in uiWidgets(uiFile).values()}
    return {name for name in classes if not ALLOWED_WIDGET_CLASS.match(name)}


def parameterNames(uiFile: Path) -> set[str]:
    """The `SlicerParameterName` of each parameter-linked widget."""
    return {prop.find("string").text for prop in ET.parse(uiFile).getroot().iter("property")
            if prop.get("name") == "SlicerParameterName"}


def parameterNodeFields(widgetFile: Path) -> set[str]:
    """The fields of the parameter node class (4-space-indented annotations)."""
    return set(re.findall(r"^    (\w+): ", widgetFile.read_text(encoding="utf-8"), flags=re.MULTILINE))


def importedModules(path: Path) -> set[str]:
    """Top-level names of the absolute imports of a script."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def mayImportQt(module: Path, path: Path) -> bool:
    """Only the module's widget file talks to Qt (and LesionGANLib.widgets); *Lib never does."""
    return path.relative_to(module) == Path(f"{module.name}.py")


def libraryFiles(module: Path) -> list[Path]:
    """The module's scripts other than its widget file."""
    return [path for path in pythonFiles(module) if not mayImportQt(module, path)]


def libraryFilesImporting(module: Path, forbidden: set[str]) -> list[str]:
    """The library files (see `libraryFiles`) that import any of `forbidden`."""
    files = libraryFiles(module)
    assert module / f"{module.name}Lib" / "logic.py" in files, f"{module.name}Lib is not checked"
    return [str(path.relative_to(module)) for path in files if forbidden & importedModules(path)]


def compileTest(module: Path):
    """A test that compiles each of the module's scripts (one case each), to bind as test_<name>."""

    @pytest.mark.parametrize("path", pythonFiles(module), ids=lambda path: str(path.relative_to(module)))
    def test(path: Path, tmp_path: Path) -> None:
        py_compile.compile(str(path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)

    return test


def cmakeProblems(module: Path) -> list[str]:
    """What the module's CMakeLists.txt misses: the generic tests, the self-test of the widget
    file, and each shipped script and resource."""
    cmake = (module / "CMakeLists.txt").read_text(encoding="utf-8").replace("${MODULE_NAME}", module.name)
    needed = ("WITH_GENERIC_TESTS", f"slicer_add_python_unittest(SCRIPT {module.name}.py)")
    problems = [f"no {text}" for text in needed if text not in cmake]
    shipped = [path for path in pythonFiles(module) if "Testing" not in path.relative_to(module).parts]
    shipped += sorted((module / "Resources").rglob("*.*"))
    return problems + [f"{path.relative_to(module)} is not listed" for path in shipped
                       if str(path.relative_to(module)) not in cmake]


def iconSize(module: Path) -> tuple[int, int]:
    with Image.open(module / "Resources" / "Icons" / f"{module.name}.png") as icon:
        return icon.size
