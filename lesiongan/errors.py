"""Errors that name the input and the problem."""

from __future__ import annotations

from pathlib import Path


class LesionGANError(Exception):
    """Base class of every error LesionGAN raises on purpose."""


class InputError(LesionGANError):
    """An input (file, folder, node, array) that cannot be used: says which and why."""

    def __init__(self, source: object, problem: str):
        self.source = str(source) if isinstance(source, (str, Path)) else repr(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class VolumeError(InputError):
    """A volume file or array that is unreadable, not 3D, empty, non-finite or off-grid."""


class LayoutError(InputError):
    """A data folder whose layout is unknown or incomplete."""


class ModelFileError(InputError):
    """A model file that is not one, is of an unknown version, or lacks what is asked of it."""


class Cancelled(LesionGANError):
    """A run stopped by its cancel flag; nothing partial is returned."""
