"""The page: a trame application around `WebSession` and trame-slicer's slice views.

Views: the input with the heatmap over it and the mask as an outline, in axial, coronal and
sagittal slice views (view group 0), and a linked axial 'Result' view (group 1) that shows
the pseudo-healthy volume, or the volume with a synthesized lesion, at the same slice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import traceback
from pathlib import Path

from trame.app import TrameApp
from trame.app.file_upload import ClientFile
from trame.widgets import html
from trame_vuetify.ui.vuetify3 import SinglePageWithDrawerLayout
from trame_vuetify.widgets import vuetify3 as v3

from lesiongan.data.volume import VOLUME_SUFFIXES
from lesiongan.errors import Cancelled, LesionGANError
from trame_slicer.core import LayoutManager, SlicerApp
from trame_slicer.rca_view import register_rca_factories
from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition, ViewProps, ViewType

from .session import DOWNLOADS, WebSession

LOG = logging.getLogger("lesiongan.web")
LAYOUT_NAME = "LesionGAN"
INPUT_GROUP, RESULT_GROUP = 0, 1
RESULT_VIEW = "Result"
MAX_DATA_FILES = 2000
ANTGAN_THRESHOLD = 0.1  # the paper's, until a model still to be downloaded says its own


def result_view() -> ViewLayoutDefinition:
    return ViewLayoutDefinition(RESULT_VIEW, ViewType.SLICE_VIEW,
                                ViewProps(label=RESULT_VIEW, orientation="Axial", color="#9b7fd4", group=RESULT_GROUP))


def views_layout() -> Layout:
    """Axial input over the axial result on the left; coronal over sagittal on the right."""
    return Layout(LayoutDirection.Horizontal, [
        Layout(LayoutDirection.Vertical, [ViewLayoutDefinition.axial_view(), result_view()]),
        Layout(LayoutDirection.Vertical, [ViewLayoutDefinition.coronal_view(), ViewLayoutDefinition.sagittal_view()]),
    ])


def data_files(folder: Path | None) -> list[str]:
    """Volume files under `folder` (relative paths), for the 'from the data folder' list."""
    if folder is None:
        return []
    found = sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                   if path.is_file() and path.name.lower().endswith(VOLUME_SUFFIXES))
    return found[:MAX_DATA_FILES]


class LesionGANWebApp(TrameApp):
    def __init__(self, server=None, model: Path | None = None, data: Path | None = None) -> None:
        super().__init__(server=server, client_type="vue3")
        self.slicerApp = SlicerApp()
        register_rca_factories(self.slicerApp.view_manager, self.server)
        self.layoutManager = LayoutManager(self.slicerApp.scene, self.slicerApp.view_manager, self.server)
        self.layoutManager.register_layout(LAYOUT_NAME, views_layout())
        self.layoutManager.set_layout(LAYOUT_NAME)
        self.session = WebSession(self.slicerApp, model=model)
        self.dataFolder = data
        self._cancelRequested = False
        self._progress = (0, 0)
        self._linking = False
        self._linkedNodes: tuple | None = None
        self._initState()
        self._buildUi()

    # ---------------------------------------------------------------- state
    def _initState(self) -> None:
        state = self.state
        state.trame__title = "LesionGAN"
        state.models = [{"title": choice.title, "value": choice.value} for choice in self.session.models]
        state.model = self.session.defaultModel
        state.data_files = data_files(self.dataFolder)
        state.data_file = None
        state.case_name = ""
        state.threshold = self.session.modelThreshold(state.model) or ANTGAN_THRESHOLD
        state.heatmap_opacity = 0.5
        state.brush_mm = 10.0
        state.busy = False
        state.progress = 0
        state.painting = False
        state.has_results = False
        state.has_synthesis = False
        state.result_shows = "pseudo-healthy"
        state.status = "Load a volume to begin."
        state.error = ""
        state.download_names = {}
        state.change("threshold")(self._onThreshold)
        state.change("model")(self._onModel)
        state.change("heatmap_opacity")(self._onOpacity)
        state.change("brush_mm")(self._onBrush)

    def _report(self, error: Exception) -> None:
        """Show `error` on the page; the server keeps serving."""
        if isinstance(error, LesionGANError):
            message = str(error)
        else:
            LOG.error("unexpected error:\n%s", traceback.format_exc())
            message = f"unexpected error: {type(error).__name__}: {error}"
        with self.state:
            self.state.error = message
            self.state.busy = False

    def _setStatus(self, status: str, error: str = "") -> None:
        with self.state:
            self.state.status = status
            self.state.error = error

    # ---------------------------------------------------------------- views
    def _sliceViews(self, group: int):
        return self.slicerApp.view_manager.get_slice_views(group)

    def _render(self) -> None:
        """Draw every view again: changing a slice composite node alone does not."""
        for view in self.slicerApp.view_manager.get_views():
            view.schedule_render()

    def _composite(self, viewName: str):
        return self.slicerApp.scene.GetSingletonNode(viewName, "vtkMRMLSliceCompositeNode")

    def _setLayers(self, views: list, background, foreground=None, label=None) -> None:
        for view in views:
            composite = self._composite(view.get_singleton_tag())
            if composite is None:
                continue
            composite.SetBackgroundVolumeID(background.GetID() if background else None)
            composite.SetForegroundVolumeID(foreground.GetID() if foreground else None)
            composite.SetLabelVolumeID(label.GetID() if label else None)
        self._render()

    def _showCase(self) -> None:
        node = self.session.inputNode
        self._setLayers(self._sliceViews(INPUT_GROUP) + self._sliceViews(RESULT_GROUP), node)
        self.slicerApp.display_manager.reset_views()
        self._linkResultView()

    def _showInResultView(self, node) -> None:
        self._setLayers(self._sliceViews(RESULT_GROUP), node)

    def _linkResultView(self) -> None:
        """The Result view follows the axial input view's slice, and the other way round."""
        scene = self.slicerApp.scene
        red = scene.GetSingletonNode("Red", "vtkMRMLSliceNode")
        result = scene.GetSingletonNode(RESULT_VIEW, "vtkMRMLSliceNode")
        if red is None or result is None or self._linkedNodes == (red, result):
            return
        self._linkedNodes = (red, result)

        def follow(source, target):
            def onModified(*_):
                if self._linking:
                    return
                self._linking = True
                try:
                    target.SetSliceOffset(source.GetSliceOffset())
                finally:
                    self._linking = False
            return onModified

        red.AddObserver("ModifiedEvent", follow(red, result))
        result.AddObserver("ModifiedEvent", follow(result, red))
        result.SetSliceOffset(red.GetSliceOffset())

    def _updateAvailability(self) -> None:
        with self.state:
            self.state.has_results = self.session.hasResults()
            self.state.has_synthesis = self.session.synthesizedNodes is not None
            self.state.download_names = ({role: self.session.exportName(role) for role in DOWNLOADS}
                                         if self.session.inputNode is not None else {})

    # ---------------------------------------------------------------- loading
    def _afterLoad(self) -> None:
        self._cancelPainting()
        self._showCase()
        with self.state:
            self.state.case_name = self.session.inputNode.GetName()
            self.state.result_shows = "input"
        self._updateAvailability()
        self._setStatus(f"Loaded {self.state.case_name}. Choose a model and press Apply.")

    def onUploadVolume(self, files) -> None:
        if not files:  # the field was cleared
            return
        try:
            uploads = [ClientFile(file) for file in files]
            self.session.loadUpload([(upload.name, upload.content) for upload in uploads])
            self._afterLoad()
        except Exception as error:  # noqa: BLE001  (shown on the page; the server keeps serving)
            self._report(error)

    def onLoadDataFile(self) -> None:
        try:
            if not self.state.data_file or self.dataFolder is None:
                raise LesionGANError("choose a file from the data folder first")
            path = (self.dataFolder / self.state.data_file).resolve()
            if self.dataFolder.resolve() not in path.parents:
                raise LesionGANError(f"{self.state.data_file}: not inside the data folder")
            self.session.loadPath(path, path.name)
            self._afterLoad()
        except Exception as error:  # noqa: BLE001
            self._report(error)

    def onUploadModel(self, files) -> None:
        if not files:  # the field was cleared
            return
        try:
            upload = ClientFile(files[0])
            choice = self.session.uploadModel(upload.name, upload.content)
            with self.state:
                self.state.models = [{"title": c.title, "value": c.value} for c in self.session.models]
                self.state.model = choice.value
            self._setStatus(f"Model {choice.title} loaded.")
        except Exception as error:  # noqa: BLE001
            self._report(error)

    # ---------------------------------------------------------------- pseudo-healthy
    def _onProgress(self, done: int, total: int) -> None:  # called from the worker thread
        self._progress = (done, total)

    async def onApply(self) -> None:
        if self.state.busy:
            return
        try:
            self.session.requireCase()
        except LesionGANError as error:
            self._report(error)
            return
        self._cancelPainting()
        self._cancelRequested, self._progress = False, (0, 0)
        with self.state:
            self.state.busy, self.state.progress, self.state.error = True, 0, ""
            self.state.status = "Running the model..."
        started = time.perf_counter()
        model, threshold = self.state.model, float(self.state.threshold)
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lesiongan-apply")
        try:
            # Only the model runs on the worker: it reads copies of the voxels and touches no
            # node, so the views keep drawing; the nodes are written here, on the loop's thread.
            run = self.session.prepare(model, threshold)
            future = executor.submit(run.compute, self._onProgress, lambda: self._cancelRequested)
            while not future.done():
                done, total = self._progress
                with self.state:
                    self.state.progress = round(100 * done / total) if total else 0
                await asyncio.sleep(0.1)
            result = self.session.store(future.result())
            self.session.showResults(float(self.state.heatmap_opacity))
            self._showInResultView(self.slicerApp.scene.GetNodeByID(result.pseudoHealthyNodeID))
            with self.state:
                self.state.result_shows = "pseudo-healthy"
                self.state.progress = 100
            self._updateAvailability()
            self._setStatus(f"Done in {time.perf_counter() - started:.1f} s on {result.device}: "
                            f"{result.maskVoxels} mask voxels at threshold {threshold:g}.")
        except Cancelled:
            self._setStatus("Cancelled: nothing was changed.")
        except Exception as error:  # noqa: BLE001
            self._report(error)
        finally:
            executor.shutdown(wait=False)
            with self.state:
                self.state.busy = False

    def onCancel(self) -> None:
        self._cancelRequested = True
        self._setStatus("Cancelling...")

    def _onModel(self, model, **_) -> None:
        """A model chosen: the threshold starts at its own (calibrated) one, as in the panel."""
        try:
            threshold = self.session.modelThreshold(model)
        except LesionGANError as error:  # a file that does not load: Apply says so again
            self._report(error)
            return
        if threshold is not None:
            with self.state:
                self.state.threshold = threshold

    def _onThreshold(self, threshold, **_) -> None:
        if not self.session.hasResults() or self.state.busy:
            return
        try:
            result = self.session.rethreshold(float(threshold))
            self._render()
            self._setStatus(f"Mask at threshold {float(threshold):g}: {result.maskVoxels} voxels "
                            "(the model was not run again).")
        except Exception as error:  # noqa: BLE001
            self._report(error)

    def _onOpacity(self, heatmap_opacity, **_) -> None:
        if self.session.hasResults():
            self.session.setHeatmapOpacity(float(heatmap_opacity))
            self._render()

    # ---------------------------------------------------------------- painting
    def onTogglePaint(self) -> None:
        try:
            if self.state.painting:
                self._cancelPainting()
                return
            self.session.startPainting(float(self.state.brush_mm))
            # The painted region shows in the input's views; the Result view keeps the volume clear.
            display = self.session.paintedNode.GetDisplayNode()
            for view in self._sliceViews(INPUT_GROUP):
                display.AddViewNodeID(view.get_view_node_id())
            with self.state:
                self.state.painting = True
            self._setStatus("Paint the lesion region in a slice view, then press Synthesize lesion.")
        except Exception as error:  # noqa: BLE001
            self._report(error)

    def _cancelPainting(self) -> None:
        if self.state.painting:
            self.session.stopPainting()
            with self.state:
                self.state.painting = False

    def _onBrush(self, brush_mm, **_) -> None:
        if self.state.painting:
            self.session.startPainting(float(brush_mm))

    async def onSynthesize(self) -> None:
        if self.state.busy:
            return
        self._cancelPainting()
        with self.state:
            self.state.busy, self.state.error = True, ""
            self.state.status = "Synthesizing a lesion..."
        await asyncio.sleep(0.1)  # let the status reach the page before this thread is busy
        try:
            started = time.perf_counter()
            # Synthesis adds and reads nodes from its first step, so it runs on this thread.
            synthesized, _ = self.session.synthesize(self.state.model)
            self._showInResultView(synthesized)
            with self.state:
                self.state.result_shows = "with lesion"
            self._updateAvailability()
            self._setStatus(f"Lesion synthesized in {time.perf_counter() - started:.1f} s: "
                            "the Result view shows the volume with the lesion.")
        except Exception as error:  # noqa: BLE001
            self._report(error)
        finally:
            with self.state:
                self.state.busy = False

    def onShowResult(self, what: str) -> None:
        role = {"pseudo-healthy": "pseudoHealthy", "with lesion": "synthesized", "input": None}[what]
        node = self.session.outputNode(role) if role else self.session.inputNode
        if node is not None:
            self._showInResultView(node)
            with self.state:
                self.state.result_shows = what

    # ---------------------------------------------------------------- downloads
    def onDownload(self, role: str):
        try:
            _, content = self.session.export(role)
            return self.server.protocol.addAttachment(content)
        except Exception as error:  # noqa: BLE001
            self._report(error)
            return None

    # ---------------------------------------------------------------- page
    def _buildUi(self) -> None:
        ctrl = self.server.controller
        trigger = ctrl.trigger_name
        with SinglePageWithDrawerLayout(self.server, full_height=True) as layout:
            self.ui = layout
            layout.title.set_text("LesionGAN: pseudo-healthy synthesis")
            layout.drawer.width = 360
            with layout.toolbar:
                v3.VSpacer()
                html.Div("{{ case_name }}", id="case-name", classes="text-subtitle-1 mr-4")
            with layout.drawer, html.Div(classes="pa-3 d-flex flex-column ga-2", style="overflow-x: hidden"):
                v3.VAlert(id="error", text=("error",), v_if="error", type="error", density="compact",
                          closable=True, click_close="error = ''")
                html.Div("{{ status }}", id="status", classes="text-body-2")
                html.Div("Volume", classes="text-overline")
                with html.Div(id="volume-upload"):
                    v3.VFileInput(
                        label="Upload NIfTI, NRRD or a DICOM series", multiple=True,
                        density="compact", hide_details=True, prepend_icon="mdi-file-upload",
                        update_modelValue=(f"trigger('{trigger(self.onUploadVolume)}', [$event])"),
                        disabled=("busy",),
                    )
                with html.Div(v_if="data_files.length", classes="d-flex ga-2 align-center"):
                    with html.Div(id="data-file", classes="flex-grow-1"):
                        v3.VAutocomplete(label="From the data folder", items=("data_files",),
                                         v_model=("data_file",), density="compact", hide_details=True)
                    v3.VBtn("Load", id="data-load", click=self.onLoadDataFile, disabled=("busy",),
                            density="compact")
                html.Div("Pseudo-healthy volume", classes="text-overline mt-2")
                with html.Div(id="model"):
                    v3.VSelect(label="Model", items=("models",), v_model=("model",),
                               density="compact", hide_details=True, disabled=("busy",))
                with html.Div(id="model-upload"):
                    v3.VFileInput(
                        label="Or upload a model file (.pt)", density="compact", multiple=True,
                        hide_details=True, prepend_icon="mdi-brain", disabled=("busy",),
                        update_modelValue=(f"trigger('{trigger(self.onUploadModel)}', [$event])"),
                    )
                with html.Div(classes="d-flex flex-wrap ga-2"):
                    v3.VBtn("Apply", id="apply", color="primary", click=self.onApply,
                            disabled=("busy || !case_name",))
                    v3.VBtn("Cancel", id="cancel", click=self.onCancel, v_show="busy")
                v3.VProgressLinear(id="progress", model_value=("progress",), v_show="busy", height=8,
                                   color="primary")
                html.Div("Threshold {{ threshold.toFixed(2) }}", id="threshold-label", classes="text-body-2")
                with html.Div(id="threshold"):
                    v3.VSlider(v_model=("threshold",), min=0.01, max=0.5, step=0.01,
                               density="compact", hide_details=True, disabled=("!has_results || busy",))
                html.Div("Heatmap opacity {{ heatmap_opacity.toFixed(2) }}", classes="text-body-2")
                with html.Div(id="heatmap-opacity"):
                    v3.VSlider(v_model=("heatmap_opacity",), min=0, max=1, step=0.05,
                               density="compact", hide_details=True, disabled=("!has_results",))
                html.Div("Lesion synthesis", classes="text-overline mt-2")
                html.Div("Brush {{ brush_mm.toFixed(0) }} mm", classes="text-body-2")
                with html.Div(id="brush"):
                    v3.VSlider(v_model=("brush_mm",), min=2, max=40, step=1, density="compact",
                               hide_details=True)
                with html.Div(classes="d-flex flex-wrap ga-2"):
                    v3.VBtn("{{ painting ? 'Stop painting' : 'Paint lesion' }}", id="paint",
                            click=self.onTogglePaint, disabled=("busy || !case_name",),
                            color=("painting ? 'secondary' : undefined",))
                    v3.VBtn("Synthesize lesion", id="synthesize", click=self.onSynthesize,
                            disabled=("busy || !case_name",))
                with html.Div(classes="d-flex ga-1 flex-wrap"):
                    html.Span("Result view:", classes="text-body-2 mr-1")
                    for what in ("input", "pseudo-healthy", "with lesion"):
                        v3.VChip(what, id=f"show-{what.replace(' ', '-')}", size="small",
                                 color=(f"result_shows === '{what}' ? 'primary' : undefined",),
                                 click=(f"trigger('{trigger(self.onShowResult)}', ['{what}'])"))
                html.Div("Download", classes="text-overline mt-2")
                with html.Div(classes="d-flex flex-wrap ga-1"):
                    for role, (label, _) in DOWNLOADS.items():
                        ready = "has_synthesis" if role in ("painted", "synthesized") else "has_results"
                        v3.VBtn(label, id=f"download-{role}", size="small", variant="tonal",
                                prepend_icon="mdi-download", disabled=(f"!{ready} || busy",),
                                click=(f"utils.download(download_names['{role}'], "
                                       f"trigger('{trigger(self.onDownload)}', ['{role}']), "
                                       "'application/octet-stream')"))
            with layout.content:
                self.layoutManager.initialize_layout_grid(layout)
