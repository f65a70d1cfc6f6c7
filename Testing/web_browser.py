"""Shared pieces of the web-app tests (no tests here): the tiny inputs, a `lesiongan web` server
on a free loopback port, and headless Debian Chromium driven by Selenium."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from lesiongan.data import phantom
from lesiongan.data.volume import write_volume
from lesiongan.infer.modelfile import save_model
from lesiongan.nets import build_network

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Flags that let Debian's chromium run headless as root in a container, with no network but loopback.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,900")
CONVENTIONS = {"modalities": ["flair"], "orientation": "LPS", "axis": "axial",
               "normalization": {"kind": "mr", "options": {}}}


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import selenium  # noqa: F401
        import trame_slicer  # noqa: F401
    except ImportError as error:
        return f"{error.name} is not installed (./setup.sh installs the web extra)"
    for program in (CHROMIUM, CHROMEDRIVER):
        if not os.access(program, os.X_OK):
            return f"{program} is missing (CI=true ./setup.sh or LESIONGAN_BROWSER=1 ./setup.sh installs it)"
    return None


# ---------------------------------------------------------------- inputs
def write_tiny_case(folder: Path, seed: int = 0, size: str = "tiny") -> Path:
    """The FLAIR of one phantom case with a lesion, as NIfTI."""
    case = phantom.make_case(seed, size=size, name=f"case{seed}")
    return write_volume(case.volume(case.images["flair"]), folder / f"case{seed}_flair.nii.gz")


def write_tiny_model(path: Path) -> Path:
    """An untrained ANT-GAN-shaped model with both generators: G_A2N with random weights (a fresh
    shortcut generator is the identity and would leave no difference) and G_N2A to paint with."""
    torch.manual_seed(0)
    a2n = build_network("resnet_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1, shortcut=True)
    with torch.no_grad():
        for parameter in a2n.parameters():
            parameter.normal_(0.0, 0.2)
    n2a = build_network("resnet_generator", in_channels=1, out_channels=1, ngf=4, n_blocks=1)
    return save_model(path, method="antgan", networks={"a2n": a2n, "n2a": n2a}, conventions=CONVENTIONS,
                      provenance={"dataset": "web test"})


def write_4d_volume(path: Path) -> Path:
    """A two-channel 4D NIfTI (what MSD Task01 images are)."""
    image = sitk.JoinSeries([sitk.GetImageFromArray(np.full((4, 5, 6), value, np.int16)) for value in (1, 2)])
    sitk.WriteImage(image, str(path))
    return path


# ---------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def web_server(arguments: list[str], log: Path, start_timeout: float = 120.0) -> Iterator[str]:
    """`lesiongan web ARGUMENTS` on a free 127.0.0.1 port; yields its URL and stops it afterwards."""
    port = free_port()
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "lesiongan", "web", "--host", "127.0.0.1", "--port", str(port), *arguments]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, env=environment)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + start_timeout
        while not answers(url, timeout=2.0):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"lesiongan web did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- browser
@contextlib.contextmanager
def chromium(downloads: Path) -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="lesiongan-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(condition: Callable[[], object], timeout: float, what: str, poll: float = 0.25):
    """The first truthy value of `condition()`, or an AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value is not None and value is not False and (not hasattr(value, "__len__") or len(value)):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def element_pixels(element) -> np.ndarray:
    """An element as it is on screen: (rows, columns, RGB) uint8."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB"))


def colored_fraction(pixels: np.ndarray, spread: int = 40) -> float:
    """Share of pixels whose channels differ by more than `spread`: gray-scale images (a volume
    alone) have none; the heatmap's colors and the outline's do."""
    channels = pixels.astype(np.int16)
    return float(np.mean(channels.max(axis=2) - channels.min(axis=2) > spread))


def wait_for_download(folder: Path, name: str, timeout: float = 30.0) -> Path:
    path = folder / name
    return wait_for(lambda: path if path.is_file() and not any(folder.glob("*.crdownload")) else None,
                    timeout, f"the download {name}")


STEP_TIMEOUT = 120.0  # generous: CI's 2 cores also run the rest of the suite


class Page:
    """The page's controls by their ids, and what a user reads from it."""

    def __init__(self, driver, url: str, downloads: Path, screenshots: Path) -> None:
        self.driver, self.url, self.downloads, self.screenshots = driver, url, downloads, screenshots

    def find(self, element_id: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, element_id)

    def status(self) -> str:
        from selenium.webdriver.common.by import By

        found = self.driver.find_elements(By.ID, "status")  # none until the page has connected
        return found[0].text if found else ""

    def error(self) -> str:
        from selenium.webdriver.common.by import By

        alerts = self.driver.find_elements(By.ID, "error")
        return alerts[0].text if alerts else ""

    def wait_status(self, starts_with: str, timeout: float = STEP_TIMEOUT) -> str:
        def settled():
            if self.error():
                raise AssertionError(f"the page shows an error: {self.error()}")
            return self.status() if self.status().startswith(starts_with) else None
        return wait_for(settled, timeout, f"status '{starts_with}...' (status now: {self.status()!r})")

    def wait_error(self, contains: str) -> str:
        return wait_for(lambda: self.error() if contains in self.error() else None, STEP_TIMEOUT,
                        f"an error containing {contains!r} (now: {self.error()!r})")

    def close_error(self) -> None:
        from selenium.webdriver.common.by import By

        self.find("error").find_element(By.CSS_SELECTOR, "button").click()
        wait_for(lambda: not self.error(), 10, "the error to close")

    def upload(self, element_id: str, path: Path) -> None:
        from selenium.webdriver.common.by import By

        field = self.find(element_id).find_element(By.CSS_SELECTOR, "input[type=file]")
        field.clear()  # a multiple-file input otherwise keeps the files sent before
        field.send_keys(str(path))

    def views(self) -> list:
        """The slice views' images in layout order: axial input, Result, coronal, sagittal."""
        from selenium.webdriver.common.by import By

        images = self.driver.find_elements(By.CSS_SELECTOR, "img")
        assert len(images) == 4, f"expected 4 slice views, found {len(images)} images"
        return images

    def view_pixels(self, index: int) -> np.ndarray:
        return element_pixels(self.views()[index])

    def wait_view(self, index: int, accept, what: str) -> np.ndarray:
        """Pixels of view `index` once `accept(pixels)` holds (frames arrive asynchronously)."""
        return wait_for(lambda: (lambda pixels: pixels if accept(pixels) else None)(self.view_pixels(index)),
                        STEP_TIMEOUT, what, poll=1.0)  # a screenshot costs the shared cores

    def set_slider(self, element_id: str, key: str, presses: int = 1) -> None:
        """Move a slider as the keyboard does: focus its thumb, press `key`."""
        from selenium.webdriver.common.by import By

        thumb = self.find(element_id).find_element(By.CSS_SELECTOR, ".v-slider-thumb")
        self.driver.execute_script("arguments[0].focus()", thumb)
        for _ in range(presses):
            thumb.send_keys(key)

    def paint_stroke(self, index: int, start: tuple[float, float], moves: list[tuple[float, float]]) -> None:
        """Drag the mouse over view `index`: from `start`, then by each of `moves`, all as fractions
        of the view's size (from its centre), pausing so that each event reaches the server."""
        from selenium.webdriver.common.action_chains import ActionChains

        view = self.views()[index]
        width, height = view.size["width"], view.size["height"]
        chain = ActionChains(self.driver).move_to_element_with_offset(
            view, round(start[0] * width), round(start[1] * height)).pause(0.3).click_and_hold().pause(0.3)
        for dx, dy in moves:
            chain = chain.move_by_offset(round(dx * width), round(dy * height)).pause(0.3)
        chain.release().perform()

    def download(self, role: str, name: str) -> Path:
        (self.downloads / name).unlink(missing_ok=True)
        self.find(f"download-{role}").click()
        return wait_for_download(self.downloads, name)

    def screenshot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.screenshots / name))
