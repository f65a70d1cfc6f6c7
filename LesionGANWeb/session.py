"""The work behind the page, on one trame-slicer scene and with the Slicer modules' own logic.

`WebSession` loads a case, runs `PseudoHealthyLogic.process` / `rethreshold` / `showResults`,
paints with trame-slicer's segment editor, synthesizes through `LesionSynthesisLogic`, and
writes the outputs for download. It holds no UI: the page (`app.py`) calls it, and the tests
can call it without a browser. Errors are `lesiongan.errors.LesionGANError`s that name what
the user gave (the uploaded file's name, not the server's temporary path).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lesiongan.data.volume import VOLUME_SUFFIXES, read_volume
from lesiongan.errors import InputError, LesionGANError, VolumeError
from lesiongan.infer import catalog
from lesiongan.infer.cases import volume_name
from lesiongan.progress import CancelCheck, ProgressCallback

PAINTED_SEGMENT = "Lesion"
PAINTED_COLOR = (0.35, 0.75, 1.0)
# What can be downloaded: key -> (label on the page, file suffix).
DOWNLOADS = {
    "pseudoHealthy": ("pseudo-healthy", ".nii.gz"),
    "difference": ("difference", ".nii.gz"),
    "mask": ("mask", ".nii.gz"),
    "segmentation": ("segmentation", ".seg.nrrd"),
    "painted": ("painted lesion region", ".nii.gz"),
    "synthesized": ("with lesion", ".nii.gz"),
}


@dataclass(frozen=True)
class ModelChoice:
    """A model the page offers: `value` is what `resolve` takes (a catalog name or a file)."""

    title: str
    value: str


def upload_error(name: str, error: LesionGANError, where: Path) -> LesionGANError:
    """`error` with the server's path `where` replaced by the name the user knows."""
    if isinstance(error, InputError):
        return type(error)(name, error.problem.replace(str(where), name))
    return type(error)(str(error).replace(str(where), name))


