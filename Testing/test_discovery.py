"""Methods and networks are found by importing every module of their package: a new file is
enough, a "_" file (a template) is left out, a broken one is an error."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

import lesiongan.methods
import lesiongan.nets
from lesiongan.cli import main
from lesiongan.data.phantom import write_cases
from lesiongan.discovery import import_submodules
from lesiongan.infer.modelfile import load_model
from lesiongan.methods import available_methods
from lesiongan.nets import architectures, build_network, network_spec
from lesiongan.nets import registry

TEMPLATE = Path(lesiongan.methods.__file__).parent / "_template.py"


@pytest.fixture
def add_to_package(monkeypatch: pytest.MonkeyPatch):
    """add(package, folder, files): `files` (name -> text) written to `folder`, which joins
    `package`'s search path for this test only, as if they were in the package's folder."""
    added: list[str] = []

    def add(package, folder: Path, files: dict[str, str]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
            added.append(f"{package.__name__}.{Path(name).stem}")
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
        importlib.invalidate_caches()

    yield add
    for name in added:
        sys.modules.pop(name, None)


def test_every_public_module_is_imported_and_underscored_ones_are_not(tmp_path, monkeypatch) -> None:
    (tmp_path / "plugs").mkdir()
    (tmp_path / "plugs" / "__init__.py").write_text("FOUND = []\n")
    for name in ("beta", "alpha", "_private"):
        (tmp_path / "plugs" / f"{name}.py").write_text(f"from plugs import FOUND\nFOUND.append({name!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert import_submodules("plugs") == ["alpha", "beta"]
        assert sys.modules["plugs"].FOUND == ["alpha", "beta"]
        assert import_submodules("plugs") == ["alpha", "beta"]  # imported once
        assert sys.modules["plugs"].FOUND == ["alpha", "beta"]
        (tmp_path / "plugs" / "broken.py").write_text("import no_such_module_anywhere\n")
        importlib.invalidate_caches()
        with pytest.raises(ModuleNotFoundError, match="no_such_module_anywhere"):
            import_submodules("plugs")
    finally:
        for name in [n for n in sys.modules if n == "plugs" or n.startswith("plugs.")]:
            del sys.modules[name]


def test_a_new_network_file_is_found_without_listing_it(tmp_path, monkeypatch, add_to_package) -> None:
    # Copied after every shipped network is registered: a module first imported under the copy
    # would register only there, and be missing once the original comes back.
    monkeypatch.setattr(registry, "_ARCHITECTURES", dict(architectures()))
    add_to_package(lesiongan.nets, tmp_path / "nets", {"extra_net.py": textwrap.dedent("""
        from torch import nn

        from lesiongan.nets.registry import register


        @register("discovery_test_net")
        class DiscoveryTestNet(nn.Module):
            def __init__(self, channels: int = 1):
                super().__init__()
                self.conv = nn.Conv2d(channels, channels, 1)
        """)})
    assert "discovery_test_net" in architectures()
    net = build_network("discovery_test_net", channels=2)
    assert network_spec(net) == {"arch": "discovery_test_net", "kwargs": {"channels": 2}}
    # the shipped networks are all still there
    assert {"resnet_generator", "patch_discriminator", "unet_generator", "residual_unet",
            "factor_generator", "factor_discriminator"} <= set(architectures())


def test_a_method_copied_from_the_template_is_found_and_trains(tmp_path, monkeypatch, add_to_package) -> None:
    """What docs/methods.md tells a newcomer: copy _template.py, give the copy a name, train it."""
    assert "template" not in available_methods()  # the template itself is never loaded
    monkeypatch.setattr(lesiongan.methods, "METHODS", dict(available_methods()))  # all shipped ones first
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count('name = "template"') == 1
    add_to_package(lesiongan.methods, tmp_path / "methods", {"copied_method.py": text.replace('name = "template"', 'name = "copied"')})
    methods = available_methods()
    assert "copied" in methods and methods["copied"].__module__ == "lesiongan.methods.copied_method"
    assert {"antgan", "phs-paired", "phs-unpaired", "cgan", "dcgan", "wgan", "wgan-gp", "segmentation",
            "classification"} <= set(methods)

    write_cases(tmp_path / "phantom", 2, seed=0, size="tiny")
    out = tmp_path / "run"
    assert main(["train", "--method", "copied", "--preset", "small", "--data", str(tmp_path / "phantom"),
                 "--out", str(out), "--iterations", "2", "--batch-size", "2", "--val-fraction", "0",
                 "--device", "cpu", "--no-tensorboard", "--log-every", "1", "--set", "lambda_keep=5"]) == 0
    model = load_model(out / "model.pt")
    assert model.method == "copied" and model.roles == ("a2n",)
    assert model.provenance["options"]["lambda_keep"] == 5.0 and model.provenance["options"]["ngf"] == 4
    with (out / "log.csv").open(encoding="utf-8") as handle:
        assert [line.split(",")[0] for line in handle.read().splitlines()[1:]] == ["1", "2"]
