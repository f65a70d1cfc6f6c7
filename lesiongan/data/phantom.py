"""Brain phantom with ground truth: glioma-like lesions and, for each case, the same case
without its lesion.

Anatomy comes from the MNI152 2009 template that nilearn ships (GM and WM probability maps
and brain mask at 1 mm). Each case deforms it smoothly, renders FLAIR, T1, T1ce and T2
from tissue probabilities with a bias field and Rician noise, and grows a lesion with a
necrotic core (label 1), enhancing rim (4) and edema (2) that pushes the tissue around it
aside. The healthy twin shares the deformation, bias and noise realization, so the two
differ only inside `changed` (computed from the final arrays).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from scipy import ndimage
from scipy.spatial.transform import Rotation

from ..errors import InputError, LayoutError, LesionGANError
from .randomization import CONTRAST_PROFILES, SETTINGS, Appearance, Randomization, acquire, draw_appearance, random_affine
from .volume import Volume, write_volume

MODALITIES = ("flair", "t1", "t1ce", "t2")
LABELS = (0, 1, 2, 4)  # BraTS: background, necrotic core, edema, enhancing tumour
NECROSIS, EDEMA, ENHANCING = 1, 2, 4

# Grid size (x, y, z). Both cover BraTS's 240 x 240 x 155 mm field of view.
SIZES: dict[str, tuple[int, int, int]] = {"tiny": (64, 64, 32), "brats": (240, 240, 155)}
# What SimpleITK reads from a BraTS 2018-2021 NIfTI file.
BRATS_ORIGIN = (0.0, -239.0, 0.0)
BRATS_DIRECTION = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
BRATS_SIZE = SIZES["brats"]

# Mean intensity per tissue, in the raw units of typical BraTS scans.
# Columns: CSF, GM, WM (the contrast profiles domain randomization also draws from).
_TISSUE_MEANS = {modality: CONTRAST_PROFILES[modality] for modality in MODALITIES}
_LESION_MEANS = {
    "flair": {NECROSIS: 300.0, EDEMA: 760.0, ENHANCING: 650.0},
    "t1": {NECROSIS: 280.0, EDEMA: 520.0, ENHANCING: 560.0},
    "t1ce": {NECROSIS: 300.0, EDEMA: 560.0, ENHANCING: 1500.0},
    "t2": {NECROSIS: 1700.0, EDEMA: 1400.0, ENHANCING: 1100.0},
}
_EDEMA_WEIGHT = 0.85  # edema infiltrates tissue: its signal mixes with what lies beneath

_MAX_DEFORMATION_MM = 5.0
_MAX_MASS_EFFECT_MM = 4.0  # bound of the radial push (see _mass_effect_sources)


@dataclass
class PhantomCase:
    """One case: int16 images per modality with and without the lesion, on one grid.

    Arrays are (z, y, x); `labels` holds BraTS labels, `changed` marks voxels where any
    lesion image differs from its healthy twin, `tissue` the healthy tissue classes
    (0 background, 1 CSF, 2 GM, 3 WM).
    """

    name: str
    images: dict[str, np.ndarray]
    healthy: dict[str, np.ndarray]
    labels: np.ndarray
    changed: np.ndarray
    tissue: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = BRATS_ORIGIN
    direction: tuple[float, ...] = BRATS_DIRECTION
    lesion_center: tuple[int, int, int] | None = None  # (z, y, x) voxel

    @property
    def lesion_voxels(self) -> int:
        return int(np.count_nonzero(self.labels))

    def volume(self, array: np.ndarray) -> Volume:
        """`array` (one of this case's) with the case's geometry."""
        return Volume(array, self.spacing, self.origin, self.direction)


# ---------------------------------------------------------------- template on a grid
@dataclass(frozen=True)
class _Grid:
    shape: tuple[int, int, int]  # (z, y, x)
    spacing: tuple[float, float, float]  # (x, y, z) mm
    origin: tuple[float, float, float]
    probabilities: torch.Tensor  # (1, 3, z, y, x): CSF, GM, WM
    support: np.ndarray  # flat indices of voxels that tissue can reach after warping
    support_position: np.ndarray  # (z, y, x) int32: a voxel's place in `support`, -1 outside


def _grid_geometry(size: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Spacing and origin of a grid covering the BraTS field of view with `SIZES[size]` voxels."""
    spacing = tuple(b / n for b, n in zip(BRATS_SIZE, SIZES[size]))
    # The first voxel's centre sits half a voxel inside the field of view's corner.
    offset = np.reshape(BRATS_DIRECTION, (3, 3)) @ ((np.array(spacing) - 1) / 2)
    origin = tuple(float(o + d) for o, d in zip(BRATS_ORIGIN, offset))
    return spacing, origin  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def _template() -> tuple[tuple[sitk.Image, ...], np.ndarray]:
    """MNI152 CSF, GM and WM probabilities (1 mm, LPS) and the centre of its brain (LPS mm).

    Cached: loading the maps costs about a second.
    """
    try:
        from nilearn import datasets
    except ImportError as error:
        raise LesionGANError("the phantom needs nilearn: pip install 'lesiongan[phantom]'") from error
    maps = [datasets.load_mni152_gm_template(resolution=1), datasets.load_mni152_wm_template(resolution=1)]
    gm, wm = (np.asarray(m.get_fdata(), dtype=np.float32) for m in maps)
    brain = np.asarray(datasets.load_mni152_brain_mask(resolution=1).get_fdata(), dtype=np.float32)
    csf = np.clip(brain - gm - wm, 0.0, 1.0)  # ventricles and sulci: in the brain, neither GM nor WM
    affine = maps[0].affine

    # nilearn arrays are (x, y, z) with a diagonal RAS affine; ITK wants LPS (x and y negated).
    ras_to_lps = np.array([-1.0, -1.0, 1.0])

    def to_image(volume_xyz: np.ndarray) -> sitk.Image:
        image = sitk.GetImageFromArray(np.ascontiguousarray(volume_xyz.transpose(2, 1, 0)))
        image.SetSpacing([float(s) for s in np.abs(np.diag(affine)[:3])])
        image.SetOrigin([float(v) for v in ras_to_lps * affine[:3, 3]])
        image.SetDirection([float(v) for v in np.diag(ras_to_lps * np.sign(np.diag(affine)[:3])).ravel()])
        return image

    images = tuple(to_image(p) for p in (csf, gm, wm))
    inside = np.argwhere(brain > 0)
    centre_index = (inside.min(0) + inside.max(0)) // 2  # whole voxels, so 1 mm grids copy exactly
    return images, np.array(images[0].TransformIndexToPhysicalPoint([int(v) for v in centre_index]))


@functools.lru_cache(maxsize=2)
def _grid(size: str) -> _Grid:
    """The template's tissue probabilities on the grid of `size`, its brain centred in the
    BraTS field of view (cached per size)."""
    images, brain_centre = _template()
    brats_centre = np.array(BRATS_ORIGIN) + np.reshape(BRATS_DIRECTION, (3, 3)) @ (np.array(BRATS_SIZE) // 2)
    shift = sitk.TranslationTransform(3, [float(v) for v in brain_centre - brats_centre])

    spacing, origin = _grid_geometry(size)
    reference = sitk.Image([int(n) for n in SIZES[size]], sitk.sitkFloat32)
    reference.SetSpacing(spacing)
    reference.SetOrigin(origin)
    reference.SetDirection(BRATS_DIRECTION)
    resampled = []
    for image in images:
        if max(spacing) > 1.0:  # low-pass before subsampling, against aliasing
            image = sitk.SmoothingRecursiveGaussian(image, [0.4 * s for s in spacing])
        resampled.append(sitk.GetArrayFromImage(sitk.Resample(image, reference, shift, sitk.sitkLinear, 0.0)))
    probabilities = np.clip(np.stack(resampled), 0.0, 1.0)

    # Every voxel that tissue can be moved into by the deformation and the mass effect.
    reach_mm = _MAX_DEFORMATION_MM + _MAX_MASS_EFFECT_MM
    radius = [int(np.ceil(reach_mm / s)) + 1 for s in spacing[::-1]]
    support = ndimage.maximum_filter(probabilities.sum(0) > 0.01, size=[2 * r + 1 for r in radius])
    support_index = np.flatnonzero(support)
    position = np.full(support.shape, -1, dtype=np.int32)
    position.ravel()[support_index] = np.arange(support_index.size, dtype=np.int32)
    return _Grid(probabilities.shape[1:], spacing, origin,  # type: ignore[arg-type]
                 torch.from_numpy(probabilities)[None], support_index, position)


# ---------------------------------------------------------------- random smooth fields
def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], nodes: int | tuple[int, ...]) -> np.ndarray:
    """A random field of unit standard deviation varying on the scale of shape / nodes.

    Gaussian bumps on a coarse lattice, expanded one axis at a time (a tensor product), so
    it costs a few passes over the output instead of a 3D filter.
    """
    nodes = (nodes,) * len(shape) if isinstance(nodes, int) else nodes
    result = rng.standard_normal(nodes).astype(np.float32)
    for axis, (length, count) in enumerate(zip(shape, nodes)):
        position = np.linspace(0.0, 1.0, length, dtype=np.float32)[:, None]
        centres = np.linspace(0.0, 1.0, count, dtype=np.float32)[None, :]
        width = 1.0 / max(count - 1, 1)
        basis = np.exp(-0.5 * ((position - centres) / width) ** 2)
        result = np.moveaxis(np.tensordot(basis, np.moveaxis(result, axis, 0), axes=1), 0, axis)
    # The field is smooth, so every 4th voxel along each axis gives its statistics.
    sample = result[tuple(slice(None, None, 4) for _ in shape)]
    mean, std = float(sample.mean()), float(sample.std()) + 1e-12
    result -= mean
    result /= std
    return np.ascontiguousarray(result)


