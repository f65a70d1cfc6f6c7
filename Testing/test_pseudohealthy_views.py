"""The slice views the logic sets up really blend the heatmap and the mask outline over the
input (rendered by slicer-core's slice logics, as docs/images/pseudohealthy_views.png is)."""

from __future__ import annotations

import numpy as np

from PseudoHealthyLib import PseudoHealthyLogic
from render_pseudohealthy_views import VIEW_PIXELS, renderViews, sliceViewImage
from slicer_scene import obliqueGeometryVolume, slicer_scene  # noqa: F401  (fixture)
from test_pseudohealthy_logic import modelPath  # noqa: F401  (fixture)


def _colored(image: np.ndarray) -> np.ndarray:
    """Pixels that are not grey: the input alone is drawn with a grey color table."""
    channels = image.astype(int)
    return (np.abs(channels[..., 0] - channels[..., 1]) > 8) | (np.abs(channels[..., 1] - channels[..., 2]) > 8)


def test_views_show_heatmap_only_at_nonzero_opacity(slicer_scene, modelPath):  # noqa: F811
    volume = obliqueGeometryVolume()
    inputNode = slicer_scene.addVolume(volume)
    logic = PseudoHealthyLogic(scene=slicer_scene.scene)
    logic.process(inputNode, modelPath, device="cpu")
    center = (volume.ijk_to_ras() @ np.array([9, 10, 3, 1.0]))[:3]
    logic.showResults(inputNode, heatmapOpacity=0.0, showMask=False)
    plain = sliceViewImage(slicer_scene.sliceLogics["Red"], center)
    assert plain.any() and not _colored(plain).any()
    logic.showResults(inputNode, heatmapOpacity=0.7, showMask=False)
    heat = sliceViewImage(slicer_scene.sliceLogics["Red"], center)
    assert _colored(heat).mean() > 0.05
    logic.showResults(inputNode, heatmapOpacity=0.0, showMask=True)
    outlined = sliceViewImage(slicer_scene.sliceLogics["Red"], center)
    assert _colored(outlined).any() and not np.array_equal(outlined, plain)


def test_render_script_writes_png(modelPath, tmp_path):  # noqa: F811
    from PIL import Image

    output = tmp_path / "views.png"
    summary = renderViews(obliqueGeometryVolume(), (9, 10, 3), modelPath, output, device="cpu")
    assert summary["maskVoxels"] > 0
    side = VIEW_PIXELS + 8  # each view padded by 4 pixels
    with Image.open(output) as picture:
        assert picture.size == (3 * side, side)
        assert _colored(np.asarray(picture.convert("RGB"))).any()
