"""The LesionSynthesis module's logic: usable from Slicer's Python console without the panel."""

from .logic import LesionSynthesisLogic

__all__ = ["LesionSynthesisLogic"]
