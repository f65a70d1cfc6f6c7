"""Files whole or not at all: truncated and damaged volumes are refused, a write that does not
complete leaves nothing, and no output replaces an input, a phantom's truth or an old result."""

from __future__ import annotations

import gzip
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from lesiongan.cli import main
from lesiongan.data.volume import Volume, check_volume_file, read_volume, write_volume
from lesiongan.errors import InputError, LesionGANError, VolumeError
from lesiongan.io import atomic_path, check_outputs, remove_stale_temporaries, write_json
from test_infer_support import brain_volume, write_model


def _volume() -> Volume:
    return brain_volume(shape=(12, 20, 24))


def _cut(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha"])
def test_a_truncated_volume_is_an_error_not_zeros(tmp_path, suffix):
    path = write_volume(_volume(), tmp_path / f"case{suffix}")
    _cut(path)
    with pytest.raises(VolumeError, match=rf"case{suffix}.*cut short"):
        read_volume(path)


def _compressed_nrrd(path: Path) -> Path:
    sitk.WriteImage(_volume().to_sitk(), str(path), useCompression=True)
    return path


def _plain_gzip(path: Path) -> Path:
    with gzip.open(path, "wb") as stream:
        stream.write(b"x" * 1000)
    return path


@pytest.mark.parametrize("name, make", [("case.nrrd", _compressed_nrrd), ("plain.gz", _plain_gzip)])
def test_compressed_data_cut_short_is_an_error(tmp_path, name, make):
    path = make(tmp_path / name)
    check_volume_file(path)  # whole, it passes
    _cut(path, 0.8)
    with pytest.raises(VolumeError, match="cut short"):
        check_volume_file(path)


def test_a_gzip_crc_error_is_an_error(tmp_path):
    path = write_volume(_volume(), tmp_path / "case.nii.gz")
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF  # inside the CRC-32 trailer
    path.write_bytes(bytes(data))
    with pytest.raises(VolumeError, match="case.nii.gz.*damaged"):
        read_volume(path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_nifti_nan_and_inf_voxels_are_an_error(tmp_path, suffix, bad):
    array = _volume().array.copy()
    array[5, 5, 5] = bad
    path = tmp_path / f"case{suffix}"
    sitk.WriteImage(_volume().with_array(array).to_sitk(), str(path))
    with pytest.raises(VolumeError, match="NaN or infinite"):
        read_volume(path)


def test_an_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.nii.gz"
    path.write_bytes(b"")
    with pytest.raises(VolumeError, match="empty.nii.gz.*0 bytes"):
        read_volume(path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha"])
def test_a_full_disk_leaves_no_file_and_an_error(tmp_path, suffix):
    target = tmp_path / f"out{suffix}"
    previous = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4000, previous[1]))
    try:
        with pytest.raises(VolumeError, match=f"out{suffix}"):
            write_volume(_volume(), target)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, previous)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_keeps_the_old_json(tmp_path):
    path = write_json(tmp_path / "a.json", {"old": 1})
    previous = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, previous[1]))
    try:
        with pytest.raises((OSError, LesionGANError)):
            write_json(path, {"new": "x" * 1000})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, previous)
    assert path.read_text() == '{\n  "old": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_atomic_path_without_overwrite_keeps_an_existing_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("mine")
    with pytest.raises(InputError, match="exists already"):
        with atomic_path(path, overwrite=False) as temporary:
            temporary.write_text("new")
    assert path.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_stale_temporaries_of_dead_processes_go_and_live_ones_stay(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".case_healthy.nii.gz.{dead_pid}.0123abcd.tmp.nii.gz"
    live = tmp_path / f".other.nii.gz.{os.getppid()}.0123abcd.tmp.nii.gz"
    user = tmp_path / ".hidden_user_file.tmp"
    for path in (stale, live, user):
        path.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, user.name])


