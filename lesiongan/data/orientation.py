"""Anatomical orientation of a volume, as ITK orientation codes ("LPS": i -> L, j -> P, k -> S)."""

from __future__ import annotations

import SimpleITK as sitk

from ..errors import InputError
from .volume import Volume

_AXIS_LETTERS = ("LR", "PA", "SI")


def _check_code(code: str) -> str:
    code = code.upper()
    letters_per_axis = sorted(next((i for i, pair in enumerate(_AXIS_LETTERS) if letter in pair), -1) for letter in code)
    if len(code) != 3 or letters_per_axis != [0, 1, 2]:
        raise InputError(code, "not an orientation code: need one letter of each of L/R, P/A, S/I, e.g. 'LPS'")
    return code


def orientation_of(volume: Volume) -> str:
    """The closest orientation code of the volume's direction (oblique volumes included)."""
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(volume.direction)


def reorient(volume: Volume, code: str = "LPS") -> Volume:
    """Permute and flip the array (no interpolation) so its axes follow `code`.

    Reorienting back to the original code restores the array exactly and the geometry to
    floating-point rounding (the origin is recomputed, ~1e-14 mm).
    """
    code = _check_code(code)
    if orientation_of(volume) == code:
        return volume
    return Volume.from_sitk(sitk.DICOMOrient(volume.to_sitk(), code))
