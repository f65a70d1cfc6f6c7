"""`lesiongan evaluate` end to end on a tiny BraTS-layout folder with phantom-style truth."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from lesiongan.cli import main
from lesiongan.data.volume import write_volume
from lesiongan.infer.modelfile import save_model
from lesiongan.evaluation.evaluate import markdown
from lesiongan.metrics.protocol import summarize
from test_infer_support import CeilingGenerator, brain_volume, write_model


def _write_subjects(root: Path, count: int) -> None:
    """BraTS 2018 names, FLAIR only: the image with a bright blob (~1000 on ~300), its seg,
    the same volume without the blob as `_flair_healthy`, and the changed region."""
    for index in range(count):
        name = f"Case_{index:03d}"
        folder = root / name
        folder.mkdir(parents=True)
        image = brain_volume(seed=index)
        healthy = brain_volume(seed=index, lesion=False)
        lesion = (image.array != healthy.array).astype(np.uint8)
        write_volume(image, folder / f"{name}_flair.nii.gz")
        write_volume(healthy, folder / f"{name}_flair_healthy.nii.gz")
        write_volume(image.with_array(lesion * 2), folder / f"{name}_seg.nii.gz", dtype=np.uint8)
        write_volume(image.with_array(lesion), folder / f"{name}_changed.nii.gz", dtype=np.uint8)


def test_evaluate_scores_every_subject_and_writes_three_reports(tmp_path, capsys):
    _write_subjects(tmp_path / "data", 3)
    # Caps intensities at 0.5 (normalized): the blob (1.0) is toned down, the brain (~0.3) untouched.
    model = write_model(tmp_path / "m.pt", ceiling=0.0)
    out = tmp_path / "report"
    code = main(["evaluate", "--model", str(model), "--data", str(tmp_path / "data"), "--split", "all",
                 "--out", str(out), "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| non-lesion PSNR (dB) | inf | 3 |" in printed  # untouched outside the lesion

    report = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert sorted(report["subjects"]) == ["Case_000", "Case_001", "Case_002"]
    for scores in report["subjects"].values():
        assert scores["psnr_nonlesion"] == "inf"
        assert scores["identity"] == pytest.approx(1.0)
        assert scores["dice"] == pytest.approx(1.0) and scores["auprc"] == pytest.approx(1.0)
        assert 0 < scores["psnr_lesion"] < 15  # the blob became 500, the truth is ~300: not healthy yet
    assert report["summary"]["dice"]["n"] == 3

    with open(out / "subjects.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["subject"] for row in rows] == ["Case_000", "Case_001", "Case_002"]
    assert float(rows[0]["psnr_lesion"]) == pytest.approx(report["subjects"]["Case_000"]["psnr_lesion"])
    assert (out / "evaluation.md").read_text(encoding="utf-8").count("| Case_") == 3


def test_evaluate_scores_the_mask_a_user_gets(tmp_path, capsys):
    """A model whose minimum component is larger than the blob hands users an empty mask: the
    detection scores are those of that mask, not of the bare thresholded map (which finds it)."""
    _write_subjects(tmp_path / "data", 2)
    blob = int(np.count_nonzero(brain_volume(seed=0).array != brain_volume(seed=0, lesion=False).array))
    model = write_model(tmp_path / "m.pt", ceiling=0.0, conventions={"min_component_size": 10 * blob})
    out = tmp_path / "report"
    assert main(["evaluate", "--model", str(model), "--data", str(tmp_path / "data"), "--split", "all",
                 "--out", str(out), "--device", "cpu", "--segmentor", "none"]) == 0
    for scores in json.loads((out / "evaluation.json").read_text(encoding="utf-8"))["subjects"].values():
        assert scores["dice"] == 0.0 and scores["brain_marked"] == 0.0
        assert scores["auprc"] == pytest.approx(1.0)  # the map itself still ranks the blob first


def test_evaluate_oracle_scores_the_true_healthy_volumes(tmp_path, capsys):
    """The identity model finds nothing; the oracle (its frame, the phantom's truth as output)
    finds every blob and replaces it, and the report says which was scored."""
    _write_subjects(tmp_path / "data", 2)
    model = write_model(tmp_path / "m.pt")
    runs = {}
    for name, extra in (("model", []), ("oracle", ["--oracle"])):
        out = tmp_path / name
        assert main(["evaluate", "--model", str(model), "--data", str(tmp_path / "data"), "--split", "all",
                     "--out", str(out), "--device", "cpu", "--segmentor", "none", *extra]) == 0
        runs[name] = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert runs["model"]["summary"]["dice"]["mean"] == 0.0
    assert runs["oracle"]["summary"]["dice"]["mean"] == pytest.approx(1.0)
    assert runs["oracle"]["summary"]["psnr_lesion"]["mean"] > 60  # the truth itself, up to rounding
    assert runs["oracle"]["oracle"] is True
    assert "oracle" in (tmp_path / "oracle" / "evaluation.md").read_text(encoding="utf-8").splitlines()[0]


def test_evaluate_oracle_names_a_subject_without_a_healthy_volume(tmp_path, capsys):
    _write_subjects(tmp_path / "data", 1)
    (tmp_path / "data" / "Case_000" / "Case_000_flair_healthy.nii.gz").unlink()
    code = main(["evaluate", "--model", str(write_model(tmp_path / "m.pt")), "--data", str(tmp_path / "data"),
                 "--split", "all", "--out", str(tmp_path / "r"), "--device", "cpu", "--segmentor", "none", "--oracle"])
    assert code != 0
    assert "Case_000" in capsys.readouterr().err and not (tmp_path / "r" / "evaluation.json").exists()


def test_evaluate_test_split_holds_out_a_fifth(tmp_path, capsys):
    _write_subjects(tmp_path / "data", 3)
    model = write_model(tmp_path / "m.pt", ceiling=0.0)
    main(["evaluate", "--model", str(model), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "r"),
          "--device", "cpu"])
    assert len(json.loads((tmp_path / "r" / "evaluation.json").read_text(encoding="utf-8"))["subjects"]) == 1


def test_evaluate_test_split_follows_the_models_recorded_training_subjects(tmp_path, capsys):
    _write_subjects(tmp_path / "data", 3)
    save_model(tmp_path / "m.pt", method="antgan", networks={"a2n": CeilingGenerator(ceiling=0.0)},
               conventions={"modalities": ["flair"], "orientation": "LPS", "axis": "axial"},
               provenance={"split": {"train": ["Case_000", "Case_002"], "validation": ["Case_001"]}})
    main(["evaluate", "--model", str(tmp_path / "m.pt"), "--data", str(tmp_path / "data"), "--out",
          str(tmp_path / "r"), "--device", "cpu"])
    assert list(json.loads((tmp_path / "r" / "evaluation.json").read_text(encoding="utf-8"))["subjects"]) == ["Case_001"]


def test_evaluate_names_a_missing_data_folder(tmp_path, capsys):
    model = write_model(tmp_path / "m.pt")
    assert main(["evaluate", "--model", str(model), "--data", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "r")]) == 1
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def _evaluate(model: Path, data: Path, out: Path, *extra: str) -> int:
    return main(["evaluate", "--model", str(model), "--data", str(data), "--split", "all", "--out", str(out),
                 "--device", "cpu", "--segmentor", "none", *extra])


def test_evaluate_takes_the_image_of_a_pair_as_a_flair_models_flair(tmp_path, capsys):
    data = tmp_path / "pairs"
    for index in range(2):
        image = brain_volume(seed=index)
        write_volume(image, data / f"subject{index}.nii.gz")
        write_volume(image.with_array((image.array == 1000).astype(np.uint8)), data / f"subject{index}_mask.nii.gz")
    assert _evaluate(write_model(tmp_path / "m.pt", ceiling=0.0), data, tmp_path / "r") == 0
    report = json.loads((tmp_path / "r" / "evaluation.json").read_text(encoding="utf-8"))
    assert sorted(report["subjects"]) == ["subject0", "subject1"] and report["summary"]["dice"]["mean"] == 1.0


def test_evaluate_refuses_a_subject_without_a_needed_modality_before_any_runs(tmp_path, capsys):
    _write_subjects(tmp_path / "data", 2)
    model = write_model(tmp_path / "m.pt", modalities=("flair", "t1"))
    assert _evaluate(model, tmp_path / "data", tmp_path / "r") == 1
    err = capsys.readouterr().err
    assert "Case_000: has no t1 image" in err and "[1/2]" not in err and not (tmp_path / "r").exists()


def test_evaluate_checks_every_subject_first_and_skip_bad_scores_the_others(tmp_path, capsys):
    """Case_002's NaN voxel is found before any subject runs; Case_001's constant FLAIR only when
    it runs. Without --skip-bad each stops the run naming its file and writes no report; with
    it the others are scored and the skipped ones listed."""
    _write_subjects(tmp_path / "data", 3)
    constant = tmp_path / "data" / "Case_001" / "Case_001_flair.nii.gz"
    with_nan = tmp_path / "data" / "Case_002" / "Case_002_flair.nii.gz"
    image = brain_volume(seed=2)
    sitk.WriteImage(image.with_array(np.where(image.array == 1000, np.nan, image.array)).to_sitk(), str(with_nan))
    write_volume(image.with_array(np.full(image.shape, 5, np.float32)), constant)
    model = write_model(tmp_path / "m.pt", ceiling=0.0)
    assert _evaluate(model, tmp_path / "data", tmp_path / "r") == 1
    err = capsys.readouterr().err
    assert f"{with_nan}: holds NaN" in err and "[1/3]" not in err and not (tmp_path / "r").exists()

    assert _evaluate(model, tmp_path / "data", tmp_path / "r", "--skip-bad") == 1
    err = capsys.readouterr().err
    assert f"Case_001: skipped: {constant}: " in err and "array:" not in err
    assert "2 of 3 subject(s) skipped: Case_001, Case_002" in err
    report = json.loads((tmp_path / "r" / "evaluation.json").read_text(encoding="utf-8"))
    assert list(report["subjects"]) == ["Case_000"] and list(report["skipped"]) == ["Case_001", "Case_002"]
    assert "- Case_002: " in (tmp_path / "r" / "evaluation.md").read_text(encoding="utf-8")

    write_volume(image, with_nan)
    assert _evaluate(model, tmp_path / "data", tmp_path / "r2") == 1
    err = capsys.readouterr().err
    assert "[2/3] Case_001" in err and f"error: {constant}: " in err and "[3/3]" not in err
    assert not (tmp_path / "r2").exists()


def test_markdown_marks_undefined_and_single_values():
    rows = [{"dice": 0.5, "auprc": math.nan}, {"dice": 0.7, "auprc": 0.9}]
    table = markdown(["a", "b"], rows, summarize(rows))
    assert "| Dice | 0.600 ± 0.100 | 2 |" in table
    assert "| AUPRC | 0.900 | 1 |" in table
    assert "| a | 0.500 | n/a |" in table


def _write_segmentor(path: Path, conventions: dict) -> Path:
    """f_pre stand-in with a known answer: the identity in network range, so 'lesion' (> 0.5)
    wherever the normalized image is above 0.75: the blob (1.0), not the brain (~0.3)."""
    return save_model(path, method="segmentation", networks={"segmentor": CeilingGenerator(ceiling=1.0)},
                      conventions={"modalities": ["flair"], "axis": "axial", **conventions}, provenance={})


@pytest.mark.parametrize("frame, kept", [({"orientation": "LPS"}, 0.0), ({"orientation": "RAS"}, 0.0),
                                         ({"orientation": "RAS", "spacing": 2.0}, 0.5)],
                         ids=["same-grid", "other-orientation", "other-orientation-and-spacing"])
def test_evaluate_scores_healthiness_with_the_segmentor_in_its_own_frame(tmp_path, capsys, frame, kept):
    """Known answers wherever f_pre's frame is: a removed lesion scores 1, a kept one about 0
    (at 2 mm the blob's resampled edges fall below f_pre's threshold: this 20x24 toy slice
    becomes 10x12)."""
    _write_subjects(tmp_path / "data", 1)
    segmentor = _write_segmentor(tmp_path / "fpre.pt", frame)
    for name, ceiling in (("removes", 0.0), ("keeps", 1.0)):
        model = write_model(tmp_path / f"{name}.pt", ceiling=ceiling)
        main(["evaluate", "--model", str(model), "--data", str(tmp_path / "data"), "--split", "all",
              "--out", str(tmp_path / name), "--device", "cpu", "--segmentor", str(segmentor)])
    reports = {name: json.loads((tmp_path / name / "evaluation.json").read_text(encoding="utf-8"))
               for name in ("removes", "keeps")}
    scores = {name: report["subjects"]["Case_000"] for name, report in reports.items()}
    assert scores["removes"]["healthiness"] == 1.0  # outputs capped at 0.5: nothing left to find
    assert scores["keeps"]["healthiness"] <= kept  # the blob is still there
    assert reports["keeps"]["segmentor"] == str(segmentor)


def test_evaluate_refuses_a_segmentor_without_a_segmentor_network(tmp_path, capsys):
    _write_subjects(tmp_path / "data", 1)
    generator = write_model(tmp_path / "g.pt", ceiling=0.0)
    assert main(["evaluate", "--model", str(generator), "--data", str(tmp_path / "data"), "--split", "all",
                 "--out", str(tmp_path / "r"), "--segmentor", str(generator)]) == 1
    assert "has no 'segmentor' network" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_evaluate_without_a_segmentor_leaves_healthiness_out(tmp_path, capsys):
    _write_subjects(tmp_path / "data", 1)
    model = write_model(tmp_path / "t1.pt", ceiling=0.0, modalities=("flair",))
    main(["evaluate", "--model", str(model), "--data", str(tmp_path / "data"), "--split", "all",
          "--out", str(tmp_path / "r"), "--segmentor", "none"])
    report = json.loads((tmp_path / "r" / "evaluation.json").read_text(encoding="utf-8"))
    assert "healthiness" not in report["subjects"]["Case_000"] and report["segmentor"] is None
    assert "healthiness: not scored" in capsys.readouterr().err
