"""Domain randomization of the phantom, after SynthSeg (Billot et al.): every case draws its
own anatomy warp, tissue contrast, bias, noise, blur, slice thickness and lesions, so a model
trained on the phantom learns what a lesion is rather than what one scanner's MNI152 looks like.

A `Randomization` is a named setting: what a case may draw. `train` is what models train on;
`test` is a held-out setting with a contrast profile (proton-density-like) and a lesion model
(many small foci) that no `train` case ever has, for measuring generalization (with seeds of
its own). Cases made with `randomization=None` are the plain phantom, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Mean tissue intensity (CSF, GM, WM) of each contrast profile, in BraTS-like raw units.
CONTRAST_PROFILES: dict[str, tuple[float, float, float]] = {
    "flair": (110.0, 580.0, 420.0),
    "t1": (300.0, 620.0, 850.0),
    "t1ce": (320.0, 650.0, 880.0),
    "t2": (1800.0, 950.0, 700.0),
    "pd": (950.0, 1000.0, 780.0),  # held out: only the test setting draws it
}
LESION_FAMILIES = ("glioma", "blobs", "foci")


@dataclass(frozen=True)
class Randomization:
    """The ranges one setting draws from (uniform unless said otherwise)."""

    name: str
    contrasts: tuple[str, ...]  # profiles of CONTRAST_PROFILES
    lesion_families: tuple[str, ...]  # of LESION_FAMILIES
    contrast_jitter: float = 0.3  # each tissue mean times U(1 - j, 1 + j)
    gamma: tuple[float, float] = (0.75, 1.35)  # intensity curve s -> s ** gamma
    deformation_mm: tuple[float, float] = (2.0, 5.0)  # elastic amplitude (std of the field)
    scaling: tuple[float, float] = (0.9, 1.1)  # per axis
    rotation_deg: float = 8.0  # about each axis, +-
    bias: tuple[float, float] = (0.05, 0.3)  # log-amplitude of the smooth bias field
    noise: tuple[float, float] = (0.005, 0.04)  # Rician sigma, share of the brightest tissue mean
    blur_mm: tuple[float, float] = (0.0, 1.0)  # in-plane Gaussian sigma
    slice_thickness_mm: tuple[float, float] = (1.0, 5.0)  # simulated acquisition along z
    hypointense_fraction: float = 0.3  # lesions darker than white matter, else brighter
    lesion_count: tuple[int, int] = (1, 3)  # blobs per case
    blob_radius_mm: tuple[float, float] = (4.0, 18.0)
    foci_count: tuple[int, int] = (6, 12)
    foci_radius_mm: tuple[float, float] = (2.5, 6.0)


SETTINGS: dict[str, Randomization] = {
    "train": Randomization("train", contrasts=("flair", "t1", "t1ce", "t2"), lesion_families=("glioma", "blobs")),
    "test": Randomization("test", contrasts=("pd",), lesion_families=("foci", "glioma")),
}


@dataclass(frozen=True)
class Appearance:
    """What one case drew for one modality's image (the twin shares every draw)."""

    tissue_means: tuple[float, float, float]
    lesion_factors: dict[int, float]  # lesion label -> mean relative to the white matter's
    gamma: float
    bias: float
    noise: float
    blur_mm: float
    thickness_mm: float


def draw_appearance(setting: Randomization, rng: np.random.Generator, labels: tuple[int, ...]) -> Appearance:
    """One modality's contrast, lesion intensities and acquisition for one case."""
    profile = CONTRAST_PROFILES[setting.contrasts[rng.integers(len(setting.contrasts))]]
    jitter = setting.contrast_jitter
    means = tuple(float(m * rng.uniform(1 - jitter, 1 + jitter)) for m in profile)
    darker = rng.random() < setting.hypointense_fraction
    # Each lesion compartment draws its own factor, so cores, rims and edema vary in contrast.
    factors = {label: float(rng.uniform(0.35, 0.75) if darker else rng.uniform(1.3, 2.4)) for label in labels}
    return Appearance(means, factors, float(rng.uniform(*setting.gamma)), float(rng.uniform(*setting.bias)),
                      float(rng.uniform(*setting.noise)), float(rng.uniform(*setting.blur_mm)),
                      float(rng.uniform(*setting.slice_thickness_mm)))


def random_affine(setting: Randomization, rng: np.random.Generator) -> np.ndarray:
    """A 3x3 (z, y, x) matrix: random scaling per axis after a small random rotation."""
    angles = np.deg2rad(rng.uniform(-setting.rotation_deg, setting.rotation_deg, size=3))
    matrix = np.eye(3)
    for axis, angle in enumerate(angles):
        a, b = [i for i in range(3) if i != axis]
        turn = np.eye(3)
        turn[a, a] = turn[b, b] = np.cos(angle)
        turn[a, b], turn[b, a] = -np.sin(angle), np.sin(angle)
        matrix = turn @ matrix
    return np.diag(rng.uniform(*setting.scaling, size=3)) @ matrix


def acquire(signal: np.ndarray, appearance: Appearance, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """The intensity curve, in-plane blur and slice thickness applied to a noise-free volume.

    Deterministic, so a lesion case and its healthy twin stay equal wherever their signals are.
    """
    top = max(appearance.tissue_means) * 2.5
    result = top * (np.clip(signal, 0, None) / top) ** appearance.gamma
    sigma_inplane = appearance.blur_mm / np.asarray(spacing_zyx[1:])
    # A thick slice averages its thickness: a Gaussian of the same full width at half maximum.
    sigma_z = max(appearance.thickness_mm - spacing_zyx[0], 0.0) / 2.355 / spacing_zyx[0]
    if sigma_z > 0 or sigma_inplane.max() > 0:
        result = ndimage.gaussian_filter(result, (sigma_z, *sigma_inplane), mode="constant")
    step = int(round(appearance.thickness_mm / spacing_zyx[0]))
    if step > 1:  # acquired every `step` slices, then interpolated back to the grid
        kept = np.arange(0, result.shape[0], step)
        position = np.arange(result.shape[0]) / step
        below = np.minimum(np.floor(position).astype(int), len(kept) - 1)
        above = np.minimum(below + 1, len(kept) - 1)
        weight = (position - below)[:, None, None].astype(np.float32)
        coarse = result[kept]
        result = (1 - weight) * coarse[below] + weight * coarse[above]
    return result.astype(np.float32)
