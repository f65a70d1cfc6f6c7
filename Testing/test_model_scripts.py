"""The demo model's scripts: gpu_stage.py's packed slices come back as the slices they were made
from, and average_weights.py averages model files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from lesiongan.data import readers
from lesiongan.data.slices import SliceSet

from test_data_slices import write_phantom_like


def _script(repo_root: Path, name: str):
    """scripts/<name>.py as a module (the scripts folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, repo_root / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_stage(repo_root: Path):
    return _script(repo_root, "gpu_stage")


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    for index, lesion_slices in enumerate([(1, 2), (3,), (2, 3)]):
        write_phantom_like(tmp_path / "data", f"case_{index}", lesion_slices)
    return tmp_path / "data"


@pytest.mark.parametrize("modalities,pack_cases", [(["flair"], 16), (["flair", "t2"], 1)])
def test_pack_keeps_every_kth_slice_from_its_offset_within_quantization(gpu_stage, cases: Path, tmp_path: Path,
                                                                         monkeypatch, modalities, pack_cases) -> None:
    monkeypatch.setattr(gpu_stage, "PACK_CASES", pack_cases)  # 1: each case packed apart, then joined
    packed = tmp_path / "slices.npz"
    gpu_stage.main(["pack", "--data", str(cases), "--out", str(packed), "--spacing", "0.5", "--every", "2",
                    "--offset", "1", "--validation", "0.3", "--seed", "3", "--modalities", *modalities])
    train, _ = readers.split_subjects(readers.discover(cases), (0.7, 0.3), seed=3)
    assert len(train) > 1
    reference = SliceSet.from_subjects(train, modalities=modalities, spacing=0.5)
    kept = np.flatnonzero(reference.slice_index.numpy() % 2 == 1)
    assert 0 < len(kept) < len(reference)
    reference = reference.subset(kept)

    slices = gpu_stage.unpack(packed)
    assert slices.images.shape == reference.images.shape  # 0.5 mm: twice the in-plane size
    assert slices.images.shape[-1] == 2 * 8
    assert slices.subject_ids == reference.subject_ids
    assert torch.equal(slices.slice_index, reference.slice_index)
    assert torch.equal(slices.masks, reference.masks) and torch.equal(slices.labels, reference.labels)
    step = 0.5 / 255 + 1e-6  # 8-bit intensities, rounded
    assert (slices.images - reference.images).abs().max() <= step
    assert (slices.truth - reference.truth).abs().max() <= step
    assert slices.meta["spacing"] == 0.5 and slices.meta["modalities"] == modalities
    assert slices.images.shape[1] == len(modalities)
    for bad in (["--every", "0"], ["--spacing", "-2"], ["--every", "2", "--offset", "2"]):
        with pytest.raises(SystemExit):
            gpu_stage.main(["pack", "--data", str(cases), "--out", str(tmp_path / "bad.npz"), *bad])
    assert not (tmp_path / "bad.npz").exists()


def test_a_variant_without_slices_at_its_spacing_is_refused(gpu_stage, cases: Path, tmp_path: Path) -> None:
    packed = tmp_path / "slices3mm.npz"
    gpu_stage.main(["pack", "--data", str(cases), "--out", str(packed), "--spacing", "3", "--validation", "0.3"])
    with pytest.raises(SystemExit, match=r"fine2: no --slices file at 2\.0 mm \(given: \[3\.0\]\)"):
        gpu_stage.main(["variant", "fine2", "0", "--slices", str(packed), "--work", str(tmp_path / "work"),
                        "--out", str(tmp_path / "out"), "--variants", "fine2", "--init", str(tmp_path / "none.pt")])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad, message", [(["--variants", "more2,nope"], r"--variants: unknown nope"),
                                          (["--variants", "more2all", "--threads", "-1"], r"--threads: must be >= 0")])
