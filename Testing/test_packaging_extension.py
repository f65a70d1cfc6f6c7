"""The extension's build description and catalog entry: what Slicer's factory reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

# From Slicer/ExtensionsIndex schemas/slicer-extension-catalog-entry-schema-v1.0.2.json:
# its "required" list and the type of every property (additionalProperties is false).
SCHEMA_URL = (
    "https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/"
    "slicer-extension-catalog-entry-schema-v1.0.2.json#"
)
SCHEMA_REQUIRED = ("$schema", "category", "scm_url")
SCHEMA_TYPES = {
    "$schema": str,
    "category": str,
    "scm_url": str,
    "scm_revision": str,
    "scm_type": str,
    "build_dependencies": list,
    "dicom_support_rule": str,
    "build_subdirectory": str,
    "enabled": bool,
    "tier": int,
}
EXTENSION_FIELDS = (
    "EXTENSION_HOMEPAGE",
    "EXTENSION_CATEGORY",
    "EXTENSION_CONTRIBUTORS",
    "EXTENSION_DESCRIPTION",
    "EXTENSION_ICONURL",
    "EXTENSION_SCREENSHOTURLS",
    "EXTENSION_DEPENDS",
)


def cmake_commands(path: Path) -> list[tuple[str, list[str]]]:
    """(command, arguments) of a CMakeLists.txt, comments dropped; enough for Slicer's files."""
    text = "\n".join(re.sub(r'#(?=(?:[^"]*"[^"]*")*[^"]*$).*', "", line) for line in path.read_text(encoding="utf-8").splitlines())
    commands = []
    for name, body in re.findall(r"([A-Za-z_]\w*)\s*\(((?:[^()\"]|\"[^\"]*\")*)\)", text):
        arguments = [a[1:-1] if a.startswith('"') else a for a in re.findall(r'"[^"]*"|[^\s"]+', body)]
        commands.append((name.lower(), arguments))
    return commands


def expand(arguments: list[str], variables: dict[str, list[str]]) -> list[str]:
    """Replace whole-argument ${VAR} by its list and inline ${VAR} by its text."""
    expanded = []
    for argument in arguments:
        whole = re.fullmatch(r"\$\{(\w+)\}", argument)
        if whole:
            expanded.extend(variables.get(whole.group(1), []))
        else:
            expanded.append(re.sub(r"\$\{(\w+)\}", lambda m: ";".join(variables.get(m.group(1), [])), argument))
    return expanded


def cmake_variables(commands: list[tuple[str, list[str]]]) -> dict[str, list[str]]:
    variables: dict[str, list[str]] = {}
    for name, arguments in commands:
        if name == "set" and arguments:
            variables[arguments[0]] = expand(arguments[1:], variables)
    return variables


TOP = cmake_commands(ROOT / "CMakeLists.txt")
TOP_VARIABLES = cmake_variables(TOP)
SUBDIRECTORIES = [arguments[0] for name, arguments in TOP if name == "add_subdirectory"]
SHARED_PACKAGE = "LesionGANLib"
MODULES = [name for name in SUBDIRECTORIES if name != SHARED_PACKAGE]


def test_top_level_has_the_extension_fields_and_depends_on_pytorch():
    for field in EXTENSION_FIELDS:
        assert TOP_VARIABLES.get(field), f"{field} is not set"
    assert TOP_VARIABLES["EXTENSION_CATEGORY"] == ["Image Synthesis"]
    assert "PyTorch" in TOP_VARIABLES["EXTENSION_DEPENDS"]
    names = [name for name, _ in TOP]
    assert names[0] == "cmake_minimum_required"
    assert ("project", ["LesionGAN"]) in TOP
    # Slicer's include order: its settings before the modules, packaging after them.
    includes = [arguments[0] for name, arguments in TOP if name == "include"]
    assert includes == ["${Slicer_USE_FILE}", "${Slicer_EXTENSION_GENERATE_CONFIG}", "${Slicer_EXTENSION_CPACK}"]
    assert names.index("find_package") < names.index("add_subdirectory") < len(names) - 2
    for url in TOP_VARIABLES["EXTENSION_ICONURL"] + TOP_VARIABLES["EXTENSION_SCREENSHOTURLS"]:
        assert url.startswith("https://"), url


