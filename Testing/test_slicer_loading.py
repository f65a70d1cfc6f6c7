"""What Slicer does with the module files at start-up, on the layouts the modules are run from:
the build tree (generic module tests, the SlicerWithLesionGAN launcher), the installed
extension (the same layout) and a source checkout added under Additional module paths.
Slicer imports every module file and makes its module object before anything is installed,
so all of it must load without torch."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_packaging_extension import MODULES, ROOT, SUBDIRECTORIES, TOP, cmake_commands, cmake_variables, expand

QT_SCRIPTED_MODULES = "lib/Slicer-5.10/qt-scripted-modules"  # ${Slicer_QTSCRIPTEDMODULES_LIB_DIR}

# Run in a fresh Python: block torch, put the harness's qt in place, then load as Slicer does.
LOADER = r"""
import importlib, json, os, sys
sys.modules["torch"] = None  # `import torch` raises ImportError, as before the first Apply
paths, modules, harness = json.loads(sys.argv[1])
sys.path[:0] = paths
sys.path.append(harness)
import slicerharness
slicerharness.install(os.environ["SLICER_HOME"])
loaded = {}
for name in modules:
    moduleFile = importlib.import_module(name)
    moduleFile.__dict__[name](slicerharness.scripted.ModuleParent(moduleFile.__file__))
    library = importlib.import_module(name + "Lib")
    loaded[name] = [moduleFile.__file__, library.__file__]
import LesionGANLib, LesionGANLib.dependencies, LesionGANLib.models, LesionGANLib.nodes, lesiongan
loaded["LesionGANLib"] = [LesionGANLib.__file__]
loaded["lesiongan"] = [lesiongan.__file__]
loaded["torch"] = repr(sys.modules["torch"])
print(json.dumps(loaded))
"""


def load_like_slicer(paths: list[Path], tmp_path: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", LOADER, json.dumps([[str(p) for p in paths], MODULES, str(ROOT / "Testing")])],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**__import__("os").environ, "SLICER_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def build_tree(destination: Path) -> Path:
    """The qt-scripted-modules folder of the build tree, laid out as the CMake lists say:
    each module's SCRIPTS and RESOURCES under it (WITH_SUBDIR: in a folder named after the
    source folder), lesiongan's globbed scripts and resources beside them."""
    scripted = destination / QT_SCRIPTED_MODULES
    for folder in SUBDIRECTORIES:
        commands = cmake_commands(ROOT / folder / "CMakeLists.txt")
        variables = cmake_variables(commands)
        build = next(expand(a, variables) for name, a in commands if name == "slicermacrobuildscriptedmodule")
        keywords = {"NAME", "SCRIPTS", "RESOURCES", "WITH_GENERIC_TESTS", "WITH_SUBDIR"}
        target = scripted / folder if "WITH_SUBDIR" in build else scripted
        section = None
        for argument in build:
            if argument in keywords:
                section = argument
            elif section in ("SCRIPTS", "RESOURCES"):
                relative = argument if argument.endswith(".py") or section == "RESOURCES" else argument + ".py"
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / folder / relative, target / relative)
    globs = {a[1]: a[a.index("CONFIGURE_DEPENDS") + 1:] for name, a in TOP if name == "file" and a[0] == "GLOB_RECURSE"}
    for pattern in globs["LESIONGAN_PYTHON_SCRIPTS"] + globs["LESIONGAN_PYTHON_RESOURCES"]:
        pattern = pattern.replace("${CMAKE_CURRENT_SOURCE_DIR}/", "")
        folder, _, name = pattern.rpartition("/")
        for source in glob.glob(str(ROOT / folder / "**" / name), recursive=True):
            relative = Path(source).relative_to(ROOT)
            if Path(source).is_file() and "__pycache__" not in relative.parts:
                (scripted / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, scripted / relative)
    return scripted


def test_the_build_tree_holds_every_module_and_lesiongan_and_loads_without_torch(tmp_path):
    scripted = build_tree(tmp_path / "build")
    assert (scripted / "LesionGANLib" / "widgets.py").is_file()
    assert (scripted / "lesiongan" / "infer" / "engine.py").is_file()
    assert (scripted / "lesiongan" / "resources" / "models" / "demo_antgan_flair.pt").is_file()
    # Slicer puts qt-scripted-modules on sys.path and imports each module file from there.
    loaded = load_like_slicer([scripted], tmp_path)
    for name in MODULES:
        assert all(path.startswith(str(scripted)) for path in loaded[name]), loaded[name]
    assert loaded["lesiongan"][0].startswith(str(scripted / "lesiongan"))
    assert loaded["LesionGANLib"][0].startswith(str(scripted / "LesionGANLib"))
    assert loaded["torch"] == "None"  # nothing imported torch (it would have raised)


def test_a_source_checkout_under_additional_module_paths_loads(tmp_path):
    # Slicer adds each module's folder to sys.path; LesionGANLib and lesiongan are one folder up.
    loaded = load_like_slicer([ROOT / name for name in MODULES], tmp_path)
    assert loaded["LesionGANLib"][0] == str(ROOT / "LesionGANLib" / "__init__.py")
    assert loaded["lesiongan"][0] == str(ROOT / "lesiongan" / "__init__.py")
    assert loaded["torch"] == "None"


@pytest.mark.parametrize("module", MODULES)
def test_each_library_loads_alone_from_a_source_checkout_without_torch(module, tmp_path):
    """What a researcher does from Slicer's Python console, or Slicer with only the module's
    folder on sys.path: import the Lib first, before its module file ran, with no torch."""
    code = ("import json, sys; sys.modules['torch'] = None; sys.path.insert(0, sys.argv[1]); "
            f"import {module}Lib, LesionGANLib; print(json.dumps(LesionGANLib.__file__))")
    completed = subprocess.run([sys.executable, "-c", code, str(ROOT / module)], capture_output=True, text=True,
                               timeout=300, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == str(ROOT / "LesionGANLib" / "__init__.py")


@pytest.mark.parametrize("module", MODULES)
def test_no_module_imports_another_modules_library(module):
    import ast

    others = {f"{name}Lib" for name in MODULES if name != module} | set(MODULES) - {module}
    for path in sorted((ROOT / module).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
        assert not imported & others, f"{path.relative_to(ROOT)} imports {sorted(imported & others)}"
