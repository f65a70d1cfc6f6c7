"""A volume as an array plus SimpleITK geometry; reading and atomic writing of volume files.

Intensities of every stored type (uint8, int16 with negative HU, uint16, float, DICOM with
rescale slope/intercept as SimpleITK applies them) are converted to float32 once, here.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import VolumeError

# Slicer works in RAS, ITK in LPS: the two differ by the sign of x and y.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


@dataclass
class Volume:
    """A 3D image: `array` is (z, y, x); `spacing` (x, y, z) mm, `origin` LPS mm and
    `direction` (row-major 3x3 as 9 numbers) follow SimpleITK."""

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise VolumeError("array", f"a volume array must be 3D (z, y, x), got shape {self.array.shape}")
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = tuple(float(d) for d in self.direction)
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise VolumeError("geometry", "spacing and origin need 3 numbers and direction 9")
        if min(self.spacing) <= 0:
            raise VolumeError("geometry", f"spacing must be positive, got {self.spacing}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> Volume:
        """The array keeps the image's pixel type; `read_volume` is where it becomes float32."""
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise VolumeError("image", f"expected a 3D scalar image, got dimension {image.GetDimension()} "
                                       f"with {image.GetNumberOfComponentsPerPixel()} components")
        return cls(sitk.GetArrayFromImage(image), image.GetSpacing(), image.GetOrigin(), image.GetDirection())

    def to_sitk(self) -> sitk.Image:
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array), isVector=False)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    def with_array(self, array: np.ndarray) -> Volume:
        """The same geometry around another array (a result computed from this volume)."""
        return Volume(array, self.spacing, self.origin, self.direction)

    def same_grid(self, other: Volume, tol: float = 1e-4) -> bool:
        return (self.shape == other.shape
                and np.allclose(self.spacing, other.spacing, rtol=0, atol=tol)
                and np.allclose(self.origin, other.origin, rtol=0, atol=tol)
                and np.allclose(self.direction, other.direction, rtol=0, atol=tol))

    @classmethod
    def from_ijk_to_ras(cls, array_zyx: np.ndarray, ijk_to_ras: np.ndarray) -> Volume:
        """Slicer's geometry: RAS = M @ [i, j, k, 1] with the array indexed [k, j, i]."""
        matrix = np.asarray(ijk_to_ras, dtype=np.float64)
        if matrix.shape != (4, 4):
            raise VolumeError("IJK-to-RAS", f"expected a 4x4 matrix, got shape {matrix.shape}")
        columns_lps = _LPS_TO_RAS @ matrix[:3, :3]
        spacing = np.linalg.norm(columns_lps, axis=0)
        if np.any(spacing <= 0):
            raise VolumeError("IJK-to-RAS", "the matrix has a zero column (no spacing along an axis)")
        direction = columns_lps / spacing
        origin = _LPS_TO_RAS @ matrix[:3, 3]
        return cls(np.asarray(array_zyx), tuple(spacing), tuple(origin), tuple(direction.ravel()))

    def ijk_to_ras(self) -> np.ndarray:
        """The 4x4 matrix Slicer's volume nodes use (see `from_ijk_to_ras`)."""
        direction = np.asarray(self.direction).reshape(3, 3)
        matrix = np.eye(4)
        matrix[:3, :3] = _LPS_TO_RAS @ direction @ np.diag(self.spacing)
        matrix[:3, 3] = _LPS_TO_RAS @ np.asarray(self.origin)
        return matrix


def _read_image(path: Path) -> sitk.Image:
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise VolumeError(path, "folder holds no DICOM series")
        if len(series) > 1:
            raise VolumeError(path, f"folder holds {len(series)} DICOM series; point to a folder with one")
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
        return reader.Execute()
    return sitk.ReadImage(str(path))


