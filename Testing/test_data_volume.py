"""Volume I/O: geometry and values survive every format; bad files are errors that name them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from lesiongan.data.volume import Volume, read_geometry, read_volume, write_volume
from lesiongan.errors import VolumeError
from lesiongan.io import atomic_path


def oblique_direction(angle: float = 0.3) -> tuple[float, ...]:
    """A rotation about z and then x: every axis tilted, as in an oblique acquisition."""
    c, s = np.cos(angle), np.sin(angle)
    about_z = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    about_x = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    return tuple((about_x @ about_z).ravel())


def make_volume(dtype=np.float32, seed: int = 0) -> Volume:
    rng = np.random.default_rng(seed)
    array = (rng.random((4, 6, 8)) * 100 + 1).astype(dtype)
    return Volume(array, (0.5, 0.75, 2.0), (10.0, -20.0, 30.5), oblique_direction())


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"])
def test_geometry_and_values_round_trip(tmp_path: Path, suffix: str) -> None:
    volume = make_volume()
    path = write_volume(volume, tmp_path / f"case{suffix}")
    back = read_volume(path)
    assert back.array.dtype == np.float32
    assert back.same_grid(volume, tol=1e-5)
    np.testing.assert_array_equal(back.array, volume.array)
    # Nothing but the result is left beside it (MHD also has its .raw).
    expected = {path.name} | ({"case.raw"} if suffix == ".mhd" else set())
    assert {p.name for p in tmp_path.iterdir()} == expected


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32, np.float64])
def test_stored_types_become_float32(tmp_path: Path, dtype) -> None:
    array = np.arange(4 * 6 * 8).reshape(4, 6, 8) % 200
    if dtype == np.int16:
        array = array * 10 - 1000  # CT-like negative HU
    volume = Volume(array.astype(dtype), (1, 1, 1), (0, 0, 0), np.eye(3).ravel())
    path = tmp_path / "typed.nrrd"
    sitk.WriteImage(volume.to_sitk(), str(path))
    back = read_volume(path)
    assert back.array.dtype == np.float32
    np.testing.assert_array_equal(back.array, array.astype(np.float32))


def test_write_casts_to_requested_dtype(tmp_path: Path) -> None:
    volume = make_volume().with_array(np.full((4, 6, 8), 2.6, np.float32))
    path = write_volume(volume, tmp_path / "mask.nii.gz", dtype=np.uint8)
    assert sitk.ReadImage(str(path)).GetPixelID() == sitk.sitkUInt8
    assert np.all(read_volume(path).array == 3)


def test_ijk_to_ras_round_trip_and_agrees_with_sitk() -> None:
    volume = make_volume()
    matrix = volume.ijk_to_ras()
    again = Volume.from_ijk_to_ras(volume.array, matrix)
    assert again.same_grid(volume, tol=1e-9)
    np.testing.assert_allclose(again.ijk_to_ras(), matrix, atol=1e-12)
    image = volume.to_sitk()
    for index in [(0, 0, 0), (7, 5, 3), (1.5, 2.0, 0.5)]:
        lps = np.array(image.TransformContinuousIndexToPhysicalPoint(index))
        ras = (matrix @ [*index, 1.0])[:3]
        np.testing.assert_allclose(ras, lps * [-1, -1, 1], atol=1e-9)


def test_from_ijk_to_ras_reads_a_slicer_matrix() -> None:
    # Slicer's default for an axial LPS volume: i -> -R, j -> -A, 2 mm slices.
    matrix = np.array([[-0.5, 0, 0, 5], [0, -0.5, 0, 6], [0, 0, 2, 7], [0, 0, 0, 1.0]])
    volume = Volume.from_ijk_to_ras(np.zeros((3, 4, 5), np.float32), matrix)
    assert volume.spacing == (0.5, 0.5, 2.0)
    assert volume.origin == (-5.0, -6.0, 7.0)
    np.testing.assert_allclose(volume.direction, np.eye(3).ravel())


def write_channels(path: Path, as_vector: bool, channels: int = 3) -> None:
    """Channel c holds c + 1: as a 4th axis (MSD's NIfTI) or as vector pixels."""
    stacked = np.stack([np.full((4, 5, 6), c + 1, np.float32) for c in range(channels)], axis=-1 if as_vector else 0)
    sitk.WriteImage(sitk.GetImageFromArray(stacked, isVector=as_vector), str(path))


@pytest.mark.parametrize("as_vector", [False, True])
def test_channel_of_a_4d_file(tmp_path: Path, as_vector: bool) -> None:
    path = tmp_path / "BRATS_001.nii.gz"
    write_channels(path, as_vector)
    assert np.all(read_volume(path, channel=2).array == 3)
    assert read_volume(path, channel=0).shape == (4, 5, 6)
    with pytest.raises(VolumeError, match="BRATS_001.nii.gz.*choose one with channel="):
        read_volume(path)
    with pytest.raises(VolumeError, match="BRATS_001.nii.gz.*channel 3"):
        read_volume(path, channel=3)


@pytest.mark.parametrize("as_vector", [False, True])
def test_geometry_from_the_header_alone(tmp_path: Path, as_vector: bool) -> None:
    path = tmp_path / "BRATS_001.nii.gz"
    write_channels(path, as_vector)
    grid = read_geometry(path, channel=1)
    assert grid.same_grid(read_volume(path, channel=1)) and grid.array.strides == (0, 0, 0)  # no voxel held
    with pytest.raises(VolumeError, match="BRATS_001.nii.gz: is .*3 channels.*3D volume is needed") as refused:
        read_geometry(path)
    assert "channel=" not in str(refused.value)
    with pytest.raises(VolumeError, match="channel 3 asked"):
        read_geometry(path, channel=3)
    flat = tmp_path / "flat.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((5, 6), np.float32)), str(flat))
    with pytest.raises(VolumeError, match="flat.nii.gz: is 2D; a 3D volume is needed"):
        read_geometry(flat)


def test_bad_files_are_errors_that_name_them(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"not a volume")
    with pytest.raises(VolumeError, match="garbage.nii.gz.*unreadable"):
        read_volume(garbage)
    with pytest.raises(VolumeError, match="missing.nii.*no such"):
        read_volume(tmp_path / "missing.nii")

    flat = tmp_path / "flat.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((5, 6), np.float32)), str(flat))
    with pytest.raises(VolumeError, match="flat.nrrd.*2D"):
        read_volume(flat)

    empty = write_volume(make_volume().with_array(np.zeros((4, 6, 8), np.float32)), tmp_path / "empty.mha")
    with pytest.raises(VolumeError, match="empty.mha.*empty"):
        read_volume(empty)

    # ITK's NIfTI reader already replaces NaN and Inf by finite values, so NRRD and MHA here.
    for bad_value, name in [(np.nan, "nan.nrrd"), (np.inf, "inf.nrrd"), (-np.inf, "inf.mha")]:
        array = np.ones((4, 6, 8), np.float32)
        array[1, 2, 3] = bad_value
        path = write_volume(make_volume().with_array(array), tmp_path / name)
        with pytest.raises(VolumeError, match=f"{name}.*NaN or infinite"):
            read_volume(path)

    no_series = tmp_path / "dicom"
    no_series.mkdir()
    with pytest.raises(VolumeError, match="dicom.*no DICOM series"):
        read_volume(no_series)


def test_volume_rejects_non_3d_array() -> None:
    with pytest.raises(VolumeError, match="3D"):
        Volume(np.zeros((4, 4), np.float32), (1, 1, 1), (0, 0, 0), np.eye(3).ravel())


def test_atomic_path_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("writer failed")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
    with atomic_path(target) as temporary:
        temporary.write_text("new")
    assert target.read_text(encoding="utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def write_dicom_series(volume: Volume, folder: Path, intercept: float) -> None:
    """One file per slice with the position/orientation tags a scanner writes; values are
    stored unsigned 16-bit with a rescale intercept, as CT scanners store HU."""
    folder.mkdir()
    image = volume.to_sitk()
    direction = image.GetDirection()
    row_and_column = (direction[0], direction[3], direction[6], direction[1], direction[4], direction[7])
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        slice_image = image[:, :, k]
        tags = {
            "0008|0060": "CT",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1",
            "0020|000e": "1.2.826.0.1.3680043.2.1125.2",
            "0008|0018": f"1.2.826.0.1.3680043.2.1125.3.{k}",
            "0020|0013": str(k),
            "0020|0037": "\\".join(f"{v:.10f}" for v in row_and_column),
            "0020|0032": "\\".join(f"{v:.10f}" for v in image.TransformIndexToPhysicalPoint((0, 0, k))),
            "0028|1052": str(intercept),
            "0028|1053": "1",
            "0028|0100": "16", "0028|0101": "16", "0028|0102": "15", "0028|0103": "0",
        }
        for tag, value in tags.items():
            slice_image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(slice_image)


def test_dicom_series_with_hu_rescale_and_oblique_geometry(tmp_path: Path) -> None:
    hounsfield = (np.arange(3 * 4 * 5).reshape(3, 4, 5) * 7 - 1024).astype(np.float32)
    volume = Volume(hounsfield, (0.5, 0.75, 2.0), (10.0, -20.0, 30.5), oblique_direction())
    write_dicom_series(volume, tmp_path / "series", intercept=-1024)
    back = read_volume(tmp_path / "series")
    assert back.array.dtype == np.float32
    np.testing.assert_array_equal(back.array, hounsfield)  # negative HU came back through the rescale
    assert back.same_grid(volume, tol=1e-4)


def test_atomic_writes_get_the_mode_a_plain_open_would_give(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "shared.txt") as temporary:
            temporary.write_text("whole")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o644


def test_write_json_is_whole_utf8_and_spells_out_inf_and_nan(tmp_path):
    import json
    import math

    from lesiongan.io import write_json

    path = write_json(tmp_path / "deep" / "report.json", {"psnr": math.inf, "rows": [math.nan, 1.5], "unit": "±"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"psnr": "inf", "rows": ["nan", 1.5], "unit": "±"}
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]
