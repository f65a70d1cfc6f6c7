"""The layers of `lesiongan`, as docs/design.md draws them, hold in the code.

Every module of the package is parsed (imports inside functions and under TYPE_CHECKING
count too). A unit (a subpackage, or a top-level module) may import itself and the units of
lower layers, never a unit of its own layer or of a higher one; a library module never
imports a command module (`cli`, `*_cli`, `__main__`). The layer table is read from
docs/design.md, so the drawing and this test cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lesiongan"
DESIGN = ROOT / "docs" / "design.md"
# Folders beside the package whose Python code uses it: the Slicer modules, their shared
# library and the web page. They may import any layer, but, like the package's own library
# modules, no command module.
SLICER_SIDE = ["LesionGANLib", "LesionGANTraining", "LesionGANWeb", "LesionSynthesis", "PseudoHealthy"]


def read_layers(text: str) -> dict[str, int]:
    """unit -> layer, from the table between the `layers:start` and `layers:end` marks."""
    block = re.search(r"<!-- layers:start -->(.*?)<!-- layers:end -->", text, re.S)
    assert block, "docs/design.md has lost its layer table (<!-- layers:start --> ... <!-- layers:end -->)"
    layers: dict[str, int] = {}
    for row in block.group(1).splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].isdigit():
            continue
        for unit in re.findall(r"`([\w.]+)`", cells[1]):
            assert unit not in layers, f"{unit} is in two layers of docs/design.md"
            layers[unit] = int(cells[0])
    return layers


LAYERS = read_layers(DESIGN.read_text(encoding="utf-8"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file (or in `source` as if it were
    that file), at any depth; for `from X import name`, X.name as well, since the name may be
    a module."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    text = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names if alias.name != "*"]
    return found


def unit_of(module: str) -> str | None:
    """The layer unit of a `lesiongan...` module name: its subpackage or top-level module
    (None for the package itself)."""
    parts = module.split(".")
    if parts[0] != "lesiongan" or len(parts) == 1:
        return None
    return parts[1]


def is_command(module: str) -> bool:
    last = module.rpartition(".")[2]
    return last in ("cli", "__main__") or last.endswith("_cli")


def is_existing_module(module: str) -> bool:
    relative = Path(*module.split("."))
    return (ROOT / relative.with_suffix(".py")).is_file() or (ROOT / relative / "__init__.py").is_file()


def package_files() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def layer_violations(path: Path, layers: dict[str, int], source: str | None = None) -> list[str]:
    """What is wrong with one package module's imports under `layers`."""
    own = unit_of(module_name(path))
    problems, seen = [], set()
    for line, target in imported_modules(path, source):
        unit = unit_of(target)
        if unit is None or unit == own or not is_existing_module(target) or (line, unit) in seen:
            continue
        seen.add((line, unit))
        if own is None:
            problems.append(f"{path.relative_to(ROOT)}:{line}: the package's __init__ imports {target}")
        elif unit not in layers:
            problems.append(f"{path.relative_to(ROOT)}:{line}: imports {target}, whose unit {unit} has no layer")
        elif layers[unit] >= layers[own]:
            where = "its own layer" if layers[unit] == layers[own] else "a higher layer"
            problems.append(f"{path.relative_to(ROOT)}:{line}: {own} (layer {layers[own]}) imports {target} "
                            f"from {where} ({unit}, layer {layers[unit]})")
    return problems


def command_imports(path: Path, source: str | None = None) -> list[str]:
    """Command modules a library module imports (a command module may import them itself)."""
    if is_command(module_name(path)):
        return []
    return [f"{path.relative_to(ROOT)}:{line}: a library module imports the command module {target}"
            for line, target in imported_modules(path, source)
            if target.startswith("lesiongan.") and is_command(target) and is_existing_module(target)]


def test_the_layer_table_places_every_unit_of_the_package_once():
    units = {unit_of(module_name(path)) for path in package_files()} - {None}
    assert units - set(LAYERS) == set(), "units with no layer in docs/design.md"
    assert set(LAYERS) - units == set(), "layers in docs/design.md name units that do not exist"


def test_no_unit_imports_its_own_layer_or_one_above():
    problems = [problem for path in package_files() for problem in layer_violations(path, LAYERS)]
    assert problems == []


def test_no_library_module_imports_a_command_module():
    problems = [problem for path in package_files() for problem in command_imports(path)]
    assert problems == []


def test_the_slicer_side_imports_no_command_module_of_the_package():
    problems = []
    for folder in SLICER_SIDE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            for line, target in imported_modules(path):
                if target.startswith("lesiongan.") and is_command(target) and is_existing_module(target):
                    problems.append(f"{relative}:{line}: imports the command module {target}")
    assert problems == []


def test_every_command_of_the_package_is_a_command_module():
    from lesiongan.cli import COMMANDS, SOURCE_TREE_COMMANDS

    modules = {name: module for name, (module, _) in COMMANDS.items() if name not in SOURCE_TREE_COMMANDS}
    assert {name: module for name, module in modules.items() if not is_command(module)} == {}


@pytest.mark.parametrize("module, added", [
    ("metrics/image.py", "from ..infer.engine import run_model\n"),  # a layer above
    ("data/slicing.py", "from ..nets import to_net\n"),  # its own layer
    ("errors.py", "def later():\n    from .device import resolve_device\n"),  # inside a function
    ("infer/frame.py", "from lesiongan.evaluation import fpre\n"),  # absolute, a package's module
])
def test_a_forbidden_import_is_found(module, added):
    path = PACKAGE / module
    source = path.read_text(encoding="utf-8")
    assert layer_violations(path, LAYERS, source) == []
    assert len(layer_violations(path, LAYERS, source + "\n" + added)) == 1


def test_a_library_module_importing_a_command_module_is_found():
    path = PACKAGE / "data" / "slices.py"
    source = path.read_text(encoding="utf-8")
    assert command_imports(path, source) == []
    assert len(command_imports(path, source + "\nfrom .summary_cli import run\n")) == 1
    assert command_imports(PACKAGE / "data" / "summary_cli.py", "from .phantom_cli import run\n") == []
