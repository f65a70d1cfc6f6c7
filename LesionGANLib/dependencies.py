"""What the LesionGAN modules need inside Slicer, installed at the first use that needs it.

Running a model needs torch (from the PyTorch extension) and what Slicer ships; the realism
test, training and the phantom add their own packages (`lesiongan.infer.dependencies.PURPOSES`).
No qt here: the widgets show what goes wrong (see `LesionGANLib.widgets.ensureDependencies`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def ensure(purposes: Iterable[str], confirm: Callable[[str], bool] | None = None, slicerModule=None) -> bool:
    """True once torch and the packages of `purposes` are importable; asks `confirm` (default:
    Slicer's OK/Cancel dialog) once before installing anything. Raises what the installers raise."""
    from lesiongan.infer.dependencies import ensure_requirements, requirements_for

    if slicerModule is None:
        import slicer as slicerModule
    if confirm is None:
        confirm = slicerModule.util.confirmOkCancelDisplay
    return ensure_requirements(slicerModule, None, confirm=confirm, requirements=requirements_for(*purposes))
