"""`lesiongan speed infer|train` at CI size, the plain reference against the engine, the
engine's speed options (crop to the foreground, threads), and the old name `lesiongan bench`."""

from __future__ import annotations

import json
import mmap
import os
import time

import numpy as np
import pytest
import torch

from lesiongan import device, speed
from lesiongan.cli import main
from lesiongan.data.volume import Volume
from lesiongan.errors import InputError
from lesiongan.infer import engine
from lesiongan.infer.modelfile import load_model, save_model
from lesiongan.nets import build_network


def test_speed_infer_cli_writes_timings_ratio_and_agreement(tmp_path, capsys):
    out = tmp_path / "infer.json"
    assert main(["speed", "infer", "--size", "tiny", "--ngf", "4", "--repeats", "1", "--crop", "--json", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    slices = report["volume"]["slices"]
    assert report["volume"]["shape_zyx"][0] == slices == 32
    for name in ("reference", "engine", "engine_crop"):
        run = report[name]
        assert run["seconds_per_volume"] > 0 and len(run["seconds_all"]) == 1
        assert run["slices_per_s"] == pytest.approx(slices / run["seconds_per_volume"])
        assert run["peak_memory_mb"] >= 0
    assert report["speedup"] == pytest.approx(report["reference"]["seconds_per_volume"] / report["engine"]["seconds_per_volume"])
    assert report["engine"]["slices_run"] == report["volume"]["foreground_slices"] > 0
    # the shipped engine gives the reference's result, not just a faster different one
    assert report["agreement"]["within_tolerance"]
    assert report["agreement"]["max_abs_difference"] <= speed.AGREEMENT_TOLERANCE
    assert report["agreement"]["mask_dice"] > 0.99 and 0 <= report["engine_crop"]["agreement"]["mask_dice"] <= 1
    assert report["machine"]["torch"] == torch.__version__ and report["machine"]["cpu_model"]
    printed = capsys.readouterr().out
    assert "| reference |" in printed and "| engine |" in printed and "| engine_crop |" in printed


def test_speed_train_cli_times_both_steps(tmp_path, capsys):
    out = tmp_path / "train.json"
    args = ["speed", "train", "--ngf", "4", "--blocks", "1", "--size", "32", "--batch-size", "2", "--iterations", "2",
            "--device", "cpu", "--json", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["setup"]["amp"] == "off" and report["setup"]["images_per_iteration"] == 4
    for name in ("reference", "shipped"):
        run = report[name]
        assert len(run["seconds_all"]) == 2
        assert run["iterations_per_s"] == pytest.approx(1 / run["seconds_per_iteration"])
        assert run["images_per_s"] == pytest.approx(4 * run["iterations_per_s"])
    assert report["speedup"] == pytest.approx(report["reference"]["seconds_per_iteration"] / report["shipped"]["seconds_per_iteration"])
    assert "ANT-GAN step, preset antgan" in capsys.readouterr().out
    assert report["setup"]["preset"] == "antgan" and report["setup"]["generator"] == "resnet"


def test_speed_train_times_the_demo_recipe_on_slices_with_twins(tmp_path, capsys):
    """--preset twin-gate times the demo model's step (gated U-Net, twins, augmentation)."""
    out = tmp_path / "train.json"
    args = ["speed", "train", "--preset", "twin-gate", "--ngf", "4", "--size", "32", "--batch-size", "2",
            "--iterations", "2", "--device", "cpu", "--channels", "3", "--set", "drop_modalities=0.5", "--json", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["setup"]["preset"] == "twin-gate" and report["setup"]["generator"] == "unet"
    assert report["setup"]["channels"] == 3 and report["setup"]["compiled"] is False
    assert report["shipped"]["peak_memory_mb"] >= 0 and report["setup"]["warmup_seconds"] > 0
    assert "ANT-GAN step, preset twin-gate" in capsys.readouterr().out


def test_the_old_name_bench_still_runs_speed_with_a_note(tmp_path, capsys):
    out = tmp_path / "train.json"
    args = ["train", "--ngf", "4", "--blocks", "1", "--size", "32", "--batch-size", "1", "--iterations", "1",
            "--device", "cpu", "--json", str(out)]
    assert main(["bench", *args]) == 0
    captured = capsys.readouterr()
    assert "lesiongan bench: deprecated, use 'lesiongan speed'" in captured.err
    assert "ANT-GAN step, preset antgan" in captured.out
    assert json.loads(out.read_text(encoding="utf-8"))["setup"]["iterations"] == 1
    assert main(["speed", *args]) == 0
    assert "deprecated" not in capsys.readouterr().err
    # an error under the old name is reported by the new one
    assert main(["bench", "train", "--size", "30", "--device", "cpu"]) == 1
    assert "lesiongan speed: error: --size" in capsys.readouterr().err


def test_speed_train_refuses_a_bad_option_or_channel_count(capsys):
    common = ["speed", "train", "--preset", "twin-gate", "--ngf", "4", "--size", "32", "--iterations", "1", "--device", "cpu"]
    assert main(common + ["--set", "drop_modalities=lots"]) != 0
    assert "option drop_modalities of antgan: must be a number" in capsys.readouterr().err
    assert main(common + ["--set", "drop_modalities=1.5", "--set", "augment=true"]) != 0
    assert "drop_modalities: is a probability in [0, 1]" in capsys.readouterr().err
    assert main(common + ["--channels", "0"]) != 0
    assert "--channels" in capsys.readouterr().err


def test_speed_refuses_bad_settings():
    with pytest.raises(InputError, match="--size"):
        speed.measure_train(ngf=4, size=30, batch_size=1, iterations=1, device_name="cpu")
    with pytest.raises(InputError, match="--repeats"):
        speed.measure_infer(None, "tiny", "cpu", 0, 4)


def _two_modality_model(tmp_path):
    torch.manual_seed(3)
    net = build_network("resnet_generator", in_channels=2, out_channels=2, ngf=4, n_blocks=1, shortcut=True)
    torch.nn.init.normal_(net.last.weight, 0.0, 0.02)
    conventions = {"modalities": ["flair", "t1"], "axis": "axial", "normalization": {"kind": "mr", "options": {}}}
    return load_model(save_model(tmp_path / "m.pt", method="antgan", networks={"a2n": net}, conventions=conventions, provenance={}))


def _brain_volumes(shape=(3, 30, 26)):
    """Two modalities of a blob on a zero background; slice sides not multiples of 4."""
    rng = np.random.default_rng(0)
    z, y, x = np.indices(shape)
    brain = ((y - shape[1] / 2) / (shape[1] / 3.3)) ** 2 + ((x - shape[2] / 2) / (shape[2] / 3.5)) ** 2 < 1
    return [Volume(np.where(brain, rng.uniform(50, 500, shape), 0).astype(np.float32), (1, 1, 1), (0, 0, 0),
                   (1, 0, 0, 0, 1, 0, 0, 0, 1)) for _ in range(2)]


def test_reference_matches_engine_with_padding_and_two_modalities(tmp_path):
    model = _two_modality_model(tmp_path)
    volumes = _brain_volumes()
    net = model.network("a2n", "cpu")
    expected = speed.reference_difference([v.array for v in volumes], net, torch.device("cpu"), {"kind": "mr"})
    result = engine.run_model(volumes, model, device="cpu")
    assert expected.shape == result.difference.shape
    assert expected.max() > 0.01  # the random network changes the image: the comparison means something
    np.testing.assert_allclose(result.difference.array, expected, atol=1e-5)


def test_crop_window_covers_the_foreground_in_multiples_of_4():
    foreground = np.zeros((2, 240, 240), dtype=bool)
    foreground[0, 50:61, 100:180] = True
    foreground[1, 200:239, 3:9] = True
    rows, cols = engine._crop_box(foreground, (240, 240))
    for window, hits in ((rows, np.flatnonzero(foreground.any((0, 2)))), (cols, np.flatnonzero(foreground.any((0, 1))))):
        assert (window.stop - window.start) % 4 == 0
        assert 0 <= window.start <= hits[0] - min(engine.CROP_MARGIN, hits[0])
        assert window.stop >= min(240, hits[-1] + 1 + engine.CROP_MARGIN) and window.stop <= 240
    assert engine._crop_box(None, (8, 12)) == (slice(0, 8), slice(0, 12))


def test_crop_runs_the_network_on_the_foreground_window_only(tmp_path):
    model = _two_modality_model(tmp_path)
    volumes = _brain_volumes((2, 96, 96))
    net = model.network("a2n", "cpu")
    seen = []
    hook = net.register_forward_pre_hook(lambda module, inputs: seen.append(tuple(inputs[0].shape[2:])))
    try:
        full = engine.run_model(volumes, model, device="cpu")
        cropped = engine.run_model(volumes, model, device="cpu", crop=True)
    finally:
        hook.remove()
    assert seen[0] == (96, 96)
    assert seen[-1][0] < 96 and seen[-1][1] < 96 and seen[-1][0] % 4 == seen[-1][1] % 4 == 0
    # approximate, but the same volume comes back, unchanged where the window does not reach
    assert cropped.output.shape == full.output.shape
    brain = full.foreground.array > 0
    assert np.all(cropped.difference.array[:, :2, :] == 0)
    assert np.abs(cropped.difference.array - full.difference.array)[brain].mean() < 0.5


def test_threads_apply_to_the_run_only(tmp_path):
    model = _two_modality_model(tmp_path)
    before = torch.get_num_threads()
    seen = []
    engine.run_model(_brain_volumes(), model, device="cpu", threads=2, progress=lambda done, total: seen.append(torch.get_num_threads()))
    assert seen and set(seen) == {2}
    assert torch.get_num_threads() == before
    with pytest.raises(InputError, match="threads"):
        engine.run_model(_brain_volumes(), model, device="cpu", threads=0)


def test_default_threads_leave_busy_cores_alone(tmp_path, monkeypatch):
    model = _two_modality_model(tmp_path)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for load, expected in ((5.0, 1), (0.0, 2)):
            monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
            monkeypatch.setattr(device, "busy_cores", lambda load=load: load)
            seen = []
            engine.run_model(_brain_volumes(), model, device="cpu", progress=lambda d, t: seen.append(torch.get_num_threads()))
            assert set(seen) == {expected}
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_busy_cores_reads_the_runnable_tasks():
    busy = device.busy_cores(samples=2, interval_s=0)
    if busy is None:  # no /proc/loadavg: the engine then keeps the process's threads
        assert not os.path.exists("/proc/loadavg")
    else:
        assert 0 <= busy < 10_000


def test_peak_memory_sees_a_temporary_allocation():
    # A fresh anonymous mapping, written through: malloc could hand back pages the process
    # already holds (freed by an earlier test), which would not raise the resident size.
    with speed.PeakMemory(torch.device("cpu")) as memory:
        block = mmap.mmap(-1, 64 * 2**20)
        for offset in range(0, len(block), mmap.PAGESIZE):
            block[offset] = 1
        time.sleep(0.5)  # several sampling periods, even on busy cores
        block.close()
    assert memory.peak_bytes >= 48 * 2**20
