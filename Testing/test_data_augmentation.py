"""Slice augmentation: every variation keeps a lesion slice, its mask and its twin aligned."""

from __future__ import annotations

import pytest
import torch

from lesiongan.data.augmentation import SliceAugmentation


def _pair() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    twin = torch.zeros(6, 1, 16, 16)
    twin[:, :, 2:14, 2:14] = 0.3 + 0.4 * torch.rand(6, 1, 12, 12, generator=g)  # a brain; 0 around it
    mask = torch.zeros_like(twin)
    mask[:, :, 5:8, 3:6] = 1  # on the left, so a flip shows
    lesion = torch.where(mask > 0, twin + 0.25, twin)
    return lesion, mask, twin


def test_lesion_contrast_rescales_the_lesion_against_its_twin_and_nothing_else() -> None:
    lesion, mask, twin = _pair()
    g = torch.Generator().manual_seed(1)
    same = SliceAugmentation(lesion_scale=(1.0, 1.0), darken=0.0).lesion_pairs(lesion, twin, g)
    assert torch.allclose(same, lesion)
    reversed_ = SliceAugmentation(lesion_scale=(1.0, 1.0), darken=1.0).lesion_pairs(lesion, twin, g)
    assert torch.allclose(reversed_[mask > 0], (twin - 0.25).clamp(0, 1)[mask > 0])
    varied = SliceAugmentation().lesion_pairs(lesion, twin, g)
    assert torch.equal(varied[mask == 0], lesion[mask == 0])  # healthy tissue and background untouched
    change = (varied - twin)[mask > 0].reshape(6, -1)[:, 0]
    assert (change.abs() >= 0.5 * 0.25 - 1e-6).all() and (change.abs() <= 1.3 * 0.25 + 1e-6).all()


def test_curves_and_flips_apply_alike_to_aligned_tensors_and_keep_the_background() -> None:
    lesion, mask, twin = _pair()
    g = torch.Generator().manual_seed(2)
    out_lesion, out_mask, out_twin = SliceAugmentation(darken=0.0)(lesion, mask, twin, g)
    assert out_lesion.shape == lesion.shape and out_lesion.min() >= 0 and out_lesion.max() <= 1
    brain = twin > 0
    flipped = [not torch.equal(m, mask[0]) for m in out_mask]
    assert any(flipped) and not all(flipped)  # some slices mirrored, some not (p = 0.5 over 6)
    for i in range(6):
        inside = brain[i].flip(-1) if flipped[i] else brain[i]
        assert torch.equal(out_twin[i] > 0, inside) and torch.equal(out_lesion[i] > 0, inside)
        # where the mask is off, the lesion slice equals its twin after the same curve
        assert torch.allclose(out_lesion[i][out_mask[i] == 0], out_twin[i][out_mask[i] == 0])
    curves = SliceAugmentation(flip=0.0).tissue_curves([twin], g)[0]
    assert not torch.allclose(curves, twin) and torch.equal(curves > 0, twin > 0)


def test_antgan_trains_on_augmented_batches_and_resumes_their_draws() -> None:
    from lesiongan.methods import get_method, resolve_options

    lesion, mask, twin = _pair()

    class Sampler:
        slices = type("Slices", (), {"images": lesion, "masks": mask, "truth": twin})()

        def draw(self, kind: str, n: int) -> torch.Tensor:
            return torch.arange(n) % 6

    cls = get_method("antgan")
    options = resolve_options(cls, None, {"ngf": 4, "generator": "unet", "unet_depth": 2, "gate": True, "augment": True,
                                          "lambda_gan": 0.0, "cycle_ac": False, "cycle_nc": False, "lambda_twin": 1.0})
    method = cls(options, channels=1, total_steps=4)
    state = method.extra_state()
    first = method.make_batch(Sampler(), 6)
    assert not torch.allclose(first["abnormal"], lesion * 2 - 1)
    assert torch.equal(first["abnormal"] > -1, first["abnormal_truth"] > -1)
    method.train_step(first, 0)
    method.load_extra_state(state)
    again = method.make_batch(Sampler(), 6)
    assert torch.equal(again["abnormal"], first["abnormal"]) and torch.equal(again["abnormal_mask"], first["abnormal_mask"])


def _brains(n: int = 16, size: int = 48) -> torch.Tensor:
    """Healthy twins: a textured disc of brain on a zero background, two sequences."""
    g = torch.Generator().manual_seed(5)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((ys - size / 2) ** 2 + (xs - size / 2) ** 2 < (0.4 * size) ** 2).float()
    return disc * (0.4 + 0.2 * torch.rand(n, 2, size, size, generator=g))