def test_every_module_and_the_shared_package_are_listed_and_the_core_goes_to_the_build_tree():
    assert SUBDIRECTORIES == [SHARED_PACKAGE, "PseudoHealthy", "LesionSynthesis", "LesionGANTraining"]
    # lesiongan is copied beside the modules in the build tree (where the generic tests and the
    # SlicerWithLesionGAN launcher run) and installed from there, not only installed.
    compiled = next(a for name, a in TOP if name == "ctkmacrocompilepythonscript")
    assert compiled[compiled.index("DESTINATION_DIR") + 1] == "${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR}"
    assert compiled[compiled.index("INSTALL_DIR") + 1] == "${Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR}"
    assert "NO_INSTALL_SUBDIR" in compiled
    globs = {a[1]: a for name, a in TOP if name == "file" and a[0] == "GLOB_RECURSE"}
    assert "${CMAKE_CURRENT_SOURCE_DIR}/lesiongan/*.py" in globs["LESIONGAN_PYTHON_SCRIPTS"]
    assert "${CMAKE_CURRENT_SOURCE_DIR}/lesiongan/resources/*" in globs["LESIONGAN_PYTHON_RESOURCES"]
    assert [a for name, a in TOP if name == "install"] == []  # everything goes through the build tree
    requirements = next(a for name, a in TOP if name == "configure_file")
    assert requirements[:2] == ["Resources/requirements.txt",
                                "${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR}/lesiongan/resources/requirements.txt"]


def _module_files(module_dir: Path) -> tuple[set[str], set[str]]:
    """.py files and resources a module folder holds (its Testing/ has its own CMakeLists)."""
    scripts, resources = set(), set()
    for path in module_dir.rglob("*"):
        relative = path.relative_to(module_dir)
        if not path.is_file() or "__pycache__" in relative.parts or relative.parts[0] == "Testing":
            continue
        if path.suffix == ".py":
            scripts.add(relative.as_posix())
        elif relative.parts[0] == "Resources":
            resources.add(relative.as_posix())
    return scripts, resources


def module_listing_problems(module_dir: Path) -> list[str]:
    """What a module's CMakeLists.txt fails to install (or lists but lacks); empty when fine."""
    cmakelists = module_dir / "CMakeLists.txt"
    if not module_dir.is_dir():
        return [f"module folder {module_dir} is missing"]
    if not cmakelists.is_file():
        return [f"{cmakelists} is missing"]
    commands = cmake_commands(cmakelists)
    variables = cmake_variables(commands)
    build = [expand(a, variables) for name, a in commands if name == "slicermacrobuildscriptedmodule"]
    if len(build) != 1:
        return [f"{cmakelists}: expected one slicerMacroBuildScriptedModule, found {len(build)}"]
    arguments = build[0]
    keywords = {"NAME", "SCRIPTS", "RESOURCES", "WITH_GENERIC_TESTS", "WITH_SUBDIR"}

    def section(keyword: str) -> set[str]:
        if keyword not in arguments:
            return set()
        start = arguments.index(keyword) + 1
        end = next((i for i in range(start, len(arguments)) if arguments[i] in keywords), len(arguments))
        return set(arguments[start:end])

    problems = []
    if section("NAME") != {module_dir.name}:
        problems.append(f"{cmakelists}: NAME is {sorted(section('NAME'))}, not {module_dir.name}")
    scripts, resources = _module_files(module_dir)
    listed_scripts = {s if s.endswith(".py") else s + ".py" for s in section("SCRIPTS")}
    listed_resources = section("RESOURCES")
    problems += [f"{cmakelists}: script {s} is not listed (not installed)" for s in sorted(scripts - listed_scripts)]
    problems += [f"{cmakelists}: resource {r} is not listed (not installed)" for r in sorted(resources - listed_resources)]
    problems += [
        f"{cmakelists} lists {listed}, which does not exist"
        for listed in sorted(listed_scripts | listed_resources)
        if not (module_dir / listed).is_file()
    ]
    return problems


