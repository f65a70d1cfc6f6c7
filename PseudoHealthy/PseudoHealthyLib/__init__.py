"""The PseudoHealthy module's logic: usable from Slicer's Python console without the panel."""

from .logic import PseudoHealthyLogic, PseudoHealthyResult

__all__ = ["PseudoHealthyLogic", "PseudoHealthyResult"]
