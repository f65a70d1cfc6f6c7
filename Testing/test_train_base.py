"""Method base helpers: history pool state, option resolution."""

from __future__ import annotations

import pytest
import torch

from dataclasses import dataclass
from typing import Literal

from lesiongan.errors import InputError
from lesiongan.methods import make_options, resolve_options
from lesiongan.methods.base import HistoryPool, Method
from lesiongan.methods.options import MethodOptions


def test_history_pool_fills_then_mixes_and_restores_exactly() -> None:
    pool = HistoryPool(size=4, seed=3)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returns what it was given
    mixed = [pool.query(torch.full((1, 1, 1, 1), 10.0 + i)) for i in range(20)]
    assert any(m.item() < 10 for m in mixed) and any(m.item() >= 10 for m in mixed)

    state = pool.state_dict()
    clone = HistoryPool(size=1, seed=99)
    clone.load_state_dict(state)
    probe = torch.full((6, 1, 1, 1), 50.0)
    assert torch.equal(pool.query(probe), clone.query(probe))


class _Toy(Method):
    name = "toy"

    @dataclass(frozen=True)
    class Options(MethodOptions):
        lr: float = 0.1
        steps: int = 2
        flag: bool = False
        kind: Literal["a", "b"] = "a"

    presets = {"fast": {"lr": 1.0}}
    default_preset = "fast"


def test_resolve_options_layers_and_parses() -> None:
    assert resolve_options(_Toy)["lr"] == 1.0
    options = resolve_options(_Toy, None, {"lr": "0.5", "steps": "7", "flag": "true", "kind": "b"})
    assert options == {"lr": 0.5, "steps": 7, "flag": True, "kind": "b"}
    with pytest.raises(InputError, match="nope"):
        resolve_options(_Toy, "nope")
    with pytest.raises(InputError, match="unknown"):
        resolve_options(_Toy, None, {"other": 1})
    with pytest.raises(InputError, match="steps"):
        resolve_options(_Toy, None, {"steps": "many"})


def test_options_are_typed_and_checked_when_made() -> None:
    options = make_options(_Toy, None, {"steps": 7})
    assert isinstance(options, _Toy.Options) and (options.lr, options.steps, options.flag) == (1.0, 7, False)
    with pytest.raises(AttributeError):
        options.lr = 2.0  # frozen: a method cannot change its options mid-run
    assert make_options(_Toy, None, {"lr": 1}).lr == 1.0 and isinstance(make_options(_Toy, None, {"lr": 1}).lr, float)
    for bad, words in (({"steps": 2.5}, "steps of toy: must be a whole number"), ({"flag": 1}, "flag of toy: must be true or false"),
                       ({"kind": "c"}, "kind of toy: must be one of a, b"), ({"lr": "fast"}, "lr of toy: must be a number"),
                       ({"step": 3}, "step of toy: unknown; known: flag, kind, lr, steps")):
        with pytest.raises(InputError, match=words):
            make_options(_Toy, None, bad)
    with pytest.raises(InputError, match="steps"):
        make_options(_Toy, None, {"steps": "7"}, text=False)  # JSON: a string is not a number
    with pytest.raises(InputError, match="option steps: must be a whole number"):
        _Toy.Options(steps=1.5)  # made directly, the values are checked too
    assert _Toy.Options.describe() == [("lr", "a number", 0.1), ("steps", "a whole number", 2),
                                       ("flag", "true or false", False), ("kind", "one of a, b", "a")]
    # a method takes its typed options, or a mapping over the defaults (a model file's provenance)
    assert _Toy(options, channels=1).options is options
    assert _Toy({"steps": 3}, channels=1).options == _Toy.Options(steps=3)
    with pytest.raises(InputError, match="unknown"):
        _Toy({"steps": 3, "gone": 1}, channels=1)


def test_options_are_shown_with_the_methods_own_first() -> None:
    import dataclasses

    from lesiongan.methods import get_method

    options = get_method("antgan").Options
    names = list(options.defaults())
    assert names[:2] == ["generator", "ngf"] and names[-3:] == ["lr", "beta1", "beta2"]  # AdamOptions' last
    assert sorted(names) == sorted(field.name for field in dataclasses.fields(options))
    assert [name for name, _, _ in options.describe()] == names


def test_options_declared_without_the_dataclass_decorator_are_an_error() -> None:
    class Forgotten(_Toy):
        name = "forgotten"

        class Options(_Toy.Options):  # no @dataclass: `extra` would be no option at all
            extra: int = 3

    with pytest.raises(TypeError, match="Forgotten.Options of method forgotten declares options but is no dataclass"):
        make_options(Forgotten, None, {"extra": 4})


