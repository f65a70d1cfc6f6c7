"""The callback types of every long run: progress reports and the cancel check.

A long run (inference, lesion painting, a model download) calls `progress(done, total)` now
and then and asks `cancel()` between steps; a true answer stops it with
`lesiongan.errors.Cancelled`, and nothing partial is returned. The Slicer panels, the web
page and the command line pass their own functions of these types. Plain typing, no torch:
the Slicer modules import it before torch is installed.
"""

from __future__ import annotations

from collections.abc import Callable

# progress(done, total): `done` of `total` steps (slices, batches) are finished.
ProgressCallback = Callable[[int, int], None]
# progress(done, total) of a download in bytes; `total` is None when the server does not say.
DownloadProgressCallback = Callable[[int, int | None], None]
# cancel() -> True to stop the run before its next step.
CancelCheck = Callable[[], bool]

__all__ = ["CancelCheck", "DownloadProgressCallback", "ProgressCallback"]
