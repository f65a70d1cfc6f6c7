"""`lesiongan web` in a real browser: headless Debian Chromium, driven by Selenium, against a
server this test starts on 127.0.0.1 with a tiny phantom case and a tiny model.

One test walks through the page as a user does, because each step needs the one before (a
result to re-threshold, a painted region to synthesize from). The steps:
1. the page loads; 2. a case is uploaded; 3. Apply runs the model; 4. the slice views show
the heatmap; 5. the threshold slider remakes the mask, not the pseudo-healthy volume;
6. a painted region gets a synthesized lesion, changing voxels only inside it plus the blend
margin; 7. the downloads lie on the input's grid; 8. bad uploads get the command line's
messages on the page, and the server still answers.

Set LESIONGAN_WEB_SCREENSHOTS=FOLDER to keep the screenshots it takes (README's come from here).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from lesiongan.data.volume import read_volume
from lesiongan.errors import LesionGANError
from lesiongan.synthesis import BLEND_MARGIN_MM
from web_browser import (
    STEP_TIMEOUT,
    Page,
    browser_missing,
    chromium,
    colored_fraction,
    wait_for,
    web_server,
    write_4d_volume,
    write_tiny_case,
    write_tiny_model,
)

pytestmark = pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web-inputs")
    data = folder / "data"
    data.mkdir()
    notes = folder / "notes.txt"
    notes.write_text("not an image\n")
    broken_model = folder / "broken.pt"
    broken_model.write_bytes(b"this is not a model file")
    return {"case": write_tiny_case(folder), "model": write_tiny_model(folder / "tiny.pt"),
            "data": data, "data_case": write_tiny_case(data, seed=1), "notes": notes,
            "4d": write_4d_volume(folder / "two_channels.nii.gz"), "broken_model": broken_model}


def _same_grid(path: Path, reference) -> None:
    volume = read_volume(path, allow_empty=True)
    assert volume.shape == reference.shape, path.name
    np.testing.assert_allclose(volume.spacing, reference.spacing, atol=1e-4, err_msg=path.name)
    np.testing.assert_allclose(volume.origin, reference.origin, atol=1e-3, err_msg=path.name)
    np.testing.assert_allclose(volume.direction, reference.direction, atol=1e-5, err_msg=path.name)


def _cli_message(path: Path) -> str:
    """What `lesiongan infer` says of this file, naming it as the user knows it (the page must
    say the same)."""
    with pytest.raises(LesionGANError) as caught:
        read_volume(path)
    return f"{path.name}: {caught.value.problem.replace(str(path), path.name)}"


def test_page_walkthrough(inputs, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    screenshots = Path(os.environ.get("LESIONGAN_WEB_SCREENSHOTS") or tmp_path / "screenshots")
    screenshots.mkdir(parents=True, exist_ok=True)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    arguments = ["--model", str(inputs["model"]), "--data", str(inputs["data"])]
    with web_server(arguments, tmp_path / "server.log") as url, chromium(downloads) as driver:
        page = Page(driver, url, downloads, screenshots)
        reference = read_volume(inputs["case"])

        # 1. The page loads, the given model preselected, nothing to apply yet.
        driver.get(url)
        wait_for(lambda: page.status().startswith("Load a volume"), STEP_TIMEOUT, "the page")
        assert "tiny.pt" in page.find("model").text, page.find("model").text
        assert not page.find("apply").is_enabled()

        # 2. A case is uploaded and shown in the slice views, in gray.
        page.upload("volume-upload", inputs["case"])
        page.wait_status("Loaded case0_flair")
        before = page.wait_view(0, lambda pixels: pixels.mean() > 5, "the case in the axial view")
        assert colored_fraction(before) < 0.002

        # 3. Apply runs the model; the status reports the result.
        page.find("apply").click()
        done = page.wait_status("Done in")
        assert "mask voxels at threshold 0.1" in done

        # 4. The axial view shows the heatmap over the input: colored where it was gray; the
        # Result view beside it shows the pseudo-healthy volume without it.
        heatmap = page.wait_view(0, lambda pixels: colored_fraction(pixels) > 0.05, "the heatmap")
        changed = np.abs(heatmap.astype(int) - before.astype(int)).max(axis=2) > 30
        brain = before.max(axis=2) > 20
        assert changed.mean() > 0.05 and changed[brain].mean() > 0.5
        assert colored_fraction(page.view_pixels(1)) < colored_fraction(heatmap) / 5
        page.screenshot("web_results.png")
        page.set_slider("heatmap-opacity", Keys.HOME)  # opacity 0: the outline alone stays
        faded = page.wait_view(0, lambda pixels: colored_fraction(pixels) < colored_fraction(heatmap) / 2,
                               "the heatmap to fade")
        page.set_slider("heatmap-opacity", Keys.ARROW_RIGHT, presses=10)  # back to 0.5 in steps of 0.05
        page.wait_view(0, lambda pixels: colored_fraction(pixels) > colored_fraction(faded) * 2, "the heatmap back")

        # 7 (first half). The outputs download on the input's grid.
        files = {role: page.download(role, f"case0_flair_{name}")
                 for role, name in [("pseudoHealthy", "pseudo-healthy.nii.gz"), ("difference", "difference.nii.gz"),
                                    ("mask", "mask.nii.gz"), ("segmentation", "segmentation.seg.nrrd")]}
        for role in ("pseudoHealthy", "difference", "mask"):
            _same_grid(files[role], reference)
        segmentation = files["segmentation"].read_bytes()
        assert b"Segment0_Name:=Anomaly" in segmentation
        pseudo_healthy = read_volume(files["pseudoHealthy"]).array
        difference = read_volume(files["difference"]).array
        mask_low = read_volume(files["mask"], allow_empty=True).array > 0
        assert mask_low.any()

        # 5. The threshold slider remakes the mask from the difference map, exactly as
        # rethreshold does; the pseudo-healthy volume stays as it was.
        page.set_slider("threshold", Keys.ARROW_RIGHT, presses=10)  # 0.10 -> 0.20 in steps of 0.01
        page.wait_status("Mask at threshold 0.2:")
        mask_high = read_volume(page.download("mask", "case0_flair_mask.nii.gz"), allow_empty=True).array > 0
        np.testing.assert_array_equal(mask_high, mask_low & (difference > 0.2))
        assert mask_high.sum() < mask_low.sum()
        np.testing.assert_array_equal(
            read_volume(page.download("pseudoHealthy", "case0_flair_pseudo-healthy.nii.gz")).array, pseudo_healthy)

        # 6. Paint a region with the segment editor's brush in the axial view, synthesize a
        # lesion there: voxels change inside the region plus the blend margin, nowhere else.
        page.find("paint").click()
        page.wait_status("Paint the lesion region")
        page.paint_stroke(0, (-0.1, -0.1), [(0.05, 0.0), (0.0, 0.05)])
        page.find("synthesize").click()
        page.wait_status("Lesion synthesized")
        page.screenshot("web_lesion.png")
        region_file = page.download("painted", "case0_flair_painted_lesion_region.nii.gz")
        synthesized_file = page.download("synthesized", "case0_flair_with_lesion.nii.gz")
        _same_grid(region_file, reference)
        _same_grid(synthesized_file, reference)
        synthesized = read_volume(synthesized_file)
        painted = read_volume(region_file, allow_empty=True).array > 0
        assert painted.any(), "the brush painted nothing"
        voxel_changed = np.abs(synthesized.array - reference.array) > 1e-3
        assert voxel_changed[painted].any()
        spacing_zyx = tuple(reversed(reference.spacing))
        distance = ndimage.distance_transform_edt(~painted, sampling=spacing_zyx)
        assert not voxel_changed[distance > BLEND_MARGIN_MM + 1e-3].any(), "voxels changed outside region + margin"

        # 8. Bad input: the command line's messages on the page, and the server goes on.
        page.upload("volume-upload", inputs["notes"])
        page.wait_error(_cli_message(inputs["notes"]))
        page.screenshot("web_error.png")
        page.close_error()
        page.upload("volume-upload", inputs["4d"])
        page.wait_error(_cli_message(inputs["4d"]))
        page.close_error()
        page.upload("model-upload", inputs["broken_model"])
        page.wait_error("broken.pt:")
        page.close_error()
        driver.get(url)  # a fresh page on the same server: it answers, and works
        wait_for(page.status, STEP_TIMEOUT, "the page after the errors")
        page.find("data-file").find_element(By.CSS_SELECTOR, "input").click()
        wait_for(lambda: [item for item in driver.find_elements(By.CSS_SELECTOR, ".v-list-item")
                          if "case1_flair.nii.gz" in item.text], STEP_TIMEOUT, "the data folder's list")[0].click()
        page.find("data-load").click()
        page.wait_status("Loaded case1_flair")
