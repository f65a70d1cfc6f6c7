"""`lesiongan train` command line: listing, argument errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesiongan.cli import main


def test_list_methods_shows_antgan_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--list-methods"]) == 0
    text = capsys.readouterr().out
    assert "antgan:" in text and "cyclegan+shortcut" in text and "antgan-am100" in text and "lambda_am=10.0" in text


def test_bad_set_and_unknown_option_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--set", "lambda_am"]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--set", "no_such=1"]) == 1
    assert "no_such" in capsys.readouterr().err
    assert main(["train", "--method", "nope", "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 1
    assert "unknown" in capsys.readouterr().err
