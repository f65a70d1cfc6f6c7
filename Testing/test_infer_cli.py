"""`lesiongan infer` and `lesiongan demo`, run in-process on tiny synthetic data."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import torch

from lesiongan.cli import main
from lesiongan.data.volume import read_volume, write_volume
from lesiongan.infer.cases import group_cases, rank_share
from test_infer_support import brain_volume, write_model

RAS = (-1, 0, 0, 0, -1, 0, 0, 0, 1)


def _same_grid(path, reference) -> bool:
    image = sitk.ReadImage(str(path))
    return (image.GetSize() == reference.GetSize()
            and np.allclose(image.GetSpacing(), reference.GetSpacing(), atol=1e-6)
            and np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-5)
            and np.allclose(image.GetDirection(), reference.GetDirection(), atol=1e-6))


def test_infer_writes_three_files_per_input_on_its_grid(tmp_path):
    model = write_model(tmp_path / "m.pt", ceiling=0.0, conventions={"spacing": 1.0})
    inputs = [write_volume(brain_volume(spacing=(0.8, 1.2, 2.5)), tmp_path / "a.nii.gz"),
              write_volume(brain_volume(direction=RAS, seed=3), tmp_path / "b.nrrd")]
    out = tmp_path / "out"
    assert main(["infer", "--model", str(model), "--input", *map(str, inputs), "--output-dir", str(out),
                 "--device", "cpu", "--min-size", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n}_{kind}.nii.gz" for n in "ab" for kind in ("healthy", "diff", "mask"))
    for name, path in zip("ab", inputs):
        reference = sitk.ReadImage(str(path))
        for kind in ("healthy", "diff", "mask"):
            assert _same_grid(out / f"{name}_{kind}.nii.gz", reference)
        mask = sitk.ReadImage(str(out / f"{name}_mask.nii.gz"))
        assert mask.GetPixelID() == sitk.sitkUInt8 and sitk.GetArrayFromImage(mask).any()
        lesion = sitk.GetArrayFromImage(reference) == 1000
        assert read_volume(out / f"{name}_healthy.nii.gz").array[lesion].mean() < 900


def test_infer_finds_brats_siblings_and_skips_labels(tmp_path):
    case = tmp_path / "cohort" / "case1"
    for modality, seed in (("flair", 1), ("t1", 2)):
        write_volume(brain_volume(seed=seed), case / f"case1_{modality}.nii.gz")
    write_volume(brain_volume().with_array((brain_volume().array == 1000).astype(np.uint8)),
                 case / "case1_seg.nii.gz")
    model = write_model(tmp_path / "m.pt", modalities=("flair", "t1"), ceiling=0.0)
    out = tmp_path / "out"
    assert main(["infer", "--model", str(model), "--input-dir", str(tmp_path / "cohort"),
                 "--output-dir", str(out), "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "case1_flair_diff.nii.gz", "case1_flair_healthy.nii.gz", "case1_flair_mask.nii.gz", "case1_t1_healthy.nii.gz"]


def test_group_cases_and_rank_share(tmp_path):
    flair, t1 = tmp_path / "x_flair.nii.gz", tmp_path / "x_t1.nii.gz"
    flair.touch()
    t1.touch()
    assert group_cases([t1, flair], ["flair", "t1"]) == [[flair, t1]]
    assert group_cases([flair], ["flair"]) == [[flair]]
    items = list(range(5))
    assert rank_share(items, {"RANK": "1", "WORLD_SIZE": "2"}) == [1, 3]
    assert rank_share(items, {}) == items


def test_infer_reports_a_bad_model(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    image = write_volume(brain_volume(), tmp_path / "a.nii.gz")
    assert main(["infer", "--model", str(junk), "--input", str(image), "--output-dir", str(tmp_path / "o")]) == 1
    assert "junk.pt" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_demo_runs_end_to_end_on_a_tiny_phantom(tmp_path, capsys):
    model = write_model(tmp_path / "m.pt", ceiling=0.3)  # caps bright FLAIR lesions
    out = tmp_path / "demo"
    assert main(["demo", "--model", str(model), "--out", str(out), "--size", "tiny", "--device", "cpu"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["phantom000_diff.nii.gz", "phantom000_flair.nii.gz", "phantom000_healthy.nii.gz",
                     "phantom000_mask.nii.gz", "phantom000_overview.png"]
    assert sitk.ReadImage(str(out / "phantom000_overview.png")).GetSize()[0] > 400
    printed = capsys.readouterr().out
    dice = float(printed.split("mask Dice at threshold 0.1: ")[1].split()[0])
    lesion_line = printed.split("changed-region PSNR vs the true healthy volume: ")[1]
    after, before = float(lesion_line.split()[0]), float(lesion_line.split("input: ")[1].split()[0])
    assert dice > 0.2 and after > before  # the lesion is found and made closer to the truth
    assert torch.is_grad_enabled()  # in-process callers (tests, notebooks) keep autograd


def test_the_demo_is_a_library_call_that_returns_its_numbers(tmp_path):
    from lesiongan.evaluation.demo import run_demo

    model = write_model(tmp_path / "m.pt", ceiling=0.3)
    report = run_demo(tmp_path / "demo", model, size="tiny", device="cpu")
    assert report.model_path == model and report.name == "phantom000" and report.overview.is_file()
    assert report.result.device == "cpu" and report.lesion_voxels > 0 and report.changed_voxels >= report.lesion_voxels
    assert report.scores["dice"] > 0.2 and report.scores["psnr_lesion"] > report.input_psnr_lesion


def _write_msd(root, case: str) -> list:
    """MSD Task01: one 4D file of FLAIR, T1, T1ce, T2 (each channel its own volume) and its labels."""
    channels = [brain_volume(seed=seed) for seed in range(4)]
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.JoinSeries([volume.to_sitk() for volume in channels]), str(root / "imagesTr" / f"{case}.nii.gz"))
    write_volume(channels[0].with_array((channels[0].array == 1000).astype(np.uint8)),
                 root / "labelsTr" / f"{case}.nii.gz", dtype=np.uint8)
    return channels


def test_infer_reads_the_msd_layout_by_channel_and_names_outputs_after_the_case(tmp_path):
    cohort = tmp_path / "Task01"
    channels = {case: _write_msd(cohort, case) for case in ("BRATS_001", "BRATS_002")}
    labels = (cohort / "labelsTr" / "BRATS_001.nii.gz").read_bytes()
    model = write_model(tmp_path / "m.pt", modalities=("flair", "t1"))  # the identity: outputs are the inputs
    out = tmp_path / "out"
    assert main(["infer", "--model", str(model), "--input-dir", str(cohort), "--output-dir", str(out),
                 "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{case}_{kind}.nii.gz" for case in channels
        for kind in ("flair_healthy", "t1_healthy", "flair_diff", "flair_mask"))
    for case, (flair, t1, *_) in channels.items():
        assert np.array_equal(read_volume(out / f"{case}_flair_healthy.nii.gz").array, flair.array)
        assert np.array_equal(read_volume(out / f"{case}_t1_healthy.nii.gz").array, t1.array)
        assert read_volume(out / f"{case}_flair_mask.nii.gz", allow_empty=True).same_grid(flair)
    assert (cohort / "labelsTr" / "BRATS_001.nii.gz").read_bytes() == labels


def test_infer_runs_only_the_models_modalities_of_isles_cases(tmp_path):
    cohort = tmp_path / "SISS"
    flairs = {}
    for case in ("1", "2"):
        for number, tag in enumerate(("MR_Flair", "MR_T1", "MR_T2", "MR_DWI", "OT")):
            name = f"VSD.Brain.XX.O.{tag}.{case}0{number}"
            volume = brain_volume(seed=10 * int(case) + number)
            if tag == "OT":
                volume = volume.with_array((volume.array == 1000).astype(np.uint8))
            write_volume(volume, cohort / case / name / f"{name}.nii")
            flairs.setdefault(case, volume)
    model = write_model(tmp_path / "m.pt", ceiling=0.0)
    out = tmp_path / "out"
    assert main(["infer", "--model", str(model), "--input-dir", str(cohort), "--output-dir", str(out),
                 "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{case}_flair_{kind}.nii.gz" for case in flairs for kind in ("healthy", "diff", "mask"))
    for case, flair in flairs.items():  # the FLAIR went in: untouched outside its bright blob
        healthy = read_volume(out / f"{case}_flair_healthy.nii.gz").array
        assert np.array_equal(healthy[flair.array < 1000], flair.array[flair.array < 1000])


def test_infer_takes_lits_volumes_not_their_segmentations(tmp_path):
    cohort = tmp_path / "LiTS"
    for number in (0, 1):
        volume = brain_volume(seed=number)
        write_volume(volume, cohort / f"volume-{number}.nii")
        write_volume(volume.with_array((volume.array == 1000).astype(np.uint8) * 2), cohort / f"segmentation-{number}.nii")
    model = write_model(tmp_path / "m.pt", modalities=("ct",), conventions={"normalization": {"kind": "ct", "options": {}}})
    out = tmp_path / "out"
    assert main(["infer", "--model", str(model), "--input-dir", str(cohort), "--output-dir", str(out),
                 "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"volume-{number}_{kind}.nii.gz" for number in (0, 1) for kind in ("healthy", "diff", "mask"))
