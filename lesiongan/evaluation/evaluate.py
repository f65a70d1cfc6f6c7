"""A model's scores on a data folder, per subject and overall (what `lesiongan evaluate` reports).

Each subject is run through the inference engine, its input and output are normalized the
way the model normalizes, and `metrics.protocol.score_case` scores it; healthiness comes from
the pretrained segmentor f_pre (`evaluation.fpre`: by default the shipped one for the model's
first modality, when there is one). `write_reports` writes `subjects.csv`, `evaluation.json`
(per subject and summary) and `evaluation.md`.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import readers
from ..data.normalize import fit_normalization, normalize
from ..data.volume import Volume, read_volume
from ..errors import InputError, LayoutError, VolumeError
from ..infer.cases import subject_inputs
from ..infer.engine import InferenceResult, SliceInferer
from ..infer.modelfile import ModelFile, load_model
from ..io import atomic_path, write_json
from ..metrics.protocol import score_case, summarize
from .fpre import check_segmentor, shipped_segmentor, volume_healthiness

TEST_FRACTIONS = (0.8, 0.2)  # the train/test split of readers.split_subjects' defaults (seed 0)

# Row order and labels of the tables; metrics missing from every subject are left out.
METRIC_LABELS = {
    "psnr_nonlesion": "non-lesion PSNR (dB)",
    "identity": "identity (masked MS-SSIM)",
    "healthiness": "healthiness",
    "dice": "Dice",
    "precision": "precision",
    "recall": "recall",
    "auprc": "AUPRC",
    "brain_marked": "brain marked, lesion volumes",
    "healthy_marked": "brain marked, healthy volumes",
    "psnr_lesion": "lesion PSNR vs truth (dB)",
    "psnr_lesion_input": "lesion PSNR vs truth, input (dB)",
    "ssim_lesion": "lesion SSIM vs truth",
    "psnr_truth": "foreground PSNR vs truth (dB)",
}


def select_subjects(data: Path, split: str, layout: str = "auto", provenance: dict | None = None) -> list[readers.Subject]:
    """`all` subjects, or the `test` ones: those the model was not trained on when its
    provenance records the training subjects, else the held-out part of the default split."""
    subjects = readers.discover(data, layout)
    if split == "all":
        return subjects
    trained = ((provenance or {}).get("split") or {}).get("train")
    if trained is not None:
        test = [subject for subject in subjects if subject.id not in set(trained)]
    else:
        test = readers.split_subjects(subjects, TEST_FRACTIONS)[1]
    if not test:
        raise LayoutError(data, f"has no test subject among its {len(subjects)} (all were trained on, or too few "
                                "to split); use --split all")
    return test


def choose_segmentor(choice: str, model: ModelFile, device: torch.device) -> ModelFile | None:
    """The f_pre `--segmentor` names: a file, `none`, or `auto` (shipped, same first modality)."""
    if choice == "none":
        return None
    if choice == "auto":
        return shipped_segmentor(model.modalities[0], device=str(device))
    return check_segmentor(load_model(choice, device=str(device)), choice)


def score_result(image: Volume, result: InferenceResult, model: ModelFile, true_mask: np.ndarray,
                 truth: Volume | None = None, changed: np.ndarray | None = None) -> dict[str, float]:
    """The protocol's scores of one engine result on the input's grid (first modality). The
    mask scored is the result's own, as a user gets it: thresholded, inside the brain, without
    the components smaller than the model's minimum.

    The engine fits the normalization in the model's frame; fitting it again on the input grid,
    inside the engine's foreground, gives the intensities the difference map is measured in.
    """
    foreground = result.foreground.array > 0
    spec = model.conventions.get("normalization") or {"kind": "mr", "options": {}}
    params = fit_normalization(image.array, kind=spec.get("kind", "mr"), foreground=foreground,
                               **(spec.get("options") or {}))
    return score_case(normalize(image.array, params), normalize(result.output.array, params),
                      result.difference.array, true_mask, foreground,
                      truth=None if truth is None else normalize(truth.array, params), changed=changed,
                      mask=result.mask.array)


def evaluate_subject(subject: readers.Subject, model: ModelFile, device: torch.device,
                     threshold: float | None = None, segmentor: ModelFile | None = None,
                     strict: bool = True, oracle: bool = False) -> dict[str, float]:
    """Scores of one subject (see `protocol.score_case`), first modality of the model; with
    `segmentor` (f_pre) also its healthiness (`evaluation.fpre`). A subject f_pre cannot judge
    (slices too small in its frame) is an error when `strict`, else its healthiness is nan.

    `oracle` scores the subject's true healthy volumes in place of the model's output (through
    the model's frame, threshold and post-processing): the ceiling of its mask on this data."""
    images, mask = subject_inputs(subject, model)
    first = model.modalities[0]
    truth = changed = None
    if first in subject.healthy:
        truth = _read_on_grid(subject.healthy[first], images[0])
        if subject.changed is not None:
            changed = _read_on_grid(subject.changed, images[0]).array
    reference = None
    if oracle:
        if truth is None:
            raise InputError(subject.id, f"has no true healthy {first} volume (<case>_{first}_healthy) "
                                         "to score as the oracle")
        reference = [truth, *(None if image is None or modality not in subject.healthy
                              else _read_on_grid(subject.healthy[modality], image)
                              for modality, image in zip(model.modalities[1:], images[1:]))]
    result = SliceInferer(device=device, threshold=threshold)(images, model, reference=reference)
    true_mask = np.zeros(images[0].shape, np.uint8) if mask is None else readers.lesion_mask(mask.array, subject)
    scores = score_result(images[0], result, model, true_mask, truth=truth, changed=changed)
    if segmentor is not None:
        try:
            scores["healthiness"] = volume_healthiness(images[0], result.output, images[0].with_array(true_mask),
                                                       segmentor, device)
        except InputError as error:
            if strict:
                raise
            print(f"{subject.id}: healthiness not scored: {error}", file=sys.stderr)
            scores["healthiness"] = math.nan
    return scores


def _read_on_grid(path: Path, reference: Volume) -> Volume:
    volume = read_volume(path, allow_empty=True)
    if not volume.same_grid(reference):
        raise VolumeError(path, "is not on the grid of the subject's images")
    return volume


def _cell(value: float, digits: int = 3) -> str:
    if math.isnan(value):
        return "n/a"
    return str(value) if math.isinf(value) else f"{value:.{digits}f}"


def _names(rows: list[dict[str, float]]) -> list[str]:
    present = {name for row in rows for name in row}
    return [name for name in METRIC_LABELS if name in present] + sorted(present - set(METRIC_LABELS))


def markdown(ids: list[str], rows: list[dict[str, float]], summary: dict[str, dict[str, float]]) -> str:
    """The summary table (mean ± std over subjects) and the per-subject table, in Markdown."""
    names = _names(rows)
    lines = ["| metric | mean ± std | subjects |", "| --- | --- | --- |"]
    for name in names:
        entry = summary[name]
        spread = "" if math.isnan(entry["std"]) or entry["n"] < 2 else f" ± {_cell(entry['std'])}"
        lines.append(f"| {METRIC_LABELS.get(name, name)} | {_cell(entry['mean'])}{spread} | {entry['n']} |")
    lines += ["", "| subject | " + " | ".join(names) + " |", "| --- " * (len(names) + 1) + "|"]
    for subject_id, row in zip(ids, rows):
        lines.append(f"| {subject_id} | " + " | ".join(_cell(row.get(name, math.nan)) for name in names) + " |")
    return "\n".join(lines) + "\n"


def write_reports(out: Path, ids: list[str], rows: list[dict[str, float]], context: dict[str, Any]) -> str:
    """Write subjects.csv, evaluation.json and evaluation.md (each whole or not at all); return the
    Markdown tables. `context` goes into the JSON as it is; its `skipped` ({subject: why}) is
    also listed in the Markdown."""
    summary = summarize(rows)
    names = _names(rows)
    with atomic_path(out / "subjects.csv") as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["subject", *names])
            for subject_id, row in zip(ids, rows):
                writer.writerow([subject_id, *(repr(row.get(name, math.nan)) for name in names)])
    report = {
        **context,
        "summary": {name: summary[name] for name in names},
        "subjects": dict(zip(ids, rows)),
    }
    write_json(out / "evaluation.json", report)
    table = markdown(ids, rows, summary)
    skipped = "".join(f"- {subject_id}: {problem}\n" for subject_id, problem in (context.get("skipped") or {}).items())
    with atomic_path(out / "evaluation.md") as temporary:
        scored = " (oracle: the true healthy volumes as its output)" if context.get("oracle") else ""
        temporary.write_text(f"# Evaluation of {context['model']}{scored} on {context['data']} ({context['split']})\n\n"
                             f"{table}" + (f"\n## Skipped subjects\n\n{skipped}" if skipped else ""), encoding="utf-8")
    return table
