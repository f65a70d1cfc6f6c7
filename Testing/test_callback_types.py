"""The progress and cancel callback types are defined once, in `lesiongan.progress`, and every
long run (engine, painting, downloads, the Slicer logic, the web session) takes those."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from lesiongan import progress
from lesiongan.infer import download, engine
from lesiongan.synthesis import paint

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["lesiongan", "LesionGANLib", "LesionGANTraining", "LesionGANWeb", "LesionSynthesis", "PseudoHealthy"]
# The shapes of a progress report and of a cancel check, as `Callable[...]` source text.
SHAPES = {"Callable[[int, int], None]", "Callable[[int, int | None], None]", "Callable[[int, 'int | None'], None]",
          "Callable[[], bool]"}


def _callable_shapes(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every `Callable[...]` of a progress or cancel shape written in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("Callable"):
            text = "Callable" + ast.unparse(node)[len(ast.unparse(node.value)):]
            if text in SHAPES:
                found.append((node.lineno, text))
    return found


def test_progress_and_cancel_types_are_written_in_one_place_only():
    written = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, text in _callable_shapes(path):
                written.setdefault(str(path.relative_to(ROOT)), []).append(f"{line}: {text}")
    assert set(written) == {"lesiongan/progress.py"}, written


def test_the_long_runs_annotations_resolve_to_the_shared_types():
    # postponed annotations hide a missing import until someone resolves them: resolve them here
    shared = {progress.ProgressCallback, progress.CancelCheck, progress.DownloadProgressCallback}
    for function, names in ((engine.run_model, ("progress", "cancel")), (paint.paint_lesion, ("progress", "cancel")),
                            (download.download, ("progress",))):
        hints = inspect.get_annotations(function, eval_str=True)
        for name in names:
            assert set(hints[name].__args__) - {type(None)} <= shared, (function.__qualname__, name, hints[name])