def test_linear_decay_reaches_zero_at_the_end() -> None:
    method = _Toy({}, channels=1, total_steps=10)
    method.networks["n"] = torch.nn.Linear(1, 1)
    method.make_adam("G", ["n"], lr=1.0, betas=(0.5, 0.999))
    method.add_linear_decay("G", 0.5)
    rates = []
    for _ in range(10):
        rates.append(method.learning_rates()["lr_G"])
        method.optimizers["G"].step()  # no gradients: changes nothing, but orders the calls as in training
        method.end_step()
    assert rates[:6] == [1.0] * 6 and rates[6] == pytest.approx(0.8)
    assert method.learning_rates()["lr_G"] == 0.0


def test_weights_digest_covers_batch_norm_counters():
    # BatchNorm keeps a 0-d step counter; the digest must hash it like any other tensor.
    from lesiongan.train.distributed import weights_digest

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    before = weights_digest({"net": net})
    net.train()(torch.randn(2, 1, 5, 5))
    assert weights_digest({"net": net}) != before


def test_start_from_model_copies_every_role_and_refuses_another_architecture(tmp_path):
    from lesiongan.infer.modelfile import save_model
    from lesiongan.methods import get_method
    from lesiongan.train.loop import start_from_model

    cls = get_method("antgan")

    def method(seed: int, **options):
        torch.manual_seed(seed)
        return cls(resolve_options(cls, None, {"ngf": 4, "ndf": 4, "n_blocks": 1, "shortcut": False, **options}),
                   channels=1)

    source = method(0)
    path = save_model(tmp_path / "source.pt", method="antgan",
                      networks=source.role_networks(),
                      conventions={"modalities": ["flair"]}, provenance={})
    target = method(1)
    assert not torch.equal(next(target.networks["G_A2N"].parameters()), next(source.networks["G_A2N"].parameters()))
    start_from_model(target, path)
    for name in ("G_A2N", "G_N2A"):
        for mine, theirs in zip(target.networks[name].state_dict().values(), source.networks[name].state_dict().values()):
            assert torch.equal(mine, theirs)
    with pytest.raises(InputError, match="not the"):
        start_from_model(method(2, n_blocks=2), path)
    with pytest.raises(InputError, match="no 'reconstructor'"):
        start_from_model(method(3, lambda_paint=1.0), path)


def test_start_from_model_widens_a_one_sequence_model_to_more_sequences(tmp_path):
    """A FLAIR model starts a FLAIR + T1 + T2 run: at the start the wide generators give the
    FLAIR model's output (and gate) on the FLAIR, whatever the new sequences hold, and leave
    those sequences unchanged; a model whose sequence is not the run's first is refused."""
    from lesiongan.infer.modelfile import save_model
    from lesiongan.methods import get_method
    from lesiongan.train.loop import start_from_model

    cls = get_method("antgan")

    def method(channels: int):
        return cls(resolve_options(cls, "twin-gate", {"ngf": 8}), channels=channels)

    torch.manual_seed(0)
    source = method(1)
    with torch.no_grad():
        for parameter in (p for net in source.networks.values() for p in net.parameters()):
            parameter.normal_(0, 0.3)  # a trained model: its heads are no longer zero
    path = save_model(tmp_path / "flair.pt", method="antgan",
                      networks=source.role_networks(),
                      conventions={"modalities": ["flair"]}, provenance={})
    wide = method(3)
    start_from_model(wide, path, ("flair", "t1", "t2"))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = (torch.rand(2, 1, 32, 32) > 0.5).float()
    with torch.no_grad():
        output, gate = wide.networks["G_A2N"](x, with_gate=True)
        expected, expected_gate = source.networks["G_A2N"](x[:, :1], with_gate=True)
        assert torch.allclose(output[:, :1], expected, atol=1e-5)
        assert torch.allclose(gate, expected_gate, atol=1e-5)
        assert torch.equal(output[:, 1:], x[:, 1:])
        assert torch.allclose(wide.networks["G_N2A"](x)[:, :1], source.networks["G_N2A"](x[:, :1]), atol=1e-5)
        # the reconstructor's mask channel comes after the image channels in both
        painted = wide.networks["R"](torch.cat([x, mask], 1))
        assert torch.allclose(painted[:, :1], source.networks["R"](torch.cat([x[:, :1], mask], 1)), atol=1e-5)
        assert torch.equal(painted[:, 1:], x[:, 1:])
    with pytest.raises(InputError, match="not the"):
        start_from_model(method(3), path, ("t1", "flair", "t2"))
    wider = cls(resolve_options(cls, "twin-gate", {"ngf": 16}), channels=3)  # another width: not a widening
    with pytest.raises(InputError, match="cannot widen"):
        start_from_model(wider, path, ("flair", "t1", "t2"))
