"""The ablation table of docs/ablation.md, from `lesiongan evaluate` reports.

Each row names a recipe and the two evaluation folders of its model: the in-distribution test
split and the held-out-setting split. Prints one Markdown row per recipe with the numbers the
targets are stated in.

    .venv/bin/python scripts/ablation_table.py \
        "previous demo model=work/eval_old_test_id,work/eval_old_test_ood" \
        "this recipe=work/demo-model/evaluation-test-id,work/demo-model/evaluation-test-ood"
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

COLUMNS = (
    ("psnr_nonlesion", "non-lesion PSNR (dB)", "{:.1f}", 1),
    ("dice", "Dice", "{:.2f}", 1),
    ("lesion_gain", "lesion PSNR gain (dB)", "{:+.1f}", 1),
    ("healthy_marked", "healthy brain marked", "{:.1f}%", 100),
)


def split_scores(folder: Path) -> dict[str, float]:
    report = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    # Reports spell nan and inf out as strings (JSON has no such numbers): float() reads them back.
    summary = {name: float(value["mean"]) for name, value in report["summary"].items()}
    # The gain is taken per subject, then averaged: each case against its own input.
    gains = [float(row.get("psnr_lesion", "nan")) - float(row.get("psnr_lesion_input", "nan"))
             for row in report["subjects"].values()]
    gains = [gain for gain in gains if math.isfinite(gain)]
    summary["lesion_gain"] = sum(gains) / len(gains) if gains else math.nan
    summary["threshold"] = float(report.get("threshold", "nan"))
    return summary


def cell(scores: dict[str, float], name: str, form: str, scale: float) -> str:
    value = scores.get(name, math.nan)
    return "n/a" if value is None or math.isnan(value) else form.format(value * scale)


def main(rows: list[str]) -> None:
    header = ["recipe", "threshold"] + [f"{label}, {split}" for split in ("in-dist.", "held-out") for _, label, _, _ in COLUMNS]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        name, _, folders = row.partition("=")
        scores = [split_scores(Path(folder)) for folder in folders.split(",")]
        cells = [name, f"{scores[0]['threshold']:.3f}"]
        cells += [cell(s, key, form, scale) for s in scores for key, _, form, scale in COLUMNS]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
