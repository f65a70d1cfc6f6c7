"""The benchmark's report: rank orders against the papers', Markdown, JSON and plots.

`compare_orderings` is what the report's agreement sentences are computed from: for every pair
of rows with both a paper number and ours, do the two order the pair the same way?
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..io import atomic_path
from .paper_numbers import PAPER_TABLES, PaperTable

# Metric -> column label; the paper's metrics come first, then what only the phantom can give.
COLUMN_LABELS = {
    "psnr_nonlesion": "non-lesion PSNR (dB)",
    "psnr_lesion": "lesion PSNR vs truth (dB)",
    "psnr_truth": "brain PSNR vs truth (dB)",
    "identity": "identity",
    "healthiness": "healthiness",
    "dice": "Dice",
    "auprc": "AUPRC",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
}


def _usable(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _ranks(values: dict[str, float], higher_is_better: bool) -> dict[str, int]:
    """Competition ranks (1 = best; ties share the better rank)."""
    sign = -1.0 if higher_is_better else 1.0
    return {row: 1 + sum(sign * other < sign * value for other in values.values()) for row, value in values.items()}


def compare_orderings(ours: dict[str, float], paper: dict[str, float | None], higher_is_better: bool = True) -> dict[str, Any]:
    """Rank order of `ours` against `paper` over the rows both have.

    Returns `rows` (per row: ours_rank, paper_rank, agreeing pairs and pairs), the totals
    `agree` / `pairs`, and Kendall's tau ((agreeing - disagreeing) / pairs; nan with no pair).
    A pair agrees when both order it the same way, ties included.
    """
    common = [row for row in ours if _usable(ours[row]) and row in paper and _usable(paper[row])]
    our_values = {row: ours[row] for row in common}
    paper_values = {row: float(paper[row]) for row in common}  # type: ignore[arg-type]
    our_ranks, paper_ranks = _ranks(our_values, higher_is_better), _ranks(paper_values, higher_is_better)
    per_row = {row: {"ours_rank": our_ranks[row], "paper_rank": paper_ranks[row], "agree": 0, "pairs": 0} for row in common}
    agree = pairs = 0
    for i, a in enumerate(common):
        for b in common[i + 1:]:
            same = _sign(our_values[a] - our_values[b]) == _sign(paper_values[a] - paper_values[b])
            for row in (a, b):
                per_row[row]["pairs"] += 1
                per_row[row]["agree"] += int(same)
            agree, pairs = agree + int(same), pairs + 1
    tau = (2 * agree - pairs) / pairs if pairs else math.nan
    return {"rows": per_row, "agree": agree, "pairs": pairs, "kendall_tau": tau, "higher_is_better": higher_is_better}


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def ordering_sentence(row: str, comparison: dict[str, Any]) -> str:
    entry = comparison["rows"].get(row)
    if entry is None or entry["pairs"] == 0:
        return "no paper number to order against"
    verdict = ("agrees" if entry["agree"] == entry["pairs"] else "disagrees" if entry["agree"] == 0 else "partly agrees")
    return (f"{verdict}: rank {entry['ours_rank']} here, {entry['paper_rank']} in the paper; "
            f"{entry['agree']} of {entry['pairs']} pairs ordered as in the paper")


def best_row_check(table: PaperTable, ours: dict[str, dict[str, float]]) -> dict[str, Any] | None:
    """For a table whose paper claim names its best row: which row is best here, and does it match."""
    if table.expected_best is None:
        return None
    metric, expected = table.expected_best
    scored = {row: values.get(metric, math.nan) for row, values in ours.items()}
    scored = {row: value for row, value in scored.items() if _usable(value)}
    if not scored:
        return {"metric": metric, "expected": expected, "ours": None, "agrees": False}
    higher = table.metrics[metric]
    best = (max if higher else min)(scored, key=scored.__getitem__)
    return {"metric": metric, "expected": expected, "ours": best, "agrees": best == expected}


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table_markdown(key: str, result: dict[str, Any]) -> str:
    """One table of the report: paper number beside ours per metric, then the phantom-only columns."""
    table = PAPER_TABLES[key]
    rows: dict[str, dict[str, float]] = result["ours"]
    extra = [m for m in COLUMN_LABELS if m not in table.metrics and any(m in values for values in rows.values())]
    header = ["row"]
    for metric in table.metrics:
        header += [f"{COLUMN_LABELS.get(metric, metric)} paper", "ours"]
    header += [f"{COLUMN_LABELS[m]} (ours)" for m in extra]
    lines = [f"### {key}: {table.title}", "", f"{table.paper}. " + " ".join(table.notes), "",
             "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row, values in rows.items():
        cells = [row]
        for metric in table.metrics:
            paper = table.rows[row][metric]
            cells += [_cell(paper.value) if paper.value is not None else "not given", _cell(values.get(metric))]
        cells += [_cell(values.get(m)) for m in extra]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for metric, comparison in result["ordering"].items():
        lines.append(f"Ordering by {COLUMN_LABELS.get(metric, metric)}: {comparison['agree']} of {comparison['pairs']} "
                     f"pairs as in the paper (Kendall tau {_cell(comparison['kendall_tau'], 2)}).")
        for row in rows:
            paper = table.rows[row][metric]
            reason = ordering_sentence(row, comparison) if paper.value is not None else f"paper: {paper.note}"
            lines.append(f"- {row}: {reason}")
        lines.append("")
    check = result.get("best_row")
    if check is not None:
        verdict = "agrees" if check["agrees"] else "does not agree"
        lines += [f"Paper: {table.claim}. Best here by {COLUMN_LABELS.get(check['metric'], check['metric'])}: "
                  f"{check['ours']} (paper: {check['expected']}), which {verdict}.", ""]
    lines.append("Sources: " + "; ".join(sorted({v.source for values in table.rows.values() for v in values.values()})) + ".")
    return "\n".join(lines) + "\n"


def table_result(key: str, ours: dict[str, dict[str, float]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Our numbers of one table with the paper's, the orderings and the best-row check."""
    table = PAPER_TABLES[key]
    ordering = {
        metric: compare_orderings({row: values.get(metric, math.nan) for row, values in ours.items()},
                                  {row: table.rows[row][metric].value for row in ours}, higher)
        for metric, higher in table.metrics.items()
    }
    paper = {row: {m: {"value": v.value, "source": v.source, "note": v.note} for m, v in table.rows[row].items()} for row in ours}
    return {"title": table.title, "ours": ours, "paper": paper, "ordering": ordering,
            "best_row": best_row_check(table, ours), **(extra or {})}


