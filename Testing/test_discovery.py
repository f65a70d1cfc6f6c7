"""Methods and networks are found by importing every module of their package: a new file is
enough, a "_" file (a template) is left out, a broken one is an error."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

import lesiongan.nets
from lesiongan.discovery import import_submodules
from lesiongan.nets import architectures, build_network, network_spec
from lesiongan.nets import registry


def add_to_package(monkeypatch: pytest.MonkeyPatch, package, folder: Path, files: dict[str, str]) -> None:
    """`files` written to `folder`, which joins `package`'s search path for this test only."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    importlib.invalidate_caches()
    for name in files:
        monkeypatch.delitem(sys.modules, f"{package.__name__}.{Path(name).stem}", raising=False)


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


def test_a_new_network_file_is_found_without_listing_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(registry, "_ARCHITECTURES", dict(registry._ARCHITECTURES))
    add_to_package(monkeypatch, lesiongan.nets, tmp_path / "nets", {"extra_net.py": """
        from torch import nn

        from lesiongan.nets.registry import register


        @register("discovery_test_net")
        class DiscoveryTestNet(nn.Module):
            def __init__(self, channels: int = 1):
                super().__init__()
                self.conv = nn.Conv2d(channels, channels, 1)
        """})
    assert "discovery_test_net" in architectures()
    net = build_network("discovery_test_net", channels=2)
    assert network_spec(net) == {"arch": "discovery_test_net", "kwargs": {"channels": 2}}
    # the shipped networks are all still there
    assert {"resnet_generator", "patch_discriminator", "unet_generator", "residual_unet",
            "factor_generator", "factor_discriminator"} <= set(architectures())
