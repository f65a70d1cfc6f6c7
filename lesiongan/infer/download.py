"""Verified model downloads: stream, hash, check, then move into place.

urllib only, so that a Slicer install needs no extra package to fetch a model. A file
reaches its destination only after its SHA-256 (and size) match; on any failure nothing
is left behind and the error tells the user how to put the file there by hand.
"""

from __future__ import annotations

import hashlib
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import ModelFileError
from ..io import atomic_path
from ..progress import DownloadProgressCallback

CHUNK_BYTES = 1 << 20
DEFAULT_TIMEOUT_S = 60.0

def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks so big models need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def by_hand_instructions(url: str, destination: Path, sha256: str) -> str:
    """What a user behind a proxy or firewall does instead: fetch it in a browser, put it here."""
    return (
        f"Download {url} with a web browser and save it as {destination} "
        f"(create the folder if needed); its SHA-256 must be {sha256}."
    )


def _network_problem(error: urllib.error.URLError) -> str:
    """A short, specific reason: certificate, proxy, refused connection, timeout, HTTP status."""
    if isinstance(error, urllib.error.HTTPError):
        return f"the server answered HTTP {error.code} {error.reason}"
    reason = error.reason
    if isinstance(reason, ssl.SSLError):
        return f"the secure connection failed ({reason}); a proxy that inspects HTTPS traffic often causes this"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(reason, TimeoutError):
        return "the connection timed out"
    text = str(reason)
    if "proxy" in text.lower() or "tunnel" in text.lower():
        return f"the proxy refused the connection ({text})"
    return f"the connection failed ({text})"


def download(
    url: str,
    destination: str | Path,
    sha256: str,
    size: int | None = None,
    progress: DownloadProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Fetch `url` to `destination`, verified against `sha256` (and `size` when given).

    The bytes go to a temporary file beside `destination` and are moved into place only
    once verified. `progress(received_bytes, total_bytes_or_None)` is called per chunk; it
    may raise (e.g. `Cancelled`) to stop. Raises `ModelFileError` naming the URL and the
    problem; network failures also say where to put the file by hand.
    """
    destination = Path(destination)
    expected = sha256.lower()
    by_hand = by_hand_instructions(url, destination, expected)
    with atomic_path(destination) as temporary:
        try:
            received, actual = _stream(url, temporary, size, progress, timeout)
        except urllib.error.URLError as error:
            raise ModelFileError(url, f"could not download: {_network_problem(error)}. {by_hand}") from error
        except (TimeoutError, ConnectionError) as error:
            raise ModelFileError(url, f"the download broke off ({error}). {by_hand}") from error
        if size is not None and received != size:
            raise ModelFileError(url, f"expected {size} bytes but received {received}; nothing was saved")
        if actual != expected:
            raise ModelFileError(
                url, f"SHA-256 mismatch: expected {expected}, received {actual}; nothing was saved"
            )
    return destination


def _stream(
    url: str, target: Path, size: int | None, progress: DownloadProgressCallback | None, timeout: float
) -> tuple[int, str]:
    """Copy the response body into `target`, hashing as it goes; returns (bytes, sha256)."""
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else size
        while chunk := response.read(CHUNK_BYTES):
            received += len(chunk)
            # A server sending more than the manifest says is stopped before it fills the disk.
            if size is not None and received > size:
                raise ModelFileError(url, f"the server sent more than the expected {size} bytes; nothing was saved")
            digest.update(chunk)
            out.write(chunk)
            if progress is not None:
                progress(received, total)
    return received, digest.hexdigest()
