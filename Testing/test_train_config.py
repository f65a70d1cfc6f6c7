"""A run's configuration from JSON and from the command line: the same TrainConfig either way,
every setting and method option checked when it is read, each error naming the bad one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from lesiongan.errors import InputError
from lesiongan.train.cli import add_arguments, config_from_args
from lesiongan.train.config import TrainConfig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_and_json_give_the_same_configuration(tmp_path: Path) -> None:
    flags = config_from_args(parse(
        "--method", "antgan", "--preset", "cyclegan", "--data", "data/tiny", "--out", str(tmp_path / "run"),
        "--iterations", "20", "--batch-size", "2", "--size", "32", "32", "--modalities", "flair", "t2",
        "--set", "lambda_cc=5", "--ngf", "8", "--set", "generator=unet", "--no-tensorboard", "--device", "cpu"))
    plain = {"method": "antgan", "preset": "cyclegan", "data": "data/tiny", "out": str(tmp_path / "run"),
             "iterations": 20, "batch_size": 2, "size": [32, 32], "modalities": ["flair", "t2"],
             "options": {"lambda_cc": 5.0, "ngf": 8, "generator": "unet"}, "tensorboard": False, "device": "cpu"}
    from_json = TrainConfig.from_plain(json.loads(json.dumps(plain)))
    assert flags == from_json
    assert flags.size == (32, 32) and flags.modalities == ("flair", "t2") and flags.options["lambda_cc"] == 5.0
    # what was not given is TrainConfig's default
    assert (flags.seed, flags.log_every, flags.amp, flags.resume) == (0, 10, "auto", False)
    assert TrainConfig.from_plain(flags.plain()) == flags  # plain() reads back as the same


def test_a_config_file_is_a_run_and_flags_beside_it_change_it(tmp_path: Path) -> None:
    config = TrainConfig(method="cgan", preset="small", data=str(tmp_path / "data"), out=str(tmp_path / "run"),
                         iterations=3, options={"lambda_identity": 2.0})
    (tmp_path / "run.json").write_text(json.dumps({"config": config.plain(), "pid": 12}))  # as the panel writes it
    (tmp_path / "bare.json").write_text(json.dumps(config.plain()))
    assert config_from_args(parse("--config", str(tmp_path / "run.json"))) == config
    assert TrainConfig.read(tmp_path / "bare.json") == config
    again = config_from_args(parse("--config", str(tmp_path / "run.json"), "--resume", "--iterations", "5",
                                   "--set", "ngf=4"))
    assert (again.resume, again.iterations, again.options) == (True, 5, {"lambda_identity": 2.0, "ngf": 4})
    assert (again.method, again.preset, again.data) == ("cgan", "small", config.data)


@pytest.mark.parametrize("settings, words", [
    ({"iterations": "5"}, "iterations: must be a whole number, got '5'"),  # JSON: a string is not a number
    ({"itertions": 5}, "itertions: unknown; known: "),
    ({"size": [32]}, "size: must be 2 whole numbers or none"),
    ({"axis": "up"}, "axis: must be one of axial, coronal, sagittal"),
    ({"device": "tpu"}, "device: must be one of auto, cpu, cuda"),
    ({"spacing": 100.0}, "--spacing: must be <= 20"),
    ({"iterations": 0}, "--iterations: must be a whole number from 1"),
    ({"method": "nope"}, "method 'nope': unknown"),
    ({"preset": "nope"}, "preset 'nope': unknown for method antgan"),
    ({"options": {"lambda_am": "ten"}}, "option lambda_am of antgan: must be a number"),
    ({"options": {"lambda_am": "10"}}, "option lambda_am of antgan: must be a number"),
    ({"options": {"nope": 1}}, "option nope of antgan: unknown; known: "),
    ({"options": {"generator": "vit"}}, "option generator of antgan: must be one of resnet, unet"),
    ({"method": "wgan", "options": {"lambda_am": 1.0}}, "option lambda_am of wgan: unknown"),
    ({"options": [1]}, "must be a mapping"),
])
def test_a_bad_setting_is_named_when_the_configuration_is_read(settings, words, tmp_path: Path) -> None:
    base = {"data": "data/tiny", "out": "runs/x"}
    with pytest.raises(InputError, match=words.replace("(", r"\(")):
        TrainConfig.from_plain({**base, **settings})
    (tmp_path / "run.json").write_text(json.dumps({**base, **settings}))
    with pytest.raises(InputError, match=f"{tmp_path / 'run.json'}: .*" + words.split(":")[0]):
        config_from_args(parse("--config", str(tmp_path / "run.json")))


def test_text_settings_are_parsed_by_their_type() -> None:
    config = TrainConfig.from_plain({"data": "d", "out": "o", "size": "64,64", "seed": "3", "spacing": "none",
                                     "options": {"lambda_am": "2.5", "cycle_ac": "no"}}, text=True)
    assert (config.size, config.seed, config.spacing) == ((64, 64), 3, None)
    assert config.options == {"lambda_am": 2.5, "cycle_ac": False}


def test_the_command_line_needs_a_run(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs --data and --out, or --config"):
        config_from_args(parse("--data", str(tmp_path)))
    with pytest.raises(InputError, match="no such configuration file"):
        config_from_args(parse("--config", str(tmp_path / "absent.json")))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InputError, match="cannot be read as JSON"):
        config_from_args(parse("--config", str(tmp_path / "broken.json")))
