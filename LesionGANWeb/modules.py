"""Where the Slicer modules' logic lives: the module folders of this source tree, put on sys.path
the way Slicer puts them there (each module folder holds its `<Name>Lib` package)."""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE_TREE = Path(__file__).resolve().parents[1]


def module_folders(root: Path = SOURCE_TREE) -> list[Path]:
    """The Slicer module folders under `root`: a CMakeLists.txt beside a `*Lib` package."""
    return sorted(folder for folder in root.iterdir()
                  if (folder / "CMakeLists.txt").is_file()
                  and any(child.is_dir() and child.name.endswith("Lib") and (child / "__init__.py").is_file()
                          for child in folder.iterdir()))


def add_module_paths(root: Path = SOURCE_TREE) -> None:
    """Make `PseudoHealthyLib`, `LesionSynthesisLib` and the shared libraries beside them importable."""
    for folder in [root, *module_folders(root)]:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
