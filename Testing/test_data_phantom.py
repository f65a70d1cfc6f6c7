"""The brain phantom: lesion and healthy twin agree outside `changed`, BraTS labels and layout,
determinism by seed, whole-case writes, and the `lesiongan phantom` command."""

from __future__ import annotations

import numpy as np
import pytest

from lesiongan.cli import main
from lesiongan.data import phantom, readers
from lesiongan.data.phantom import MODALITIES, make_case, write_cases
from lesiongan.data.volume import read_volume
from lesiongan.errors import InputError, LayoutError


@pytest.fixture(scope="module")
def lesion_cases() -> list[phantom.PhantomCase]:
    return [make_case(seed, size="tiny") for seed in (0, 1, 2)]


def _differs(case: phantom.PhantomCase) -> np.ndarray:
    return np.any([case.images[m] != case.healthy[m] for m in MODALITIES], axis=0)


def test_twins_are_equal_outside_changed_and_differ_inside(lesion_cases):
    for case in lesion_cases:
        changed = case.changed.astype(bool)
        assert case.lesion_voxels > 0 and changed.any()
        for modality in MODALITIES:
            assert case.images[modality].dtype == np.int16
            np.testing.assert_array_equal(case.images[modality][~changed], case.healthy[modality][~changed])
        assert _differs(case)[changed].all()
        # The mass effect moves tissue beyond the lesion itself.
        assert changed.sum() > case.lesion_voxels
        assert not (case.labels > 0)[~changed].any()


def test_labels_are_brats_and_lie_in_the_brain(lesion_cases):
    present = set()
    for case in lesion_cases:
        assert set(np.unique(case.labels)) <= {0, 1, 2, 4}
        present |= set(np.unique(case.labels).tolist())
        lesion = case.labels > 0
        for modality in MODALITIES:  # skull-stripped: the brain is where the images are non-zero
            assert (case.images[modality][lesion] > 0).all()
        # A lesion is one compact region, far smaller than the brain.
        assert case.lesion_voxels < 0.2 * np.count_nonzero(case.tissue)
    assert present == {0, 1, 2, 4}


def test_contrasts_follow_the_tissues(lesion_cases):
    case = lesion_cases[0]
    means = {m: [case.healthy[m][case.tissue == t].mean() for t in (1, 2, 3)] for m in MODALITIES}  # CSF, GM, WM
    csf, gm, wm = means["t1"]
    assert wm > gm > csf
    csf, gm, wm = means["t2"]
    assert csf > gm > wm
    csf, gm, wm = means["flair"]
    assert min(gm, wm) > 1.3 * csf
    # At 4 mm, cortex shares its voxels with sulcal CSF; GM > WM on FLAIR holds for pure tissue.
    flair_csf, flair_gm, flair_wm = phantom._signal(np.eye(3, dtype=np.float32)[:, :, None], phantom._TISSUE_MEANS["flair"])[:, 0]
    assert flair_gm > flair_wm > flair_csf
    edema, rim = case.labels == phantom.EDEMA, case.labels == phantom.ENHANCING
    assert case.images["flair"][edema].mean() > 1.3 * wm  # edema is bright on FLAIR
    assert case.images["t1ce"][rim].mean() > 1.3 * case.images["t1ce"][edema].mean()  # enhancing rim


def test_healthy_case_has_no_lesion_and_no_change():
    case = make_case(4, size="tiny", lesion=False)
    assert not case.labels.any() and not case.changed.any()
    for modality in MODALITIES:
        np.testing.assert_array_equal(case.images[modality], case.healthy[modality])
        assert case.images[modality].max() > 0


def test_same_seed_same_case_other_seed_other_case(lesion_cases):
    again = make_case(np.random.default_rng(0), size="tiny")
    for modality in MODALITIES:
        np.testing.assert_array_equal(again.images[modality], lesion_cases[0].images[modality])
        np.testing.assert_array_equal(again.healthy[modality], lesion_cases[0].healthy[modality])
    np.testing.assert_array_equal(again.labels, lesion_cases[0].labels)
    assert not np.array_equal(lesion_cases[1].healthy["t1"], lesion_cases[0].healthy["t1"])


