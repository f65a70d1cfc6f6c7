"""What LesionGAN needs inside 3D Slicer, and how to get it there.

No slicer import here: the widgets pass the `slicer` module in, so the decisions
(what is missing, which installer to use) run and are tested anywhere. Torch comes from
the PyTorch extension (PyTorchUtils picks the CUDA build that fits the computer); the
other packages come from pip, through `slicer.packaging.pip_ensure` (Slicer 5.12+) or,
on older Slicer, `slicer.util.pip_install` (a fallback that is logged).

Each use asks only for what it needs (`PURPOSES`): running a model needs what Slicer
already ships; the realism test, training and the phantom add their own packages.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, LesionGANError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
TORCH_REQUIREMENT = "torch>=2.1"
REQUESTER = "LesionGAN"
# What each use of LesionGAN in Slicer needs besides torch (checked, installed if missing).
PURPOSES: dict[str, tuple[str, ...]] = {
    "inference": ("numpy>=1.24", "SimpleITK>=2.3", "scipy>=1.10", "packaging>=21"),
    "realism": ("scikit-learn>=1.3",),
    "training": ("tqdm>=4.60", "tensorboard>=2.14", "pillow>=9", "pytorch-msssim>=1.0", "scikit-learn>=1.3"),
    "phantom": ("nilearn>=0.10", "pillow>=9"),
}
PIP_ENSURE = "slicer.packaging.pip_ensure"
PIP_INSTALL = "slicer.util.pip_install"


def default_requirements_file() -> Path:
    """requirements.txt as installed in Slicer (inside the package), else the source tree's."""
    # The extension's CMake installs Resources/requirements.txt into the package; a source
    # checkout loaded into Slicer still has it at the top level.
    installed = PACKAGE_DIR / "resources" / "requirements.txt"
    return installed if installed.is_file() else PACKAGE_DIR.parent / "Resources" / "requirements.txt"


