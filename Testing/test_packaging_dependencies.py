"""The decisions behind installing LesionGAN's needs inside Slicer, run with plain callables.

The `slicer` argument here is a namespace holding only the attributes the decision reads
(`modules.pytorchutils`, `packaging.pip_ensure`, `util.pip_install`); installs are recorded,
not run. `slicer.packaging.pip_ensure` is Slicer 5.12's (its signature is checked below).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lesiongan.errors import InputError, LesionGANError
from lesiongan.infer import dependencies as deps

ROOT = Path(__file__).resolve().parents[1]
ABSENT = "lesiongan-absent-test-package>=1.0"


def _requirements(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_requirements_reads_versions_and_markers(tmp_path):
    path = _requirements(
        tmp_path,
        "# a comment",
        "numpy>=1.0  # installed and new enough",
        "numpy>=9999",
        ABSENT,
        'lesiongan-absent-elsewhere>=1 ; sys_platform == "no-such-platform"',
        "",
    )
    assert deps.missing_requirements(path) == ["numpy>=9999", ABSENT]


def test_project_requirements_file_is_valid_and_leaves_out_what_slicer_ships():
    path = ROOT / "Resources" / "requirements.txt"
    names = {line.split(">")[0].split("=")[0].strip().lower() for line in deps.read_requirements(path)}
    assert names, "no requirements listed"
    assert not names & {"torch", "numpy", "scipy", "simpleitk", "pillow"}
    assert deps.default_requirements_file() == path  # a source checkout, not yet installed


def test_a_malformed_requirements_file_is_named(tmp_path):
    with pytest.raises(InputError, match="line 2 is not a requirement"):
        deps.read_requirements(_requirements(tmp_path, "numpy", "not a requirement!!"))
    with pytest.raises(InputError, match="cannot read"):
        deps.read_requirements(tmp_path / "absent.txt")


def _slicer(calls: list, pytorch_extension: bool = True, packaging: bool = True) -> SimpleNamespace:
    modules = SimpleNamespace(pytorchutils=object()) if pytorch_extension else SimpleNamespace()
    slicer = SimpleNamespace(modules=modules, util=SimpleNamespace(pip_install=lambda text: calls.append(("pip_install", text))))
    if packaging:
        def pip_ensure(requirements, constraints=None, skip_packages=None, prompt_install=True, prompt_restart=True,
                       requester=None, skip_in_testing=True, show_progress=True):  # Slicer 5.12's signature
            calls.append(("pip_ensure", [str(r) for r in requirements],
                          {"prompt_install": prompt_install, "requester": requester}))

        slicer.packaging = SimpleNamespace(pip_ensure=pip_ensure)
    return slicer


def test_nothing_to_do_asks_nothing(tmp_path):
    calls: list = []
    path = _requirements(tmp_path, "numpy>=1.0")
    assert deps.install_plan(_slicer(calls), path) == []
    assert deps.ensure_requirements(_slicer(calls), path, confirm=lambda m: calls.append("asked") or True)
    assert calls == []


def test_plan_picks_pytorchutils_for_torch_and_pip_ensure_for_the_rest(tmp_path):
    path = _requirements(tmp_path, ABSENT)
    plan = deps.install_plan(_slicer([]), path, torch_requirement="torch>=9999")
    assert [(step.installer, step.packages) for step in plan] == [
        ("PyTorchUtils", ("torch>=9999",)),
        ("slicer.packaging.pip_ensure", (ABSENT,)),
    ]
    older_slicer = deps.install_plan(_slicer([], packaging=False), path)
    assert [(step.installer, step.packages) for step in older_slicer] == [("slicer.util.pip_install", (ABSENT,))]


def test_ensure_asks_once_then_installs_with_the_planned_tools(tmp_path):
    calls: list = []
    questions: list[str] = []
    path = _requirements(tmp_path, ABSENT)
    done = deps.ensure_requirements(
        _slicer(calls),
        path,
        confirm=lambda message: questions.append(message) or True,
        torch_requirement="torch>=9999",
        install_torch=lambda requirement: calls.append(("torch", requirement)),
    )
    assert len(questions) == 1 and "PyTorch" in questions[0] and ABSENT in questions[0]
    assert calls == [("torch", "torch>=9999"), ("pip_ensure", [ABSENT], {"prompt_install": False, "requester": "LesionGAN"})]
    assert done is False  # recorded, not installed: the check after installing still sees them missing

    calls.clear()
    deps.ensure_requirements(_slicer(calls, packaging=False), path, confirm=lambda m: True)
    assert calls == [("pip_install", [ABSENT])]


def test_a_refusal_installs_nothing(tmp_path):
    calls: list = []
    refused = deps.ensure_requirements(
        _slicer(calls), _requirements(tmp_path, ABSENT), confirm=lambda m: False,
        torch_requirement="torch>=9999", install_torch=lambda r: calls.append("torch"),
    )
    assert refused is False and calls == []


def test_without_the_pytorch_extension_the_user_is_told_what_to_install(tmp_path):
    calls: list = []
    with pytest.raises(LesionGANError, match="PyTorch extension.*Extensions Manager"):
        deps.ensure_requirements(
            _slicer(calls, pytorch_extension=False), _requirements(tmp_path, "numpy"),
            confirm=lambda m: calls.append("asked") or True, torch_requirement="torch>=9999",
        )
    assert calls == []


def test_on_slicer_without_pip_ensure_the_fallback_is_logged(tmp_path, caplog):
    calls: list = []
    with caplog.at_level("WARNING"):
        deps.ensure_requirements(_slicer(calls, packaging=False), _requirements(tmp_path, ABSENT), confirm=lambda m: True)
    assert calls == [("pip_install", [ABSENT])]
    assert "slicer.packaging.pip_ensure" in caplog.text and "slicer.util.pip_install" in caplog.text


def test_each_use_asks_only_for_its_own_packages(tmp_path):
    inference = deps.requirements_for("inference")
    names = {text.split(">")[0].lower() for text in inference}
    assert names == {"numpy", "simpleitk", "scipy", "packaging"}  # what running a model imports
    training = deps.requirements_for("inference", "training")
    assert any(text.startswith("tensorboard") for text in training)
    assert not any(text.startswith(("tensorboard", "nilearn")) for text in inference)
    assert deps.requirements_for("phantom") == ["nilearn>=0.10", "pillow>=9"]
    with pytest.raises(InputError, match="not one of"):
        deps.requirements_for("inference", "everything")
    calls: list = []
    slicer = _slicer(calls)
    deps.ensure_requirements(slicer, None, confirm=lambda m: True, torch_requirement="torch>=1",
                             requirements=[ABSENT, "numpy>=1.0"])
    assert calls == [("pip_ensure", [ABSENT], {"prompt_install": False, "requester": "LesionGAN"})]
