"""Screenshots of the module panels, made by their real widget code (outside Slicer).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/render_panels.py            # Resources/Screenshots
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/render_panels.py --modules PseudoHealthy --output /tmp

Each module's widget class runs in the test harness (`Testing/slicerharness`: PySide6 in
place of Slicer's PythonQt, look-alike CTK and MRML widgets, real MRML from slicer-core), the
flow the picture shows is done as a user does it (the same steps as the panel tests), and the
panel is grabbed offscreen:

- PseudoHealthy: a tiny phantom case, the shipped demo model, Apply;
- LesionSynthesis: a painted region, a lesion synthesized there, every section open;
- LesionGANTraining: a tiny run on a tiny phantom, followed to its end.

What differs from Slicer: the CTK/MRML widgets are plain-Qt look-alikes, Slicer's style,
slice views and application frame are absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "Testing"), str(ROOT)]
os.environ.setdefault("LESIONGAN_CACHE", tempfile.mkdtemp(prefix="lesiongan-cache-"))

import numpy as np  # noqa: E402

import conftest  # noqa: E402,F401  (the module folders on sys.path, as the tests have them)
import slicerharness  # noqa: E402
from slicer_panels import Panel, choose, click, harness  # noqa: E402
from slicer_scene import SlicerScene  # noqa: E402

MODULES = ("PseudoHealthy", "LesionSynthesis", "LesionGANTraining")
PANEL_WIDTH = 430  # about the width of Slicer's module panel on a 1920-pixel screen


def openPanel(name: str) -> Panel:
    panel = Panel(name)
    panel.parent._entered = True
    panel.widget.enter()
    return panel


def pseudoHealthy(scene: SlicerScene, work: Path) -> Panel:
    from LesionGANLib.nodes import updateNodeFromVolume
    from lesiongan.data.phantom import make_case

    case = make_case(0, size="tiny")
    node = scene.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Phantom_flair")
    updateNodeFromVolume(node, case.volume(case.images["flair"].astype(np.float32)))
    node.CreateDefaultDisplayNodes()
    panel = openPanel("PseudoHealthy")
    panel.ui.inputSelector.setCurrentNode(node)
    click(panel.ui.applyButton)
    return panel


def lesionSynthesis(scene: SlicerScene, work: Path) -> Panel:
    from synthesis_support import brain_with_ventricles, write_painting_model

    volume, _ = brain_with_ventricles()
    node = scene.addVolume(volume, "Healthy_flair")
    panel = openPanel("LesionSynthesis")
    harness.fileDialogAnswers.append(str(write_painting_model(work / "reconstructor.pt")))
    choose(panel.ui.modelComboBox, "Browse...")
    segmentation = scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Lesions")
    panel.ui.segmentationSelector.setCurrentNode(segmentation)
    panel.ui.inputSelector.setCurrentNode(node)
    editor = panel.ui.segmentEditorWidget
    editor.setActiveEffectByName("Paint")
    region = np.zeros(volume.shape, bool)
    region[4:6, 12:16, 10:14] = True
    editor.activeEffect().paint(region)
    click(panel.ui.synthesizeButton)
    for section in ("random", "images", "turing"):
        getattr(panel.ui, f"{section}CollapsibleButton").collapsed = False
    return panel


def lesionGANTraining(scene: SlicerScene, work: Path) -> Panel:
    from lesiongan.data.phantom import write_cases

    write_cases(work / "phantom", 4, seed=0, size="tiny")
    panel = openPanel("LesionGANTraining")
    ui = panel.ui
    ui.dataPathLineEdit.currentPath = str(work / "phantom")
    choose(ui.deviceComboBox, "cpu")
    ui.iterationsSpinBox.value = 60
    ui.batchSizeSpinBox.value = 2
    ui.optionsLineEdit.text = ("size=32,32 ngf=4 ndf=4 n_blocks=1 pool_size=3 log_every=1 sample_every=20 "
                               "no_tensorboard")
    ui.outputPathLineEdit.currentPath = str(work / "runs" / "tiny")
    click(ui.startButton)
    deadline = time.monotonic() + 300
    while not ui.useModelButton.enabled and time.monotonic() < deadline:
        harness.app.processEvents()
        time.sleep(0.1)
    ui.modelNameLineEdit.text = "tiny-antgan"
    return panel


FLOWS = {"PseudoHealthy": pseudoHealthy, "LesionSynthesis": lesionSynthesis, "LesionGANTraining": lesionGANTraining}


def render(module: str, output: Path) -> Path:
    scene = SlicerScene.create()
    slicerharness.useScene(scene)
    with tempfile.TemporaryDirectory() as folder:
        panel = FLOWS[module](scene, Path(folder))
        parent = panel.parent
        parent.resize(PANEL_WIDTH, 10)
        parent.show()
        harness.app.processEvents()
        parent.resize(PANEL_WIDTH, parent.sizeHint().height())
        harness.app.processEvents()
        output.parent.mkdir(parents=True, exist_ok=True)
        if not parent.grab().save(str(output), "PNG"):
            raise RuntimeError(f"could not write {output}")
        panel.close()
    scene.close()
    if harness.slotErrors:
        raise RuntimeError(f"the {module} flow raised in slots: {harness.slotErrors}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="+", default=list(MODULES), choices=MODULES)
    parser.add_argument("--output", type=Path, default=ROOT / "Resources" / "Screenshots")
    args = parser.parse_args(argv)
    for module in args.modules:
        print(render(module, args.output / f"{module}.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
