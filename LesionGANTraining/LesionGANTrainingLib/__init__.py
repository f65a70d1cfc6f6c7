"""The LesionGANTraining module's logic: usable from Slicer's Python console without the panel."""

from .logic import LesionGANTrainingLogic, RunHandle, formatDuration, parseOptions

__all__ = ["LesionGANTrainingLogic", "RunHandle", "formatDuration", "parseOptions"]
