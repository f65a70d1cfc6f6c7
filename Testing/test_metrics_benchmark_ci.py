"""`lesiongan benchmark --scale ci` end to end: phantom, every row trained by the loop, the
protocol on held-out subjects, and report.md / results.json / plots with the paper beside us."""

from __future__ import annotations

import json
import math

from lesiongan.cli import main
from lesiongan.evaluation.benchmark import TABLE_ROWS, TABLES
from lesiongan.evaluation.paper_numbers import PAPER_TABLES


_UNIT_INTERVAL = ("identity", "dice", "precision", "recall", "f1")


def _plausible(metric: str, value: object) -> bool:
    """A number the metric can take: PSNR a positive dB figure (or "inf" for a perfect match),
    the overlap and similarity scores within [0, 1], healthiness at most 1; never NaN."""
    if metric.startswith("psnr"):
        return value == "inf" or (isinstance(value, float) and 0 < value < 100)
    if not isinstance(value, float) or not math.isfinite(value):
        return False
    if metric in _UNIT_INTERVAL:
        return 0.0 <= value <= 1.0
    return value <= 1.0 if metric == "healthiness" else True


def test_ci_scale_writes_every_table_with_the_papers_numbers(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["benchmark", "--out", str(out), "--scale", "ci", "--device", "cpu"]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report == capsys.readouterr().out[-len(report):]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert list(results["tables"]) == list(TABLES)
    for key in TABLES:
        table = results["tables"][key]
        assert list(table["ours"]) == list(TABLE_ROWS[key]), key
        assert f"### {key}:" in report
        section = report.split(f"### {key}:")[1].split("### ")[0]
        for row, values in table["ours"].items():
            line = next(text for text in section.splitlines() if text.startswith(f"| {row} |"))
            for metric in PAPER_TABLES[key].metrics:
                value = values[metric]
                assert _plausible(metric, value), (key, row, metric, value)
                # the report prints the very number results.json holds
                assert (f"| {value:.3f} |" if isinstance(value, float) else f"| {value} |") in line, (key, row, line)
                assert table["paper"][row][metric]["value"] == PAPER_TABLES[key].rows[row][metric].value
        assert set(table["ordering"]) == set(PAPER_TABLES[key].metrics)
    # The rows the paper gives numbers for stand beside ours, and the ordering is stated per row.
    assert "| cyclegan | 21.340 |" in report and "| antgan | 28.440 |" in report
    assert "| phs-paired | 0.880 |" in report and "| ant-vgg | 0.923 |" in report
    assert report.count("pairs ordered as in the paper") >= 2 * 3 + 2 * 4
    table4 = results["tables"]["table4"]
    assert table4["ordering"]["psnr_nonlesion"]["pairs"] == 3
    # The phantom's truth gives the lesion PSNR column; healthiness comes from the trained f_pre.
    for values in table4["ours"].values():
        assert math.isfinite(values["psnr_lesion"]) and "healthiness" in values
    assert results["tables"]["fig12"]["best_row"]["expected"] == "am10"
    # ANT-GAN's lambda_AM = 10 row is the ANT-GAN run itself, not a second training.
    assert table4["ours"]["antgan"]["psnr_nonlesion"] == results["tables"]["fig12"]["ours"]["am10"]["psnr_nonlesion"]
    runs = {path.name for path in (out / "runs").iterdir()}
    assert "am10" not in runs and {"f_pre", "antgan", "ant-unet", "real+synthetic"} <= runs
    for name in ("benchmark_table4.png", "benchmark_fig12.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