def _sample(volume: torch.Tensor, points_zyx: np.ndarray) -> np.ndarray:
    """Trilinear values of `volume` (1, C, z, y, x) at voxel coordinates `points_zyx` (3, N)."""
    scale = np.array(volume.shape[2:], dtype=np.float32)[:, None] - 1
    normalized = (2 * points_zyx / np.maximum(scale, 1) - 1)[::-1].T  # grid_sample wants (x, y, z)
    grid = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32)).view(1, 1, 1, -1, 3)
    values = torch.nn.functional.grid_sample(volume, grid, mode="bilinear", padding_mode="border",
                                             align_corners=True)
    return values.view(volume.shape[1], -1).numpy()


@functools.lru_cache(maxsize=2)
def _whole_grid(size: str) -> _Grid:
    """`_grid(size)` with every voxel in the support: a randomized warp can reach any of them."""
    grid = _grid(size)
    everything = np.arange(int(np.prod(grid.shape)))
    return _Grid(grid.shape, grid.spacing, grid.origin, grid.probabilities, everything,
                 everything.astype(np.int32).reshape(grid.shape))


def _deformed_probabilities(grid: _Grid, rng: np.random.Generator, setting: Randomization | None = None) -> np.ndarray:
    """Tissue probabilities (3, z, y, x) under a smooth random deformation of a few mm; with a
    randomization setting, also a random scaling and rotation about the grid's centre."""
    points = np.stack(np.unravel_index(grid.support, grid.shape)).astype(np.float32)
    limit = _MAX_DEFORMATION_MM
    if setting is None:
        amplitude = rng.uniform(1.5, 3.0)
    else:
        amplitude, limit = rng.uniform(*setting.deformation_mm), 3 * setting.deformation_mm[1]
        spacing_zyx = np.array(grid.spacing[::-1], dtype=np.float32)[:, None]
        centre = (np.array(grid.shape, dtype=np.float32)[:, None] - 1) / 2
        # Where each output voxel samples the template: the inverse map of the drawn affine.
        inverse = np.linalg.inv(random_affine(setting, rng)).astype(np.float32)
        points = centre + (inverse @ ((points - centre) * spacing_zyx)) / spacing_zyx
    for axis, spacing in enumerate(grid.spacing[::-1]):
        displacement_mm = np.clip(amplitude * smooth_field(rng, grid.shape, 4), -limit, limit)
        points[axis] += displacement_mm.ravel()[grid.support] / spacing
    result = np.zeros((3, *grid.shape), dtype=np.float32)
    result.reshape(3, -1)[:, grid.support] = _sample(grid.probabilities, points)
    return result


