"""The papers' numbers that `lesiongan benchmark` sets beside ours, each with its table and row.

Sun et al., ANT-GAN (shared/papers/000_8160264bb26ac9a0.txt) and Xia et al., pathology
factorization (shared/papers/002_89cbd4d19e10cf3b.txt). Percentages are stored as fractions,
as our metrics give them. A row the paper shows only as images has `value=None` and a note
saying so; it is still listed, so every row of our report has its paper entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PaperValue:
    value: float | None
    source: str  # table and row in the paper
    note: str = ""


@dataclass(frozen=True)
class PaperTable:
    key: str
    title: str
    paper: str
    metrics: dict[str, bool]  # metric -> higher is better
    rows: dict[str, dict[str, PaperValue]]
    # A claim the paper makes in words for the table (no numbers): the row that should be best by a metric.
    expected_best: tuple[str, str] | None = None  # (metric, row)
    claim: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


ANT_GAN = "Sun et al., ANT-GAN"
XIA = "Xia et al., pathology factorization (MIDL 2019)"
_FIG5 = "shown only as images in Fig. 5 (GAN and GAN+NC collapse; GAN+AC has severe artifacts)"


def _t4(row: str, value: float | None, note: str = "") -> dict[str, PaperValue]:
    return {"psnr_nonlesion": PaperValue(value, f"ANT-GAN Table IV, row '{row}'", note)}


def _percent(table: str, row: str, **values: float) -> dict[str, PaperValue]:
    return {metric: PaperValue(value, f"ANT-GAN {table}, row '{row}', column {metric}") for metric, value in values.items()}


PAPER_TABLES: dict[str, PaperTable] = {
    "table4": PaperTable(
        "table4", "Ablation: non-lesion PSNR of G_A2N(x) against x", ANT_GAN, {"psnr_nonlesion": True},
        {
            "gan": _t4("GAN", None, _FIG5),
            "gan+ac": _t4("GAN + AC", None, _FIG5),
            "gan+nc": _t4("GAN + NC", None, _FIG5),
            "cyclegan": _t4("GAN + AC + NC (CycleGAN)", 21.34),
            "cyclegan+shortcut": _t4("GAN + AC + NC + Shortcut", 27.29),
            "antgan": _t4("GAN + AC + NC + Shortcut + AM", 28.44),
            "twin-gate": {"psnr_nonlesion": PaperValue(None, "not in the paper", "this project's recipe (docs/ablation.md)")},
        },
        notes=("BraTS18 test set, FLAIR; the paper computes PSNR outside the lesion only.",),
    ),
    "fig12": PaperTable(
        "fig12", "Sensitivity to lambda_AM", ANT_GAN, {"psnr_nonlesion": True, "psnr_truth": True},
        {
            f"am{value:g}": {
                "psnr_nonlesion": PaperValue(None, "ANT-GAN Fig. 12 / Sec. V-A", "images only, no numbers"),
                "psnr_truth": PaperValue(None, "ANT-GAN Fig. 12 / Sec. V-A", "images only, no numbers"),
            }
            for value in (0.1, 1.0, 10.0, 100.0)
        },
        expected_best=("psnr_truth", "am10"),
        claim="'setting lambda_AM = 10 leads to a good balance between the preservation of non-lesion regions "
              "and the modification of the lesion' (Sec. V-A); on the phantom that balance is the PSNR of the "
              "output against the true healthy volume over the whole brain",
    ),
    "xia1": PaperTable(
        "xia1", "Identity and healthiness of pseudo-healthy images (BraTS columns)", XIA,
        {"identity": True, "healthiness": True},
        {
            row: {
                "identity": PaperValue(identity, f"Xia Table 1, row '{label}', BraTS 'Identity'", f"ISLES: {isles[0]}"),
                "healthiness": PaperValue(health, f"Xia Table 1, row '{label}', BraTS 'Healthiness'", f"ISLES: {isles[1]}"),
            }
            for row, label, identity, health, isles in (
                ("cgan", "conditional GAN", 0.74, 0.82, (0.67, 0.86)),
                ("cyclegan", "CycleGAN", 0.80, 0.83, (0.78, 0.85)),
                ("phs-unpaired", "proposed (unpaired)", 0.83, 0.98, (0.82, 0.94)),
                ("phs-paired", "proposed (paired)", 0.88, 0.99, (0.93, 0.98)),
            )
        },
        notes=("Means over BraTS test subjects; stds 0.02-0.07 in the paper.",),
    ),
    "table5": PaperTable(
        "table5", "Segmentation Dice: Plain U-Net vs ANT-UNet", ANT_GAN, {"dice": True},
        {
            "plain-unet": {"dice": PaperValue(0.8760, "ANT-GAN Table V, row 'Plain UNet', Whole Tumor",
                                              "Enhancing 75.44%, Core 77.53%")},
            "ant-unet": {"dice": PaperValue(0.8910, "ANT-GAN Table V, row 'ANT-UNet', Whole Tumor",
                                            "Enhancing 77.77%, Core 79.77%")},
        },
        notes=("The phantom has one lesion label, compared with the paper's Whole Tumor column.",),
    ),
    "table6": PaperTable(
        "table6", "Abnormal-slice classification: Plain-VGG vs ANT-VGG", ANT_GAN,
        {"precision": True, "recall": True, "f1": True},
        {
            "plain-vgg": _percent("Table VI", "Plain-VGG", precision=0.8941, recall=0.8986, f1=0.896),
            "ant-vgg": _percent("Table VI", "ANT-VGG", precision=0.9235, recall=0.9096, f1=0.917),
        },
    ),
    "table7": PaperTable(
        "table7", "Lesion identification trained on real vs real + synthetic slices", ANT_GAN,
        {"precision": True, "recall": True, "f1": True},
        {
            "real": _percent("Table VII", "Datasets A with 100 samples", precision=0.6556, recall=0.6336, f1=0.644),
            "real+synthetic": _percent("Table VII", "Datasets B with 200 samples", precision=0.7719, recall=0.7794, f1=0.776),
        },
        notes=("The paper trains AlexNet; we train the same small VGG-like classifier as Table VI.",),
    ),
}


def paper_values(table: str, metric: str) -> dict[str, float | None]:
    """Row -> the paper's value of `metric` in `table` (None where the paper gives none)."""
    return {row: values[metric].value for row, values in PAPER_TABLES[table].rows.items() if metric in values}
