"""Time from pressing Apply to the heatmap on screen in `lesiongan web`, measured in headless
Chromium: a brats-size phantom case, the shipped demo model (or --model), on this machine.

    python scripts/web_apply_time.py --repeats 3 --screenshots docs/images

Each run loads the case afresh (no heatmap on screen), and the first run also loads the model
file, so it is reported apart. The clock starts as Apply is clicked and stops at the first frame of the axial view that
shows the heatmap's colors (polled every 0.1 s, so the figure is up to 0.1 s late). It also
prints the model's own time as the page reports it. With --screenshots it keeps a picture of
the page while the model runs (progress bar, Cancel) and one with the result.
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
                started = time.perf_counter()
                page.find("apply").click()
                if repeat == 0 and args.screenshots:
                    wait_for(lambda: page.find("progress").is_displayed(), 30, "the progress bar", poll=0.05)
                    time.sleep(0.5)
                    page.screenshot("web_running.png")
                wait_for(lambda: colored_fraction(page.view_pixels(0)) > colored_fraction(baseline) + 0.01,
                         300, "the heatmap", poll=0.1)
                seconds.append(time.perf_counter() - started)
                status = page.wait_status("Done in", timeout=300)
                model_seconds.append(float(re.search(r"Done in ([0-9.]+) s", status).group(1)))
                print(f"run {repeat + 1}: Apply to heatmap {seconds[-1]:.2f} s ({status})", flush=True)
            if args.screenshots:
                page.screenshot("web_brats.png")
                # A lesion painted into the healthy hemisphere and synthesized by the same model.
                page.find("paint").click()
                page.wait_status("Paint the lesion region")
                page.paint_stroke(0, (0.08, -0.05), [(0.02, 0.0), (0.0, 0.02), (-0.02, 0.0)])
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
