"""The demo model's GPU stage: several fine-tuning variants side by side on one GPU, each for a
time budget, from training slices packed small enough to carry to the GPU machine.

    # where the phantom is: the 228 training cases of train-all (seed 0's 95% split), FLAIR, at
    # 3 mm, and at 2 mm with every third slice of each volume (the machine takes 64 MiB in all)
    .venv/bin/python scripts/gpu_stage.py pack --data work/demo-model/train-all --out slices.npz
    .venv/bin/python scripts/gpu_stage.py pack --data work/demo-model/train-all --out slices2mm.npz \
        --spacing 2 --every 3
    .venv/bin/python scripts/gpu_stage.py pack --data work/demo-model/train-all --out slices2mm-1.npz \
        --spacing 2 --every 3 --offset 1
    # on the GPU machine (lesiongan importable): 480 s, a 150-iteration probe, four variants,
    # each from the CPU stages' last model
    python scripts/gpu_stage.py train --slices slices.npz --work /tmp/gpu --out out/ --budget 480 --probe 150 \
        --init work/demo-model/run-synth3/model.pt --variants big,aug,twin40,big64
    # then 215 s more, each variant from its own result
    python scripts/gpu_stage.py train --slices slices.npz --work /tmp/gpu2 --out out2/ --budget 215 --probe 40 \
        --init-from /tmp/gpu --variants big,aug,twin40,big64
    # the 2 mm stage: four variants from the 3 mm stage's big64 (the U-Net is fully
    # convolutional), then 230 s more each from its own result
    python scripts/gpu_stage.py train --slices slices2mm.npz --work /tmp/gpu3 --out out3/ --budget 500 \
        --probe 100 --init out2/big64.pt --variants fine2,fine2slow,fine2aug,fine2twin40
    python scripts/gpu_stage.py train --slices slices2mm.npz --work /tmp/gpu4 --out out4/ --budget 230 \
        --probe 30 --init-from /tmp/gpu3 --variants fine2,fine2slow,fine2aug,fine2twin40
    # more of the 2 mm stage from fine2slow on the slices one past every third (packed with
    # --spacing 2 --every 3 --offset 1): 505 s, then 250 s more each from its own result
    python scripts/gpu_stage.py train --slices slices2mm-1.npz --work /tmp/gpu5 --out out5/ --budget 505 \
        --probe 100 --init out4/fine2slow.pt --variants more2,more2am,more2id,more2gate
    python scripts/gpu_stage.py train --slices slices2mm-1.npz --work /tmp/gpu6 --out out6/ --budget 250 \
        --probe 30 --init-from /tmp/gpu5 --variants more2,more2am,more2id,more2gate
    # a variant stopped before its end: a model file from its newest checkpoint
    python scripts/gpu_stage.py export --checkpoints /tmp/gpu6/more2gate/checkpoints \
        --like out5/more2gate.pt --out more2gate-early.pt

Packing: the healthy twin as 8-bit intensities, the lesion as its 16-bit difference to the
twin, the masks as bits, each bz2-compressed (228 cases at 3 mm: 47 MB against 2.4 GB of
float32; at 2 mm with every third slice: 32 MB). The quantization step (1/255 of the
normalized range) is far below the changes the model learns (its thresholds lie at 0.04-0.15).

Training: each variant is `lesiongan.train` (the one training loop) on those slices, first for
`--probe` iterations to measure its speed with all variants sharing the GPU, then for as many
iterations as fit in the budget, from the probe's weights. The variants run as separate
processes because each is small: one alone leaves the GPU mostly idle (docs/ablation.md).
"""

from __future__ import annotations

