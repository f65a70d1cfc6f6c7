"""The shipped f_pre, the judge of healthiness: it finds a phantom's lesion and nothing in
its true healthy twin, judges in its own frame whatever the input's orientation, and stays
out of the panels' model lists."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesiongan.data.orientation import orientation_of, reorient
from lesiongan.data.phantom import make_case
from lesiongan.errors import InputError
from lesiongan.infer import catalog
from lesiongan.evaluation.fpre import shipped_segmentor, volume_healthiness
from test_infer_support import brain_volume

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def case():
    """A brats-size case from a seed neither f_pre's training (1) nor its held-out cases (7) used."""
    built = make_case(11, size="brats")
    image = built.volume(built.images["flair"].astype(np.float32))
    twin = built.volume(built.healthy["flair"].astype(np.float32))
    return image, twin, image.with_array((built.labels > 0).astype(np.uint8))


@pytest.fixture(scope="module")
def fpre():
    segmentor = shipped_segmentor("flair")
    assert segmentor is not None, "the FLAIR f_pre is not shipped"
    return segmentor


def test_shipped_fpre_finds_the_lesion_and_nothing_in_the_true_healthy_volume(case, fpre):
    image, twin, lesion = case
    assert lesion.array.sum() > 1000
    of_input = volume_healthiness(image, image, lesion, fpre, CPU)  # nothing removed
    of_truth = volume_healthiness(image, twin, lesion, fpre, CPU)  # everything removed, exactly
    assert of_input < 0.5, of_input
    assert of_truth > 0.85, of_truth


def test_healthiness_is_the_same_whatever_the_inputs_orientation(case, fpre):
    image, twin, lesion = case
    expected = volume_healthiness(image, twin, lesion, fpre, CPU)
    other = "LPS" if orientation_of(image) != "LPS" else "RAS"
    turned = [reorient(volume, other) for volume in (image, twin, lesion)]
    assert turned[0].array.shape == image.array.shape and not np.array_equal(turned[0].array, image.array)
    assert volume_healthiness(*turned, fpre, CPU) == pytest.approx(expected, abs=1e-6)


def test_fpre_is_offered_to_evaluation_and_not_to_the_panels():
    listed = [entry.name for entry in catalog.list_models()]
    assert {"demo_antgan_brain", "demo_antgan_flair"} <= set(listed) and "fpre_flair" not in listed
    assert "fpre_flair" in [entry.name for entry in catalog.list_models(include_scorers=True)]
    assert shipped_segmentor("t1") is None  # no T1 judge is shipped: healthiness is left out


def test_slices_too_small_for_fpre_are_refused_by_name(fpre):
    """A 20x24 mm slice is 7x8 pixels at f_pre's 3 mm: too few for its four halvings."""
    image = brain_volume()
    lesion = image.with_array((image.array > 500).astype(np.uint8))
    with pytest.raises(InputError, match="7x8 pixels in f_pre's frame .* needs at least 17"):
        volume_healthiness(image, image, lesion, fpre, CPU)
