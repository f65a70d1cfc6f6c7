"""Plot a training run's losses (its log.csv) to a PNG: the README's training figures.

    python scripts/plot_run.py RUN_DIR OUT.png --title "..." \
        --left G_adv_a2n D_N D_A G_adv_n2a --right nonlesion_l1 am --log-right
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--title", default="")
    parser.add_argument("--left", nargs="+", required=True, help="columns of the left panel")
    parser.add_argument("--right", nargs="*", default=[], help="columns of the right panel")
    parser.add_argument("--left-title", default="adversarial losses (least squares)")
    parser.add_argument("--right-title", default="change outside lesions")
    parser.add_argument("--log-right", action="store_true", help="log scale on the right panel")
    args = parser.parse_args()
    with open(args.run / "log.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise SystemExit(f"{args.run / 'log.csv'}: no logged step")
    steps = [int(row["step"]) for row in rows]
    panels = [(args.left, args.left_title, False)] + ([(args.right, args.right_title, args.log_right)] if args.right else [])
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.4), squeeze=False)
    for axis, (columns, title, log_scale) in zip(axes[0], panels):
        for column in columns:
            if column not in rows[0]:
                raise SystemExit(f"{args.run / 'log.csv'}: no column {column!r} (it has {', '.join(rows[0])})")
            axis.plot(steps, [float(row[column]) for row in rows], label=column, linewidth=0.9)
        axis.set_title(title)
        axis.set_xlabel("iteration")
        if log_scale:
            axis.set_yscale("log")
        axis.legend(fontsize=8)
    figure.suptitle(args.title)
    figure.tight_layout()
    figure.savefig(args.output, dpi=100)
    print(args.output)


if __name__ == "__main__":
    main()