# ---------------------------------------------------------------- the lesion
@dataclass
class _Lesion:
    box: tuple[slice, slice, slice]
    labels: np.ndarray  # BraTS labels inside box
    probabilities: np.ndarray  # (3, box) tissue probabilities after the mass effect
    weight: np.ndarray  # share of lesion signal over tissue signal, per voxel of box
    texture: np.ndarray  # relative intensity variation inside the lesion


def _lesion(probabilities: np.ndarray, spacing: tuple[float, float, float], rng: np.random.Generator) -> _Lesion:
    """A glioma-like lesion in the white matter with the tissue around it pushed aside."""
    shape = probabilities.shape[1:]
    white = np.flatnonzero(probabilities[2] > 0.7)
    centre = np.array(np.unravel_index(white[rng.integers(len(white))], shape))
    radii_mm = rng.uniform(10.0, 26.0) * rng.uniform(0.8, 1.25, size=3)  # edema semi-axes (x, y, z)
    reach_mm = 1.7 * radii_mm.max()  # the mass effect fades to nothing here

    spacing_zyx = np.array(spacing[::-1])
    half = np.ceil(reach_mm / spacing_zyx).astype(int)
    lo, hi = np.maximum(centre - half, 0), np.minimum(centre + half + 1, shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    box_shape = tuple(int(b - a) for a, b in zip(lo, hi))
    offsets_mm = np.stack(np.meshgrid(*[(np.arange(a, b) - c) * s for a, b, c, s in zip(lo, hi, centre, spacing_zyx)],
                                      indexing="ij")).astype(np.float32)  # (3, box): z, y, x

    # Irregular shells: distance in a rotated ellipsoid's metric, perturbed by smooth noise.
    rotation = Rotation.random(random_state=rng).as_matrix().astype(np.float32)
    local = np.tensordot(rotation, offsets_mm[::-1], axes=1)  # x, y, z in the lesion's frame
    edema = np.sqrt(((local / radii_mm[:, None, None, None]) ** 2).sum(0))
    # Two scales of perturbation: lobes, and finger-like spread along the tissue.
    edema *= np.exp(0.25 * smooth_field(rng, box_shape, 5) + 0.12 * smooth_field(rng, box_shape, 11))
    core_shift = rng.uniform(-0.2, 0.2, size=3) * radii_mm
    core_scale = rng.uniform(0.35, 0.65)
    core = np.sqrt((((local - core_shift[:, None, None, None]) / radii_mm[:, None, None, None]) ** 2).sum(0))
    core *= np.exp(0.3 * smooth_field(rng, box_shape, 6) + 0.1 * smooth_field(rng, box_shape, 11)) / core_scale
    necrosis_fraction = rng.uniform(0.4, 0.75) if rng.random() < 0.85 else 0.0

    # Mass effect: tissue at r came from r * s(r), with s < 1 near the lesion and s = 1 at reach.
    distance_mm = np.sqrt((offsets_mm ** 2).sum(0))
    pushed = distance_mm < reach_mm
    strength = rng.uniform(0.2, 0.35)  # max push = strength * reach * 4/27 (at reach / 3)
    strength = min(strength, _MAX_MASS_EFFECT_MM / (reach_mm * 4 / 27))
    scale = 1 - strength * (1 - np.minimum(distance_mm / reach_mm, 1)) ** 2
    sources = (centre - lo)[:, None] + (offsets_mm[:, pushed] * scale[pushed]) / spacing_zyx[:, None]
    moved = probabilities[(slice(None), *box)].copy()
    moved[:, pushed] = _sample(torch.from_numpy(np.ascontiguousarray(moved))[None], sources)

    in_brain = moved.sum(0) > 0.5
    # Edema spreads through white matter, less into cortex, not through CSF.
    spreads = moved[2] + 0.5 * moved[1] > 0.5
    labels = np.zeros(box_shape, dtype=np.uint8)
    labels[(edema < 1) & spreads] = EDEMA
    labels[(core < 1) & in_brain] = ENHANCING
    labels[(core < necrosis_fraction) & in_brain] = NECROSIS
    # Edema fades into the tissue at its border; the core replaces it.
    weight = np.where(labels == EDEMA, _EDEMA_WEIGHT * np.clip((1 - edema) / 0.25, 0.3, 1), 1.0)
    texture = 1 + 0.08 * smooth_field(rng, box_shape, 12)
    return _Lesion(box, labels, moved, weight.astype(np.float32), texture)


def _blobs(probabilities: np.ndarray, spacing: tuple[float, float, float], rng: np.random.Generator,
           count: int, radius_mm: tuple[float, float], in_white_matter: bool) -> _Lesion:
    """`count` irregular blob lesions (label EDEMA, "whole lesion"), no mass effect: tissue
    lesions of other kinds than a glioma (infarcts, metastases, demyelination). Centres lie in
    white matter (`in_white_matter`) or anywhere in GM or WM."""
    shape = probabilities.shape[1:]
    spacing_zyx = np.array(spacing[::-1])
    tissue = probabilities[2] if in_white_matter else probabilities[1] + probabilities[2]
    candidates = np.flatnonzero(tissue > 0.7)
    labels_full = np.zeros(shape, dtype=np.uint8)
    weight_full = np.zeros(shape, dtype=np.float32)
    for _ in range(count):
        centre = np.array(np.unravel_index(candidates[rng.integers(len(candidates))], shape))
        radii_mm = rng.uniform(*radius_mm) * rng.uniform(0.6, 1.4, size=3)
        half = np.ceil(1.5 * radii_mm.max() / spacing_zyx).astype(int)
        lo, hi = np.maximum(centre - half, 0), np.minimum(centre + half + 1, shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        offsets_mm = np.stack(np.meshgrid(*[(np.arange(a, b) - c) * s for a, b, c, s in
                                            zip(lo, hi, centre, spacing_zyx)], indexing="ij")).astype(np.float32)
        rotation = Rotation.random(random_state=rng).as_matrix().astype(np.float32)
        local = np.tensordot(rotation, offsets_mm[::-1], axes=1)
        distance = np.sqrt(((local / radii_mm[:, None, None, None]) ** 2).sum(0))
        distance *= np.exp(0.3 * smooth_field(rng, distance.shape, 4))
        inside = (distance < 1) & (probabilities[(slice(None), *box)].sum(0) > 0.5)
        labels_full[box][inside] = EDEMA
        # Full signal in the middle, fading to 40% at the border.
        fade = np.clip((1 - distance) / 0.3, 0.4, 1.0)
        weight_full[box] = np.where(inside, np.maximum(weight_full[box], fade), weight_full[box])
    found = np.argwhere(labels_full > 0)
    if not len(found):
        found = np.array([[s // 2 for s in shape]])
    lo, hi = found.min(0), found.max(0) + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    texture = 1 + 0.08 * smooth_field(rng, tuple(int(b - a) for a, b in zip(lo, hi)), 6)
    return _Lesion(box, labels_full[box], probabilities[(slice(None), *box)].copy(), weight_full[box], texture)


def _draw_lesion(probabilities: np.ndarray, spacing: tuple[float, float, float], rng: np.random.Generator,
                 setting: Randomization | None) -> _Lesion:
    """The plain phantom's glioma, or a lesion of a family the randomization setting draws."""
    if setting is None:
        return _lesion(probabilities, spacing, rng)
    family = setting.lesion_families[rng.integers(len(setting.lesion_families))]
    if family == "glioma":
        return _lesion(probabilities, spacing, rng)
    if family == "foci":
        return _blobs(probabilities, spacing, rng, int(rng.integers(setting.foci_count[0], setting.foci_count[1] + 1)),
                      setting.foci_radius_mm, in_white_matter=True)
    return _blobs(probabilities, spacing, rng, int(rng.integers(setting.lesion_count[0], setting.lesion_count[1] + 1)),
                  setting.blob_radius_mm, in_white_matter=False)


# ---------------------------------------------------------------- rendering
def _signal(probabilities: np.ndarray, means: tuple[float, float, float],
            lesion_means: dict[int, float] | None = None, lesion: _Lesion | None = None) -> np.ndarray:
    """Noise-free intensity from tissue probabilities (partial volume mixes tissue means)."""
    signal = probabilities[0] * means[0] + probabilities[1] * means[1] + probabilities[2] * means[2]
    if lesion is not None and lesion_means is not None:
        inside = lesion.labels > 0
        lesion_signal = np.zeros_like(signal)
        for label in (NECROSIS, EDEMA, ENHANCING):
            lesion_signal[lesion.labels == label] = lesion_means[label]
        lesion_signal *= lesion.texture
        weight = lesion.weight[inside]
        signal[inside] = (1 - weight) * signal[inside] + weight * lesion_signal[inside]
    return signal


def _to_int16(signal: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(signal), 0, np.iinfo(np.int16).max).astype(np.int16)


def _render(signal: np.ndarray, bias: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """int16 Rician magnitude of the biased signal (voxel values, given for brain voxels)."""
    return _to_int16(np.sqrt((signal * bias + noise[0]) ** 2 + noise[1] ** 2))


def _as_rng(rng_or_seed: np.random.Generator | int | tuple[int, ...] | list[int]) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(rng_or_seed)


def _render_plain(grid: _Grid, rng: np.random.Generator, brain_index: np.ndarray, brain_tissue: np.ndarray,
                  grown: _Lesion | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Images and healthy twins with each modality's fixed BraTS-like contrast."""
    if grown is not None:
        box_position = grid.support_position[grown.box]
        box_brain = (grown.probabilities.sum(0) > 0.5) & (box_position >= 0)
    images: dict[str, np.ndarray] = {}
    healthy: dict[str, np.ndarray] = {}
    for modality in MODALITIES:
        gain = rng.uniform(0.85, 1.15)
        bias = np.exp(rng.uniform(0.08, 0.2) * smooth_field(rng, grid.shape, 3)) * gain
        sigma = rng.uniform(0.015, 0.03) * max(_TISSUE_MEANS[modality])
        # One noise realization for the pair, drawn on the support (it holds both brains).
        noise = sigma * rng.standard_normal((2, grid.support.size), dtype=np.float32)

        healthy[modality] = np.zeros(grid.shape, dtype=np.int16)
        healthy[modality].ravel()[brain_index] = _render(
            _signal(brain_tissue, _TISSUE_MEANS[modality]), bias.ravel()[brain_index],
            noise[:, grid.support_position.ravel()[brain_index]])
        images[modality] = healthy[modality].copy()
        if grown is None:
            continue
        # The lesion case differs from the healthy one only inside the lesion's box.
        box_image = np.zeros(box_brain.shape, dtype=np.int16)
        box_image[box_brain] = _render(_signal(grown.probabilities, _TISSUE_MEANS[modality], _LESION_MEANS[modality],
                                               grown)[box_brain],
                                       bias[grown.box][box_brain], noise[:, box_position[box_brain]])
        images[modality][grown.box] = box_image
    return images, healthy


def _render_randomized(grid: _Grid, rng: np.random.Generator, probabilities: np.ndarray, grown: _Lesion | None,
                       setting: Randomization) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Images and healthy twins with a contrast, intensity curve, blur, slice thickness, bias and
    noise drawn per modality. Both are rendered whole, through the same deterministic steps
    and the same noise, so they differ only where the lesion (blurred) reaches."""
    brain = probabilities.sum(0) > 0.5
    lesion_probabilities = probabilities
    if grown is not None:
        lesion_probabilities = probabilities.copy()
        lesion_probabilities[(slice(None), *grown.box)] = grown.probabilities
    lesion_brain = lesion_probabilities.sum(0) > 0.5
    spacing_zyx = tuple(grid.spacing[::-1])
    images: dict[str, np.ndarray] = {}
    healthy: dict[str, np.ndarray] = {}
    for modality in MODALITIES:
        look: Appearance = draw_appearance(setting, rng, (NECROSIS, EDEMA, ENHANCING))
        bias = np.exp(look.bias * smooth_field(rng, grid.shape, 3)) * rng.uniform(0.85, 1.15)
        noise = look.noise * max(look.tissue_means) * rng.standard_normal((2, *grid.shape), dtype=np.float32)

        def render(signal: np.ndarray, inside: np.ndarray) -> np.ndarray:
            signal = np.where(inside, signal, 0.0).astype(np.float32)
            image = _to_int16(np.sqrt((acquire(signal, look, spacing_zyx) * bias + noise[0]) ** 2 + noise[1] ** 2))
            image[~inside] = 0  # skull-stripped like BraTS
            return image

        healthy[modality] = render(_signal(probabilities, look.tissue_means), brain)
        if grown is None:
            images[modality] = healthy[modality].copy()
            continue
        white = look.tissue_means[2]
        signal = _signal(probabilities, look.tissue_means)
        signal[grown.box] = _signal(grown.probabilities, look.tissue_means,
                                    {label: factor * white for label, factor in look.lesion_factors.items()}, grown)
        images[modality] = render(signal, lesion_brain)
    return images, healthy


def make_case(rng_or_seed: np.random.Generator | int | tuple[int, ...] | list[int], size: str = "tiny",
              lesion: bool = True, name: str = "Phantom", randomization: Randomization | str | None = None) -> PhantomCase:
    """One phantom case; the same seed gives the same arrays.

    `randomization` (a `Randomization` or the name of one in `randomization.SETTINGS`) draws
    the anatomy's warp, the contrast, acquisition and lesion family per case; None is the
    plain phantom (fixed BraTS-like contrasts, one glioma).
    """
    if size not in SIZES:
        raise InputError("size", f"unknown phantom size {size!r}; choose one of {', '.join(SIZES)}")
    if isinstance(randomization, str):
        if randomization not in SETTINGS:
            raise InputError("randomization", f"unknown setting {randomization!r}; choose one of {', '.join(SETTINGS)}")
        randomization = SETTINGS[randomization]
    rng = _as_rng(rng_or_seed)
    grid = _grid(size) if randomization is None else _whole_grid(size)
    healthy_probabilities = _deformed_probabilities(grid, rng, randomization)
    grown = _draw_lesion(healthy_probabilities, grid.spacing, rng, randomization) if lesion else None

    # Skull-stripped like BraTS: 0 outside the brain, so only brain voxels are rendered.
    brain = healthy_probabilities.sum(0) > 0.5
    brain_index = np.flatnonzero(brain)
    brain_tissue = healthy_probabilities.reshape(3, -1)[:, brain_index]
    if randomization is None:
        images, healthy = _render_plain(grid, rng, brain_index, brain_tissue, grown)
    else:
        images, healthy = _render_randomized(grid, rng, healthy_probabilities, grown, randomization)

    labels = np.zeros(grid.shape, dtype=np.uint8)
    if grown is not None:
        labels[grown.box] = grown.labels
    changed = labels > 0
    for modality in MODALITIES:
        changed |= images[modality] != healthy[modality]
    tissue = np.zeros(grid.shape, dtype=np.uint8)
    tissue.ravel()[brain_index] = brain_tissue.argmax(0) + 1
    centre = None
    if grown is not None and grown.labels.any():
        centre_in_box = ndimage.center_of_mass(grown.labels > 0)
        centre = tuple(int(round(c + s.start)) for c, s in zip(centre_in_box, grown.box))
    return PhantomCase(name, images, healthy, labels, changed.astype(np.uint8), tissue, grid.spacing, grid.origin,
                       BRATS_DIRECTION, centre)  # type: ignore[arg-type]


# ---------------------------------------------------------------- files
def case_files(folder: Path, name: str) -> dict[str, Path]:
    """The files of case `name` in the BraTS 2018-2021 layout, plus the phantom's ground truth."""
    files = {modality: folder / f"{name}_{modality}.nii.gz" for modality in MODALITIES}
    files |= {f"{modality}_healthy": folder / f"{name}_{modality}_healthy.nii.gz" for modality in MODALITIES}
    files["seg"] = folder / f"{name}_seg.nii.gz"
    files["changed"] = folder / f"{name}_changed.nii.gz"
    return files


def write_case(case: PhantomCase, out: str | Path) -> Path:
    """Write `case` as `out/<name>/`, whole or not at all (see `write_folder_whole`)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LayoutError(out, "exists and is not a folder")

    def fill(staging: Path) -> None:
        files = case_files(staging, case.name)
        for modality in MODALITIES:
            write_volume(case.volume(case.images[modality]), files[modality])
            write_volume(case.volume(case.healthy[modality]), files[f"{modality}_healthy"])
        write_volume(case.volume(case.labels), files["seg"])
        write_volume(case.volume(case.changed), files["changed"])

    return write_folder_whole(out, case.name, fill)


def write_folder_whole(out: Path, name: str, fill: Callable[[Path], None]) -> Path:
    """Make `out/<name>/` whole or not at all: `fill` writes into a hidden folder beside it, which
    is renamed when complete (readers skip it: its name is not the case's)."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
    previous = None
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a case folder is not
        fill(staging)
        if target.exists():  # an earlier run's case: move it aside, then swap the new one in
            previous = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=out))
            os.replace(target, previous / name)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    return target


def case_plan(count: int, seed: int, healthy_fraction: float = 0.2) -> list[tuple[str, bool]]:
    """(name, has_lesion) for each case; round(count * healthy_fraction) of them are healthy."""
    if count < 1:
        raise InputError("cases", f"need at least 1 case, got {count}")
    if not 0.0 <= healthy_fraction <= 1.0:
        raise InputError("healthy_fraction", f"must lie in [0, 1], got {healthy_fraction}")
    healthy = set(np.random.default_rng([seed, 1 << 20]).permutation(count)[: round(count * healthy_fraction)].tolist())
    return [(f"Phantom_{seed}_{index:03d}", index not in healthy) for index in range(count)]


def write_cases(out: str | Path, cases: int, seed: int, size: str = "tiny", healthy_fraction: float = 0.2,
                on_case: Callable[[PhantomCase, Path], None] | None = None,
                randomization: Randomization | str | None = None) -> list[Path]:
    """Make and write `cases` cases under `out`; case i depends only on (seed, i), not on the count.

    `on_case(case, folder)` sees each case after it is written (for summaries and montages).
    """
    folders = []
    for index, (name, lesion) in enumerate(case_plan(cases, seed, healthy_fraction)):
        case = make_case(np.random.default_rng([seed, index]), size=size, lesion=lesion, name=name,
                         randomization=randomization)
        folders.append(write_case(case, out))
        if on_case is not None:
            on_case(case, folders[-1])
    return folders