def test_train_refuses_bad_options_before_starting_anything(gpu_stage, tmp_path: Path, bad, message) -> None:
    with pytest.raises(SystemExit, match=message):
        gpu_stage.main(["train", "--slices", str(tmp_path / "none.npz"), "--work", str(tmp_path / "work"),
                        "--out", str(tmp_path / "out"), "--init", str(tmp_path / "none.pt"), *bad])
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists()


def test_export_gives_a_stopped_variant_its_checkpoints_networks_by_role(gpu_stage, cases: Path, tmp_path: Path) -> None:
    from lesiongan.infer.modelfile import load_model
    from lesiongan.train import TrainConfig, train

    packed = tmp_path / "slices.npz"
    gpu_stage.main(["pack", "--data", str(cases), "--out", str(packed), "--spacing", "0.25", "--validation", "0"])
    common = dict(method="antgan", preset="twin-gate", data=gpu_stage.unpack(packed), modalities=("flair",), spacing=0.25,
                  batch_size=2, device="cpu", log_every=1, sample_every=10**8, tensorboard=False, val_fraction=0.0)
    start = train(TrainConfig(out=tmp_path / "start", options={"ngf": 4}, iterations=1, seed=1, **common))
    # a run whose last checkpoint holds the weights it ends with: the export must give them back
    end = train(TrainConfig(out=tmp_path / "run", options={"ngf": 4, "lambda_gate": 4.0}, iterations=3, init=str(start),
                            checkpoint_every=1, seed=2, **common))
    exported = load_model(gpu_stage.export(tmp_path / "run" / "checkpoints", start, tmp_path / "early.pt"))
    trained, first = load_model(end), load_model(start)
    assert exported.roles == trained.roles and exported.conventions == first.conventions
    assert exported.provenance["continued"]["iterations"] == 3
    for role in trained.roles:
        want, got = trained.network(role).state_dict(), exported.network(role).state_dict()
        assert all(torch.equal(want[key], got[key]) for key in want), role
    moved = first.network("a2n").state_dict()
    assert any(not torch.equal(moved[key], got_a2n) for key, got_a2n in exported.network("a2n").state_dict().items())


@pytest.fixture(scope="module")
def average_weights(repo_root: Path):
    return _script(repo_root, "average_weights")


def _model_file(path: Path, seed: int, ngf: int = 4) -> Path:
    from lesiongan.infer.modelfile import save_model
    from lesiongan.nets import build_network

    torch.manual_seed(seed)
    return save_model(path, method="antgan", networks={"a2n": build_network("resnet_generator", ngf=ngf, n_blocks=1)},
                      conventions={"modalities": ["flair"], "threshold": 0.07}, provenance={"seed": seed})


