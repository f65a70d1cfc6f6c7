"""Pathology factorization, the cGAN baseline and the noise GANs: losses, batches, short runs."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from lesiongan.errors import InputError
from lesiongan.infer.modelfile import load_model, save_model
from lesiongan.train import TrainConfig, train
from lesiongan.methods import available_methods, get_method, resolve_options
from lesiongan.methods.base import as_floats
from lesiongan.methods.factorization import cycle_consistency_loss, dice_loss, foreign_mask_indices, run_cycles
from lesiongan.methods.noise_gan import gradient_penalty
from lesiongan.methods.segmentation import segmentation_losses
from lesiongan.nets import from_net, network_spec

SIZE = 32


@dataclass
class Slices:
    """The parts of `lesiongan.data.slices.SliceSet` the methods and the loop read."""

    images: torch.Tensor
    masks: torch.Tensor
    subject_ids: list[str]

    @property
    def labels(self) -> torch.Tensor:
        return (self.masks.flatten(1).amax(1) > 0).long()


class Sampler:
    """Draws indices by kind, as the training loop's sampler does."""

    def __init__(self, slices: Slices, seed: int = 0):
        self.slices = slices
        lesion = slices.labels == 1
        self.kinds = {"abnormal": torch.nonzero(lesion).flatten(), "healthy": torch.nonzero(~lesion).flatten(), "any": torch.arange(len(lesion))}
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, kind: str, n: int) -> torch.Tensor:
        pool = self.kinds[kind]
        return pool[torch.randint(len(pool), (n,), generator=self.generator)]


def make_slices(subjects: int = 6, per_subject: int = 6, seed: int = 0) -> Slices:
    """Disk-shaped 'brains'; every other slice has a bright lesion whose column encodes its subject."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    images, masks, ids = [], [], []
    for subject in range(subjects):
        for index in range(per_subject):
            brain = ((yy - 16) ** 2 + (xx - 16) ** 2 < 13**2) * (0.4 + 0.1 * rng.random())
            mask = np.zeros((SIZE, SIZE), np.float32)
            if index % 2:
                mask[10:14, 6 + 3 * subject : 9 + 3 * subject] = 1
            images.append(np.clip(brain + 0.5 * mask + 0.02 * rng.standard_normal((SIZE, SIZE)), 0, 1))
            masks.append(mask)
            ids.append(f"case{subject}")
    return Slices(torch.tensor(np.array(images), dtype=torch.float32)[:, None], torch.tensor(np.array(masks))[:, None], ids)


def subject_of_mask(mask: torch.Tensor) -> int:
    return (int(torch.nonzero(mask[0, 10])[0]) - 6) // 3


def build(name: str, **overrides: object):
    options = resolve_options(name, "small", overrides)
    return get_method(name)(options, channels=1, total_steps=100, seed=0)


def build_antgan_small():
    options = resolve_options("antgan", None, {"ngf": 4, "ndf": 4, "n_blocks": 1})
    return get_method("antgan")(options, channels=1, total_steps=100, seed=0)


# --- pure losses ----------------------------------------------------------------------------
def test_dice_loss_is_zero_on_overlap_and_one_when_disjoint() -> None:
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:5, 2:5] = 1
    other = torch.zeros_like(mask)
    other[:, :, 6:, 6:] = 1
    assert dice_loss(mask, mask).item() == pytest.approx(0.0, abs=1e-6)
    assert dice_loss(other, mask).item() == pytest.approx(1.0, abs=0.1)
    assert dice_loss(0.5 * mask, mask).item() > 0.2


class _Recorder(torch.nn.Module):
    """A reconstructor that passes its image through and records the masks it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.masks: list[torch.Tensor] = []

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.masks.append(mask.clone())
        return image


def test_cycle_h_h_gives_the_reconstructor_an_all_zero_mask() -> None:
    x_p, x_h = torch.rand(3, 1, 8, 8) * 2 - 1, torch.rand(2, 1, 8, 8) * 2 - 1
    segment = lambda x: torch.full_like(x[:, :1], 0.7)  # noqa: E731
    recorder = _Recorder()
    cycles = run_cycles(torch.nn.Identity(), segment, recorder, x_p, x_h)
    p_h_mask, h_h_mask = recorder.masks
    assert torch.all(p_h_mask == 0.7)  # cycle P-H: R gets S(x_p)
    assert h_h_mask.shape == (2, 1, 8, 8) and torch.count_nonzero(h_h_mask) == 0
    # With G, R identities, L_CC is just the mask term |S(R(x_h, 0)) - 0| = 0.7.
    assert cycle_consistency_loss(cycles, x_p, x_h).item() == pytest.approx(0.7)
    perfect = run_cycles(torch.nn.Identity(), lambda x: torch.zeros_like(x[:, :1]), _Recorder(), x_p, x_h)
    assert cycle_consistency_loss(perfect, x_p, x_h).item() == 0.0