class WebSession:
    """One case at a time on `slicerApp`'s scene (a `trame_slicer.core.SlicerApp`)."""

    def __init__(self, slicerApp, workDir: str | Path | None = None, model: str | Path | None = None) -> None:
        from LesionSynthesisLib.logic import LesionSynthesisLogic
        from PseudoHealthyLib.logic import PseudoHealthyLogic

        self.slicerApp = slicerApp
        self.scene = slicerApp.scene
        self.pseudoHealthyLogic = PseudoHealthyLogic(scene=self.scene)
        self.synthesisLogic = LesionSynthesisLogic(scene=self.scene)
        self._tempDir = tempfile.TemporaryDirectory(prefix="lesiongan-web-") if workDir is None else None
        self.workDir = Path(workDir or self._tempDir.name)
        self.inputNode = None
        self.paintedNode = None  # segmentation painted in the segment editor
        self.synthesizedNodes: tuple | None = None  # (volume with lesion, lesion labelmap)
        self._uploads = 0
        self.models = self._catalogChoices()
        self.defaultModel = self.models[0].value if self.models else ""
        if model is not None:
            self.defaultModel = self.addModelFile(Path(model), Path(model).name).value

    # ---------------------------------------------------------------- models
    @staticmethod
    def _catalogChoices() -> list[ModelChoice]:
        """The panels' catalog, the shipped default first; downloads are fetched when used."""
        default = catalog.default_model_path()
        entries = sorted(catalog.list_models(), key=lambda entry: entry.path != default)
        return [ModelChoice(entry.name if entry.available else f"{entry.name} (download)", entry.name)
                for entry in entries]

    def addModelFile(self, path: Path, name: str) -> ModelChoice:
        """Check that `path` loads as a model (the error names `name`) and offer it."""
        try:
            self.pseudoHealthyLogic.loadModel(path)
        except LesionGANError as error:
            raise upload_error(name, error, path) from error
        choice = ModelChoice(name, str(path))
        self.models = [model for model in self.models if model.value != choice.value] + [choice]
        return choice

    def uploadModel(self, name: str, content: bytes) -> ModelChoice:
        return self.addModelFile(self._saveUpload([(name, content)])[0], name)

    def modelThreshold(self, value: str) -> float | None:
        """The mask threshold a choice's model file carries (its calibrated one), or None while
        the file is still to be downloaded (choosing a model fetches nothing)."""
        entries = {entry.name: entry for entry in catalog.list_models()}
        if value in entries and not entries[value].available:
            return None
        return self.pseudoHealthyLogic.modelThreshold(self.resolveModel(value))

    @staticmethod
    def resolveModel(value: str) -> Path:
        """The model file of a choice (a catalog download is fetched and verified first)."""
        return catalog.resolve_model(value)

    # ---------------------------------------------------------------- loading
    def _saveUpload(self, files: list[tuple[str, bytes]]) -> list[Path]:
        self._uploads += 1
        folder = self.workDir / f"upload{self._uploads}"
        folder.mkdir(parents=True)
        paths = []
        for name, content in files:
            path = folder / (Path(name).name or "upload")
            path.write_bytes(content)
            paths.append(path)
        return paths

    def loadUpload(self, files: list[tuple[str, bytes]]):
        """Load one volume file (NIfTI, NRRD, MHA) or the files of one DICOM series."""
        if not files:
            raise InputError("upload", "no file was sent")
        paths = self._saveUpload(files)
        volumes = [path for path in paths if path.name.lower().endswith(VOLUME_SUFFIXES)]
        if len(volumes) > 1:
            raise InputError(", ".join(path.name for path in volumes),
                             "upload one volume at a time (or the files of one DICOM series)")
        if volumes or len(paths) == 1:
            path = (volumes or paths)[0]
            return self.loadPath(path, path.name)
        return self.loadPath(paths[0].parent, f"{len(paths)} files")  # the files of a DICOM series

    def loadPath(self, path: Path, name: str | None = None):
        """Load a volume file or a DICOM series folder as the current case.

        The file is first read the way `lesiongan infer` reads it, so a bad file gets the
        command line's message; then Slicer's own reader puts it into the scene.
        """
        path = Path(path)
        name = name or path.name
        try:
            read_volume(path)
        except LesionGANError as error:
            raise upload_error(name, error, path) from error
        files = [path] if path.is_file() else sorted(child for child in path.iterdir() if child.is_file())
        nodes = self.slicerApp.io_manager.load_volumes([str(file) for file in files])
        if not nodes:
            raise VolumeError(name, "Slicer's reader could not load it as a volume")
        self.clearCase()
        for extra in nodes[1:]:
            self.scene.RemoveNode(extra)
        self.inputNode = nodes[0]
        self.inputNode.SetName(volume_name(Path(name)) if path.is_file() else "DICOM series")
        return self.inputNode

    def clearCase(self) -> None:
        """Remove the current case and everything made from it."""
        nodes = []
        if self.inputNode is not None:
            nodes += list(self.pseudoHealthyLogic.outputNodes(self.inputNode).values()) + [self.inputNode]
        nodes += [self.paintedNode] + list(self.synthesizedNodes or ())
        for node in nodes:
            if node is not None and self.scene.IsNodePresent(node):
                self.scene.RemoveNode(node)
        self.inputNode = self.paintedNode = self.synthesizedNodes = None

    def requireCase(self):
        if self.inputNode is None:
            raise InputError("input volume", "load a volume first")
        return self.inputNode

    # ---------------------------------------------------------------- pseudo-healthy
    def prepare(self, model: str, threshold: float):
        """`PseudoHealthyLogic.prepare` on the current case: its `compute` may run on a worker
        thread while the views keep drawing; `store` then writes the nodes."""
        return self.pseudoHealthyLogic.prepare(self.requireCase(), self.resolveModel(model), threshold=threshold)

    def store(self, run):
        """`PseudoHealthyLogic.store` (no view changes: see `showResults`)."""
        return self.pseudoHealthyLogic.store(run)

    def hasResults(self) -> bool:
        return self.inputNode is not None and "difference" in self.pseudoHealthyLogic.outputNodes(self.inputNode)

    def rethreshold(self, threshold: float):
        return self.pseudoHealthyLogic.rethreshold(self.requireCase(), threshold)

    def showResults(self, heatmapOpacity: float) -> None:
        self.pseudoHealthyLogic.showResults(self.requireCase(), heatmapOpacity)

    def setHeatmapOpacity(self, opacity: float) -> None:
        self.pseudoHealthyLogic.setHeatmapOpacity(opacity)

    def outputNode(self, role: str):
        """The current case's output of `role` (see DOWNLOADS), or None."""
        if self.inputNode is None:
            return None
        if role == "painted":
            return self.synthesizedNodes[1] if self.synthesizedNodes else None
        if role == "synthesized":
            return self.synthesizedNodes[0] if self.synthesizedNodes else None
        return self.pseudoHealthyLogic.outputNodes(self.inputNode).get(role)

    # ---------------------------------------------------------------- painting
    def startPainting(self, brushDiameterMm: float):
        """Paint into a 'Lesion' segment of the case with trame-slicer's paint effect."""
        from trame_slicer.segmentation import BrushDiameterMode, SegmentationEffectPaint

        inputNode = self.requireCase()
        editor = self.slicerApp.segmentation_editor
        if self.paintedNode is None or not self.scene.IsNodePresent(self.paintedNode):
            self.paintedNode = editor.create_empty_segmentation_node()
            self.paintedNode.SetName(f"{inputNode.GetName()} painted lesion")
        editor.set_active_segmentation(self.paintedNode, inputNode)
        editor.set_surface_representation_enabled(False)
        if not editor.get_segment_ids():
            editor.add_empty_segment(segment_name=PAINTED_SEGMENT, segment_color=list(PAINTED_COLOR))
        effect = editor.set_active_effect_type(SegmentationEffectPaint)
        effect.set_brush_diameter(float(brushDiameterMm), BrushDiameterMode.Absolute)
        return effect

    def stopPainting(self) -> None:
        self.slicerApp.segmentation_editor.deactivate_effect()

    def synthesize(self, model: str, progress: ProgressCallback | None = None):
        """`LesionSynthesisLogic.synthesizeLesion` inside the painted region; replaces the last one."""
        inputNode = self.requireCase()
        if self.paintedNode is None:
            raise InputError("lesion region", "paint where the lesion should go first")
        nodes = self.synthesisLogic.synthesizeLesion(inputNode, self.paintedNode, self.resolveModel(model),
                                                     progress=progress)
        for old in self.synthesizedNodes or ():
            self.scene.RemoveNode(old)
        self.synthesizedNodes = nodes
        return nodes

    # ---------------------------------------------------------------- downloads
    def exportName(self, role: str) -> str:
        """The download's file name: the case's name, what it is, and its format."""
        label, suffix = DOWNLOADS[role]
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.requireCase().GetName()}_{label}").strip("_")
        return stem + suffix

    def export(self, role: str) -> tuple[str, bytes]:
        """(file name, file content) of one output, written by Slicer's own writers."""
        label, suffix = DOWNLOADS[role]
        node = self.outputNode(role)
        if node is None:
            raise InputError(label, "nothing to download yet")
        folder = Path(tempfile.mkdtemp(dir=self.workDir, prefix="export-"))
        path = folder / self.exportName(role)
        if role == "segmentation":
            _write_segmentation(node, path)
        else:
            self.slicerApp.io_manager.write_volume(node, path)
        if not path.is_file():
            raise VolumeError(node.GetName(), f"could not be written as {suffix}")
        content = path.read_bytes()
        path.unlink()
        folder.rmdir()
        return path.name, content


def _write_segmentation(node, path: Path) -> None:
    """A .seg.nrrd with its segment names and colors, as Slicer saves segmentations."""
    import slicer

    storage = slicer.vtkMRMLSegmentationStorageNode()
    storage.SetFileName(str(path))
    storage.WriteData(node)