def _select_channel(image: sitk.Image, channel: int | None, path: Path) -> sitk.Image:
    """4D files (MSD stores 4 MR sequences as a 4th axis) or vector pixels -> one 3D channel."""
    components = image.GetNumberOfComponentsPerPixel()
    if components > 1:
        if channel is None:
            raise VolumeError(path, f"image has {components} channels per voxel; choose one with channel=")
        if not 0 <= channel < components:
            raise VolumeError(path, f"channel {channel} asked, the image has {components}")
        image = sitk.VectorIndexSelectionCast(image, channel)
    dimension = image.GetDimension()
    if dimension == 4:
        count = image.GetSize()[3]
        if channel is None:
            raise VolumeError(path, f"image is 4D with {count} channels; choose one with channel=")
        if not 0 <= channel < count:
            raise VolumeError(path, f"channel {channel} asked, the image has {count}")
        return sitk.Extract(image, [*image.GetSize()[:3], 0], [0, 0, 0, channel])
    if dimension != 3:
        raise VolumeError(path, f"image is {dimension}D; a 3D volume is needed")
    if channel not in (None, 0) and components == 1:
        raise VolumeError(path, f"channel {channel} asked of a single-channel 3D image")
    return image


def read_volume(path: str | Path, channel: int | None = None, allow_empty: bool = False) -> Volume:
    """Read NIfTI, NRRD, MHA/MHD or a DICOM series folder as a float32 `Volume`.

    `channel` picks one channel of a 4D (or vector) image, e.g. an MSD Task01 sequence.
    `allow_empty` accepts an all-zero volume (the lesion mask of a healthy subject).
    """
    path = Path(path)
    if not path.exists():
        raise VolumeError(path, "no such file or folder")
    try:
        image = _read_image(path)
    except RuntimeError as error:
        raise VolumeError(path, f"unreadable as a volume ({str(error).strip().splitlines()[-1]})") from error
    image = _select_channel(image, channel, path)
    array = sitk.GetArrayFromImage(image).astype(np.float32, copy=False)
    if array.size == 0:
        raise VolumeError(path, "volume has no voxels")
    if not np.isfinite(array).all():
        raise VolumeError(path, "volume holds NaN or infinite values")
    if not allow_empty and not array.any():
        raise VolumeError(path, "volume is empty (every voxel is zero)")
    return Volume(array, image.GetSpacing(), image.GetOrigin(), image.GetDirection())


def _temporary_sibling(path: Path) -> Path:
    """A fresh name in the same folder that keeps the suffixes, so writers pick the format."""
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".gz") else path.suffix
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(handle)
    return Path(name)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it goes.

    Readers of `path` see the old file or the whole new one, never a partial write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_sibling(path)
    try:
        yield temporary
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def json_safe(value: Any) -> Any:
    """`value` with inf and nan as the strings 'inf', '-inf', 'nan' (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def write_json(path: str | Path, data: Any) -> Path:
    """Write `data` as indented UTF-8 JSON, whole or not at all; inf and nan become strings."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(json_safe(data), indent=2) + "\n", encoding="utf-8")
    return path


def write_volume(volume: Volume, path: str | Path, dtype: np.dtype | type | str | None = None) -> Path:
    """Write `volume` (any format SimpleITK knows by the suffix) with its exact geometry.

    `dtype` casts the stored values (e.g. np.uint8 for masks); integer types are rounded.
    """
    path = Path(path)
    array = volume.array
    if dtype is not None:
        target = np.dtype(dtype)
        if np.issubdtype(target, np.integer) and not np.issubdtype(array.dtype, np.integer):
            info = np.iinfo(target)
            array = np.clip(np.rint(array), info.min, info.max)
        array = array.astype(target)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    image = volume.with_array(array).to_sitk()
    if path.suffix.lower() == ".mhd":
        return _write_mhd(image, path)
    with atomic_path(path) as temporary:
        sitk.WriteImage(image, str(temporary), useCompression=path.name.endswith(".gz"))
    return path


def _write_mhd(image: sitk.Image, path: Path) -> Path:
    """MetaImage headers name their .raw file, so both are written under their final names in
    a private folder beside `path`, then moved: data first, header last."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as folder:
        staged = Path(folder) / path.name
        sitk.WriteImage(image, str(staged))
        for data_file in sorted(Path(folder).iterdir()):
            if data_file != staged:
                os.replace(data_file, path.parent / data_file.name)
        os.replace(staged, path)
    return path
