"""A volume as an array plus SimpleITK geometry; reading and atomic writing of volume files.

Intensities of every stored type (uint8, int16 with negative HU, uint16, float, DICOM with
rescale slope/intercept as SimpleITK applies them) are converted to float32 once, here.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import VolumeError
from ..io import atomic_path
# write_json lives in lesiongan.io; the name stays here only for callers not yet moved there
# (lesiongan.train.loop, LesionGANTrainingLib). Import it, and atomic_path, from lesiongan.io.
from ..io import write_json  # noqa: F401

# Slicer works in RAS, ITK in LPS: the two differ by the sign of x and y.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
_REAL_KINDS = "biuf"  # numpy kinds a volume may hold: bool, signed, unsigned, float


@dataclass
class Volume:
    """A 3D image: `array` is (z, y, x); `spacing` (x, y, z) mm, `origin` LPS mm and
    `direction` (row-major 3x3 as 9 numbers) follow SimpleITK."""

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.array, np.ndarray):
            raise VolumeError("volume array", f"must be a numpy array, got {type(self.array).__name__}")
        if self.array.dtype.kind not in _REAL_KINDS:
            raise VolumeError("volume array", f"voxels of type {self.array.dtype} are not real numbers "
                                              "(use an integer, float or bool array)")
        if self.array.ndim != 3:
            raise VolumeError("volume array", f"a volume array must be 3D (z, y, x), got shape {self.array.shape}")
        try:
            self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
            self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
            self.direction = tuple(float(d) for d in self.direction)
        except (TypeError, ValueError) as error:
            raise VolumeError("volume geometry", f"spacing, origin and direction must be numbers ({error})") from None
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise VolumeError("volume geometry", "spacing and origin need 3 numbers and direction 9")
        if not all(math.isfinite(v) for v in (*self.spacing, *self.origin, *self.direction)):
            raise VolumeError("volume geometry", "spacing, origin and direction must be finite numbers")
        if min(self.spacing) <= 0:
            raise VolumeError("volume geometry", f"spacing must be positive, got {self.spacing}")
        if abs(np.linalg.det(np.reshape(self.direction, (3, 3)))) < 1e-6:
            raise VolumeError("volume geometry", f"the direction matrix {self.direction} is singular "
                                                 "(its axes do not span 3D space)")

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


# --- whole files only --------------------------------------------------------------------------
# SimpleITK reads a truncated NIfTI or NRRD without an error and fills the missing part with
# zeros, and writes a cut-short file (disk full) with only a message on the console. So every
# file is checked here before it is read and after it is written: the data size its header
# promises against the bytes there are, and for gzip the stream's own end marker and CRC.
_NIFTI1 = 348
_NIFTI2 = 540
_READ_CHUNK = 1 << 20


def _nifti_data_end(header: bytes, path: Path) -> int:
    """Byte offset where a NIfTI-1/-2 file's voxel data end, from its header."""
    if len(header) < 4:
        raise VolumeError(path, "is empty or cut short before its NIfTI header ends")
    for order in "<>":
        size = struct.unpack(f"{order}i", header[:4])[0]
        if size in (_NIFTI1, _NIFTI2):
            break
    else:
        raise VolumeError(path, "unreadable as NIfTI (its header size field is neither 348 nor 540)")
    if len(header) < size:
        raise VolumeError(path, f"is cut short inside its NIfTI header ({len(header)} of {size} bytes)")
    if size == _NIFTI1:
        dims = struct.unpack(f"{order}8h", header[40:56])
        bitpix = struct.unpack(f"{order}h", header[72:74])[0]
        offset = struct.unpack(f"{order}f", header[108:112])[0]
        single_file = header[344:347] == b"n+1"
    else:
        bitpix = struct.unpack(f"{order}h", header[14:16])[0]
        dims = struct.unpack(f"{order}8q", header[16:80])
        offset = struct.unpack(f"{order}q", header[168:176])[0]
        single_file = header[4:7] == b"n+2"
    rank = dims[0]
    if not 1 <= rank <= 7 or any(d < 1 for d in dims[1:rank + 1]) or bitpix <= 0:
        raise VolumeError(path, f"unreadable: invalid NIfTI header (dimensions {dims[:rank + 1] if 0 <= rank <= 7 else dims}, "
                                f"{bitpix} bits per voxel)")
    if not single_file:
        return 0  # a .hdr/.img pair: the data are in the other file
    voxels = 1
    for d in dims[1:rank + 1]:
        voxels *= int(d)
    return int(max(offset, size)) + -(-voxels * bitpix // 8)


# NIfTI datatype codes of floating-point voxels; ITK's reader turns their NaN and Inf into 0
_NIFTI_FLOATS = {16: "f4", 64: "f8"}


def _nifti_float_type(header: bytes) -> tuple[str, int] | None:
    """(numpy dtype, data offset) of a single-file NIfTI with float voxels, else None."""
    order = "<" if struct.unpack("<i", header[:4])[0] in (_NIFTI1, _NIFTI2) else ">"
    size = struct.unpack(f"{order}i", header[:4])[0]
    if size == _NIFTI1:
        code, offset = struct.unpack(f"{order}h", header[70:72])[0], struct.unpack(f"{order}f", header[108:112])[0]
    else:
        code, offset = struct.unpack(f"{order}h", header[12:14])[0], struct.unpack(f"{order}q", header[168:176])[0]
    kind = _NIFTI_FLOATS.get(code)
    return None if kind is None else (order + kind, int(max(offset, size)))


def _scan_nifti(path: Path, compressed: bool) -> None:
    """Read a NIfTI file once, start to end: it must hold every byte its header promises (and
    for .nii.gz pass gzip's end-of-stream and CRC checks), and float voxels must be finite."""
    opener = gzip.open if compressed else open
    head, total, end, floats, carry = b"", 0, None, None, b""
    try:
        with opener(path, "rb") as stream:
            while chunk := stream.read(_READ_CHUNK):
                if end is None:
                    head += chunk[:_NIFTI2 - len(head)]
                    if len(head) >= _NIFTI2 or len(chunk) < _READ_CHUNK:
                        end = _nifti_data_end(head, path)
                        floats = _nifti_float_type(head) if end else None
                if floats is not None:
                    dtype, offset = np.dtype(floats[0]), floats[1]
                    start = max(0, offset - total)
                    stop = max(0, min(len(chunk), end - total))
                    data = carry + chunk[start:stop]
                    usable = len(data) - len(data) % dtype.itemsize
                    carry = data[usable:]
                    if usable and not np.isfinite(np.frombuffer(data[:usable], dtype=dtype)).all():
                        raise VolumeError(path, "holds NaN or infinite voxel values")
                total += len(chunk)
    except EOFError as error:
        raise VolumeError(path, "is cut short: the gzip data end early (an interrupted copy or a full disk?)") from error
    except (gzip.BadGzipFile, zlib.error) as error:
        raise VolumeError(path, f"unreadable: its gzip data are damaged ({error})") from error
    if end is None:
        end = _nifti_data_end(head, path)
    if total < end:
        raise VolumeError(path, f"is cut short: its header promises {end} bytes, the file holds {total} "
                                "(an interrupted copy or a full disk?)")


def _meta_header(path: Path) -> tuple[dict[str, str], int]:
    """The fields of a NRRD or MetaImage header and its length in bytes (where data begin)."""
    with open(path, "rb") as handle:
        raw = handle.read(64 * 1024)
    fields: dict[str, str] = {}
    position = 0
    nrrd = raw.startswith(b"NRRD")
    while position < len(raw):
        end = raw.find(b"\n", position)
        if end < 0:
            break
        line = raw[position:end].decode("latin-1").strip()
        position = end + 1
        if nrrd and not line:
            return fields, position  # a blank line ends a NRRD header
        separator = ":" if nrrd else "="
        key, found, value = line.partition(separator)
        if found:
            fields[key.strip().lower().lstrip("=")] = value.lstrip("=").strip()
        if not nrrd and key.strip().lower() == "elementdatafile":
            return fields, position  # ElementDataFile is a MetaImage header's last field
    return fields, len(raw) if not nrrd else -1


def _header_reader(path: Path) -> sitk.ImageFileReader:
    """A reader that has read the file's header only (SimpleITK reads no voxel for it)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise VolumeError(path, f"unreadable as a volume ({str(error).strip().splitlines()[-1]})") from error
    return reader


def _expected_bytes(path: Path) -> int:
    """Bytes of voxel data that a NRRD/MetaImage header promises (SimpleITK reads only the header)."""
    reader = _header_reader(path)
    voxels = 1
    for length in reader.GetSize():
        voxels *= int(length)
    component_bytes = sitk.GetArrayViewFromImage(sitk.Image([1] * reader.GetDimension(), reader.GetPixelID(),
                                                             reader.GetNumberOfComponents())).itemsize
    return voxels * reader.GetNumberOfComponents() * component_bytes


def _stream_length(path: Path, offset: int, compressed: str | None) -> int:
    """Bytes of data from `offset` on; `compressed` 'gzip' or 'zlib' counts them decompressed,
    failing on a stream that ends early or fails its checksum."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        if compressed is None:
            return os.fstat(handle.fileno()).st_size - offset
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS if compressed == "gzip" else zlib.MAX_WBITS)
        total = 0
        try:
            while chunk := handle.read(_READ_CHUNK):
                total += len(decompressor.decompress(chunk))
            total += len(decompressor.flush())
        except zlib.error as error:
            raise VolumeError(path, f"unreadable: its compressed data are damaged ({error})") from error
        if not decompressor.eof:
            raise VolumeError(path, "is cut short: the compressed data end early (an interrupted copy or a full disk?)")
        return total


