"""The web app without a browser: the start-up command, its binding notice, and `WebSession`
(the page's work) on a real trame-slicer scene with the modules' own logic."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from lesiongan.errors import Cancelled, InputError, LesionGANError, ModelFileError
from web_browser import ROOT, write_4d_volume, write_tiny_case, write_tiny_model

trame_slicer = pytest.importorskip("trame_slicer", reason="the web extra is not installed (./setup.sh installs it)")
sys.path.insert(0, str(ROOT))

from LesionGANWeb.cli import binding_notice, is_loopback  # noqa: E402
from LesionGANWeb.modules import add_module_paths, module_folders  # noqa: E402


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from trame_slicer.core import SlicerApp

    from LesionGANWeb.session import WebSession

    add_module_paths()
    folder = tmp_path_factory.mktemp("web-session")
    return WebSession(SlicerApp(), workDir=folder / "work", model=write_tiny_model(folder / "tiny.pt"))


@pytest.fixture(scope="module")
def case_file(tmp_path_factory):
    return write_tiny_case(tmp_path_factory.mktemp("web-case"))


def test_binding_is_loopback_by_default_and_warns_otherwise():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    (local,) = binding_notice("127.0.0.1", 8080)
    assert "http://127.0.0.1:8080/" in local and "this computer only" in local
    shared = binding_notice("0.0.0.0", 8080)
    assert any("WARNING" in line and "no authentication" in line for line in shared)


def test_web_command_checks_its_arguments_and_keeps_the_core_free_of_slicer(tmp_path):
    help_text = subprocess.run([sys.executable, "-m", "lesiongan", "web", "--help"], cwd=tmp_path,
                               capture_output=True, text=True, check=True).stdout
    assert all(option in help_text for option in ("--model", "--data", "--host", "--port"))
    assert "default 127.0.0.1" in help_text
    missing = subprocess.run([sys.executable, "-m", "lesiongan", "web", "--model", str(tmp_path / "none.pt")],
                             cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode == 1 and "none.pt: no such model file" in missing.stderr
    # The core package and its command line never import Slicer, Qt or VTK.
    probe = "import sys, lesiongan.cli; print(sorted({'slicer', 'vtk', 'qt'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_module_folders_are_the_slicer_modules():
    names = [folder.name for folder in module_folders()]
    assert {"PseudoHealthy", "LesionSynthesis"} <= set(names)


def test_models_offer_the_catalog_with_the_given_file_preselected(session):
    from lesiongan.infer import catalog

    values = [choice.value for choice in session.models]
    assert session.defaultModel.endswith("tiny.pt") and session.defaultModel in values
    assert catalog.list_models()[0].name in values


def test_a_model_that_cannot_be_loaded_is_refused_by_its_name(session, tmp_path):
    before = list(session.models)
    with pytest.raises(ModelFileError, match=r"^broken\.pt: ") as caught:
        session.uploadModel("broken.pt", b"not a model")
    assert str(tmp_path) not in str(caught.value) and "/upload" not in str(caught.value)
    assert session.models == before


def test_bad_volumes_get_the_command_lines_messages(session, tmp_path):
    from lesiongan.data.volume import read_volume

    four_d = write_4d_volume(tmp_path / "two.nii.gz")
    with pytest.raises(LesionGANError) as expected:
        read_volume(four_d)
    with pytest.raises(InputError) as caught:
        session.loadUpload([("two.nii.gz", four_d.read_bytes())])
    assert str(caught.value) == f"two.nii.gz: {expected.value.problem.replace(str(four_d), 'two.nii.gz')}"
    with pytest.raises(InputError, match="upload one volume at a time"):
        session.loadUpload([("a.nii.gz", b"x"), ("b.nrrd", b"y")])


def test_a_dicom_series_upload_loads_on_its_grid(session, tmp_path):
    array = np.zeros((6, 20, 24), np.int16)
    array[2:4, 5:15, 6:18] = 300
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.5, 1.5, 3.0))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()  # one series UID for all slices, the one set below
    files = []
    for index in range(array.shape[0]):
        plane = image[:, :, index]
        for key, value in {"0020|000e": "1.2.826.0.1.3680043.2.1125.1", "0020|000d": "1.2.826.0.1.3680043.2.1125.2", "0020|0013": str(index + 1),
                           "0020|0032": f"0\\0\\{3.0 * index}", "0020|0037": "1\\0\\0\\0\\1\\0",
                           "0028|0030": "1.5\\1.5", "0018|0050": "3.0", "0008|0060": "MR"}.items():
            plane.SetMetaData(key, value)
        path = tmp_path / f"slice{index:02d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(plane)
        files.append((path.name, path.read_bytes()))
    node = session.loadUpload(files)
    import slicer

    loaded = slicer.util.arrayFromVolume(node)
    assert loaded.shape == array.shape
    np.testing.assert_allclose(node.GetSpacing(), (1.5, 1.5, 3.0), atol=1e-3)


def test_process_cancel_and_rethreshold_run_the_modules_logic(session, case_file):
    session.loadPath(case_file)
    nodes = session.scene.GetNumberOfNodes()
    with pytest.raises(Cancelled):
        session.prepare(session.defaultModel, 0.1).compute(cancel=lambda: True)
    assert session.scene.GetNumberOfNodes() == nodes and not session.hasResults()
    calls = []
    run = session.prepare(session.defaultModel, 0.1)
    run.compute(progress=lambda done, total: calls.append((done, total)))  # what the app's worker runs
    assert calls and calls[-1][0] == calls[-1][1]
    assert session.scene.GetNumberOfNodes() == nodes and not session.hasResults()  # the scene waits for store
    result = session.store(run)
    assert session.hasResults()
    higher = session.rethreshold(0.3)
    assert higher.pseudoHealthyNodeID == result.pseudoHealthyNodeID and higher.maskVoxels < result.maskVoxels
    name, content = session.export("mask")
    assert name == "case0_flair_mask.nii.gz" and content[:2] == b"\x1f\x8b"  # gzip
    with pytest.raises(InputError, match="paint where the lesion should go first"):
        session.synthesize(session.defaultModel)


def test_a_models_threshold_is_its_own_and_a_download_waits(session, monkeypatch):
    from lesiongan.infer import catalog
    from lesiongan.infer.modelfile import load_model

    shipped = catalog.default_model_path()
    assert session.modelThreshold(catalog.list_models()[0].name) == pytest.approx(load_model(shipped).threshold)
    assert load_model(shipped).threshold != pytest.approx(0.1)  # calibrated, not ANT-GAN's
    assert session.modelThreshold(session.defaultModel) == pytest.approx(0.1)  # the tiny test model carries 0.1
    remote = catalog.ModelEntry("remote", "d", "MR", "antgan", "download", shipped.parent / "not-here.pt",
                                "https://example.org/remote.pt", 1, "0" * 64)
    monkeypatch.setattr(catalog, "list_models", lambda *args, **kwargs: [remote])
    assert session.modelThreshold("remote") is None  # nothing is fetched on choosing