import argparse
import bz2
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SHIPPED = {"lr": 0.0005, "synthetic_lesions": 0.5, "lambda_identity": 80.0, "ngf": 16}  # the recipe of run-synth3
MORE2 = {**SHIPPED, "lr": 0.00025}  # the third stage's: fine2slow's recipe at half its learning rate
# Cases packed at a time, kept as bytes: all 228 as float32 would not fit in 24 GiB beside
# their joined copy (four sequences at 2 mm: 16 GB before the every-k selection).
PACK_CASES = 16
VARIANTS = {  # name: (options over the twin-gate preset, batch size, seed, in-plane spacing in mm)
    "big": (SHIPPED, 32, 21, 3.0),
    "aug": ({**SHIPPED, "bias_fields": 0.5, "random_contrast": 0.5}, 32, 22, 3.0),
    "twin40": ({**SHIPPED, "lambda_twin": 40.0}, 32, 23, 3.0),
    "big64": ({**SHIPPED, "lr": 0.001}, 64, 24, 3.0),
    # the same networks on 2 mm slices: a fully convolutional U-Net trained at 3 mm starts there
    "fine2": ({**SHIPPED, "lr": 0.001}, 64, 25, 2.0),
    "fine2slow": (SHIPPED, 32, 26, 2.0),
    "fine2aug": ({**SHIPPED, "lr": 0.001, "bias_fields": 0.5, "random_contrast": 0.5}, 64, 27, 2.0),
    "fine2twin40": ({**SHIPPED, "lr": 0.001, "lambda_twin": 40.0}, 64, 28, 2.0),
    # more of the 2 mm stage from fine2slow, on the other slices, at half its learning rate: the
    # recipe alone, then with the terms that hold healthy tissue still weighed twice (L_AM outside
    # the lesion, the identity on healthy slices) and with the gate's segmentation term doubled
    "more2": (MORE2, 32, 29, 2.0),
    "more2am": ({**MORE2, "lambda_am": 200.0}, 32, 30, 2.0),
    "more2id": ({**MORE2, "lambda_identity": 160.0}, 32, 31, 2.0),
    "more2gate": ({**MORE2, "lambda_gate": 4.0}, 32, 32, 2.0),
    # the three terms that each helped there, weighed twice together (from more2gate)
    "more2all": ({**MORE2, "lambda_am": 200.0, "lambda_identity": 160.0, "lambda_gate": 4.0}, 32, 33, 2.0),
    # those three terms doubled once more, from more2all on the slices of the 2 mm stage
    "more2all2": ({**MORE2, "lambda_am": 400.0, "lambda_identity": 320.0, "lambda_gate": 8.0}, 32, 35, 2.0),
    # more2all with each slice also rotated, scaled, stretched and shifted half the time
    "more2allgeo": ({**MORE2, "lambda_am": 200.0, "lambda_identity": 160.0, "lambda_gate": 4.0,
                     "random_geometry": 0.5}, 32, 36, 2.0),
    # the same on FLAIR, T1, T2, T1ce from a FLAIR model (`start_from_model` widens it), 30% of
    # the slices losing some of T1, T2, T1ce so that the FLAIR alone still works
    "more2all4": ({**MORE2, "lambda_am": 200.0, "lambda_identity": 160.0, "lambda_gate": 4.0,
                   "drop_modalities": 0.3}, 32, 34, 2.0),
}


def squeeze(array: np.ndarray) -> np.ndarray:
    return np.frombuffer(bz2.compress(np.ascontiguousarray(array).tobytes(), 9), np.uint8)


def unsqueeze(packed: np.ndarray, dtype: type) -> np.ndarray:
    return np.frombuffer(bz2.decompress(packed.tobytes()), dtype)


def pack(data: Path, out: Path, validation: float, seed: int, spacing: float, every: int, offset: int,
         modalities: list[str]) -> None:
    from lesiongan.data import readers
    from lesiongan.data.slices import SliceSet

    train, _ = readers.split_subjects(readers.discover(data), (1 - validation, validation), seed=seed)
    as_bytes = lambda t: np.clip(np.round(t.numpy() * 255), 0, 255).astype(np.uint8)  # noqa: E731
    parts = []
    for start in range(0, len(train), PACK_CASES):
        slices = SliceSet.from_subjects(train[start:start + PACK_CASES], modalities=modalities, spacing=spacing)
        if every > 1:  # neighbouring 1 mm slices are near copies: every k-th keeps the variety at 1/k the size
            slices = slices.subset(np.flatnonzero(slices.slice_index.numpy() % every == offset))
        parts.append({"twin": as_bytes(slices.truth), "image": as_bytes(slices.images), "masks": slices.masks.numpy(),
                      "labels": slices.labels.numpy(), "slice_index": slices.slice_index.numpy(),
                      "subject_ids": list(slices.subject_ids), "meta": slices.meta})
    join = lambda key: np.concatenate([part[key] for part in parts])  # noqa: E731
    twin, image, masks = join("twin"), join("image"), join("masks")
    np.savez(out, truth=squeeze(twin), diff=squeeze(image.astype(np.int16) - twin),
             masks=squeeze(np.packbits(masks.astype(bool))), shape=np.array(image.shape),
             labels=join("labels"), slice_index=join("slice_index"),
             subject_ids=np.array([sid for part in parts for sid in part["subject_ids"]]),
             meta=np.array(json.dumps(parts[0]["meta"])))
    print(f"{len(train)} cases, {len(image)} slices ({int(join('labels').sum())} with lesion): {out}")