def test_grids_share_the_brats_field_of_view():
    spacing, origin = phantom._grid_geometry("brats")
    assert spacing == (1.0, 1.0, 1.0) and origin == phantom.BRATS_ORIGIN
    tiny_spacing, tiny_origin = phantom._grid_geometry("tiny")
    direction = np.reshape(phantom.BRATS_DIRECTION, (3, 3))
    # The first voxel's outer corner is the same point on both grids.
    corner = np.array(origin) - direction @ (np.array(spacing) / 2)
    tiny_corner = np.array(tiny_origin) - direction @ (np.array(tiny_spacing) / 2)
    np.testing.assert_allclose(tiny_corner, corner)
    np.testing.assert_allclose(np.array(tiny_spacing) * phantom.SIZES["tiny"], phantom.SIZES["brats"])


def test_written_cases_are_the_made_cases_in_the_brats_layout(tmp_path):
    folders = write_cases(tmp_path, 3, seed=5, size="tiny", healthy_fraction=0.34)
    assert [f.name for f in folders] == ["Phantom_5_000", "Phantom_5_001", "Phantom_5_002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f.name for f in folders]  # no staging left
    subjects = readers.discover(tmp_path)
    assert [s.layout for s in subjects] == ["brats2018"] * 3
    healthy_cases = 0
    for index, subject in enumerate(subjects):
        assert set(subject.images) == set(MODALITIES) == set(subject.healthy)
        assert subject.changed is not None
        volumes, mask = readers.load_subject(subject, MODALITIES)
        case_has_lesion = bool(mask.array.any())
        healthy_cases += not case_has_lesion
        expected = make_case(np.random.default_rng([5, index]), size="tiny", lesion=case_has_lesion)
        np.testing.assert_array_equal(volumes["flair"].array, expected.images["flair"])
        np.testing.assert_array_equal(read_volume(subject.healthy["t2"]).array, expected.healthy["t2"])
        np.testing.assert_array_equal(mask.array, expected.labels)
        changed = read_volume(subject.changed, allow_empty=True).array
        np.testing.assert_array_equal(changed, expected.changed)
        assert volumes["t1"].spacing == pytest.approx((3.75, 3.75, 4.84375))
        assert volumes["t1"].direction == phantom.BRATS_DIRECTION
    assert healthy_cases == 1  # round(3 * 0.34)


def test_same_seed_writes_identical_bytes(tmp_path):
    first = write_cases(tmp_path / "a", 2, seed=9)
    second = write_cases(tmp_path / "b", 2, seed=9)
    for folder_a, folder_b in zip(first, second):
        names = sorted(p.name for p in folder_a.iterdir())
        assert len(names) == 10 and names == sorted(p.name for p in folder_b.iterdir())
        for name in names:
            assert (folder_a / name).read_bytes() == (folder_b / name).read_bytes()


def test_interrupted_write_leaves_no_partial_case(tmp_path, monkeypatch):
    case = make_case(6, size="tiny")
    calls = []

    def failing_write(volume, path, dtype=None):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_write(volume, path, dtype)

    real_write = phantom.write_volume
    monkeypatch.setattr(phantom, "write_volume", failing_write)
    with pytest.raises(OSError):
        phantom.write_case(case, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="size"):
        make_case(0, size="huge")
    with pytest.raises(InputError, match="at least 1"):
        write_cases(tmp_path, 0, seed=0)
    with pytest.raises(InputError, match="healthy_fraction"):
        write_cases(tmp_path, 2, seed=0, healthy_fraction=1.5)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(LayoutError, match="not a folder"):
        write_cases(a_file, 1, seed=0)


def test_cli_writes_the_cases_and_a_montage(tmp_path, capsys):
    out, montage = tmp_path / "cases", tmp_path / "montage.png"
    assert main(["phantom", "--out", str(out), "--cases", "2", "--seed", "3", "--healthy-fraction", "0",
                 "--montage", str(montage)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["Phantom_3_000", "Phantom_3_001"]
    assert montage.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "2 tiny cases" in printed and "lesion voxels" in printed
    assert main(["phantom", "--out", str(out), "--cases", "0"]) == 1
    assert main(["phantom", "--out", str(out), "--montage", str(tmp_path / "m.jpg")]) == 1