@pytest.mark.parametrize("module", SUBDIRECTORIES)
def test_module_cmakelists_lists_every_script_and_resource(module):
    # A module in the add_subdirectory list without its folder breaks the extension build.
    problems = module_listing_problems(ROOT / module)
    assert not problems, "\n".join(problems)


SAMPLE_MODULE_CMAKE = """
set(MODULE_NAME Sample)  # a comment
set(MODULE_PYTHON_SCRIPTS
  ${MODULE_NAME}.py
  ${MODULE_NAME}Lib/__init__
  ${MODULE_NAME}Lib/logic.py
  )
set(MODULE_PYTHON_RESOURCES
  Resources/Icons/${MODULE_NAME}.png
  Resources/UI/${MODULE_NAME}.ui
  )
slicerMacroBuildScriptedModule(
  NAME ${MODULE_NAME}
  SCRIPTS ${MODULE_PYTHON_SCRIPTS}
  RESOURCES ${MODULE_PYTHON_RESOURCES}
  WITH_GENERIC_TESTS
  )
"""


def test_listing_check_finds_unlisted_and_missing_files(tmp_path):
    module = tmp_path / "Sample"
    assert module_listing_problems(module) == [f"module folder {module} is missing"]
    for relative in ("Sample.py", "SampleLib/__init__.py", "SampleLib/logic.py", "Resources/Icons/Sample.png",
                     "Resources/UI/Sample.ui", "Testing/Python/SampleTest.py"):
        (module / relative).parent.mkdir(parents=True, exist_ok=True)
        (module / relative).write_text("")
    assert module_listing_problems(module) == [f"{module / 'CMakeLists.txt'} is missing"]
    (module / "CMakeLists.txt").write_text(SAMPLE_MODULE_CMAKE)
    assert module_listing_problems(module) == []
    (module / "SampleLib" / "nodes.py").write_text("")
    (module / "Resources" / "UI" / "Sample.ui").unlink()
    problems = module_listing_problems(module)
    assert len(problems) == 2
    assert "script SampleLib/nodes.py is not listed" in problems[0]
    assert "lists Resources/UI/Sample.ui, which does not exist" in problems[1]


def test_catalog_entry_follows_the_extensions_index_schema():
    entry = json.loads((ROOT / "LesionGAN.json").read_text(encoding="utf-8"))
    for key in SCHEMA_REQUIRED:
        assert key in entry, f"LesionGAN.json lacks the required {key!r}"
    for key, value in entry.items():
        assert key in SCHEMA_TYPES, f"{key!r} is not in schema v1.0.2 (no additional properties)"
        assert isinstance(value, SCHEMA_TYPES[key]), f"{key!r} must be {SCHEMA_TYPES[key].__name__}"
    assert entry["$schema"] == SCHEMA_URL
    assert entry.get("scm_type", "git") in ("git", "local")
    assert all(isinstance(d, str) for d in entry.get("build_dependencies", []))
    assert "PyTorch" in entry["build_dependencies"]
    assert 1 <= entry.get("tier", 1) <= 5 and not isinstance(entry.get("tier", 1), bool)
    # The index and the extension's own CMake must agree.
    assert [entry["category"]] == TOP_VARIABLES["EXTENSION_CATEGORY"]
    assert entry["scm_url"].removesuffix(".git") == TOP_VARIABLES["EXTENSION_HOMEPAGE"][0]


def test_icons_are_128_pixel_squares():
    icons = [ROOT / "Resources" / "Icons" / "LesionGAN.png"]
    icons += [icon for module in MODULES for icon in sorted((ROOT / module / "Resources" / "Icons").glob("*.png"))]
    for icon in icons:
        with Image.open(icon) as image:
            assert image.format == "PNG" and image.size == (128, 128), icon
    for url in TOP_VARIABLES["EXTENSION_ICONURL"]:
        assert url.endswith("/Resources/Icons/LesionGAN.png")