def test_synthetic_lesions_paint_new_masked_lesions_into_the_twin_inside_the_brain() -> None:
    twin = _brains()
    old_mask = torch.zeros(16, 1, 48, 48)
    old_mask[:, :, 20:24, 20:24] = 1
    old_lesion = torch.where(old_mask > 0, twin + 0.3, twin)
    g = torch.Generator().manual_seed(0)
    lesion, mask = SliceAugmentation(synthetic=1.0).synthetic_lesions(old_lesion, old_mask, twin, g)
    brain = twin[:, :1] > 0
    assert mask.shape == old_mask.shape and bool((mask <= brain.float()).all())  # never outside the brain
    assert torch.equal(lesion[~brain.expand_as(lesion)], twin[~brain.expand_as(twin)])  # background stays 0
    change = (lesion - twin).abs()
    inside, outside = mask.expand_as(change) > 0, mask.expand_as(change) == 0
    painted = [i for i in range(16) if mask[i].sum() > 0]
    assert len(painted) >= 14 and any(not torch.equal(mask[i], old_mask[i]) for i in painted)
    for i in painted:  # the change is the lesion: strong inside the mask, weaker outside it
        assert change[i][inside[i]].mean() > 0.05 and change[i][inside[i]].mean() > 3 * change[i][outside[i]].mean()
    signs = torch.sign((lesion - twin)[inside].reshape(-1))
    assert (signs > 0).any() and (signs < 0).any()  # bright and dark lesions
    sizes = mask.sum(dim=(1, 2, 3))[painted]
    assert sizes.max() > 3 * sizes.min()  # sizes vary
    # the inputs are not modified, and p = 0 leaves the batch alone
    assert torch.equal(old_lesion, torch.where(old_mask > 0, twin + 0.3, twin))
    same, same_mask = SliceAugmentation(synthetic=0.0).synthetic_lesions(old_lesion, old_mask, twin, g)
    assert torch.equal(same, old_lesion) and torch.equal(same_mask, old_mask)


def test_synthetic_lesions_are_drawn_afresh_each_batch_and_reproducibly_from_the_seed() -> None:
    twin = _brains(4)
    empty = torch.zeros(4, 1, 48, 48)
    augmentation = SliceAugmentation(synthetic=1.0)
    first = augmentation.synthetic_lesions(twin, empty, twin, torch.Generator().manual_seed(7))
    again = augmentation.synthetic_lesions(twin, empty, twin, torch.Generator().manual_seed(7))
    other = augmentation.synthetic_lesions(twin, empty, twin, torch.Generator().manual_seed(8))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[1], other[1])


def test_antgan_synthetic_lesions_need_a_twin_and_reach_the_batches() -> None:
    from lesiongan.errors import InputError
    from lesiongan.methods import get_method, resolve_options

    cls = get_method("antgan")
    base = {"ngf": 4, "generator": "unet", "unet_depth": 2, "gate": True, "lambda_gan": 0.0,
            "cycle_ac": False, "cycle_nc": False, "synthetic_lesions": 1.0}
    with pytest.raises(InputError, match="synthetic_lesions"):
        cls(resolve_options(cls, None, {**base, "augment": True}), channels=1, total_steps=2)  # no twin
    with pytest.raises(InputError, match="synthetic_lesions"):
        cls(resolve_options(cls, None, {**base, "lambda_twin": 1.0}), channels=1, total_steps=2)  # no augment
    method = cls(resolve_options(cls, None, {**base, "augment": True, "lambda_twin": 1.0}), channels=1, total_steps=2)
    twin = _brains(6)[:, :1]
    mask = torch.zeros(6, 1, 48, 48)

    class Sampler:
        slices = type("Slices", (), {"images": twin, "masks": mask, "truth": twin})()

        def draw(self, kind: str, n: int) -> torch.Tensor:
            return torch.arange(n) % 6

    batch = method.make_batch(Sampler(), 6)
    assert batch["abnormal_mask"].sum() > 0  # the slices had no lesion: every one seen here was painted
    assert not torch.allclose(batch["abnormal"], batch["abnormal_truth"])