def test_segmentation_dice_does_not_punish_a_faint_haze_on_a_lesion_free_slice() -> None:
    """Batch Dice: a right answer plus a 0.01 haze on an empty slice stays a good answer (per-slice
    Dice would call the empty slice a total miss and teach the net to predict nothing)."""
    masks = torch.zeros(2, 1, 32, 32)
    masks[0, 0, 10:16, 10:16] = 1
    prediction = masks.clone()
    prediction[1] = 0.01
    dice, bce = segmentation_losses(prediction, masks)
    assert dice.item() < 0.2 and bce.item() < 0.05
    missed = torch.zeros_like(masks)
    assert segmentation_losses(missed, masks)[0].item() > 0.95


def test_gradient_penalty_of_a_linear_critic() -> None:
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1, bias=False))
    with torch.no_grad():
        critic[1].weight.fill_(0.75)  # gradient norm |w| = 0.75 * 4 = 3 everywhere
    real, fake = torch.rand(4, 1, 4, 4), torch.rand(4, 1, 4, 4)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(4.0)


# --- batches ------------------------------------------------------------------------------
def test_unpaired_batches_never_pair_a_mask_with_its_own_subject() -> None:
    slices = make_slices()
    sampler = Sampler(slices)
    method = build("phs-unpaired")
    for _ in range(5):
        state = sampler.generator.get_state()
        batch = method.make_batch(sampler, 3)
        sampler.generator.set_state(state)
        image_subjects = {slices.subject_ids[i] for i in sampler.draw("abnormal", 3).tolist()}
        mask_subjects = {f"case{subject_of_mask(m)}" for m in batch["foreign_mask"]}
        assert len(batch["foreign_mask"]) == 3 and not image_subjects & mask_subjects
    # The check itself: with every subject in the batch there is no mask left to use.
    ids = np.array(slices.subject_ids)
    abnormal = np.flatnonzero(slices.masks.flatten(1).amax(1).numpy() > 0)
    with pytest.raises(InputError, match="other than"):
        foreign_mask_indices(ids, abnormal, abnormal, torch.Generator())


# --- short runs ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(available_methods()))
def test_train_step_leaves_its_losses_on_the_device(name: str) -> None:
    """No host sync in a step: losses come back as detached fp32 tensors the loop reads when it logs."""
    # every method has a small preset but ANT-GAN, whose presets are the paper's rows
    method = build(name) if "small" in get_method(name).presets else build_antgan_small()
    losses = method.train_step(method.make_batch(Sampler(make_slices()), 4), 0)
    assert losses, f"{name} reports no loss"
    for key, value in losses.items():
        assert isinstance(value, torch.Tensor) and value.dtype == torch.float32, (name, key, type(value))
        assert value.dim() == 0 and not value.requires_grad and value.device == method.device, (name, key)
    floats = as_floats(losses)
    assert floats.keys() == losses.keys() and all(isinstance(v, float) and np.isfinite(v) for v in floats.values())


def _run(method, sampler: Sampler, steps: int, batch_size: int = 4) -> list[dict[str, float]]:
    torch.manual_seed(0)
    return [as_floats(method.train_step(method.make_batch(sampler, batch_size), step)) for step in range(steps)]


@pytest.mark.parametrize("name", ["phs-paired", "phs-unpaired"])
def test_factorization_trains_in_the_shared_loop_and_exports(name: str, tmp_path) -> None:
    """24 steps of the real loop on tiny slices: L_CC falls and model.pt has G, S and R."""
    history: list[dict[str, float]] = []
    config = TrainConfig(
        method=name, data=make_slices(), out=tmp_path / "run", preset="small", options={"lr": 1e-3}, iterations=24, batch_size=4,
        device="cpu", tensorboard=False, checkpoint_every=1000, sample_every=24, log_every=24, on_step=lambda step, losses: history.append(losses),
    )
    model = load_model(train(config))
    cc = [h["cc"] for h in history]
    assert np.mean(cc[-5:]) < 0.7 * np.mean(cc[:5])
    assert ("seg_dice" in history[0]) == (name == "phs-paired") and ("D_m" in history[0]) == (name == "phs-unpaired")
    assert set(model.roles) == {"a2n", "segmentor", "reconstructor"} and model.method == name
    assert model.extra_channels("reconstructor") == 1
    x = torch.rand(2, 1, SIZE, SIZE) * 2 - 1
    with torch.no_grad():
        assert model.network("a2n")(x).shape == x.shape
        assert model.network("reconstructor")(x, torch.zeros(2, 1, SIZE, SIZE)).shape == x.shape
        mask = model.network("segmentor")(x)
    assert mask.shape == (2, 1, SIZE, SIZE) and 0 <= mask.min() <= mask.max() <= 1


