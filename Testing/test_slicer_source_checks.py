"""Checks on the Slicer side's source: the Python it needs (the Slicer versions the README
claims), no deprecated or leaking MRML calls, module names of its own, and the install path
the README gives a new user."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slicer_scene import slicer_scene  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
SLICER_CODE = ("PseudoHealthy", "LesionSynthesis", "LesionGANTraining", "LesionGANLib")
# Slicer 5.10 is the oldest Slicer claimed: it ships Python 3.12.10 (Slicer 5.8 ships 3.9).
OLDEST_SLICER, ITS_PYTHON = "5.10", "3.12"


def pythonFiles(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")
                  if "__pycache__" not in path.parts)


def test_nothing_needs_a_newer_python_than_the_oldest_claimed_slicer_has():
    vermin = shutil.which("vermin", path=str(Path(sys.executable).parent))
    assert vermin, "vermin (dev extra) is not installed"
    # --eval-annotations: the parameter node classes' annotations are evaluated by Slicer.
    completed = subprocess.run([vermin, "--no-tips", "--violations", "--eval-annotations", f"-t={ITS_PYTHON}-",
                                *SLICER_CODE, "lesiongan"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    found = re.search(r"Minimum required versions: (?:~?2(?:\.\d+)?, )?~?3\.(\d+)", completed.stdout)
    assert found and int(found.group(1)) <= int(ITS_PYTHON.split(".")[1]), completed.stdout


def test_the_readme_and_install_guide_claim_the_checked_slicer():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    guide = (ROOT / "docs" / "install_slicer.md").read_text(encoding="utf-8")
    for text in (readme, guide):
        assert f"Slicer {OLDEST_SLICER} or newer" in text
        assert not re.search(r"Slicer\)? ?\(?5\.[0-9] or newer", text)  # no older claim left anywhere
    assert f"Python {ITS_PYTHON}" in guide


def test_no_isinstance_takes_a_union_written_with_a_bar():
    """`isinstance(x, A | B)` needs Python 3.10 and vermin cannot see it: tuples keep the code
    free of it (the Python 3.9 of Slicer 5.8 raised TypeError there)."""
    offenders = []
    for path in pythonFiles(*SLICER_CODE, "lesiongan"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "issubclass")
                    and len(node.args) == 2 and isinstance(node.args[1], ast.BinOp)
                    and isinstance(node.args[1].op, ast.BitOr)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders


@pytest.mark.parametrize("call", ["GetUniqueNameByString", "GetNodesByClass"])
def test_no_deprecated_or_leaking_scene_calls(call):
    """GetUniqueNameByString is deprecated (GenerateUniqueName); GetNodesByClass returns a new
    collection that Python code must UnRegister (SceneLogic.nodesOfClass does without)."""
    users = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in pythonFiles(*SLICER_CODE)
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Attribute) and node.attr == call]
    assert users == []


def test_scene_logic_names_and_lists_nodes_like_the_scene(slicer_scene):  # noqa: F811
    from LesionGANLib.scenelogic import SceneLogic

    logic = SceneLogic(slicer_scene.scene)
    first = logic.addNode("vtkMRMLScalarVolumeNode", "Case")
    second = logic.addNode("vtkMRMLScalarVolumeNode", "Case")
    assert (first.GetName(), second.GetName()) == ("Case", "Case_1")
    collection = slicer_scene.scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
    expected = [collection.GetItemAsObject(i) for i in range(collection.GetNumberOfItems())]
    collection.UnRegister(None)
    assert logic.nodesOfClass("vtkMRMLScalarVolumeNode") == expected


def test_polling_the_loss_plot_leaves_no_collection_behind(slicer_scene, tmp_path, monkeypatch):  # noqa: F811
    """The panel asks for the loss plot every 2 s; each ask must leave nothing allocated."""
    from LesionGANTrainingLib import LesionGANTrainingLogic

    returned = []
    scene = slicer_scene.scene
    original = scene.GetNodesByClass

    def spy(className):  # what any GetNodesByClass call hands back
        collection = original(className)
        returned.append(collection)
        return collection

    scene.GetNodesByClass = spy
    (tmp_path / "log.csv").write_text("step,seconds,G,D\n1,0.1,2.0,1.0\n2,0.2,1.5,0.9\n")
    logic = LesionGANTrainingLogic(scene=scene)
    charts = [logic.updateLossPlot(tmp_path) for _ in range(3)]
    assert charts[0] is charts[1] is charts[2]
    assert all(collection.GetReferenceCount() == 1 for collection in returned)  # Python's own only


def test_module_names_are_the_extensions_own():
    """Slicer keys modules by name: a generic one ('Training' is taken by another extension)
    would clash when both are installed."""
    from test_packaging_extension import MODULES

    assert MODULES == ["PseudoHealthy", "LesionSynthesis", "LesionGANTraining"]
    assert "Training" not in MODULES
    for module in MODULES:
        source = (ROOT / module / f"{module}.py").read_text(encoding="utf-8")
        for suffix in ("", "Widget", "Test"):
            assert re.search(rf"^class {module}{suffix}\(", source, re.MULTILINE), f"{module}{suffix}"


def test_the_readme_install_path_works_from_a_copy_of_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Install in Slicer"):readme.index("The logic of every module")]
    steps = section[:section.index("Once LesionGAN is in the Extensions Index")]
    assert "Additional module" in steps and "paths" in steps
    from test_packaging_extension import MODULES

    for module in MODULES:  # every folder the steps name is a module folder of this repository
        assert f"`{module}`" in steps and (ROOT / module / f"{module}.py").is_file()
    assert "search `LesionGAN`" not in steps  # the Extensions Manager path only once indexed
    assert "search `LesionGAN`" in section[section.index("Once LesionGAN is in the Extensions Index"):]