def test_licence_is_bsd_3_clause():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "BSD 3-Clause License" in text
    assert "Copyright (c) 2026, the LesionGAN authors" in text
    assert "Neither the name of the copyright holder" in text


def test_every_catalog_screenshot_is_a_committed_picture():
    """EXTENSION_SCREENSHOTURLS point into this repository: each file is there and is a PNG
    a catalog can show (scripts/render_panels.py writes them)."""
    urls = description_check_urls((ROOT / "CMakeLists.txt").read_text(encoding="utf-8"))["screenshots"]
    assert len(urls) == len(MODULES)
    for url in urls:
        relative = url.split("/main/", 1)[1]
        path = ROOT / relative
        assert path.is_file(), f"{url}: {relative} is not in the repository"
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 300, (relative, image.size)


# ---------------------------------------------------------------- the ExtensionsIndex checks
# Slicer/ExtensionsIndex scripts/check_description_files.py reads CMakeLists.txt with these
# patterns (re.IGNORECASE | re.MULTILINE), and accepts these categories (a subset of its list).
PROJECT_PATTERN = r"project\s*\(\s*([^\s\)\n\r]+)"
ICON_URL_PATTERN = r'set\s*\(EXTENSION_ICONURL\s*"([^"]+)"[ ]*\)'
SCREENSHOT_URLS_PATTERN = r'set\s*\(EXTENSION_SCREENSHOTURLS\s*"([^"]+)"\)'
ACCEPTED_CATEGORIES = {"Analysis", "Filtering", "Image Synthesis", "Neuroimaging", "Quantification",
                       "Segmentation", "Training", "Utilities"}


def description_check_urls(cmake_text: str) -> dict[str, list[str]]:
    """What the ExtensionsIndex check finds: the project name, the icon URL, the screenshot URLs
    (empty lists where its patterns find nothing: the check then fails)."""
    flags = re.IGNORECASE | re.MULTILINE
    project = re.findall(PROJECT_PATTERN, cmake_text, flags)
    icons = re.findall(ICON_URL_PATTERN, cmake_text, flags)
    screenshots = re.findall(SCREENSHOT_URLS_PATTERN, cmake_text, flags)
    return {"project": project[:1], "icon": [url.strip() for url in icons[:1]],
            "screenshots": screenshots[0].split() if screenshots else []}


def test_the_extensions_index_description_check_reads_our_fields():
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    found = description_check_urls(text)
    assert found["project"] == ["LesionGAN"]  # the catalog entry is LesionGAN.json
    assert (ROOT / f"{found['project'][0]}.json").is_file()
    assert found["icon"] == TOP_VARIABLES["EXTENSION_ICONURL"]
    assert [url.rsplit("/", 1)[1] for url in found["screenshots"]] == [f"{module}.png" for module in MODULES]
    for url in found["icon"] + found["screenshots"]:
        assert url.startswith("https://raw.githubusercontent.com/lesiongan/SlicerLesionGAN/main/")
        assert url.lower().endswith(".png")
    entry = json.loads((ROOT / "LesionGAN.json").read_text(encoding="utf-8"))
    assert entry["category"] in ACCEPTED_CATEGORIES
    assert entry["scm_url"].split("://")[0] in ("git", "https")
    repository = entry["scm_url"].rstrip("/").rsplit("/", 1)[1].removesuffix(".git")
    assert repository.startswith("Slicer") and not found["project"][0].lower().startswith("slicer")
    assert b"\r" not in (ROOT / "LesionGAN.json").read_bytes()  # LF line endings only


def test_the_description_check_rejects_a_multi_line_screenshot_list():
    multiLine = 'set(EXTENSION_SCREENSHOTURLS\n  "https://a/1.png"\n  "https://a/2.png"\n  )\n'
    assert description_check_urls(multiLine)["screenshots"] == []
    oneString = 'set(EXTENSION_SCREENSHOTURLS "https://a/1.png https://a/2.png")\n'
    assert description_check_urls(oneString)["screenshots"] == ["https://a/1.png", "https://a/2.png"]
