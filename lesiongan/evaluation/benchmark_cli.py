"""`lesiongan benchmark`: the papers' tables reproduced on the phantom.

    lesiongan benchmark --out bench/ --scale ci
    lesiongan benchmark --out bench/ --scale cpu --only table4,fig12
    lesiongan benchmark --out bench/ --scale gpu --device cuda

Writes, in --out: `report.md` (the paper's number beside ours for every row, and where the
orderings agree), `results.json` (every number), `benchmark_table4.png`, `benchmark_fig12.png`,
and keeps the phantom (`phantom/`) and every trained run (`runs/<row>/`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from ..checks import seed_arg
from ..errors import InputError
from ..io import write_json
from . import benchmark_report as report
from .benchmark import LAMBDA_AM, SCALES, TABLES, Benchmark


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (report, JSON, plots, phantom, runs)")
    parser.add_argument("--scale", choices=tuple(SCALES), default="ci",
                        help="ci: minutes on 2 CPU cores; cpu: under an hour on 2 cores; gpu: one GPU, under an hour (default ci)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--seed", type=seed_arg, default=0, help="seed of the phantom, the split and every run (default 0)")
    parser.add_argument("--only", default=",".join(TABLES), help=f"comma-separated tables (default all: {','.join(TABLES)})")


def parse_tables(text: str) -> list[str]:
    tables = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [key for key in tables if key not in TABLES]
    if not tables or unknown:
        raise InputError("--only", f"{text!r} names no table or unknown ones ({', '.join(unknown)}); known: {', '.join(TABLES)}")
    # The report follows the papers' order, whatever order --only gives.
    return [key for key in TABLES if key in tables]


def run(args: argparse.Namespace) -> int:
    tables = parse_tables(args.only)
    started = time.perf_counter()
    log = lambda message: print(f"[{time.perf_counter() - started:6.0f} s] {message}", file=sys.stderr, flush=True)  # noqa: E731
    bench = Benchmark(args.out, SCALES[args.scale], seed=args.seed, device=args.device, log=log)
    ours = bench.run(tables)
    results = {key: report.table_result(key, ours[key]) for key in tables}
    elapsed = time.perf_counter() - started
    command = (f"lesiongan benchmark --out {shlex.quote(str(args.out))} --scale {args.scale} --device {args.device} "
               f"--seed {args.seed} --only {','.join(tables)}")
    scale = SCALES[args.scale]
    header = (f"# Benchmark on the phantom ({args.scale} scale)\n\n"
              f"Command: `{command}`  \n"
              f"Device: {bench.torch_device}; seed {args.seed}; {elapsed / 60:.1f} min in all.  \n"
              f"Phantom: {scale.cases} '{scale.phantom_size}' cases, slices at {scale.spacing} mm, "
              f"{scale.test_fraction:.0%} of the subjects held out; pseudo-healthy models {scale.gan_iterations} "
              f"iterations, U-Nets and classifiers {scale.supervised_iterations}, batch {scale.batch_size}.  \n"
              "Paper numbers come from BraTS18 (ANT-GAN) and BraTS (Xia et al.); ours from the phantom, so "
              "the rank orders are what can be compared, not the values.\n")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "results.json", {"scale": args.scale, "seed": args.seed, "device": str(bench.torch_device),
                                                  "command": command, "seconds": elapsed, "timings": bench.timings,
                                                  "tables": results})
    if "table4" in results:
        report.plot_table4(args.out / "benchmark_table4.png", results["table4"])
    if "fig12" in results:
        report.plot_fig12(args.out / "benchmark_fig12.png", results["fig12"], LAMBDA_AM)
    print(report.write_markdown(args.out / "report.md", header, results), end="")
    return 0