def test_bias_fields_shade_slices_smoothly_and_alike_in_every_aligned_tensor() -> None:
    lesion, _, twin = _pair()
    augmentation = SliceAugmentation(bias=1.0, bias_strength=(0.3, 0.4))
    shaded, shaded_twin = augmentation.bias_fields([lesion, twin], torch.Generator().manual_seed(3))
    brain = twin > 0
    ratio = torch.where(brain, shaded_twin / twin.clamp_min(1e-6), torch.ones_like(twin))
    assert torch.equal(shaded[~brain], lesion[~brain])  # the background stays 0
    unclipped = brain & (shaded < 1)
    assert torch.allclose((shaded / lesion.clamp_min(1e-6))[unclipped], ratio[unclipped], atol=1e-5)  # one field
    spans = [(r[b].max() / r[b].min()).item() for r, b in zip(ratio, brain)]
    assert min(spans) > 1.05  # every slice shaded (p = 1), by a varying amount
    assert len({round(s, 4) for s in spans}) == len(spans)
    # smooth: neighbouring pixels differ by a small part of the span across the slice
    steps = (ratio[:, :, 2:14, 3:14] - ratio[:, :, 2:14, 2:13]).abs().amax()
    assert steps < 0.3 * (max(spans) - 1)  # 3-4 nodes over 16 pixels: at most about a fifth per pixel


def test_bias_fields_off_draw_nothing_and_leave_the_batch_as_it_was() -> None:
    lesion, _, twin = _pair()
    g = torch.Generator().manual_seed(5)
    state = g.get_state()
    same = SliceAugmentation(bias=0.0).bias_fields([lesion, twin], g)
    assert torch.equal(same[0], lesion) and torch.equal(same[1], twin)
    assert torch.equal(g.get_state(), state)  # runs without the option keep their random stream