def unpack(path: Path):
    import torch

    from lesiongan.data.slices import SliceSet

    packed = np.load(path)
    shape = tuple(int(n) for n in packed["shape"])
    twin = unsqueeze(packed["truth"], np.uint8).reshape(shape)
    image = (twin + unsqueeze(packed["diff"], np.int16).reshape(shape)).astype(np.float32) / 255
    mask_shape = (shape[0], 1, *shape[2:])  # one lesion mask per slice, whatever the sequences
    masks = np.unpackbits(unsqueeze(packed["masks"], np.uint8))[: int(np.prod(mask_shape))].reshape(mask_shape)
    return SliceSet(torch.from_numpy(image), torch.from_numpy(masks.astype(np.uint8)), torch.from_numpy(packed["labels"]),
                    [str(s) for s in packed["subject_ids"]], torch.from_numpy(packed["slice_index"]),
                    json.loads(str(packed["meta"])), torch.from_numpy(twin.astype(np.float32) / 255))


def train_variant(name: str, args: argparse.Namespace) -> None:
    from lesiongan.infer.modelfile import repack_model
    from lesiongan.train import TrainConfig, train

    options, batch, seed, spacing = VARIANTS[name]
    init = str(args.init_from / name / "model.pt") if args.init_from else str(args.init)
    packed = {float(json.loads(str(np.load(path)["meta"]))["spacing"]): path for path in args.slices}
    if spacing not in packed:
        raise SystemExit(f"{name}: no --slices file at {spacing} mm (given: {sorted(packed)})")
    slices = unpack(packed[spacing])
    stamps: list[float] = []
    common = dict(method="antgan", preset="twin-gate", data=slices, modalities=tuple(slices.meta["modalities"]),
                  spacing=spacing, batch_size=batch, device=args.device, amp="off", log_every=100, sample_every=10**8,
                  tensorboard=False, val_fraction=0.0)
    probe = train(TrainConfig(out=args.work / f"{name}-probe", options=dict(options), iterations=args.probe, init=init,
                              checkpoint_every=10**8, seed=seed, on_step=lambda *_: stamps.append(time.time()),
                              **common))
    rate = (len(stamps) - 11) / (stamps[-1] - stamps[10])  # the first ten steps include warm-up
    iterations = max(20, int(rate * (args.deadline - time.time() - 15)))
    print(f"{name}: {rate:.2f} it/s in the probe; {iterations} iterations next", flush=True)
    model = train(TrainConfig(out=args.work / name, options=dict(options), iterations=iterations, init=str(probe),
                              checkpoint_every=max(200, iterations // 3), seed=seed + 100, **common))
    repack_model(model, args.out / f"{name}.pt")
    print(f"{name}: done, {args.probe} + {iterations} iterations of batch {batch}", flush=True)


def train_all(args: argparse.Namespace) -> int:
    start = time.time()
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    if args.threads < 0:
        raise SystemExit(f"--threads: must be >= 0, got {args.threads}")
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = start + args.budget
    threads = args.threads or max(1, (os.cpu_count() or 4) // len(names))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1",
           "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}  # the loop asks for deterministic kernels
    forwarded = [str(a) for a in sys.argv[2:]]
    procs = {name: subprocess.Popen([sys.executable, __file__, "variant", name, str(deadline), *forwarded], env=env,
                                    stdout=open(args.work / f"{name}.out", "w"), stderr=subprocess.STDOUT)
             for name in names}
    for process in procs.values():
        try:
            process.wait(timeout=max(1, deadline + 60 - time.time()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with open(args.out / "logs.txt", "w") as log:  # every variant's console and loss log in one file
        for name, process in procs.items():
            log.write(f"===== {name} rc={process.returncode}\n" + (args.work / f"{name}.out").read_text()[-6000:])
            for stage in (f"{name}-probe", name):
                losses = args.work / stage / "log.csv"
                if losses.exists():
                    log.write(f"--- {stage}/log.csv\n" + losses.read_text())
    print(f"all done in {time.time() - start:.0f} s")
    return max(abs(p.returncode or 0) for p in procs.values())


def export(checkpoints: Path, like: Path, out: Path) -> Path:
    """A model file from a run's newest checkpoint (a variant stopped before its end): the
    checkpoint's networks, by the method's own roles, under the conventions of `like` (the
    model the variant started from, whose frame and normalization the slices were packed in)."""
    from lesiongan.infer.modelfile import load_model, save_model
    from lesiongan.methods import get_method
    from lesiongan.train.checkpoint import load_checkpoint
    from lesiongan.train.validate import check_checkpoint

    checkpoint = load_checkpoint(checkpoints, validate=check_checkpoint)
    model = load_model(like)
    method = get_method(checkpoint["method"])(checkpoint["options"], channels=len(model.modalities))
    method.load_state_dict(checkpoint["state"])
    provenance = {**model.provenance, "continued": {"method": checkpoint["method"], "options": checkpoint["options"],
                                                    "iterations": int(checkpoint["step"]), "checkpoint": str(checkpoints)}}
    return save_model(out, method=model.method, networks=method.role_networks(), conventions=model.conventions,
                      provenance=provenance)


def train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--slices", type=Path, required=True, nargs="+", help="packed slices, one file per spacing")
    parser.add_argument("--work", type=Path, required=True, help="run folders")
    parser.add_argument("--out", type=Path, required=True, help="each variant's fp16 model file and logs.txt")
    parser.add_argument("--budget", type=float, default=480, help="seconds until every variant should be done")
    parser.add_argument("--probe", type=int, default=150, help="iterations that measure each variant's speed (> 11)")
    parser.add_argument("--variants", required=True, help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads per variant (default: the cores shared out among the variants)")
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--init", type=Path, help="model file every variant starts from")
    start.add_argument("--init-from", type=Path, help="a --work folder of an earlier call: each variant from its own")


def main(argv: list[str]) -> int:
    if argv[:1] == ["variant"]:  # one variant's process, started by `train`
        parser = argparse.ArgumentParser()
        train_arguments(parser)
        args = parser.parse_args(argv[3:])
        args.deadline = float(argv[2])
        train_variant(argv[1], args)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="pack the training slices")
    packing.add_argument("--data", type=Path, required=True)
    packing.add_argument("--out", type=Path, required=True)
    packing.add_argument("--validation", type=float, default=0.05, help="share of cases held out, as --val-fraction")
    packing.add_argument("--seed", type=int, default=0, help="seed of the held-out split")
    packing.add_argument("--spacing", type=float, default=3.0, help="in-plane spacing of the slices (mm)")
    packing.add_argument("--every", type=int, default=1, help="keep every k-th slice of each volume")
    packing.add_argument("--modalities", nargs="+", default=["flair"],
                         help="the sequences, the first one required in every case (as `train --modalities`)")
    packing.add_argument("--offset", type=int, default=0,
                         help="with --every k: keep the slices whose index is this modulo k (another k-th of them)")
    train_arguments(commands.add_parser("train", help="train the variants side by side"))
    exporting = commands.add_parser("export", help="a model file from a variant's newest checkpoint")
    exporting.add_argument("--checkpoints", type=Path, required=True, help="a variant's checkpoints folder")
    exporting.add_argument("--like", type=Path, required=True, help="the model file the variant started from")
    exporting.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "export":
        print(export(args.checkpoints, args.like, args.out))
        return 0
    if args.command == "pack":
        if args.every < 1 or args.spacing <= 0 or not 0 <= args.offset < args.every:
            parser.error(f"pack: --every must be >= 1, --spacing > 0 and 0 <= --offset < --every "
                         f"(got {args.every}, {args.spacing}, {args.offset})")
        pack(args.data, args.out, args.validation, args.seed, args.spacing, args.every, args.offset, args.modalities)
        return 0
    return train_all(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
