"""`lesiongan`, `lesiongan --help` and every command's `--help` print their help and exit 0
(argparse formats help strings with %, so a stray percent sign breaks them)."""

from __future__ import annotations

import pytest

from lesiongan.cli import COMMANDS, main


@pytest.mark.parametrize("argv", [["--help"], ["-h"]])
def test_the_top_level_help_lists_every_command(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in COMMANDS)


def test_no_command_prints_the_help(capsys):
    with pytest.raises(SystemExit) as stopped:
        main([])
    assert stopped.value.code == 0 and "calibrate" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_prints_its_help(name, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([name, "--help"])
    assert stopped.value.code == 0
    assert f"lesiongan {name}" in capsys.readouterr().out