def test_outputs_that_are_inputs_truth_or_existing_are_refused(tmp_path):
    case = tmp_path / "Phantom_0_000"
    case.mkdir()
    truth = case / "Phantom_0_000_flair_healthy.nii.gz"
    truth.write_bytes(b"truth")
    (case / "Phantom_0_000_changed.nii.gz").write_bytes(b"x")
    with pytest.raises(InputError, match="ground truth"):
        check_outputs([truth], [], overwrite=True)
    with pytest.raises(InputError, match="also an input"):
        check_outputs([tmp_path / "x" / ".." / "in.nii.gz"], [tmp_path / "in.nii.gz"], overwrite=True)
    earlier = case / "earlier_mask.nii.gz"
    earlier.write_bytes(b"")
    with pytest.raises(InputError, match="--overwrite"):
        check_outputs([earlier], [], overwrite=False)
    check_outputs([earlier], [], overwrite=True)
    with pytest.raises(InputError, match="twice"):
        check_outputs([tmp_path / "a", tmp_path / "a"], [])


# --- the infer command --------------------------------------------------------------------------
def _infer(model: Path, *args: str) -> int:
    return main(["infer", "--model", str(model), "--device", "cpu", *args])


@pytest.fixture()
def model(tmp_path) -> Path:
    return write_model(tmp_path / "m.pt", ceiling=0.0)


def test_infer_never_overwrites_an_input_it_has_not_read_yet(tmp_path, model, capsys):
    folder = tmp_path / "cohort"
    first = write_volume(_volume(), folder / "case.nii.gz")
    second = write_volume(brain_volume(seed=5), folder / "case_healthy.nii.gz")
    before = second.read_bytes()
    assert _infer(model, "--input", str(first), str(second), "--output-dir", str(folder)) == 1
    assert "also an input" in capsys.readouterr().err
    assert second.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["case.nii.gz", "case_healthy.nii.gz"]


def test_infer_into_a_phantom_case_keeps_its_ground_truth(tmp_path, model, capsys):
    from lesiongan.data.phantom import write_cases

    case = write_cases(tmp_path / "phantom", 1, seed=0, size="tiny", healthy_fraction=0.0)[0]
    truth = case / f"{case.name}_flair_healthy.nii.gz"
    before = truth.read_bytes()
    assert _infer(model, "--input", str(case / f"{case.name}_flair.nii.gz"), "--output-dir", str(case),
                  "--overwrite") == 1
    assert "ground truth" in capsys.readouterr().err
    assert truth.read_bytes() == before


def test_infer_replaces_an_earlier_result_only_with_overwrite(tmp_path, model, capsys):
    image = write_volume(_volume(), tmp_path / "a.nii.gz")
    out = tmp_path / "out"
    assert _infer(model, "--input", str(image), "--output-dir", str(out)) == 0
    mask = out / "a_mask.nii.gz"
    mask.write_bytes(b"my edited mask")
    assert _infer(model, "--input", str(image), "--output-dir", str(out)) == 1
    assert "--overwrite" in capsys.readouterr().err and mask.read_bytes() == b"my edited mask"
    assert _infer(model, "--input", str(image), "--output-dir", str(out), "--overwrite") == 0
    assert read_volume(mask, allow_empty=True).shape == _volume().shape


@pytest.mark.parametrize("make", ["file", "proc"])
def test_infer_into_an_unwritable_folder_fails_before_the_model_runs(tmp_path, model, capsys, make):
    image = write_volume(_volume(), tmp_path / "a.nii.gz")
    if make == "file":
        target = tmp_path / "taken"
        target.write_text("a file")
    else:
        target = Path("/proc/lesiongan-out")
    assert _infer(model, "--input", str(image), "--output-dir", str(target)) == 1
    err = capsys.readouterr().err
    assert str(target) in err and "Traceback" not in err
    assert "slices on" not in err


@pytest.mark.parametrize("option, code", [(["--threshold", "-1"], 2), (["--threshold", "nan"], 2),
                                          (["--min-size", "-2"], 1), (["--batch", "0"], 1)])
