"""Each module's own self-test (the ScriptedLoadableModuleTest that Slicer's Reload & Test and
ctest run) runs here too, in the harness: real MRML, the modules' real code."""

from __future__ import annotations

import pytest

from slicer_panels import app  # noqa: F401  (fixture)


@pytest.mark.parametrize("module", ["PseudoHealthy", "LesionSynthesis", "LesionGANTraining"])
def test_module_self_test_passes(app, module):  # noqa: F811
    panel = app.openPanel(module)
    case = getattr(panel.moduleFile, f"{module}Test")()
    result = case.defaultTestResult()
    case.run(result)
    assert result.testsRun == 1
    assert not result.errors and not result.failures, (result.errors, result.failures)
