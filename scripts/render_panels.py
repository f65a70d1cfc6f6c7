"""Render each module's panel from its Qt Designer file to a PNG, without Slicer.

    pip install PySide6-Essentials      # once, beside the project's own packages
    QT_QPA_PLATFORM=offscreen python scripts/render_panels.py --modules Training   # docs/images
    QT_QPA_PLATFORM=offscreen python scripts/render_panels.py --expand --modules PseudoHealthy LesionSynthesis
    QT_QPA_PLATFORM=offscreen python scripts/render_panels.py --catalog   # Resources/Screenshots

Qt lays out the real `.ui` file that Slicer loads (`Resources/UI/<Module>.ui`): every label,
button, spin box, tooltip-bearing control and its order are the panel's own. Slicer's CTK and
MRML widgets (collapsible sections, node selectors, sliders, path editors, the Segment Editor)
are not part of Qt, so they are drawn here by small look-alikes built from plain Qt widgets
and the properties the `.ui` gives them. The model and method lists are filled from the
project's own catalog and method registry, as the panels fill them at start-up; node
selectors show an empty scene. These pictures show the panels' layout; they are not
screenshots of a running Slicer.

`--catalog` writes the Extension Manager's pictures (`EXTENSION_SCREENSHOTURLS` in the top-level
CMakeLists.txt): each panel, and for PseudoHealthy the panel beside the slice views that
`Testing/render_pseudohealthy_views.py` renders with Slicer's own slice logics.
"""

from __future__ import annotations

import argparse
import ast
import os
import xml.etree.ElementTree as ElementTree
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The .ui connects MRML signals (mrmlSceneChanged) the look-alikes do not have.
os.environ.setdefault("QT_LOGGING_RULES", "qt.core.qobject.connect=false")
from PySide6 import QtCore, QtWidgets  # noqa: E402
from PySide6.QtUiTools import QUiLoader  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("PseudoHealthy", "LesionSynthesis", "Training")
PANEL_WIDTH = 430  # about the width of Slicer's module panel on a 1920-pixel screen


def _node_type_label(types: list[str]) -> str:
    names = {"vtkMRMLScalarVolumeNode": "volume", "vtkMRMLSegmentationNode": "segmentation", "vtkMRMLLabelMapVolumeNode": "label map"}
    return " / ".join(names.get(t, t.removeprefix("vtkMRML").removesuffix("Node")) for t in types) or "node"


# --- look-alikes of Slicer's CTK/MRML widgets, named as the .ui names them -------------------
class qMRMLWidget(QtWidgets.QWidget):
    def finish(self) -> None:
        pass


class ctkCollapsibleButton(QtWidgets.QGroupBox):
    expand_all = False  # --expand: every section open, to show all controls

    def finish(self) -> None:
        collapsed = bool(self.property("collapsed")) and not self.expand_all
        self.setTitle(("\u25b8 " if collapsed else "\u25be ") + str(self.property("text") or ""))
        for child in self.findChildren(QtWidgets.QWidget, options=QtCore.Qt.FindDirectChildrenOnly):
            child.setVisible(not collapsed)
        if collapsed:
            self.setMaximumHeight(24)


class qMRMLNodeComboBox(QtWidgets.QComboBox):
    def finish(self) -> None:
        types = list(self.property("nodeTypes") or [])
        self.addItem("None" if self.property("noneEnabled") else "")
        self.setToolTip(self.toolTip() or _node_type_label(types))
        self.setPlaceholderText(_node_type_label(types))


class ctkSliderWidget(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.spin = QtWidgets.QDoubleSpinBox()
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)

    def finish(self) -> None:
        minimum, maximum = float(self.property("minimum") or 0.0), float(self.property("maximum") or 100.0)
        value, step = float(self.property("value") or minimum), float(self.property("singleStep") or 1.0)
        decimals = int(self.property("decimals") or (0 if step >= 1 else len(f"{step:g}".split(".")[-1])))
        self.spin.setDecimals(decimals)
        self.spin.setRange(minimum, maximum)
        self.spin.setSingleStep(step)
        self.spin.setValue(value)
        self.slider.setRange(0, 1000)
        self.slider.setValue(round(1000 * (value - minimum) / max(maximum - minimum, 1e-12)))
        self.spin.setSuffix(str(self.property("suffix") or ""))


