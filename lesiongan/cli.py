"""`lesiongan ...` (also `python -m lesiongan`).

Each subcommand lives beside the code it drives and exposes `add_arguments(parser)` and
`run(args) -> int`. Only the chosen subcommand is imported, so `lesiongan phantom` does not
pay for importing the training stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "phantom": ("lesiongan.data.phantom_cli", "write brain phantom cases with lesions and their healthy ground truth"),
    "summary": ("lesiongan.data.summary_cli", "summarise what the readers find in a data folder"),
    "train": ("lesiongan.train.cli", "train a method (ANT-GAN, pathology factorization, cGAN, DCGAN, WGAN)"),
    "infer": ("lesiongan.infer.cli", "pseudo-healthy volume, difference map and mask for each input volume"),
    "demo": ("lesiongan.evaluation.demo_cli", "run the shipped demo model on a phantom case and report its quality"),
    "calibrate": ("lesiongan.infer.calibrate_cli", "set a model's mask threshold on healthy volumes (marking at most 1 percent of the brain)"),
    "evaluate": ("lesiongan.evaluation.evaluate_cli", "every metric of a model on a data folder, per subject and overall"),
    "benchmark": ("lesiongan.evaluation.benchmark_cli", "reproduce the papers' tables on the phantom"),
    "augment": ("lesiongan.synthesis.augment_cli", "write synthetic abnormal / pseudo-healthy pairs in the BraTS layout"),
    "speed": ("lesiongan.speed_cli", "speed of inference and training against the plain reference"),
    "web": ("LesionGANWeb.cli", "serve pseudo-healthy synthesis and lesion painting to a web browser"),
}
# Commands whose code lives in the source tree beside the Slicer modules, not in this package.
SOURCE_TREE_COMMANDS = {"web"}
# Old command names that still work, with a note on stderr: old name -> new name.
RENAMED_COMMANDS = {"bench": "speed"}  # next to `benchmark` (quality), `bench` (speed) was easily mistaken


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lesiongan", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in RENAMED_COMMANDS:
        old, argv[0] = argv[0], RENAMED_COMMANDS[argv[0]]
        print(f"lesiongan {old}: deprecated, use 'lesiongan {argv[0]}' (same arguments); "
              f"'lesiongan {old}' will be removed", file=sys.stderr)
    if not argv or argv[0] not in COMMANDS:
        _top_parser().parse_args(argv or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    module_name, help_text = COMMANDS[name]
    if name in SOURCE_TREE_COMMANDS:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"lesiongan {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    from .errors import LesionGANError

    try:
        return int(module.run(args) or 0)
    except LesionGANError as error:
        print(f"lesiongan {name}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lesiongan {name}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # an unwritable or vanished path the command did not check itself
        where = f"{error.filename}: " if error.filename else ""
        print(f"lesiongan {name}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"lesiongan {name}: error: out of memory; try smaller inputs or batches", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
