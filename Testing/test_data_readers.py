"""Every dataset layout, written here in its real naming with tiny volumes, is found and loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from lesiongan.data.readers import Subject, discover, lesion_mask, load_subject, split_subjects, subject_images
from lesiongan.data.volume import Volume, read_volume, write_volume
from lesiongan.errors import LayoutError, VolumeError

SHAPE = (4, 8, 8)  # (z, y, x)


def tiny(value: float = 1.0, shape=SHAPE, spacing=(1.0, 1.0, 1.0)) -> Volume:
    array = np.zeros(shape, np.float32)
    array[:, 2:6, 2:6] = value
    return Volume(array, spacing, (0.0, 0.0, 0.0), np.eye(3).ravel())


def lesion(label: int = 1, slices=(1, 2)) -> Volume:
    array = np.zeros(SHAPE, np.uint8)
    array[list(slices), 3:5, 3:5] = label
    return tiny().with_array(array)


def write(path: Path, volume: Volume, dtype=None) -> Path:
    return write_volume(volume, path, dtype=dtype)


def make_brats2018(root: Path, cases=("BraTS19_X_001", "BraTS19_X_002"), suffix=".nii.gz") -> None:
    for case in cases:
        for index, modality in enumerate(("flair", "t1", "t1ce", "t2")):
            write(root / "HGG" / case / f"{case}_{modality}{suffix}", tiny(index + 1), np.int16)
        write(root / "HGG" / case / f"{case}_seg{suffix}", lesion(4), np.uint8)


def test_brats2018_nested_under_grade_folders(tmp_path: Path) -> None:
    make_brats2018(tmp_path)
    subjects = discover(tmp_path)
    assert [s.id for s in subjects] == ["BraTS19_X_001", "BraTS19_X_002"]
    assert subjects[0].layout == "brats2018"
    assert set(subjects[0].images) == {"flair", "t1", "t1ce", "t2"}
    assert subjects[0].healthy == {} and subjects[0].changed is None
    volumes, mask = load_subject(subjects[0], ["t1ce", "flair"])
    assert volumes["t1ce"].array.max() == 3 and volumes["flair"].array.max() == 1
    assert mask is not None and lesion_mask(mask.array, subjects[0]).sum() == 8


def test_brats2018_phantom_ground_truth(tmp_path: Path) -> None:
    case = "phantom_000"
    write(tmp_path / case / f"{case}_flair.nii.gz", tiny())
    write(tmp_path / case / f"{case}_flair_healthy.nii.gz", tiny(0.5))
    write(tmp_path / case / f"{case}_seg.nii.gz", lesion(), np.uint8)
    write(tmp_path / case / f"{case}_changed.nii.gz", lesion(), np.uint8)
    (subject,) = discover(tmp_path, layout="brats2018")
    assert set(subject.images) == {"flair"}
    assert subject.healthy == {"flair": tmp_path / case / f"{case}_flair_healthy.nii.gz"}
    assert subject.changed == tmp_path / case / f"{case}_changed.nii.gz"


def test_brats2023_names(tmp_path: Path) -> None:
    case = "BraTS-GLI-00000-000"
    for index, tag in enumerate(("t2f", "t1n", "t1c", "t2w")):
        write(tmp_path / case / f"{case}-{tag}.nii.gz", tiny(index + 1))
    write(tmp_path / case / f"{case}-seg.nii.gz", lesion(3), np.uint8)
    (subject,) = discover(tmp_path)
    assert subject.layout == "brats2023" and subject.id == case
    assert subject.images["flair"].name == f"{case}-t2f.nii.gz"
    assert subject.images["t1ce"].name == f"{case}-t1c.nii.gz"
    assert subject.mask is not None and subject.mask.name == f"{case}-seg.nii.gz"


def test_msd_four_channel_images(tmp_path: Path) -> None:
    (tmp_path / "imagesTr").mkdir()
    channels = np.stack([tiny(c + 1).array for c in range(4)])  # (channel, z, y, x)
    sitk.WriteImage(sitk.GetImageFromArray(channels, isVector=False), str(tmp_path / "imagesTr" / "BRATS_001.nii.gz"))
    (tmp_path / "imagesTr" / "._BRATS_001.nii.gz").write_bytes(b"macOS resource fork")
    write(tmp_path / "labelsTr" / "BRATS_001.nii.gz", lesion(2), np.uint8)
    (subject,) = discover(tmp_path)
    assert subject.layout == "msd" and subject.id == "BRATS_001"
    assert subject.channels == {"flair": 0, "t1": 1, "t1ce": 2, "t2": 3}
    volumes, mask = load_subject(subject, ["t2", "flair"])
    assert volumes["t2"].array.max() == 4 and volumes["flair"].array.max() == 1
    assert volumes["t2"].shape == SHAPE and mask is not None


def test_isles2015_siss(tmp_path: Path) -> None:
    for case, ident in (("1", 70613), ("2", 70622)):
        for offset, tag in enumerate(("MR_Flair", "MR_T1", "MR_T2", "MR_DWI", "OT")):
            name = f"VSD.Brain.XX.O.{tag}.{ident + offset}"
            volume = lesion() if tag == "OT" else tiny(offset + 1)
            write(tmp_path / "Training" / case / name / f"{name}.nii", volume, np.uint8 if tag == "OT" else None)
    subjects = discover(tmp_path)
    assert [s.id for s in subjects] == ["1", "2"] and subjects[0].layout == "isles2015"
    assert set(subjects[0].images) == {"flair", "t1", "t2", "dwi"}
    assert subjects[0].mask is not None and ".OT." in subjects[0].mask.name
    volumes, _ = load_subject(subjects[1], ["dwi"])
    assert volumes["dwi"].array.max() == 4


def test_lits_tumour_label_only(tmp_path: Path) -> None:
    for number in (10, 2):
        hounsfield = tiny(60.0).array - 1000 * (tiny().array == 0)
        write(tmp_path / "batch1" / f"volume-{number}.nii", tiny().with_array(hounsfield), np.int16)
        labels = lesion(1).array
        labels[2, 3, 3] = 2  # one tumour voxel inside the liver
        write(tmp_path / "batch1" / f"segmentation-{number}.nii", tiny().with_array(labels), np.uint8)
    subjects = discover(tmp_path)
    assert [s.id for s in subjects] == ["volume-2", "volume-10"]
    volumes, mask = load_subject(subjects[0], ["ct"])
    assert volumes["ct"].array.min() == -1000  # signed HU read as they are
    assert lesion_mask(mask.array, subjects[0]).sum() == 1  # liver (1) is not lesion, tumour (2) is


def test_pairs_side_by_side_and_in_folders(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    write(flat / "a.nii.gz", tiny())
    write(flat / "a_mask.nii.gz", lesion(), np.uint8)
    write(flat / "b.nii.gz", tiny())
    subjects = discover(flat)
    assert [(s.id, s.layout, s.mask is not None) for s in subjects] == [("a", "pairs", True), ("b", "pairs", False)]
    folders = tmp_path / "folders"
    write(folders / "images" / "c.nii.gz", tiny())
    write(folders / "masks" / "c.nii.gz", lesion(), np.uint8)
    (subject,) = discover(folders, layout="pairs")
    assert subject.images == {"image": folders / "images" / "c.nii.gz"}
    assert subject.mask == folders / "masks" / "c.nii.gz"


def test_unknown_or_empty_layouts_name_the_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(LayoutError, match=f"{tmp_path}.*no known data layout.*brats2018"):
        discover(tmp_path)
    with pytest.raises(LayoutError, match="unknown layout 'oasis'"):
        discover(tmp_path, layout="oasis")
    with pytest.raises(LayoutError, match=f"{tmp_path}.*no lits cases.*volume-<n>"):
        discover(tmp_path, layout="lits")
    with pytest.raises(LayoutError, match="no such folder"):
        discover(tmp_path / "missing")


def test_mask_on_another_grid_names_both_files(tmp_path: Path) -> None:
    image = write(tmp_path / "a.nii.gz", tiny())
    thick_slices = Volume(lesion().array, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3).ravel())
    write(tmp_path / "a_mask.nii.gz", thick_slices, np.uint8)
    (subject,) = discover(tmp_path)
    with pytest.raises(VolumeError, match=f"a_mask.nii.gz.*grid of {image}"):
        load_subject(subject, ["image"])
    with pytest.raises(LayoutError, match="a: has no flair"):
        load_subject(subject, ["flair", "t1"])  # an unnamed image stands for one modality only


def test_an_unnamed_image_is_the_single_modality_of_a_one_modality_ask(tmp_path: Path) -> None:
    write(tmp_path / "a.nii.gz", tiny())
    (subject,) = discover(tmp_path)
    assert subject_images(subject, ["flair"]) == {"flair": (tmp_path / "a.nii.gz", None)}
    volumes, _ = load_subject(subject, ["flair"])
    assert list(volumes) == ["flair"] and volumes["flair"].shape == tiny().shape
    with pytest.raises(LayoutError, match="a: has no t1"):
        subject_images(subject, ["image", "t1"])
    assert list(subject_images(subject, ["image", "t1"], optional=["t1"])) == ["image"]


def test_healthy_subject_mask_may_be_empty(tmp_path: Path) -> None:
    write(tmp_path / "a.nii.gz", tiny())
    write(tmp_path / "a_mask.nii.gz", tiny().with_array(np.zeros(SHAPE, np.uint8)))
    _, mask = load_subject(discover(tmp_path)[0], ["image"])
    assert mask is not None and not mask.array.any()
    with pytest.raises(VolumeError, match="a_mask.nii.gz.*empty"):
        read_volume(tmp_path / "a_mask.nii.gz")


def subjects_named(count: int) -> list[Subject]:
    return [Subject(f"case{i:02d}", {"image": Path(f"case{i:02d}.nii.gz")}) for i in range(count)]


def test_split_is_by_subject_seeded_and_order_free() -> None:
    subjects = subjects_named(10)
    train, test = split_subjects(subjects, (0.8, 0.2), seed=3)
    assert len(train) == 8 and len(test) == 2
    assert {s.id for s in train}.isdisjoint({s.id for s in test})
    assert {s.id for s in train} | {s.id for s in test} == {s.id for s in subjects}
    again = split_subjects(list(reversed(subjects)), (0.8, 0.2), seed=3)
    assert [[s.id for s in part] for part in again] == [[s.id for s in train], [s.id for s in test]]
    other = split_subjects(subjects, (0.8, 0.2), seed=4)
    assert {s.id for s in other[1]} != {s.id for s in test}
    three = split_subjects(subjects, (0.6, 0.2, 0.2))
    assert [len(part) for part in three] == [6, 2, 2]
    with pytest.raises(LayoutError, match="case01.*twice"):
        split_subjects(subjects + subjects_named(2))