def write_markdown(path: Path, header: str, results: dict[str, dict[str, Any]]) -> str:
    text = header + "\n" + "\n".join(table_markdown(key, results[key]) for key in results)
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return text


def plot_table4(path: Path, result: dict[str, Any]) -> None:
    """Bar chart of non-lesion PSNR per ablation row, the paper's numbers as black marks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(result["ours"])
    ours = [result["ours"][row].get("psnr_nonlesion", math.nan) for row in rows]
    paper = [result["paper"][row]["psnr_nonlesion"]["value"] for row in rows]
    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.bar(range(len(rows)), [v if math.isfinite(v) else 0 for v in ours], color="#4c72b0", label="ours (phantom)")
    marked = [(i, v) for i, v in enumerate(paper) if v is not None]
    if marked:
        axes.scatter(*zip(*marked), color="black", marker="_", s=400, linewidths=3, label="paper (BraTS18)", zorder=3)
    axes.set_xticks(range(len(rows)), rows, rotation=20)
    axes.set_ylabel("non-lesion PSNR (dB)")
    axes.set_title("ANT-GAN Table IV ablation")
    axes.legend(loc="upper left", fontsize=8)
    _save(figure, path)


def plot_fig12(path: Path, result: dict[str, Any], lambdas: dict[str, float]) -> None:
    """PSNR outside the lesion, inside it and over the brain (against the truth) per lambda_AM."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(result["ours"], key=lambdas.__getitem__)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for metric in ("psnr_nonlesion", "psnr_lesion", "psnr_truth"):
        values = [result["ours"][row].get(metric, math.nan) for row in rows]
        axes.plot([lambdas[row] for row in rows], values, marker="o", label=COLUMN_LABELS[metric])
    axes.axvline(10.0, color="grey", linestyle=":", label="paper's choice (10)")
    axes.set_xscale("log")
    axes.set_xlabel("lambda_AM")
    axes.set_ylabel("PSNR (dB)")
    axes.set_title("ANT-GAN Fig. 12: sensitivity to lambda_AM")
    axes.legend(fontsize=8)
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)