def _two_tissues() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Twins of two flat tissues (0.3 left, 0.6 right) on a zero background, and a lesion 0.2
    brighter than the darker tissue."""
    twin = torch.zeros(8, 1, 32, 32)
    twin[:, :, 4:28, 4:16], twin[:, :, 4:28, 16:28] = 0.3, 0.6
    mask = torch.zeros_like(twin)
    mask[:, :, 8:12, 8:12] = 1
    return torch.where(mask > 0, twin + 0.2, twin), mask, twin


def test_random_contrast_redraws_the_tissue_curve_and_keeps_the_lesion_on_its_twin() -> None:
    lesion, mask, twin = _two_tissues()
    new_lesion, new_twin = SliceAugmentation(contrast=1.0).contrast_curves(lesion, twin, torch.Generator().manual_seed(2))
    assert torch.equal(new_twin[twin == 0], twin[twin == 0]) and torch.equal(new_lesion[twin == 0], lesion[twin == 0])
    assert new_twin.min() >= 0 and new_twin.max() <= 1
    left, right = new_twin[:, 0, 20, 8], new_twin[:, 0, 20, 20]
    # a curve: one intensity in, one out, within each slice
    assert torch.equal(new_twin[:, 0, 4:28, 4:16].amin((1, 2)), left) and torch.equal(new_twin[:, 0, 4:28, 4:16].amax((1, 2)), left)
    assert (left > right).any() and (left < right).any()  # the tissues' order reversed in some slices only
    assert torch.allclose((new_lesion - new_twin)[mask > 0], (lesion - twin)[mask > 0], atol=1e-6)


def test_random_contrast_reshapes_healthy_slices_but_not_a_lesion_slice_without_its_twin() -> None:
    lesion, mask, twin = _two_tissues()
    plain = SliceAugmentation(contrast=1.0, gamma=(1.0, 1.0), gain=(1.0, 1.0), flip=0.0)
    healthy, _, _ = plain(twin, None, None, torch.Generator().manual_seed(4))
    assert not torch.equal(healthy, twin)
    untwinned, kept_mask, _ = plain(lesion, mask, None, torch.Generator().manual_seed(4))
    assert torch.equal(untwinned, lesion) and torch.equal(kept_mask, mask)
    g = torch.Generator().manual_seed(5)
    state = g.get_state()
    assert SliceAugmentation(contrast=0.0).contrast_curves(lesion, twin, g) == (lesion, twin)
    assert torch.equal(g.get_state(), state)


@pytest.mark.parametrize("option", ["bias_fields", "random_contrast", "random_geometry"])
def test_antgan_batch_variations_need_the_augmentation(option: str) -> None:
    from lesiongan.errors import InputError
    from lesiongan.methods import get_method, resolve_options

    cls = get_method("antgan")
    base = {"ngf": 4, "generator": "unet", "unet_depth": 2, "lambda_gan": 0.0, "cycle_ac": False,
            "cycle_nc": False, option: 0.5}
    with pytest.raises(InputError, match=option):
        cls(resolve_options(cls, None, base), channels=1, total_steps=2)
    augmentation = cls(resolve_options(cls, None, {**base, "augment": True}), channels=1, total_steps=2).augmentation
    drawn = {"bias_fields": augmentation.bias, "random_contrast": augmentation.contrast,
             "random_geometry": augmentation.geometry}
    assert drawn == {name: 0.5 if name == option else 0.0 for name in drawn}


def _ellipse_case(n: int = 8, size: int = 48) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A brain-like ellipse (0 around it) with a textured inside, and a lesion 0.3 brighter
    than its twin off the centre."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    brain = ((ys - 24) / 18) ** 2 + ((xs - 24) / 13) ** 2 <= 1
    twin = torch.where(brain, 0.3 + 0.002 * (ys + xs), torch.tensor(0.0)).expand(n, 1, size, size).clone()
    mask = torch.zeros_like(twin)
    mask[:, :, 14:22, 26:32] = 1
    return torch.where(mask > 0, twin + 0.3, twin), mask, twin


_STILL = {"flip": 0.0, "gamma": (1.0, 1.0), "gain": (1.0, 1.0), "lesion_scale": (1.0, 1.0), "darken": 0.0}


def test_geometry_moves_each_slice_its_mask_and_its_twin_alike() -> None:
    lesion, mask, twin = _ellipse_case()
    out_lesion, out_mask, out_twin = SliceAugmentation(geometry=1.0, rotation=30.0, **_STILL)(
        lesion, mask, twin, torch.Generator().manual_seed(6))
    assert set(out_mask.unique().tolist()) <= {0.0, 1.0}  # still a mask
    added = out_lesion - out_twin
    centroids = []
    grid_y, grid_x = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    for i in range(len(lesion)):
        assert not torch.equal(out_twin[i], twin[i])  # every slice moved (p = 1)
        # the lesion rides on its twin where the mask now is, and nowhere else
        where = out_mask[i, 0] > 0
        ys, xs = where.nonzero(as_tuple=True)
        weights = added[i, 0].clamp_min(0)
        assert abs((weights * grid_y).sum() / weights.sum() - ys.float().mean()) < 1.0
        assert abs((weights * grid_x).sum() / weights.sum() - xs.float().mean()) < 1.0
        assert added[i, 0][where].median() == pytest.approx(0.3, abs=0.02)
        assert added[i, 0][~where].abs().max() < 0.3 and (added[i, 0][~where].abs() < 1e-6).float().mean() > 0.95
        assert torch.equal(out_twin[i, 0, 0], torch.zeros(48))  # the background stays 0
        centroids.append((round(ys.float().mean().item(), 1), round(xs.float().mean().item(), 1)))
    assert len(set(centroids)) == len(centroids)  # a map of its own per slice


def test_geometry_scales_the_anatomy_by_the_drawn_factor_and_the_identity_changes_nothing() -> None:
    lesion, mask, twin = _ellipse_case()
    fixed = {**_STILL, "geometry": 1.0, "rotation": 0.0, "stretch": (1.0, 1.0), "shift": 0.0}
    g = torch.Generator().manual_seed(7)
    same, same_mask, same_twin = SliceAugmentation(**fixed, scale=(1.0, 1.0))(lesion, mask, twin, g)
    assert torch.allclose(same, lesion, atol=1e-5) and torch.equal(same_mask, mask) and torch.allclose(same_twin, twin, atol=1e-5)
    _, bigger_mask, bigger = SliceAugmentation(**fixed, scale=(1.2, 1.2))(lesion, mask, twin, g)
    area = (bigger > 0.15).sum((1, 2, 3)).float() / (twin > 0.15).sum((1, 2, 3)).float()  # half the edge pixel
    assert torch.allclose(area, torch.full_like(area, 1.44), atol=0.05)  # the anatomy grows by s squared
    assert torch.allclose(bigger_mask.sum((1, 2, 3)) / mask.sum((1, 2, 3)), torch.full((8,), 1.44), atol=0.25)


def test_geometry_off_draws_nothing_and_some_slices_stay_put_at_half() -> None:
    lesion, mask, twin = _ellipse_case()
    g = torch.Generator().manual_seed(8)
    state = g.get_state()
    tensors, same_mask = SliceAugmentation(geometry=0.0).warps([lesion, twin], mask, g)
    assert tensors[0] is lesion and tensors[1] is twin and same_mask is mask
    assert torch.equal(g.get_state(), state)  # runs without the option keep their random stream
    tensors, _ = SliceAugmentation(geometry=0.5).warps([lesion, twin], mask, torch.Generator().manual_seed(9))
    moved = [not torch.equal(tensors[1][i], twin[i]) for i in range(8)]
    assert any(moved) and not all(moved)
