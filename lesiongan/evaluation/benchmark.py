"""The papers' tables reproduced on the phantom: every row trained by the one training loop,
every pseudo-healthy model scored by the one evaluation protocol on held-out subjects.

    from lesiongan.evaluation.benchmark import Benchmark, SCALES
    results = Benchmark(out, SCALES["ci"], seed=0).run(["table4", "table5"])

Tables: ANT-GAN Table IV (ablation), Fig. 12 (lambda_AM sweep), Tables V-VII (Plain vs
ANT-UNet, Plain vs ANT-VGG, augmentation with G_N2A) and Xia et al. Table 1. Finished runs
are reused when their method, options and iterations match, so an interrupted benchmark
carries on where it stopped.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..data import readers
from ..data.phantom import write_cases
from ..data.slices import SliceSet
from ..device import resolve_device
from ..errors import InputError
from ..infer.modelfile import ModelFile, load_model
from ..methods import resolve_options
from ..nets import from_net, to_net
from ..train import TrainConfig, train
from ..metrics.detection import dice, precision_recall_f1
from ..metrics.protocol import summarize
from .evaluate import evaluate_subject, select_subjects
from .fpre import check_segmentor

TABLES = ("table4", "fig12", "xia1", "table5", "table6", "table7")
ABLATIONS = ("gan", "gan+ac", "gan+nc", "cyclegan", "cyclegan+shortcut", "antgan")
RECIPE = "twin-gate"  # the shipped demo model's recipe, an ANT-GAN preset beside the paper's rows
LAMBDA_AM = {"am0.1": 0.1, "am1": 1.0, "am10": 10.0, "am100": 100.0}
XIA_ROWS = ("cgan", "cyclegan", "phs-unpaired", "phs-paired")
SECOND_CHANNEL = {"plain-unet": "plain", "ant-unet": "ant", "plain-vgg": "plain", "ant-vgg": "ant"}
# The rows of every table, in the papers' order; the report and paper_numbers follow them.
TABLE_ROWS: dict[str, tuple[str, ...]] = {
    "table4": ABLATIONS + (RECIPE,),
    "fig12": tuple(LAMBDA_AM),
    "xia1": XIA_ROWS,
    "table5": ("plain-unet", "ant-unet"),
    "table6": ("plain-vgg", "ant-vgg"),
    "table7": ("real", "real+synthetic"),
}
GAN_METRICS = ("psnr_nonlesion", "identity", "healthiness", "dice", "auprc", "psnr_lesion", "psnr_truth")


@dataclass(frozen=True)
class Scale:
    """How big one benchmark is: phantom, slice spacing, networks and iterations."""

    name: str
    phantom_size: str
    cases: int
    spacing: float | None  # in-plane mm of the training slices (None: the phantom's own)
    gan_iterations: int
    supervised_iterations: int
    batch_size: int
    gan_options: dict[str, Any]  # ngf, n_blocks, ndf of every pseudo-healthy method
    unet_options: dict[str, Any]  # unet_base, unet_depth of every U-Net
    classifier_options: dict[str, Any]
    table7_samples: int  # real slices of dataset A (half abnormal, half healthy); B doubles them
    test_fraction: float = 0.25


SCALES = {
    # A few minutes on 2 CPU cores: proves the whole pipeline, not the papers.
    "ci": Scale("ci", "tiny", 10, 7.5, 20, 30, 2, {"ngf": 8, "n_blocks": 2, "ndf": 8},
                {"unet_base": 8, "unet_depth": 3}, {"width": 8, "depth": 3}, 20, test_fraction=0.3),
    # About 21 min on 2 shared CPU cores: 32x32 slices of 16 tiny phantoms.
    "cpu": Scale("cpu", "tiny", 16, 7.5, 800, 400, 4, {"ngf": 16, "n_blocks": 3, "ndf": 16},
                 {"unet_base": 16, "unet_depth": 3}, {"width": 16, "depth": 3}, 100),
    # One GPU, meant to take under an hour (not measured yet): BraTS-size phantom at 2 mm (120x120), paper-width networks.
    "gpu": Scale("gpu", "brats", 40, 2.0, 3000, 1500, 8, {"ngf": 64, "n_blocks": 9, "ndf": 64},
                 {"unet_base": 32, "unet_depth": 4}, {"width": 32, "depth": 4}, 100, test_fraction=0.2),
}


@dataclass
class Benchmark:
    """One benchmark in `out`: the phantom in `out/phantom`, each trained row in `out/runs/<row>`.

    Models are trained lazily and once: a row several tables share (ANT-GAN, CycleGAN) is
    trained the first time a table asks for it.
    """

    out: Path
    scale: Scale
    seed: int = 0
    device: str = "auto"
    log: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)
    _models: dict[str, Path] = field(default_factory=dict)
    _segmentor: ModelFile | None = None
    _slices: dict[str, SliceSet] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.data = self.out / "phantom"
        self.torch_device = resolve_device(self.device)

    # --- data -------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """The phantom cases (written once; a folder with the right count is reused)."""
        if self.data.is_dir() and len(readers.discover(self.data)) == self.scale.cases:
            return
        started = time.perf_counter()
        write_cases(self.data, self.scale.cases, self.seed, size=self.scale.phantom_size)
        self.timings["phantom"] = time.perf_counter() - started

    def split(self) -> tuple[list[readers.Subject], list[readers.Subject]]:
        """Training and held-out subjects, the very split the loop makes with this seed."""
        fraction = self.scale.test_fraction
        train_subjects, test_subjects = readers.split_subjects(readers.discover(self.data), (1 - fraction, fraction), seed=self.seed)
        return train_subjects, test_subjects

    def slices(self, part: str) -> SliceSet:
        """Training ('train') or held-out ('test') FLAIR slices, as the loop cuts them."""
        if part not in self._slices:
            subjects = self.split()[0 if part == "train" else 1]
            self._slices[part] = SliceSet.from_subjects(subjects, modalities=("flair",), spacing=self.scale.spacing)
        return self._slices[part]

    # --- training through the one loop -------------------------------------------------------
    def train_run(self, name: str, method: str, preset: str | None, options: dict[str, Any],
                  data: SliceSet | None = None, iterations: int | None = None) -> Path:
        """`<out>/runs/<name>/model.pt`, trained unless a finished run with the same settings is there."""
        iterations = iterations or self.scale.gan_iterations
        out = self.out / "runs" / name
        model_path = out / "model.pt"
        resolved = resolve_options(method, preset, options)
        if model_path.is_file():
            provenance = load_model(model_path).provenance
            if provenance.get("options") == resolved and provenance.get("iterations") == iterations:
                return model_path
            raise InputError(out, "holds a run with other settings; use a new --out folder")
        self.log(f"training {name} ({method}{'/' + preset if preset else ''}, {iterations} iterations)")
        started = time.perf_counter()
        config = TrainConfig(
            method=method, preset=preset, options=options, data=self.data if data is None else data, out=out,
            spacing=self.scale.spacing if data is None else None, val_fraction=self.scale.test_fraction,
            iterations=iterations, batch_size=self.scale.batch_size, seed=self.seed, device=self.device,
            checkpoint_every=iterations, sample_every=iterations, log_every=max(1, iterations // 10), tensorboard=False,
        )
        path = train(config)
        self.timings[name] = time.perf_counter() - started
        return path

    def gan_model(self, name: str) -> Path:
        """A pseudo-healthy model by row name: ablation presets, the lambda_AM sweep, Xia's methods."""
        if name not in self._models:
            if name in ABLATIONS or name == RECIPE:
                run = ("antgan", name, self.scale.gan_options)
            elif name in LAMBDA_AM:
                # lambda_AM = 10 is ANT-GAN itself: the same run serves both tables.
                if LAMBDA_AM[name] == 10.0:
                    self._models[name] = self.gan_model("antgan")
                    return self._models[name]
                run = ("antgan", f"antgan-am{LAMBDA_AM[name]:g}", self.scale.gan_options)
            elif name in ("phs-paired", "phs-unpaired"):
                run = (name, "paper", {**self.scale.gan_options, **self.scale.unet_options})
            elif name == "cgan":
                run = ("cgan", "paper", self.scale.gan_options)
            else:
                raise InputError(f"row {name!r}", "is no pseudo-healthy model of the benchmark")
            self._models[name] = self.train_run(name, *run)
        return self._models[name]

    def segmentor(self) -> ModelFile:
        """f_pre: a U-Net trained on the training subjects' FLAIR slices, for healthiness."""
        if self._segmentor is None:
            path = self.train_run("f_pre", "segmentation", "paper", self.scale.unet_options,
                                  iterations=self.scale.supervised_iterations)
            self._segmentor = check_segmentor(load_model(path, device=str(self.torch_device)), path)
        return self._segmentor

    # --- scoring ---------------------------------------------------------------------------
    def score_gan(self, name: str) -> dict[str, float]:
        """Mean of every protocol metric over the held-out subjects (std and n under `<metric>_std`, `n`)."""
        model = load_model(self.gan_model(name), device=str(self.torch_device))
        subjects = select_subjects(self.data, "test", provenance=model.provenance)
        segmentor = self.segmentor()
        summary = summarize([evaluate_subject(s, model, self.torch_device, None, segmentor) for s in subjects])
        scores = {metric: summary[metric]["mean"] for metric in GAN_METRICS if metric in summary}
        scores.update({f"{metric}_std": summary[metric]["std"] for metric in GAN_METRICS if metric in summary})
        scores["subjects"] = len(subjects)
        return scores

    def translate(self, role: str, images: torch.Tensor) -> torch.Tensor:
        """ANT-GAN's G_A2N or G_N2A applied to [0, 1] slices, batched, back in [0, 1]."""
        net = load_model(self.gan_model("antgan"), device=str(self.torch_device)).network(role, self.torch_device)
        return _batched(lambda batch: from_net(net(to_net(batch)).float()).clamp(0, 1), images, self.torch_device)

    def with_second_channel(self, slices: SliceSet, kind: str) -> SliceSet:
        """Two-channel slices: the image and a copy of it ('plain', same parameter count as the
        paper's Plain UNet/VGG) or ANT-GAN's difference map |x - G_A2N(x)| ('ant')."""
        images = slices.images[:, :1]
        second = images if kind == "plain" else (images - self.translate("a2n", images)).abs()
        meta = {**slices.meta, "modalities": ["flair", "flair" if kind == "plain" else "antgan_difference"]}
        return dataclasses.replace(slices, images=torch.cat([images, second], dim=1), meta=meta)

    def segmentation_dice(self, name: str, kind: str) -> dict[str, float]:
        train_set = self.with_second_channel(self.slices("train"), kind)
        path = self.train_run(name, "segmentation", "paper", self.scale.unet_options, train_set, self.scale.supervised_iterations)
        net = load_model(path, device=str(self.torch_device)).network("segmentor", self.torch_device)
        test_set = self.with_second_channel(self.slices("test"), kind)
        probabilities = _batched(lambda batch: net(to_net(batch)).float(), test_set.images, self.torch_device)
        return {"dice": dice(probabilities.numpy() > 0.5, test_set.masks.numpy() > 0), "slices": len(test_set)}

    def classification_scores(self, name: str, train_set: SliceSet, test_set: SliceSet) -> dict[str, float]:
        path = self.train_run(name, "classification", "paper", self.scale.classifier_options, train_set,
                              self.scale.supervised_iterations)
        net = load_model(path, device=str(self.torch_device)).network("classifier", self.torch_device)
        logits = _batched(lambda batch: net(to_net(batch)).float(), test_set.images, self.torch_device)
        precision, recall, f1 = precision_recall_f1(logits.numpy() > 0, test_set.labels.numpy() > 0)
        return {"precision": precision, "recall": recall, "f1": f1, "slices": len(test_set), "train_slices": len(train_set)}

    def augmentation_sets(self) -> tuple[SliceSet, SliceSet]:
        """ANT-GAN Sec. V-B: dataset A, real slices half abnormal, half healthy; dataset B, A plus
        G_N2A of A's healthy slices (labelled abnormal) and G_A2N of A's abnormal ones (healthy)."""
        slices = self.slices("train")
        rng = np.random.default_rng([self.seed, 7])
        half = self.scale.table7_samples // 2
        abnormal = rng.permutation(slices.abnormal_indices.numpy())[:half]
        healthy = rng.permutation(slices.healthy_indices.numpy())[:half]
        real = slices.subset(np.concatenate([abnormal, healthy]))
        fake_abnormal = slices.subset(healthy)
        fake_abnormal = dataclasses.replace(fake_abnormal, images=self.translate("n2a", fake_abnormal.images),
                                            masks=torch.zeros_like(fake_abnormal.masks), labels=torch.ones_like(fake_abnormal.labels))
        fake_healthy = slices.subset(abnormal)
        fake_healthy = dataclasses.replace(fake_healthy, images=self.translate("a2n", fake_healthy.images),
                                           masks=torch.zeros_like(fake_healthy.masks), labels=torch.zeros_like(fake_healthy.labels))
        return real, _concatenate([real, fake_abnormal, fake_healthy])

    # --- the tables ------------------------------------------------------------------------
    def table(self, key: str) -> dict[str, dict[str, float]]:
        """Our numbers of one table, row -> metric -> value."""
        if key not in TABLE_ROWS:
            raise InputError(f"table {key!r}", f"unknown; known: {', '.join(TABLES)}")
        rows = TABLE_ROWS[key]
        if key in ("table4", "fig12", "xia1"):
            return {row: self.score_gan(row) for row in rows}
        if key == "table5":
            return {row: self.segmentation_dice(row, SECOND_CHANNEL[row]) for row in rows}
        if key == "table6":
            return {row: self.classification_scores(row, self.with_second_channel(self.slices("train"), SECOND_CHANNEL[row]),
                                                     self.with_second_channel(self.slices("test"), SECOND_CHANNEL[row]))
                    for row in rows}
        real, augmented = self.augmentation_sets()
        return {row: self.classification_scores(row, data, self.slices("test")) for row, data in zip(rows, (real, augmented))}

    def run(self, tables: list[str] | tuple[str, ...] = TABLES) -> dict[str, dict[str, dict[str, float]]]:
        unknown = [key for key in tables if key not in TABLES]
        if unknown:
            raise InputError("--only", f"names unknown tables {', '.join(unknown)}; known: {', '.join(TABLES)}")
        self.prepare_data()
        results = {}
        for key in tables:
            started = time.perf_counter()
            results[key] = self.table(key)
            self.log(f"{key} done in {time.perf_counter() - started:.0f} s")
        return results


def _batched(function: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, device: torch.device,
             batch_size: int = 64) -> torch.Tensor:
    """`function` over `images` in batches on `device`, without gradients, results on the CPU."""
    with torch.no_grad():
        return torch.cat([function(images[i:i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])


def _concatenate(parts: list[SliceSet]) -> SliceSet:
    """One SliceSet of several with the same slice size (ground-truth fields dropped)."""
    join = lambda name: torch.cat([getattr(part, name) for part in parts])  # noqa: E731
    return SliceSet(join("images"), join("masks"), join("labels"), [s for part in parts for s in part.subject_ids],
                    join("slice_index"), dict(parts[0].meta))

