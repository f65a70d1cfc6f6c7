"""Average the weights of model files fine-tuned from one start (a "model soup"), role by role.

    .venv/bin/python scripts/average_weights.py --out soup.pt fine2.pt fine2slow.pt

Every file must hold the same roles with the same architectures; the first file's
conventions and provenance are kept (the threshold is the first file's until `lesiongan
calibrate` sets one for the average), and the sources are recorded in the provenance.
Measured for the demo model and not kept (docs/ablation.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from lesiongan.errors import InputError
from lesiongan.infer.modelfile import load_model, save_model
from lesiongan.nets.registry import network_spec


def average(paths: list[Path], out: Path) -> Path:
    if len(paths) < 2:
        raise InputError("models", "give at least two model files to average")
    models = [load_model(path) for path in paths]
    first = models[0]
    networks = {}
    for role in first.roles:
        nets = []
        for model in models:
            if role not in model.roles:
                raise InputError(str(model.path), f"has no '{role}' network (the first file has)")
            nets.append(model.network(role))
        if any(network_spec(net) != network_spec(nets[0]) for net in nets):
            raise InputError("models", f"their '{role}' networks differ in architecture")
        states = [net.state_dict() for net in nets]
        mean = {key: torch.stack([state[key].float() for state in states]).mean(0).to(value.dtype)
                if value.is_floating_point() else value for key, value in states[0].items()}
        nets[0].load_state_dict(mean)
        networks[role] = nets[0]
    return save_model(out, method=first.method, networks=networks, conventions=first.conventions,
                      provenance={**first.provenance, "averaged_from": [str(path) for path in paths]})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        print(average(args.models, args.out))
    except InputError as error:  # also a bad model file (ModelFileError is one)
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
