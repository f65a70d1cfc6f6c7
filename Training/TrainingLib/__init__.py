"""The Training module's logic: usable from Slicer's Python console without the panel."""

from .logic import RunHandle, TrainingLogic, formatDuration, parseOptions

__all__ = ["RunHandle", "TrainingLogic", "formatDuration", "parseOptions"]
