"""Time from pressing Apply to the heatmap on screen in `lesiongan web`, measured in headless
Chromium: a brats-size phantom case, the shipped demo model (or --model), on this machine.

    python scripts/web_apply_time.py --repeats 3 --screenshots docs/images

Each run loads the case afresh (no heatmap on screen), and the first run also loads the model
file, so it is reported apart. The page itself keeps the time: a click listener on Apply and,
on every new frame of the axial view, a count of its colored pixels (the heatmap's; the
volume alone is gray), so the first frame with the heatmap is timed to the frame, and the
measuring costs the busy CPU almost nothing. With --screenshots it keeps a picture of the
page while the model runs (progress bar, Cancel), one with the result, and one with a lesion
painted and synthesized by the same model.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Testing"))

from web_browser import Page, chromium, colored_fraction, wait_for, web_server, write_tiny_case  # noqa: E402

# Runs in the page: times the first frame of the axial view whose colored share exceeds
# arguments[0] after the next click on Apply (colored: channels more than 40 apart).
TIMER_SCRIPT = """
const limit = arguments[0];
const image = document.querySelectorAll('img')[0];
const canvas = document.createElement('canvas');
const context = canvas.getContext('2d', {willReadFrequently: true});
window.lesionganTimer = {appliedAt: null, heatmapAt: null};
window.lesionganLimit = limit;
if (!window.lesionganListening) {
window.lesionganListening = true;
function onFrame() {
  const timer = window.lesionganTimer;
  if (timer.appliedAt === null || timer.heatmapAt !== null || !image.naturalWidth) return;
  canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let colored = 0;
  for (let i = 0; i < data.length; i += 4) {
    const high = Math.max(data[i], data[i + 1], data[i + 2]), low = Math.min(data[i], data[i + 1], data[i + 2]);
    if (high - low > 40) colored++;
  }
  if (colored / (canvas.width * canvas.height) > window.lesionganLimit) timer.heatmapAt = performance.now();
}
image.addEventListener('load', onFrame);
document.getElementById('apply').addEventListener('click', () => {
  window.lesionganTimer.appliedAt = performance.now();
}, true);
}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="brats", help="phantom size (default brats: 240x240x155)")
    parser.add_argument("--model", type=Path, default=None, help="model file (default: the shipped demo model)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the first (default 3)")
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lesiongan-web-time-") as folder:
        work = Path(folder)
        case = write_tiny_case(work, seed=0, size=args.size)
        arguments = ["--model", str(args.model)] if args.model else []
        with web_server(arguments, work / "server.log") as url, chromium(work) as driver:
            page = Page(driver, url, work, args.screenshots or work)
            driver.get(url)
            wait_for(page.status, 60, "the page")
            seconds, model_seconds = [], []
            for repeat in range(args.repeats + 1):  # run 0 also loads the model file
                page.upload("volume-upload", case)  # each run on a freshly loaded case: no heatmap yet
                page.wait_status("Loaded", timeout=120)
                baseline = page.wait_view(0, lambda pixels: pixels.mean() > 5 and colored_fraction(pixels) < 0.01,
                                          "the case alone in the axial view")
                driver.execute_script(TIMER_SCRIPT, colored_fraction(baseline) + 0.01)
                page.find("apply").click()
                if repeat == 0 and args.screenshots:
                    wait_for(lambda: page.find("progress").is_displayed(), 30, "the progress bar", poll=0.05)
                    time.sleep(0.5)
                    page.screenshot("web_running.png")
                timer = wait_for(lambda: (lambda t: t if t["heatmapAt"] is not None else None)(
                    driver.execute_script("return window.lesionganTimer")), 600, "the heatmap", poll=1.0)
                seconds.append((timer["heatmapAt"] - timer["appliedAt"]) / 1000)
                status = page.wait_status("Done in", timeout=300)
                model_seconds.append(float(re.search(r"Done in ([0-9.]+) s", status).group(1)))
                print(f"run {repeat + 1}: Apply to heatmap {seconds[-1]:.2f} s ({status})", flush=True)
            if args.screenshots:
                page.screenshot("web_brats.png")
                # A lesion painted into the healthy hemisphere and synthesized by the same model.
                page.set_slider("brush", "\ue014", presses=10)  # ArrowRight: brush 10 -> 20 mm
                page.find("paint").click()
                page.wait_status("Paint the lesion region")
                page.paint_stroke(0, (0.08, -0.06), [(0.03, 0.0), (0.0, 0.03), (-0.03, 0.0)])
                page.find("synthesize").click()
                page.wait_status("Lesion synthesized", timeout=300)
                page.screenshot("web_brats_lesion.png")
    later = seconds[1:]
    print(f"{args.size} phantom: Apply to heatmap {seconds[0]:.2f} s the first time (model file loaded), then "
          f"median {statistics.median(later):.2f} s over {len(later)} runs (min {min(later):.2f}, max {max(later):.2f}); "
          f"the page's own 'Done in' median {statistics.median(model_seconds[1:]):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
