"""Render the PseudoHealthy slice views (input, heatmap, mask outline) of a phantom case to a PNG.

Runs outside Slicer on slicer-core: the scene, the logic and the three slice logics are the
real ones; each view is the slice logic's own blended image (background, foreground at the
heatmap opacity, label outline), so the picture is what the panel shows.

    python Testing/render_pseudohealthy_views.py --model path/to/model.pt \
        --output docs/images/pseudohealthy_views.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import vtk
from vtk.util import numpy_support

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "PseudoHealthy"))

from lesiongan.data.phantom import make_case  # noqa: E402
from lesiongan.data.volume import Volume  # noqa: E402
from lesiongan.io import atomic_path  # noqa: E402
from lesiongan.infer.catalog import default_model_path  # noqa: E402
from PseudoHealthyLib import PseudoHealthyLogic  # noqa: E402
from slicer_scene import SLICE_VIEWS, SlicerScene  # noqa: E402

VIEW_PIXELS = 320


def sliceViewImage(sliceLogic, centerRas: np.ndarray) -> np.ndarray:
    """The slice logic's blended RGBA image (rows top to bottom) through `centerRas`."""
    sliceNode = sliceLogic.GetSliceNode()
    sliceNode.SetDimensions(VIEW_PIXELS, VIEW_PIXELS, 1)
    sliceLogic.FitSliceToBackground(VIEW_PIXELS, VIEW_PIXELS)
    sliceNode.JumpSliceByCentering(*centerRas)
    sliceLogic.UpdateImageData()
    producer = sliceLogic.GetImageDataConnection().GetProducer()
    producer.Update()
    image = producer.GetOutputDataObject(0)
    width, height, _ = image.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    return pixels.reshape(height, width, -1)[::-1, :, :3]  # VTK's rows go bottom-up


def renderViews(volume: Volume, centerIjk: tuple[int, int, int], modelPath: Path, output: Path,
                threshold: float = 0.1, opacity: float = 0.5, device: str = "auto", name: str = "Case") -> dict:
    """Run the logic on `volume` and write the three slice views through `centerIjk` (i, j, k)."""
    built = SlicerScene.create()
    try:
        inputNode = built.addVolume(volume, name=name)
        logic = PseudoHealthyLogic(scene=built.scene)
        result = logic.process(inputNode, modelPath, threshold=threshold, device=device)
        logic.showResults(inputNode, heatmapOpacity=opacity)
        centerRas = (volume.ijk_to_ras() @ np.array([*centerIjk, 1.0]))[:3]
        views = [sliceViewImage(built.sliceLogics[view], centerRas) for view in SLICE_VIEWS]
        picture = np.concatenate([np.pad(view, ((4, 4), (4, 4), (0, 0))) for view in views], axis=1)
        _writePng(picture, output)
        return {"model": str(modelPath), "maskVoxels": result.maskVoxels,
                "seconds": round(result.seconds, 2), "device": result.device}
    finally:
        built.close()


def render(modelPath: Path, output: Path, size: str = "tiny", seed: int = 3, threshold: float = 0.1,
           opacity: float = 0.5, device: str = "auto") -> dict:
    """The views of a phantom case's FLAIR, centred on its lesion."""
    case = make_case(seed, size=size)
    volume = case.volume(case.images["flair"].astype(np.float32))
    k, j, i = case.lesion_center or tuple(s // 2 for s in volume.shape)
    summary = renderViews(volume, (i, j, k), modelPath, output, threshold, opacity, device, name=f"{case.name}_flair")
    return {**summary, "lesionVoxels": case.lesion_voxels}


def _writePng(rgb: np.ndarray, output: Path) -> None:
    image = vtk.vtkImageData()
    height, width, _ = rgb.shape
    image.SetDimensions(width, height, 1)
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(rgb[::-1]).reshape(-1, 3), deep=True,
                                         array_type=vtk.VTK_UNSIGNED_CHAR)
    image.GetPointData().SetScalars(scalars)
    with atomic_path(output) as temporary:
        writer = vtk.vtkPNGWriter()
        writer.SetFileName(str(temporary))  # the temporary name keeps the .png suffix
        writer.SetInputData(image)
        writer.Write()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path(), help="model file (default: demo model)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images" / "pseudohealthy_views.png")
    parser.add_argument("--size", default="tiny", choices=("tiny", "brats"), help="phantom size")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--opacity", type=float, default=0.5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    summary = render(args.model, args.output, args.size, args.seed, args.threshold, args.opacity, args.device)
    print(f"wrote {args.output}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
