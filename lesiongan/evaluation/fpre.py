"""f_pre, the pretrained segmentor that judges 'healthiness' (Xia et al., Sec. 4.2), on volumes.

Xia et al. score pseudo-healthy images by how many lesion pixels a segmentor trained on real
pathological images still finds in them. Here f_pre is a LesionGAN model file with a
one-channel `segmentor` role (method `segmentation`). LesionGAN ships one for brain FLAIR
beside the demo model (`fpre_flair` in the manifest, made by `scripts/make_fpre_model.sh`),
and `lesiongan evaluate` uses it for models whose first modality it was trained on.

A pseudo-healthy output is judged in f_pre's own frame: its input is reoriented, resampled
in-plane to f_pre's spacing and normalized as f_pre was trained (`infer.frame.model_frame`);
the output goes into the same frame with the input's normalization (a pseudo-healthy image
is on its input's intensity scale, as in the paper, so removing a large lesion does not
stretch what is left), and the true mask too (nearest neighbour). So any model's output, on
any grid, is judged at the resolution f_pre knows, and the lesion pixels it finds are
compared with true lesion pixels counted on the same grid.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..data.normalize import normalize
from ..data.slicing import to_slices
from ..data.volume import Volume
from ..errors import InputError, ModelFileError
from ..infer.frame import model_frame
from ..infer.modelfile import ModelFile, load_model
from ..nets import to_net
from ..metrics.healthiness import Segmentor, healthiness, segment

ROLE = "segmentor"


def check_segmentor(model: ModelFile, source: str | Path) -> ModelFile:
    """`model` if it can judge healthiness: a one-channel segmentor; else a clear error."""
    if ROLE not in model.roles:
        raise ModelFileError(source, f"has no {ROLE!r} network (roles: {', '.join(sorted(model.roles)) or 'none'}); "
                                     "healthiness needs a model trained with --method segmentation")
    if model.in_channels(ROLE) != 1:
        raise ModelFileError(source, f"its segmentor takes {model.in_channels(ROLE)} channels; healthiness needs one")
    return model


def shipped_segmentor(modality: str, device: str = "cpu") -> ModelFile | None:
    """The shipped f_pre trained on `modality`, or None when none is shipped for it."""
    from ..infer.catalog import SCORING_METHODS, load_manifest

    for entry in load_manifest():
        if entry.method in SCORING_METHODS and entry.available:
            model = load_model(entry.path, device=device)
            if ROLE in model.roles and model.modalities[:1] == [modality]:
                return check_segmentor(model, entry.path)
    return None


def volume_healthiness(input: Volume, output: Volume, true_mask: Volume, segmentor: ModelFile,
                       device: torch.device, threshold: float = 0.5) -> float:
    """Healthiness of one pseudo-healthy volume: 1 - (lesion pixels f_pre finds per slice) /
    (true lesion pixels per slice), over the slices of f_pre's frame that hold a true lesion;
    `nan` when the case has no lesion. `output` and `true_mask` are on `input`'s grid."""
    for name, volume in (("output", output), ("true mask", true_mask)):
        if not volume.same_grid(input):
            raise InputError(name, "is not on the grid of the input volume")
    frame = model_frame(input, segmentor.conventions)
    minimum = getattr(segmentor.network(ROLE, device), "min_size", 1)
    if min(frame.normalized.shape[-2:]) < minimum:
        raise InputError("input", f"its slices are {'x'.join(map(str, frame.normalized.shape[-2:]))} pixels in f_pre's "
                                  f"frame ({segmentor.conventions.get('spacing')} mm); f_pre needs at least {minimum}")
    lesion = to_slices(frame.bring(true_mask.with_array((true_mask.array > 0).astype(np.float32)), "nearest").array > 0.5,
                       frame.axis)
    abnormal = lesion.reshape(len(lesion), -1).any(axis=1)
    if not abnormal.any():
        return math.nan
    mean_lesion = float(lesion[abnormal].reshape(int(abnormal.sum()), -1).sum(axis=1).mean())
    judged = to_slices(normalize(frame.bring(output).array.astype(np.float32), frame.params[0]), frame.axis)
    return healthiness(judged[abnormal].astype(np.float32), as_segmentor(segmentor, device), mean_lesion, threshold)


def as_segmentor(model: ModelFile, device: torch.device) -> Segmentor:
    """The model's segmentor network as a [0, 1] slices -> probabilities callable."""
    net = model.network(ROLE, device)
    return lambda batch: net(to_net(batch.to(device))).float().cpu()


def segmentor_scores(segmentor: ModelFile, subjects: list, device: str | torch.device = "cpu") -> dict[str, float]:
    """How good an f_pre is, on subjects with a lesion mask and a true healthy volume (the
    phantom): mean Dice of its mask on the input against the true mask (in its frame), and the
    healthiness it gives the input itself (it should find the lesion: low) and the true healthy
    volume (nothing to find: near 1)."""
    from ..data import readers
    from ..data.volume import read_volume
    from ..metrics.detection import dice

    modality = segmentor.modalities[0]
    device = torch.device(device)
    judge = as_segmentor(segmentor, device)
    rows = []
    for subject in subjects:
        volumes, mask = readers.load_subject(subject, [modality])
        if mask is None or modality not in subject.healthy:
            raise InputError(subject.id, f"needs a lesion mask and a true healthy {modality} volume to score f_pre")
        image = volumes[modality]
        truth = image.with_array(readers.lesion_mask(mask.array, subject))
        twin = read_volume(subject.healthy[modality])
        frame = model_frame(image, segmentor.conventions)
        lesion = to_slices(frame.bring(truth.with_array(truth.array.astype(np.float32)), "nearest").array > 0.5, frame.axis)
        found = segment(frame.normalized[:, :1], judge).numpy() > 0.5
        rows.append({"dice": dice(found, lesion),
                     "healthiness_of_input": volume_healthiness(image, image, truth, segmentor, device),
                     "healthiness_of_truth": volume_healthiness(image, twin, truth, segmentor, device)})
    return {name: round(float(np.mean([row[name] for row in rows])), 4) for name in rows[0]}