class ctkPathLineEdit(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QtWidgets.QLineEdit()
        layout.addWidget(self.edit, 1)
        layout.addWidget(QtWidgets.QToolButton(text="..."))

    def finish(self) -> None:
        self.edit.setPlaceholderText("choose a folder" if "Dirs" in str(self.property("filters") or "") else "choose a file")


class qMRMLSegmentEditorWidget(QtWidgets.QLabel):
    def finish(self) -> None:
        self.setText("Slicer's Segment Editor\n(paint, erase, threshold ... effects)")
        self.setAlignment(QtCore.Qt.AlignCenter)
        self.setFrameShape(QtWidgets.QFrame.StyledPanel)
        self.setMinimumHeight(120)


LOOK_ALIKES = (qMRMLWidget, ctkCollapsibleButton, qMRMLNodeComboBox, ctkSliderWidget, ctkPathLineEdit, qMRMLSegmentEditorWidget)


# --- what the panels show at start-up ------------------------------------------------------
def parameter_defaults(module: str) -> dict[str, tuple[object, list[str]]]:
    """Field -> (default, choices) of the module's `@parameterNodeWrapper` class, read from its
    source (importing it needs Slicer): the values the panel's widgets start with."""
    tree = ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8"))
    defaults: dict[str, tuple[object, list[str]]] = {}
    for node in ast.walk(tree):
        wrapped = isinstance(node, ast.ClassDef) and any(getattr(d, "id", "") == "parameterNodeWrapper" for d in node.decorator_list)
        for field in node.body if wrapped else []:
            if isinstance(field, ast.AnnAssign) and field.value is not None:
                choices = [ast.literal_eval(call.args[0]) for call in ast.walk(field.annotation)
                           if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Choice"]
                defaults[field.target.id] = (ast.literal_eval(field.value), choices[0] if choices else [])
    return defaults


def show_parameters(panel: QtWidgets.QWidget, module: str) -> None:
    """Widgets bound to the parameter node (`SlicerParameterName`) show its defaults."""
    defaults = parameter_defaults(module)
    for widget in panel.findChildren(QtWidgets.QWidget):
        name = widget.property("SlicerParameterName")
        if name not in defaults:
            continue
        value, choices = defaults[name]
        if isinstance(widget, ctkSliderWidget):
            widget.setProperty("value", value)
            widget.finish()
        elif isinstance(widget, QtWidgets.QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, (QtWidgets.QSpinBox, QtWidgets.QDoubleSpinBox)):
            widget.setValue(value)
        elif isinstance(widget, QtWidgets.QComboBox) and not isinstance(widget, qMRMLNodeComboBox):
            widget.addItems(choices)
            widget.setCurrentText(str(value))


def fill_lists(panel: QtWidgets.QWidget) -> None:
    """The lists each panel fills in `setup()`, from the same sources (catalog, registry)."""
    sys.path.insert(0, str(ROOT))
    combos = {combo.objectName(): combo for combo in panel.findChildren(QtWidgets.QComboBox)}
    if "modelComboBox" in combos:
        from lesiongan.infer import catalog

        for entry in catalog.list_models():
            combos["modelComboBox"].addItem(entry.name if entry.available else f"{entry.name} (download)")
        combos["modelComboBox"].addItem("Browse...")
    if "deviceComboBox" in combos and combos["deviceComboBox"].count() == 0:  # Training: no parameter node
        combos["deviceComboBox"].addItems(["auto", "cpu", "cuda"])
    if "methodComboBox" in combos:
        from lesiongan.methods import available_methods

        methods = available_methods()
        combos["methodComboBox"].addItems(sorted(methods))
        combos["methodComboBox"].setCurrentText("antgan")
        default = methods["antgan"].default_preset
        combos["presetComboBox"].addItem(f"default ({default})" if default else "none")


def render(module: str, output: Path, expanded: bool = False, selected: dict[str, str] | None = None) -> Path:
    """The panel as a PNG; `selected` puts a node's name in node selectors (objectName -> name),
    and a panel with its input chosen has its Apply button enabled, as `updateButtons` does."""
    ctkCollapsibleButton.expand_all = expanded
    loader = QUiLoader()
    for cls in LOOK_ALIKES:
        loader.registerCustomWidget(cls)
    ui_path = ROOT / module / "Resources" / "UI" / f"{module}.ui"
    ui_file = QtCore.QFile(str(ui_path))
    if not ui_file.open(QtCore.QIODevice.ReadOnly):
        raise SystemExit(f"{ui_path}: cannot be read")
    panel = loader.load(ui_file)
    ui_file.close()
    if panel is None:
        raise SystemExit(f"{ui_path}: Qt could not load it: {loader.errorString()}")
    # Qt cannot read CTK's set-type properties (ctkPathLineEdit's filters): take them from the XML.
    for element in ElementTree.parse(ui_path).iter("widget"):
        value = element.find("property[@name='filters']/set")
        if value is not None:
            panel.findChild(QtWidgets.QWidget, element.get("name")).setProperty("filters", value.text)
    for widget in [panel, *panel.findChildren(QtWidgets.QWidget)]:
        if isinstance(widget, LOOK_ALIKES):
            widget.finish()
    if (ROOT / module / f"{module}.py").read_text(encoding="utf-8").count("@parameterNodeWrapper"):
        show_parameters(panel, module)
    fill_lists(panel)
    for name, text in (selected or {}).items():
        panel.findChild(qMRMLNodeComboBox, name).setItemText(0, text)
        for button in panel.findChildren(QtWidgets.QPushButton, "applyButton"):
            button.setEnabled(True)
    for bar in panel.findChildren(QtWidgets.QProgressBar):
        bar.hide()  # hidden until a run starts, as in the panels
    panel.setFixedWidth(PANEL_WIDTH)
    panel.adjustSize()
    panel.resize(PANEL_WIDTH, panel.sizeHint().height())
    path = output / f"panel_{module.lower()}{'_expanded' if expanded else ''}.png"
    if not panel.grab().save(str(path)):
        raise SystemExit(f"{path}: could not be written")
    return path


def compose(left: Path, right: Path, path: Path) -> Path:
    """`left` and `right` side by side on Slicer's panel grey, tops aligned."""
    from PySide6 import QtGui

    images = [QtGui.QImage(str(left)), QtGui.QImage(str(right))]
    for source, image in zip((left, right), images):
        if image.isNull():
            raise SystemExit(f"{source}: not a readable image")
    canvas = QtGui.QImage(sum(i.width() for i in images), max(i.height() for i in images), QtGui.QImage.Format_RGB32)
    canvas.fill(QtGui.QColor(239, 239, 239))
    painter = QtGui.QPainter(canvas)
    painter.drawImage(0, 0, images[0])
    painter.drawImage(images[0].width(), 0, images[1])
    painter.end()
    if not canvas.save(str(path)):
        raise SystemExit(f"{path}: could not be written")
    return path


def catalog(folder: Path) -> list[Path]:
    """The three pictures the top-level CMakeLists.txt names in EXTENSION_SCREENSHOTURLS."""
    views = ROOT / "docs" / "images" / "pseudohealthy_views.png"
    written = []
    for module in MODULES:
        shown = {"inputSelector": "Phantom_flair"} if module == "PseudoHealthy" else None  # the views' volume
        panel = render(module, folder, expanded=module == "LesionSynthesis", selected=shown)
        target = folder / f"{module}.png"
        if module == "PseudoHealthy":
            compose(panel, views, target)
            panel.unlink()
        else:
            panel.replace(target)
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--modules", nargs="+", default=list(MODULES), choices=MODULES)
    parser.add_argument("--expand", action="store_true", help="open every collapsed section (files named *_expanded.png)")
    parser.add_argument("--catalog", action="store_true", help="write the Extension Manager's pictures to Resources/Screenshots")
    args = parser.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    app.setStyle("Fusion")
    if args.catalog:
        for path in catalog(ROOT / "Resources" / "Screenshots"):
            print(path)
        return
    args.output.mkdir(parents=True, exist_ok=True)
    for module in args.modules:
        print(render(module, args.output, args.expand))


if __name__ == "__main__":
    main()
