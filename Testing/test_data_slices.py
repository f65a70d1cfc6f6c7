"""SliceSet: slices, labels, phantom truth and the recorded conventions, on tiny written cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lesiongan.data.readers import discover
from lesiongan.data.slices import SliceSet, select_slices, slice_label
from lesiongan.data.slicing import center_pad_crop
from lesiongan.data.volume import Volume, write_volume
from lesiongan.errors import InputError

from test_data_readers import SHAPE, lesion, tiny


def write_phantom_like(root: Path, case: str, lesion_slices=(1, 2)) -> None:
    """BraTS 2018 layout with the phantom's healthy twin and changed mask; slice 0 is background."""
    image = tiny(200.0).array
    image[0] = 0
    image[lesion_slices, 3:5, 3:5] = 400.0
    healthy = tiny(200.0).array
    healthy[0] = 0
    folder = root / case
    base = tiny()
    write_volume(base.with_array(image), folder / f"{case}_flair.nii.gz")
    write_volume(base.with_array(image / 2), folder / f"{case}_t2.nii.gz")
    write_volume(base.with_array(healthy), folder / f"{case}_flair_healthy.nii.gz")
    write_volume(base.with_array(healthy / 2), folder / f"{case}_t2_healthy.nii.gz")
    write_volume(lesion(1, lesion_slices), folder / f"{case}_seg.nii.gz", dtype=np.uint8)
    write_volume(lesion(1, lesion_slices), folder / f"{case}_changed.nii.gz", dtype=np.uint8)


@pytest.fixture
def two_cases(tmp_path: Path) -> Path:
    write_phantom_like(tmp_path, "case_a", (1, 2))
    write_phantom_like(tmp_path, "case_b", (3,))
    return tmp_path


def test_slices_labels_and_truth(two_cases: Path) -> None:
    subjects = discover(two_cases)
    data = SliceSet.from_subjects(subjects, modalities=("flair", "t2"))
    # Slice 0 of each case is background only and is dropped.
    assert len(data) == 6 and data.images.shape == (6, 2, 8, 8) and data.images.dtype == torch.float32
    assert data.subject_ids == ["case_a"] * 3 + ["case_b"] * 3
    assert data.slice_index.tolist() == [1, 2, 3, 1, 2, 3]
    assert data.labels.tolist() == [1, 1, 0, 0, 0, 1]
    assert data.healthy_indices.tolist() == [2, 3, 4] and data.abnormal_indices.tolist() == [0, 1, 5]
    assert data.masks.dtype == torch.uint8 and data.masks.shape == (6, 1, 8, 8)
    assert 0.0 <= data.images.min() and data.images.max() == 1.0
    # Healthy twin: same normalization as the image, so it differs only inside the lesion.
    assert data.truth is not None and data.truth.shape == data.images.shape
    outside = (data.masks == 0).expand_as(data.images)
    assert torch.equal(data.truth[outside], data.images[outside])
    assert (data.truth[~outside] < data.images[~outside]).all()
    assert data.changed is not None and torch.equal(data.changed, data.masks)
    assert data.meta["modalities"] == ["flair", "t2"] and data.meta["normalization"] == {"kind": "mr", "options": {}}
    part = data.subset(data.abnormal_indices)
    assert part.labels.tolist() == [1, 1, 1] and part.subject_ids == ["case_a", "case_a", "case_b"]
    assert torch.equal(part.truth, data.truth[data.abnormal_indices])


def test_slice_label_rule() -> None:
    empty = np.zeros((4, 4), np.uint8)
    assert slice_label(empty) == 0
    one_voxel = empty.copy()
    one_voxel[3, 0] = 1
    assert slice_label(one_voxel) == 1
    assert slice_label(torch.from_numpy(one_voxel)) == 1


def test_size_spacing_range_and_axis(two_cases: Path) -> None:
    subjects = discover(two_cases)
    padded = SliceSet.from_subjects(subjects, size=(12, 10), foreground_only=False, slice_range=(1, 3))
    assert padded.images.shape == (4, 1, 12, 10) and padded.slice_index.tolist() == [1, 2, 1, 2]
    assert padded.meta["size"] == [12, 10] and padded.meta["slice_range"] == [1, 3]
    coarse = SliceSet.from_subjects(subjects[:1], spacing=2.0, foreground_only=False)
    assert coarse.images.shape == (4, 1, 4, 4)  # 8 x 8 at 1 mm -> 4 x 4 at 2 mm, 4 slices kept
    assert set(coarse.masks.unique().tolist()) <= {0, 1}
    sagittal = SliceSet.from_subjects(subjects[:1], axis="sagittal", foreground_only=True)
    assert sagittal.images.shape[1:] == (1, SHAPE[0], SHAPE[1]) and len(sagittal) == 4  # x = 2..5 hold the head
    resized = SliceSet.from_subjects(subjects[:1], resize=(16, 16), foreground_only=False)
    assert resized.images.shape == (4, 1, 16, 16)


def test_middle_slices_and_pad_crop() -> None:
    assert list(select_slices(155, 60)) == list(range(47, 107))
    assert list(select_slices(10, (2, -2))) == list(range(2, 8))
    block = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    padded = center_pad_crop(block, (7, 9))
    assert padded.shape == (2, 7, 9)
    np.testing.assert_array_equal(center_pad_crop(padded, (3, 5)), block)
    np.testing.assert_array_equal(center_pad_crop(block, (1, 3)), block[:, 1:2, 1:4])


def test_ct_window_and_lits_labels(tmp_path: Path) -> None:
    hounsfield = np.full(SHAPE, -1000, np.float32)
    hounsfield[:, 2:6, 2:6] = 40.0
    write_volume(tiny().with_array(hounsfield), tmp_path / "volume-0.nii", dtype=np.int16)
    labels = lesion(1).array
    labels[2, 3, 3] = 2
    write_volume(tiny().with_array(labels), tmp_path / "segmentation-0.nii", dtype=np.uint8)
    data = SliceSet.from_subjects(discover(tmp_path), modalities=("ct",),
                                  normalization={"kind": "ct", "level": 40, "width": 400})
    assert data.images.max().item() == pytest.approx(0.5)  # 40 HU is the middle of the window
    assert data.labels.tolist() == [0, 0, 1, 0]  # liver alone (label 1) is healthy
    assert data.truth is None and data.changed is None
    assert data.meta["normalization"] == {"kind": "ct", "options": {"level": 40, "width": 400}}
    same = SliceSet.from_subjects(discover(tmp_path), modalities=("ct",),
                                  normalization={"kind": "ct", "options": {"level": 40, "width": 400}})
    assert torch.equal(same.images, data.images)


def test_bad_requests_are_clear(two_cases: Path) -> None:
    subjects = discover(two_cases)
    with pytest.raises(InputError, match="unknown normalization kind"):
        SliceSet.from_subjects(subjects, normalization="zscore")
    with pytest.raises(InputError, match="unknown slice axis"):
        SliceSet.from_subjects(subjects, axis="oblique")
    with pytest.raises(InputError, match="no subject"):
        SliceSet.from_subjects([])
    off_grid = Volume(tiny().array, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3).ravel())
    write_volume(off_grid.with_array(np.zeros((4, 8, 9), np.float32) + 1), two_cases / "case_a" / "case_a_flair_healthy.nii.gz")
    with pytest.raises(InputError, match="case_a_flair_healthy.nii.gz.*grid of"):
        SliceSet.from_subjects(subjects)
