"""`lesiongan augment`: synthetic abnormal / healthy pairs with masks that the readers load."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from lesiongan.cli import main
from lesiongan.data.readers import discover, load_subject
from lesiongan.data.volume import read_volume, write_volume
from synthesis_support import brain_with_ventricles, write_painting_model


def _write_brats(root, name, volume, mask=None):
    folder = root / name
    write_volume(volume, folder / f"{name}_flair.nii.gz")
    if mask is not None:
        write_volume(volume.with_array(mask.astype(np.uint8)), folder / f"{name}_seg.nii.gz", dtype=np.uint8)


def test_augment_writes_cases_the_readers_load(tmp_path):
    healthy = tmp_path / "healthy"
    for seed in range(2):
        volume, _ = brain_with_ventricles(seed=seed)
        _write_brats(healthy, f"H{seed}", volume, np.zeros(volume.shape))
    lesioned, _ = brain_with_ventricles(seed=9)  # a subject with a lesion is not a source
    lesion = np.zeros(lesioned.shape, np.uint8)
    lesion[5, 10:12, 10:12] = 1
    _write_brats(healthy, "A0", lesioned, lesion)
    model = write_painting_model(tmp_path / "m.pt")
    out = tmp_path / "out"
    code = main(["augment", "--model", str(model), "--healthy", str(healthy), "--out", str(out), "--count", "3",
                 "--seed", "1", "--radius-mm", "5", "--blend-margin-mm", "2", "--device", "cpu"])
    assert code == 0
    subjects = discover(out)
    assert [s.id for s in subjects] == ["Synth_1_000", "Synth_1_001", "Synth_1_002"]
    sources = {seed: brain_with_ventricles(seed=seed)[0].array for seed in range(2)}
    used = set()
    for subject in subjects:
        volumes, mask = load_subject(subject, ["flair"])
        synthetic, region = volumes["flair"].array, mask.array > 0
        healthy_twin = read_volume(subject.healthy["flair"]).array
        used.add(next(seed for seed, source in sources.items() if np.array_equal(healthy_twin, source)))
        assert region.any()
        distance = ndimage.distance_transform_edt(~region, sampling=volumes["flair"].spacing[::-1])
        changed = synthetic != healthy_twin
        assert not changed[distance >= 2.0].any() and changed[region].any()
    assert used == {0, 1}  # the healthy subjects are taken in turn
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging folder left
    # the same seed gives the same cases
    again = tmp_path / "again"
    main(["augment", "--model", str(model), "--healthy", str(healthy), "--out", str(again), "--count", "1",
          "--seed", "1", "--radius-mm", "5", "--device", "cpu"])
    first = read_volume(out / "Synth_1_000" / "Synth_1_000_seg.nii.gz").array
    assert np.array_equal(first, read_volume(again / "Synth_1_000" / "Synth_1_000_seg.nii.gz").array)


def test_augment_transplants_real_lesion_masks(tmp_path):
    healthy, abnormal = tmp_path / "healthy", tmp_path / "abnormal"
    volume, _ = brain_with_ventricles(seed=0)
    _write_brats(healthy, "H0", volume)
    lesion = np.zeros(volume.shape, np.uint8)
    lesion[4:6, 6:10, 8:12] = 2
    lesion[0, 0, 0] = 1  # outside the brain: dropped
    _write_brats(abnormal, "A0", brain_with_ventricles(seed=3)[0], lesion)
    out = tmp_path / "out"
    assert main(["augment", "--model", str(write_painting_model(tmp_path / "m.pt", "n2a")), "--healthy",
                 str(healthy), "--abnormal", str(abnormal), "--out", str(out), "--count", "1",
                 "--device", "cpu"]) == 0
    _, mask = load_subject(discover(out)[0], ["flair"])
    expected = lesion.astype(bool)
    expected[0, 0, 0] = False
    assert np.array_equal(mask.array > 0, expected)


def test_augment_reports_a_folder_without_healthy_subjects(tmp_path, capsys):
    root = tmp_path / "data"
    volume, _ = brain_with_ventricles()
    mask = np.zeros(volume.shape)
    mask[5, 5, 5] = 1
    _write_brats(root, "A0", volume, mask)
    code = main(["augment", "--model", str(write_painting_model(tmp_path / "m.pt")), "--healthy", str(root),
                 "--out", str(tmp_path / "out"), "--count", "1", "--device", "cpu"])
    assert code == 1 and "no healthy subject" in capsys.readouterr().err


def test_augment_needs_a_flair_model(tmp_path, capsys):
    from lesiongan.infer.modelfile import save_model
    from lesiongan.nets import build_network

    net = build_network("resnet_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1)
    model = save_model(tmp_path / "t1.pt", method="antgan", networks={"n2a": net},
                       conventions={"modalities": ["t1"]}, provenance={})
    code = main(["augment", "--model", str(model), "--healthy", str(tmp_path), "--out", str(tmp_path / "out"),
                 "--count", "1", "--device", "cpu"])
    assert code == 1 and "needs a model that takes flair" in capsys.readouterr().err
