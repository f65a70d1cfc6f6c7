"""`lesiongan summary`: counts healthy and abnormal slices of each subject from its mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesiongan.cli import main
from lesiongan.data.readers import discover
from lesiongan.data.slices import count_slices
from lesiongan.data.volume import write_volume

from test_data_readers import lesion, tiny


def test_summary_counts_slices_per_subject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_volume(tiny(), tmp_path / "a.nii.gz")
    write_volume(lesion(1, (0, 1, 3)), tmp_path / "a_mask.nii.gz", dtype=np.uint8)
    write_volume(tiny(), tmp_path / "b.nii.gz")  # no mask: all healthy
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "layout pairs, 2 subjects" in out and "image (2)" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("a ", "b "))}
    assert rows["a"][:3] == ["1", "3", "yes"] and rows["b"][:3] == ["4", "0", "no"]
    assert "total axial slices: 5 healthy, 3 abnormal" in out


def test_summary_reports_unknown_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(tmp_path)]) == 1
    assert f"{tmp_path}: no known data layout" in capsys.readouterr().err


def test_count_slices_is_a_library_call_beside_the_slice_rule(tmp_path: Path) -> None:
    # the Training module's logic counts slices without going through the command line
    write_volume(tiny(), tmp_path / "a.nii.gz")
    write_volume(lesion(1, (0, 1, 3)), tmp_path / "a_mask.nii.gz", dtype=np.uint8)
    write_volume(tiny(), tmp_path / "b.nii.gz")
    counts = {subject.id: count_slices(subject, "axial") for subject in discover(tmp_path)}
    assert counts == {"a": (1, 3), "b": (4, 0)}