def test_infer_options_are_checked_before_the_model_loads(tmp_path, capsys, option, code):
    """Refused by the argument parser (exit 2) or by the command's own checks (exit 1), by name,
    before the model is opened."""
    junk = tmp_path / "never-opened.pt"  # not even a model file: the option is refused first
    argv = ["infer", "--model", str(junk), "--input", str(tmp_path / "a.nii.gz"), "--output-dir", str(tmp_path / "o"),
            *option]
    try:
        returned = main(argv)
    except SystemExit as exit:
        returned = exit.code
    assert returned == code
    assert option[0] in capsys.readouterr().err


def test_infer_refuses_a_segmentor_role(tmp_path, model):
    with pytest.raises(SystemExit):
        _infer(model, "--input", str(tmp_path / "a.nii.gz"), "--output-dir", str(tmp_path / "o"),
               "--role", "segmentor")


def test_infer_checks_every_case_first_and_skip_bad_goes_on(tmp_path, model, capsys):
    good = write_volume(_volume(), tmp_path / "in" / "good.nii.gz")
    bad = write_volume(brain_volume(seed=2), tmp_path / "in" / "bad.nii.gz")
    _cut(bad)
    out = tmp_path / "out"
    assert _infer(model, "--input", str(bad), str(good), "--output-dir", str(out)) == 1
    assert "bad.nii.gz" in capsys.readouterr().err and not list(out.glob("*.nii.gz"))
    assert _infer(model, "--input", str(bad), str(good), "--output-dir", str(out), "--skip-bad") == 1
    captured = capsys.readouterr()
    assert "bad: skipped" in captured.err and "good:" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["good_diff.nii.gz", "good_healthy.nii.gz", "good_mask.nii.gz"]


def test_infer_refuses_what_the_headers_show_before_any_model_runs(tmp_path, capsys):
    """A 4D file, a 2D one and one whose slices would be 4 x 4 pixels at the model's 2 mm are
    refused from their headers before the good case runs; --skip-bad runs the good case."""
    model = write_model(tmp_path / "m.pt", ceiling=0.0, conventions={"spacing": 2.0})
    good = write_volume(_volume(), tmp_path / "in" / "good.nii.gz")
    four = tmp_path / "in" / "four.nii.gz"
    sitk.WriteImage(sitk.JoinSeries([_volume().to_sitk()] * 2), str(four))
    flat = tmp_path / "in" / "flat.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((20, 24), np.float32)), str(flat))
    small = write_volume(brain_volume(shape=(8, 8, 8), spacing=(1.0, 1.0, 1.0)), tmp_path / "in" / "small.nii.gz")
    inputs = ["--input", str(good), str(four), str(flat), str(small)]
    assert _infer(model, *inputs, "--output-dir", str(tmp_path / "out" / "nope")) == 1
    err = capsys.readouterr().err
    assert f"{four}: is 4D" in err and f"{flat}: is 2D" in err and f"{small}: its slices would be 4 x 4" in err
    assert "channel=" not in err and "volume:" not in err and "slices on" not in err
    assert not (tmp_path / "out").exists()  # the run made no folder it left empty
    assert _infer(model, *inputs, "--output-dir", str(tmp_path / "out"), "--skip-bad") == 1
    captured = capsys.readouterr()
    assert "good:" in captured.out and "3 of 4 case(s) skipped: four, flat, small" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "good_diff.nii.gz", "good_healthy.nii.gz", "good_mask.nii.gz"]


