"""The PseudoHealthy module's logic: usable from Slicer's Python console without the panel."""

import os
import sys

# Slicer puts only the module's folder on sys.path. Installed, LesionGANLib and lesiongan lie
# beside it; in a source checkout or release archive they sit one folder up, which is added
# here, so the Lib loads on its own (the module file imports it before LesionGANLib).
try:
    import LesionGANLib  # noqa: F401
except ImportError:
    sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from .logic import PreparedRun, PseudoHealthyLogic, PseudoHealthyResult

__all__ = ["PreparedRun", "PseudoHealthyLogic", "PseudoHealthyResult"]