def check_volume_file(path: str | Path) -> None:
    """Raise VolumeError unless the file at `path` holds all the voxel data its header promises.

    NIfTI (.nii, .nii.gz), NRRD with its data inside (raw or gzip) and MetaImage (.mha, .mhd
    with its .raw) are checked; other encodings are left to SimpleITK.
    """
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        return  # a DICOM series: each file is checked by GDCM
    size = path.stat().st_size
    if size == 0:
        raise VolumeError(path, "is an empty file (0 bytes)")
    if name.endswith((".nii", ".nii.gz")):
        _scan_nifti(path, compressed=name.endswith(".gz"))
        return
    if name.endswith(".gz"):
        _stream_length(path, 0, "gzip")
        return
    if name.endswith((".nrrd", ".mha", ".mhd")):
        fields, offset = _meta_header(path)
        if offset < 0:
            raise VolumeError(path, "is cut short inside its header")
        detached = fields.get("data file") or fields.get("datafile")
        element_file = fields.get("elementdatafile", "LOCAL")
        if detached or (element_file.upper() != "LOCAL" and not name.endswith(".mhd")):
            return
        encoding = fields.get("encoding", "raw").lower()
        compressed = {"gzip": "gzip", "gz": "gzip"}.get(encoding) if name.endswith(".nrrd") else (
            "zlib" if fields.get("compresseddata", "false").lower() == "true" else None)
        if name.endswith(".nrrd") and encoding not in ("raw", "gzip", "gz"):
            return
        data_path = path
        if name.endswith(".mhd"):
            if " " in element_file.strip() or element_file.upper() in ("LIST", "LOCAL"):
                return
            data_path, offset = path.parent / element_file, 0
            if not data_path.is_file():
                raise VolumeError(path, f"its data file {element_file} is missing")
        expected = _expected_bytes(path)
        have = _stream_length(data_path, offset, compressed)
        if have < expected:
            raise VolumeError(path, f"is cut short: its header promises {expected} bytes of voxel data, "
                                    f"the file holds {have} (an interrupted copy or a full disk?)")
        return


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