def test_infer_finds_what_only_the_voxels_show_per_case(tmp_path, model, capsys):
    """A constant volume and a NRRD with a NaN voxel pass the header checks; each fails when its
    case runs, named by its file. Without --skip-bad the run stops there with the earlier
    case's results whole; with it the others run."""
    good = write_volume(_volume(), tmp_path / "in" / "good.nii.gz")
    constant = write_volume(_volume().with_array(np.full(_volume().shape, 5, np.float32)),
                            tmp_path / "in" / "constant.nii.gz")
    nan = _volume().array.copy()
    nan[6, 10, 12] = np.nan
    with_nan = write_volume(_volume().with_array(nan), tmp_path / "in" / "nan.nrrd")
    inputs = ["--input", str(good), str(constant), str(with_nan)]
    assert _infer(model, *inputs, "--output-dir", str(tmp_path / "stops")) == 1
    err = capsys.readouterr().err
    assert f"error: {constant}: " in err and "array:" not in err and "nan.nrrd" not in err
    assert sorted(p.name for p in (tmp_path / "stops").iterdir()) == [
        "good_diff.nii.gz", "good_healthy.nii.gz", "good_mask.nii.gz"]
    assert _infer(model, *inputs, "--output-dir", str(tmp_path / "skips"), "--skip-bad") == 1
    err = capsys.readouterr().err
    assert f"constant: skipped: {constant}: " in err and f"nan: skipped: {with_nan}: volume holds NaN" in err
    assert "2 of 3 case(s) skipped" in err and len(list((tmp_path / "skips").iterdir())) == 3


def test_a_failed_run_leaves_no_new_folder_and_keeps_an_old_one(tmp_path, model):
    tiny = write_volume(brain_volume(shape=(6, 4, 4)), tmp_path / "tiny.nii.gz")  # 4 x 4 slices: refused
    assert _infer(model, "--input", str(tiny), "--output-dir", str(tmp_path / "new" / "nope")) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "tiny.nii.gz"]
    (tmp_path / "old").mkdir()
    assert _infer(model, "--input", str(tiny), "--output-dir", str(tmp_path / "old")) == 1
    assert (tmp_path / "old").is_dir()


def test_infer_removes_what_killed_runs_left(tmp_path, model):
    image = write_volume(_volume(), tmp_path / "a.nii.gz")
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = out / f".a_healthy.nii.gz.{int(dead.stdout)}.deadbeef.tmp.nii.gz"
    stale.write_bytes(b"partial")
    assert _infer(model, "--input", str(image), "--output-dir", str(out)) == 0
    assert not stale.exists()


# --- phantom and the other writers ----------------------------------------------------------------
def test_phantom_into_a_folder_with_files_is_refused(tmp_path, capsys):
    out = tmp_path / "data"
    out.mkdir()
    mine = out / "Phantom_0_000"
    mine.write_text("my notes")
    assert main(["phantom", "--out", str(out), "--cases", "1"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["phantom", "--out", str(out), "--cases", "1", "--overwrite"]) == 1
    assert "not a phantom case" in capsys.readouterr().err
    assert mine.read_text() == "my notes" and sorted(p.name for p in out.iterdir()) == ["Phantom_0_000"]


def test_phantom_overwrite_replaces_its_own_cases(tmp_path):
    out = tmp_path / "data"
    assert main(["phantom", "--out", str(out), "--cases", "1"]) == 0
    assert main(["phantom", "--out", str(out), "--cases", "1", "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["Phantom_0_000"]


@pytest.mark.parametrize("seed", ["-1", "123456789012345678901"])
@pytest.mark.parametrize("command", ["phantom", "demo"])
def test_seeds_out_of_range_are_a_usage_error(tmp_path, capsys, seed, command):
    with pytest.raises(SystemExit) as stopped:
        main([command, "--out", str(tmp_path / "o"), "--seed", seed])
    assert stopped.value.code == 2 and "--seed" in capsys.readouterr().err


def test_an_os_error_is_one_clear_line(tmp_path, capsys):
    assert main(["phantom", "--out", "/proc/lesiongan-phantom", "--cases", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/proc/lesiongan-phantom" in err


def test_a_header_with_a_singular_direction_names_the_file(tmp_path):
    path = write_volume(_volume(), tmp_path / "flat.nrrd")
    text = path.read_bytes()
    start = text.index(b"space directions:")
    end = text.index(b"\n", start)
    path.write_bytes(text[:start] + b"space directions: (1,0,0) (1,0,0) (0,0,2)" + text[end:])
    try:
        read_volume(path)
    except VolumeError as error:
        assert "flat.nrrd" in str(error)
    else:
        raise AssertionError("a singular direction was read")