def read_requirements(requirements_file: str | Path) -> list[str]:
    """The requirement lines of a pip requirements file (comments and blanks dropped)."""
    from packaging.requirements import InvalidRequirement, Requirement

    path = Path(requirements_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise InputError(path, f"cannot read the requirements file ({error})") from error
    requirements = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            Requirement(text)
        except InvalidRequirement as error:
            raise InputError(path, f"line {number} is not a requirement: {text!r} ({error})") from error
        requirements.append(text)
    return requirements


def _unsatisfied(requirements: list[str]) -> list[str]:
    """Requirements that apply here (markers) and are absent or at a version outside the range."""
    from packaging.requirements import Requirement

    importlib.invalidate_caches()  # a pip install in this session must be seen
    missing = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(text)
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            missing.append(text)
    return missing


def missing_requirements(requirements_file: str | Path) -> list[str]:
    """The lines of `requirements_file` this Python does not satisfy (name absent or too old)."""
    return _unsatisfied(read_requirements(requirements_file))


@dataclass(frozen=True)
class InstallStep:
    """One thing to install and how: `installer` is one of INSTALLERS."""

    packages: tuple[str, ...]
    installer: str
    description: str


INSTALLERS = ("PyTorchUtils", "PyTorch extension missing", PIP_ENSURE, PIP_INSTALL)


def requirements_for(*purposes: str) -> list[str]:
    """The requirements of the given `PURPOSES`, in order, each once."""
    unknown = [purpose for purpose in purposes if purpose not in PURPOSES]
    if unknown:
        raise InputError("dependency purpose", f"{', '.join(unknown)} is not one of {', '.join(PURPOSES)}")
    return list(dict.fromkeys(text for purpose in purposes for text in PURPOSES[purpose]))


def _pip_ensure_of(slicer_module: object) -> Callable | None:
    """`slicer.packaging.pip_ensure` where this Slicer has it (5.12+), else None."""
    packaging = getattr(slicer_module, "packaging", None)
    if packaging is None and isinstance(getattr(slicer_module, "__name__", None), str):
        try:  # a submodule: present on disk but not yet imported
            packaging = importlib.import_module(f"{slicer_module.__name__}.packaging")
        except ImportError:
            packaging = None
    return getattr(packaging, "pip_ensure", None)


def install_plan(
    slicer_module: object,
    requirements_file: str | Path | None = None,
    torch_requirement: str = TORCH_REQUIREMENT,
    requirements: list[str] | None = None,
) -> list[InstallStep]:
    """What must be installed before LesionGAN runs in this Slicer; empty when nothing.
    `requirements` (see `requirements_for`) wins over `requirements_file`, which defaults
    to the full list in requirements.txt."""
    plan = []
    if _unsatisfied([torch_requirement]):
        if hasattr(getattr(slicer_module, "modules", None), "pytorchutils"):
            plan.append(
                InstallStep(
                    (torch_requirement,),
                    "PyTorchUtils",
                    "PyTorch, through the PyTorch extension (it picks the GPU build that fits)",
                )
            )
        else:
            plan.append(
                InstallStep(
                    (torch_requirement,),
                    "PyTorch extension missing",
                    "the PyTorch extension: install it from the Extensions Manager, then restart Slicer",
                )
            )
    if requirements is not None:
        missing = _unsatisfied(list(requirements))
    else:
        missing = missing_requirements(requirements_file or default_requirements_file())
    if missing:
        installer = PIP_ENSURE if _pip_ensure_of(slicer_module) else PIP_INSTALL
        plan.append(InstallStep(tuple(missing), installer, "Python packages: " + ", ".join(missing)))
    return plan


def _install_torch_with_pytorchutils(torch_requirement: str) -> object:
    """Ask the PyTorch extension to install torch; returns the module, or None if declined."""
    from packaging.requirements import Requirement

    pytorch_utils = importlib.import_module("PyTorchUtils")  # the PyTorch extension's module
    logic = pytorch_utils.PyTorchUtilsLogic()
    return logic.installTorch(askConfirmation=False, torchVersionRequirement=str(Requirement(torch_requirement).specifier))


def ensure_requirements(
    slicer_module: object,
    requirements_file: str | Path | None,
    confirm: Callable[[str], bool],
    torch_requirement: str = TORCH_REQUIREMENT,
    install_torch: Callable[[str], object] = _install_torch_with_pytorchutils,
    requirements: list[str] | None = None,
) -> bool:
    """Make sure torch and the requirements are installed; True when they are.

    `confirm(message)` asks the user once, before anything is installed (the widgets pass
    `slicer.util.confirmOkCancelDisplay`); a refusal returns False with nothing changed.
    A missing PyTorch extension cannot be fixed from here: that raises LesionGANError
    with the steps for the user.
    """
    plan = install_plan(slicer_module, requirements_file, torch_requirement, requirements)
    if not plan:
        return True
    blocked = [step for step in plan if step.installer == "PyTorch extension missing"]
    if blocked:
        raise LesionGANError(f"LesionGAN needs {blocked[0].description}.")
    message = "LesionGAN needs to install:\n" + "\n".join(f"- {step.description}" for step in plan)
    if not confirm(message + "\n\nThis downloads from the internet and may take several minutes. Continue?"):
        return False
    for step in plan:
        if step.installer == "PyTorchUtils":
            install_torch(torch_requirement)
        elif step.installer == PIP_ENSURE:
            from packaging.requirements import Requirement

            pip_ensure = _pip_ensure_of(slicer_module)
            pip_ensure([Requirement(text) for text in step.packages], prompt_install=False, requester=REQUESTER)
        else:
            logging.warning("LesionGAN: this Slicer has no %s (Slicer 5.12+); installing %s with %s instead",
                            PIP_ENSURE, ", ".join(step.packages), PIP_INSTALL)
            slicer_module.util.pip_install(list(step.packages))
    return not install_plan(slicer_module, requirements_file, torch_requirement, requirements)