def _check_channels(path: Path, dimension: int, size: Sequence[int], components: int, channel: int | None,
                    unchosen: str) -> None:
    """Whether `channel` picks one 3D volume out of a file of this shape (a header's or an
    image's): 4D files (MSD stores 4 MR sequences as a 4th axis) and vector voxels need one,
    `unchosen` says how to give it; anything else but 3D is a VolumeError."""
    if dimension not in (3, 4) or (dimension == 4 and components > 1):
        vector = " with vector voxels" if components > 1 else ""
        raise VolumeError(path, f"is {dimension}D{vector}; a 3D volume is needed")
    count = size[3] if dimension == 4 else components
    if channel is None and count > 1:
        kind = "4D" if dimension == 4 else "3D with vector voxels"
        raise VolumeError(path, f"is {kind} ({count} channels); {unchosen}")
    if channel is not None and not 0 <= channel < count:
        raise VolumeError(path, f"channel {channel} asked, the image has {count}")


def _select_channel(image: sitk.Image, channel: int | None, path: Path) -> sitk.Image:
    """4D files or vector pixels -> one 3D channel."""
    components, dimension = image.GetNumberOfComponentsPerPixel(), image.GetDimension()
    _check_channels(path, dimension, image.GetSize(), components, channel,
                    "a 3D volume is needed: choose one with channel=")
    if components > 1:
        return sitk.VectorIndexSelectionCast(image, channel)
    if dimension == 4:
        return sitk.Extract(image, [*image.GetSize()[:3], 0], [0, 0, 0, channel])
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
        check_volume_file(path)
        _check_memory_for(path)
        image = _read_image(path)
    except RuntimeError as error:
        raise VolumeError(path, f"unreadable as a volume ({str(error).strip().splitlines()[-1]})") from error
    except PermissionError as error:
        raise VolumeError(path, "cannot be read (permission denied)") from error
    except OSError as error:
        raise VolumeError(path, f"cannot be read ({error.strerror or error})") from error
    image = _select_channel(image, channel, path)
    array = sitk.GetArrayFromImage(image).astype(np.float32, copy=False)
    if array.size == 0:
        raise VolumeError(path, "volume has no voxels")
    if not np.isfinite(array).all():
        raise VolumeError(path, "volume holds NaN or infinite values")
    if not allow_empty and not array.any():
        raise VolumeError(path, "volume is empty (every voxel is zero)")
    try:
        return Volume(array, image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    except VolumeError as error:  # a header with a singular direction, say: name the file
        raise VolumeError(path, error.problem) from None


def read_geometry(path: str | Path, channel: int | None = None) -> Volume:
    """The grid of the volume `read_volume(path, channel)` gives, from the file's header alone:
    a Volume whose array is a read-only stand-in of zeros that takes no memory. For checks that
    must not load voxels; a file that is not one 3D volume (or has no `channel`) is a VolumeError."""
    path = Path(path)
    reader = _header_reader(path)
    dimension, size = reader.GetDimension(), reader.GetSize()
    _check_channels(path, dimension, size, reader.GetNumberOfComponents(), channel,
                    "a 3D volume is needed (a file of several channels is read only through a dataset layout "
                    "that names them, such as MSD's imagesTr/ beside labelsTr/, given as the data folder: "
                    "--input-dir or --data)")
    direction = np.reshape(reader.GetDirection(), (dimension, dimension))[:3, :3].ravel()
    stand_in = np.broadcast_to(np.float32(0), tuple(reversed(size[:3])))
    try:
        return Volume(stand_in, reader.GetSpacing()[:3], reader.GetOrigin()[:3], direction)
    except VolumeError as error:  # a header with a singular direction, say: name the file
        raise VolumeError(path, error.problem) from None


def write_volume(volume: Volume, path: str | Path, dtype: np.dtype | type | str | None = None,
                 overwrite: bool = True) -> Path:
    """Write `volume` (any format SimpleITK knows by the suffix) with its exact geometry, whole
    or not at all: the file is checked against its header before it takes its final name.

    `dtype` casts the stored values (e.g. np.uint8 for masks); integer types are rounded.
    `overwrite=False` refuses to replace an existing file.
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
        if not overwrite and path.exists():
            raise VolumeError(path, "exists already; pass --overwrite to replace it")
        return _write_mhd(image, path)
    with atomic_path(path, verify=lambda written: _verify_written(written, path), overwrite=overwrite) as temporary:
        try:
            sitk.WriteImage(image, str(temporary), useCompression=path.name.endswith(".gz"))
        except RuntimeError as error:
            raise VolumeError(path, f"could not be written ({str(error).strip().splitlines()[-1]})") from error
    return path


def _verify_written(temporary: Path, path: Path) -> None:
    """A volume just written must be whole: ITK reports a full disk only on the console."""
    try:
        check_volume_file(temporary)
    except VolumeError as error:
        raise VolumeError(path, f"was not written whole, nothing was saved: {error.problem}") from None


def _check_memory_for(path: Path) -> None:
    """Refuse a file whose header promises more voxels than this machine can hold as float32."""
    if path.is_dir() or not path.name.lower().endswith(VOLUME_SUFFIXES):
        return
    reader = _header_reader(path)
    voxels = 1
    for length in reader.GetSize():
        voxels *= int(length)
    from ..limits import check_memory

    # the stored array, its float32 copy and one working copy
    check_memory(voxels * reader.GetNumberOfComponents() * 4 * 3, f"reading {path}")


def _write_mhd(image: sitk.Image, path: Path) -> Path:
    """MetaImage headers name their .raw file, so both are written under their final names in
    a private folder beside `path`, then moved: data first, header last."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as folder:
        staged = Path(folder) / path.name
        sitk.WriteImage(image, str(staged))
        _verify_written(staged, path)
        for data_file in sorted(Path(folder).iterdir()):
            if data_file != staged:
                os.replace(data_file, path.parent / data_file.name)
        os.replace(staged, path)
    return path
