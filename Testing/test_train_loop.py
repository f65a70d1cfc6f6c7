"""The shared training loop on tiny in-memory slices: determinism, stop and exact resume, outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from lesiongan.errors import Cancelled, InputError
from lesiongan.infer.modelfile import load_model
from lesiongan.train import TrainConfig, train
from lesiongan.train.checkpoint import load_checkpoint

ITERATIONS = 6
TINY = {"ngf": 4, "ndf": 4, "n_blocks": 1, "pool_size": 3}


def tiny_slices() -> SimpleNamespace:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(10, 1, 24, 24, generator=g)
    masks = torch.zeros(10, 1, 24, 24)
    masks[:5, :, 8:14, 8:14] = 1
    labels = torch.tensor([1] * 5 + [0] * 5)
    return SimpleNamespace(images=images, masks=masks, labels=labels, meta={"modalities": ["flair"], "axis": "axial"})


def config(out: Path, **changes) -> TrainConfig:
    settings = dict(
        data=tiny_slices(), out=out, iterations=ITERATIONS, options=dict(TINY), seed=3,
        log_every=2, sample_every=3, checkpoint_every=2, tensorboard=False, device="cpu",
    )
    settings.update(changes)
    return TrainConfig(**settings)


def weights(run: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run / "checkpoints")["state"]
    return {f"{net}.{k}": v for net, sd in state["networks"].items() for k, v in sd.items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"differ: {different[:5]}"


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    train(config(out))
    return out


def test_run_writes_its_outputs_and_a_loadable_model(reference_run: Path) -> None:
    progress = json.loads((reference_run / "progress.json").read_text(encoding="utf-8"))
    assert progress["state"] == "finished" and progress["step"] == ITERATIONS == progress["total"]
    with (reference_run / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    assert {"seconds", "G", "D_N", "am", "cycle_ac", "lr_G"} <= set(rows[0])
    assert float(rows[-1]["lr_G"]) == 0  # linear decay reaches zero at the end
    assert (reference_run / "samples" / "step_000003.png").stat().st_size > 0
    assert (reference_run / "samples" / "latest.png").stat().st_size > 0
    model = load_model(reference_run / "model.pt")
    assert model.method == "antgan" and model.provenance["iterations"] == ITERATIONS
    net = model.network("a2n")
    assert_same({f"G_A2N.{k}": v for k, v in net.state_dict().items()},
                {k: v for k, v in weights(reference_run).items() if k.startswith("G_A2N.")})
    # every checkpoint loads with weights_only=True (load_checkpoint uses it)
    assert load_checkpoint(reference_run / "checkpoints")["step"] == ITERATIONS


def test_the_run_folder_names_what_the_run_wrote(reference_run: Path) -> None:
    from lesiongan.train.runfolder import RunFolder

    run = RunFolder(reference_run)
    for path in (run.model, run.log_csv, run.progress_file, run.config_file, run.latest_sample, run.sample(3)):
        assert path.is_file() and path.stat().st_size > 0, path
    assert run.has_checkpoint() and not run.stop_requested()
    assert run.read_progress()["state"] == "finished"
    assert json.loads(run.config_file.read_text(encoding="utf-8"))["config"]["iterations"] == ITERATIONS


def test_same_seed_gives_identical_weights(reference_run: Path, tmp_path: Path) -> None:
    train(config(tmp_path / "again"))
    assert_same(weights(reference_run), weights(tmp_path / "again"))
    train(config(tmp_path / "other_seed", seed=4))
    with pytest.raises(AssertionError):
        assert_same(weights(reference_run), weights(tmp_path / "other_seed"))


def test_stop_file_checkpoints_and_resume_matches_uninterrupted_run(reference_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "stopped"

    def stop_after_three(step: int, losses: dict[str, float]) -> None:
        if step == 3:
            (out / "STOP").touch()

    with pytest.raises(Cancelled, match="step 3"):
        train(config(out, on_step=stop_after_three))
    assert json.loads((out / "progress.json").read_text(encoding="utf-8"))["state"] == "stopped"
    assert load_checkpoint(out / "checkpoints")["step"] == 3

    with pytest.raises(InputError, match="resume"):
        train(config(out))  # an existing run is never overwritten silently
    train(config(out, resume=True))
    assert_same(weights(reference_run), weights(out))
    with (out / "log.csv").open() as handle:
        assert [int(r["step"]) for r in csv.DictReader(handle)] == [2, 4, 6]


def test_resume_with_other_options_is_refused(reference_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(config(out, iterations=2))
    with pytest.raises(InputError, match="options"):
        train(config(out, resume=True, options={**TINY, "lambda_am": 1.0}))


def test_missing_kind_of_slices_is_a_clear_error(tmp_path: Path) -> None:
    slices = tiny_slices()
    slices.labels = torch.ones(10, dtype=torch.long)
    with pytest.raises(InputError, match="healthy"):
        train(config(tmp_path / "run", data=slices))


def test_sigterm_becomes_a_stop_request_and_handlers_are_restored(tmp_path: Path) -> None:
    import os
    import signal

    from lesiongan.train.loop import StopRequest
    from lesiongan.train.runfolder import RunFolder

    before = signal.getsignal(signal.SIGTERM)
    with StopRequest(RunFolder(tmp_path)) as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested()
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_crash_is_reported_in_progress_json(tmp_path: Path) -> None:
    def crash(step: int, losses: dict[str, float]) -> None:
        if step == 2:
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        train(config(tmp_path / "run", on_step=crash))
    progress = json.loads((tmp_path / "run" / "progress.json").read_text(encoding="utf-8"))
    assert progress["state"] == "failed" and "out of memory" in progress["error"] and progress["step"] == 2


def test_a_stop_asked_for_while_the_data_loads_is_honoured(tmp_path: Path, monkeypatch) -> None:
    from lesiongan.train import loop

    out = tmp_path / "early"
    (out).mkdir()
    (out / "STOP").touch()  # left over from an earlier session: must not stop this one
    load = loop.load_training_slices

    def load_then_press_stop(*args, **kwargs):
        assert not (out / "STOP").exists()
        loaded = load(*args, **kwargs)
        (out / "STOP").touch()  # the user presses Stop while slices are loading
        return loaded

    monkeypatch.setattr(loop, "load_training_slices", load_then_press_stop)
    with pytest.raises(Cancelled, match="step 0"):
        train(config(out))
    assert json.loads((out / "progress.json").read_text(encoding="utf-8"))["state"] == "stopped"


@pytest.mark.parametrize("drop, optional", [(0.5, ["t1"]), (0.0, [])])
def test_a_model_trained_with_sequences_dropped_says_it_can_do_without_them(tmp_path: Path, drop, optional) -> None:
    slices = tiny_slices()
    slices.images = torch.cat([slices.images, slices.images.flip(-1)], 1)  # flair, t1
    slices.truth = slices.images * (1 - slices.masks)
    slices.meta = {"modalities": ["flair", "t1"], "axis": "axial"}
    options = {"ngf": 4, "generator": "unet", "unet_depth": 2, "gate": True, "augment": True,
               "drop_modalities": drop, "lambda_gan": 0.0, "cycle_ac": False, "cycle_nc": False, "lambda_twin": 1.0}
    train(config(tmp_path, data=slices, iterations=2, options=options, modalities=["flair", "t1"]))
    assert load_model(tmp_path / "model.pt").optional_modalities == optional