def test_average_weights_is_the_mean_of_the_files(average_weights, tmp_path: Path) -> None:
    from lesiongan.errors import InputError
    from lesiongan.infer.modelfile import load_model

    sources = [_model_file(tmp_path / f"m{seed}.pt", seed) for seed in (1, 2, 3)]
    out = average_weights.average(sources, tmp_path / "soup.pt")
    states = [load_model(path).network("a2n").state_dict() for path in sources]
    soup = load_model(out)
    for key, value in soup.network("a2n").state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, sum(state[key] for state in states) / 3, atol=1e-6)
    assert soup.threshold == 0.07 and soup.provenance["averaged_from"] == [str(path) for path in sources]
    with pytest.raises(InputError, match="differ in architecture"):
        average_weights.average([sources[0], _model_file(tmp_path / "wide.pt", 4, ngf=8)], tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()


@pytest.fixture(scope="module")
def component_rules(repo_root: Path):
    return _script(repo_root, "component_rules")


def test_component_rules_keep_components_by_their_peak_against_the_threshold_or_the_strongest(component_rules) -> None:
    difference = np.zeros((1, 20, 20), np.float32)
    difference[0, 2:5, 2:5] = 1.0  # a strong component
    difference[0, 10:13, 10:13] = 0.2  # a faint one, twice the threshold
    difference[0, 11, 11] = 0.3  # with a peak inside it
    foreground = np.ones_like(difference, bool)

    def kept(k=0.0, rho=0.0, relative=0.0):
        return int(component_rules.rule_mask(difference, foreground, 0.1, 0, k, rho, relative).sum())

    assert kept() == 18
    assert kept(k=3) == 18 and kept(k=3.5) == 9  # hysteresis: the faint peak is 3x the threshold
    assert kept(relative=0.3) == 18 and kept(relative=0.35) == 9  # 0.3 of the strongest peak
    assert kept(rho=0.7) == 9 + 1  # within each component, the voxels over 0.7 x its own peak


def test_component_rules_read_three_or_four_values(component_rules) -> None:
    assert component_rules.parse_rule("1,2,0.2") == (1.0, 2.0, 0.2, 0.0)
    assert component_rules.parse_rule("0.8,0,0,0.3") == (0.8, 0.0, 0.0, 0.3)
    for bad in ("1,2", "1,2,3,4,5", "1,x,0.2"):
        with pytest.raises(SystemExit, match="not scale,k,rho"):
            component_rules.parse_rule(bad)


@pytest.fixture(scope="module")
def bias_corrected(repo_root: Path):
    return _script(repo_root, "bias_corrected")


def test_bias_corrected_removes_a_smooth_field_from_the_flair_and_its_twin_alike(bias_corrected, tmp_path: Path,
                                                                                  monkeypatch) -> None:
    import SimpleITK as sitk

    z, y, x = np.mgrid[:16, :32, :32].astype(np.float32)
    brain = ((z - 8) / 7) ** 2 + ((y - 16) / 13) ** 2 + ((x - 16) / 13) ** 2 < 1
    field = np.exp(0.4 * (x - 16) / 16)  # brighter to the right, as a receive coil shades a scan
    healthy = np.where(brain, 100.0, 0.0).astype(np.float32)
    image = healthy.copy()
    image[6:10, 14:18, 8:12] = 180.0  # a lesion
    case = tmp_path / "data" / "case_0"
    case.mkdir(parents=True)
    for name, array in (("flair", image * field), ("flair_healthy", healthy * field), ("seg", image > healthy)):
        sitk.WriteImage(sitk.GetImageFromArray(array.astype(np.uint8 if name == "seg" else np.float32)),
                        str(case / f"case_0_{name}.nii.gz"))

    out = tmp_path / "corrected"
    monkeypatch.setattr("sys.argv", ["bias_corrected.py", "--data", str(tmp_path / "data"), "--out", str(out)])
    bias_corrected.main()
    read = lambda path: sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # noqa: E731
    corrected, twin = read(out / "case_0" / "case_0_flair.nii.gz"), read(out / "case_0" / "case_0_flair_healthy.nii.gz")
    tissue = brain & ~(image > healthy)
    spread = lambda array: float(array[tissue].std() / array[tissue].mean())  # noqa: E731
    assert spread(corrected) < 0.3 * spread(image * field)  # the shading is mostly gone
    np.testing.assert_allclose(corrected[brain] / twin[brain], image[brain] / healthy[brain], rtol=1e-4)  # one field for both
    assert np.array_equal(read(out / "case_0" / "case_0_seg.nii.gz"), read(case / "case_0_seg.nii.gz"))
    assert np.array_equal(read(case / "case_0_flair.nii.gz"), (image * field).astype(np.float32))  # the input as it was

    with pytest.raises(SystemExit):  # an existing folder is not written into
        bias_corrected.main()

    broken = tmp_path / "data" / "case_1"  # a second case that cannot be read: no half-written split
    broken.mkdir()
    (broken / "case_1_flair.nii.gz").write_bytes(b"not an image")
    half = tmp_path / "half"
    monkeypatch.setattr("sys.argv", ["bias_corrected.py", "--data", str(tmp_path / "data"), "--out", str(half)])
    with pytest.raises(RuntimeError):
        bias_corrected.main()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["corrected", "data"]