def test_cgan_short_run_lowers_identity_loss() -> None:
    method = build("cgan", lr=1e-3)
    assert method.roles == {"a2n": "G"}
    history = _run(method, Sampler(make_slices()), 16)
    identity = [h["identity"] for h in history]
    assert np.mean(identity[-4:]) < 0.7 * np.mean(identity[:4])


def test_wgan_critic_stays_clipped_and_generator_steps_every_n_critic(tmp_path) -> None:
    method = build("wgan")
    assert (method.options.clip, method.options.n_critic, method.options.lr) == (0.01, 5, 5e-5)
    assert isinstance(method.optimizers["D"], torch.optim.RMSprop)
    sampler = Sampler(make_slices())
    generator_params = [p.detach().clone() for p in method.networks["G"].parameters()]
    _run(method, sampler, 4)
    assert all(torch.equal(a, b) for a, b in zip(generator_params, method.networks["G"].parameters()))  # not yet its turn
    _run(method, sampler, 1 + 5)  # steps 0..5 again: step 4 is the generator's
    assert not all(torch.equal(a, b) for a, b in zip(generator_params, method.networks["G"].parameters()))
    assert max(p.abs().max().item() for p in method.networks["D"].parameters()) <= 0.01 + 1e-7

    path = save_model(tmp_path / "g.pt", method="wgan", networks={"noise": method.networks["G"]}, conventions={"modalities": ["flair"], "size": 32}, provenance={})
    generator = load_model(path).network("noise")
    assert generator(torch.randn(2, generator.latent_dim)).shape == (2, 1, SIZE, SIZE)


def test_noise_gans_check_the_slice_size_and_train() -> None:
    with pytest.raises(InputError, match="set the data size to 64"):
        build("dcgan", size=64).make_batch(Sampler(make_slices()), 2)
    for name in ("dcgan", "wgan-gp"):
        history = _run(build(name), Sampler(make_slices()), 5)
        assert all(np.isfinite(list(h.values())).all() for h in history)
        # The generator reports a loss on its own steps only: every step for DCGAN, every 5th for WGAN-GP.
        assert ["G" in h for h in history] == ([True] * 5 if name == "dcgan" else [False] * 4 + [True])
    assert "gp" in history[0]


def test_concat_pools_sequences_as_one_channel_samples() -> None:
    """'Concat': four-sequence slices give one-channel samples, each a sequence of a drawn slice."""
    slices = make_slices()
    four = Slices(torch.cat([0.5 * slices.images + k for k in range(4)], 1), slices.masks, slices.subject_ids)
    method = get_method("dcgan")(resolve_options("dcgan", "small", {"concat": True}), channels=4)
    assert network_spec(method.networks["G"])["kwargs"]["out_channels"] == 1
    real = from_net(method.make_batch(Sampler(four), 64)["real"])
    assert real.shape == (64, 1, SIZE, SIZE)
    sequence = real.amax((1, 2, 3)).floor()  # the offset added to each sequence above
    assert set(sequence.tolist()) == {0.0, 1.0, 2.0, 3.0}


@pytest.mark.parametrize("name", ["phs-unpaired", "wgan-gp"])
def test_state_round_trip_continues_exactly(name: str) -> None:
    """History pools and the methods' own generators are checkpointed: a restored copy takes identical steps."""
    slices = make_slices()
    first, sampler = build(name), Sampler(slices)
    _run(first, sampler, 3)
    second = build(name)
    second.load_state_dict(copy.deepcopy(first.state_dict()))  # a checkpoint is a copy, not shared tensors
    position = sampler.generator.get_state()
    expected = [as_floats(first.train_step(first.make_batch(sampler, 4), step)) for step in range(3, 5)]
    sampler.generator.set_state(position)
    assert [as_floats(second.train_step(second.make_batch(sampler, 4), step)) for step in range(3, 5)] == expected
