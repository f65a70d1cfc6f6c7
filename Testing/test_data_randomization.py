"""Domain randomization of the phantom: twins still agree outside `changed`, cases really vary
(contrast, anatomy, lesion family), and the held-out test setting draws what training never does."""

from __future__ import annotations

import numpy as np
import pytest

from lesiongan.data import randomization
from lesiongan.data.phantom import MODALITIES, make_case
from lesiongan.data.randomization import SETTINGS, Appearance, acquire, draw_appearance
from lesiongan.errors import InputError


@pytest.fixture(scope="module")
def cases() -> dict[str, list]:
    return {name: [make_case(seed, size="tiny", randomization=name) for seed in range(4)] for name in ("train", "test")}


def test_twins_agree_outside_changed_and_labels_lie_inside_it(cases):
    for case in cases["train"] + cases["test"]:
        differs = np.any([case.images[m] != case.healthy[m] for m in MODALITIES], axis=0)
        assert np.array_equal(differs | (case.labels > 0), case.changed > 0)
        assert case.lesion_voxels > 0
        assert set(np.unique(case.labels)) <= {0, 1, 2, 4}
        brain = case.healthy["flair"] > 0
        assert brain[case.labels > 0].mean() > 0.9  # lesions lie in the brain


def test_cases_vary_in_contrast_and_anatomy(cases):
    def csf_to_white(case) -> float:
        image = case.healthy["flair"].astype(float)
        return float(image[case.tissue == 1].mean() / image[case.tissue == 3].mean())

    train = cases["train"]
    plain = [make_case(seed, size="tiny") for seed in range(4)]
    # The plain phantom has one FLAIR contrast (CSF dark); randomized cases spread far wider.
    assert np.std([csf_to_white(c) for c in train]) > 3 * np.std([csf_to_white(c) for c in plain])
    # And each randomized brain has its own shape and size.
    assert len({int((case.tissue > 0).sum()) for case in train}) == len(train)


def test_the_test_setting_draws_only_held_out_contrast_and_lesions():
    train, test = SETTINGS["train"], SETTINGS["test"]
    assert not set(test.contrasts) & set(train.contrasts)
    assert set(test.lesion_families) - set(train.lesion_families)
    rng = np.random.default_rng(0)
    profiles = {randomization.CONTRAST_PROFILES[name] for name in train.contrasts}
    for _ in range(50):
        look = draw_appearance(train, rng, (1, 2, 4))
        # every drawn mean lies within the jitter of one training profile, never of the held-out one
        assert any(all(abs(m / p - 1) <= train.contrast_jitter + 1e-9 for m, p in zip(look.tissue_means, profile))
                   for profile in profiles)


def test_acquire_blurs_along_z_as_thick_slices_do():
    volume = np.zeros((20, 8, 8), np.float32)
    volume[10] = 100.0
    thin = Appearance((1.0, 1.0, 100.0), {}, 1.0, 0.0, 0.0, 0.0, 1.0)
    thick = Appearance((1.0, 1.0, 100.0), {}, 1.0, 0.0, 0.0, 0.0, 5.0)
    same = acquire(volume, thin, (1.0, 1.0, 1.0))
    assert np.allclose(same, volume)
    spread = acquire(volume, thick, (1.0, 1.0, 1.0))
    assert spread[10, 4, 4] < 100 and (spread[:, 4, 4] > 1).sum() > 2
    assert spread.sum() == pytest.approx(volume.sum(), rel=0.35)


def test_unknown_setting_is_refused_by_name():
    with pytest.raises(InputError, match="unknown setting 'bogus'"):
        make_case(0, size="tiny", randomization="bogus")
