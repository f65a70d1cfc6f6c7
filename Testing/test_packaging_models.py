"""Model catalog and verified downloads, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
from functools import partial
from pathlib import Path

import pytest

from lesiongan.errors import ModelFileError
from lesiongan.infer import catalog
from lesiongan.infer.download import download, file_sha256


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LESIONGAN_CACHE", str(cache))
    return cache


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture()
def server(tmp_path):
    """Serves tmp_path/'served' on 127.0.0.1; yields (base URL, folder, list of paths requested)."""
    folder = tmp_path / "served"
    folder.mkdir()
    requested: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder, requested
    httpd.shutdown()
    httpd.server_close()


def _serve(folder: Path, name: str, payload: bytes) -> str:
    (folder / name).write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


def test_shipped_manifest_is_valid_and_matches_every_shipped_file():
    entries = catalog.load_manifest()
    assert any(entry.path == catalog.default_model_path() for entry in entries)
    shipped = [entry for entry in entries if entry.source == "shipped"]
    assert shipped, "the manifest lists no shipped model"
    for entry in shipped:
        assert entry.path.is_file(), f"{entry.path}: listed in the manifest but not shipped"
        assert entry.size == entry.path.stat().st_size, f"{entry.path}: size in the manifest differs"
        assert entry.sha256 == file_sha256(entry.path), f"{entry.path}: SHA-256 in the manifest differs"


def test_download_accepts_a_good_file_and_reports_progress(server, tmp_path):
    base, folder, _ = server
    payload = bytes(range(256)) * 5000
    sha = _serve(folder, "model.pt", payload)
    seen = []
    target = tmp_path / "cache" / "models" / "model.pt"
    assert download(f"{base}/model.pt", target, sha, len(payload), progress=lambda n, total: seen.append((n, total))) == target
    assert target.read_bytes() == payload
    assert seen[-1] == (len(payload), len(payload))
    assert list(target.parent.iterdir()) == [target]


@pytest.mark.parametrize("tamper", ["bytes", "size"])
def test_download_rejects_a_tampered_file_and_leaves_nothing(server, tmp_path, tamper):
    base, folder, _ = server
    payload = b"weights" * 1000
    sha = _serve(folder, "model.pt", payload)
    if tamper == "bytes":
        (folder / "model.pt").write_bytes(payload[:-1] + b"X")
    else:
        (folder / "model.pt").write_bytes(payload + b"extra")
    target = tmp_path / "cache" / "models" / "model.pt"
    with pytest.raises(ModelFileError) as caught:
        download(f"{base}/model.pt", target, sha, len(payload))
    assert f"{base}/model.pt" in str(caught.value)
    assert ("SHA-256 mismatch" if tamper == "bytes" else "more than the expected") in str(caught.value)
    assert list(target.parent.iterdir()) == []  # no temporary file, no destination


def test_unreachable_url_says_where_to_put_the_file_by_hand(tmp_path):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/model.pt"
    target = tmp_path / "cache" / "models" / "model.pt"
    with pytest.raises(ModelFileError) as caught:
        download(url, target, "ab" * 32, 10, timeout=5)
    message = str(caught.value)
    assert caught.value.source == url
    assert url in message and str(target) in message and "ab" * 32 in message
    assert "refused" in message
    assert not target.exists() and list(target.parent.iterdir()) == []


def _manifest(path: Path, models: list[dict]) -> Path:
    path.write_text(json.dumps({"format": catalog.MANIFEST_FORMAT, "version": 1, "models": models}))
    return path


def _record(name: str, **fields) -> dict:
    record = dict.fromkeys(catalog.MANIFEST_FIELDS)
    record.update(name=name, description="a test model", modality="MR FLAIR", method="antgan")
    record.update(fields)
    return record


def test_resolve_downloads_once_then_uses_the_cache(server, tmp_path, private_cache):
    base, folder, requested = server
    payload = b"generator" * 300
    sha = _serve(folder, "remote.pt", payload)
    manifest = _manifest(tmp_path / "manifest.json", [_record("remote", url=f"{base}/remote.pt", size=len(payload), sha256=sha)])
    (entry,) = catalog.list_models(manifest)
    assert entry.source == "download" and not entry.available
    path = catalog.resolve_model("remote", manifest)
    assert path == private_cache / "models" / "remote.pt" and path.read_bytes() == payload
    assert catalog.resolve_model("remote", manifest) == path
    assert requested == ["/remote.pt"]  # the second call used the verified cache
    path.write_bytes(b"corrupted")  # a cache that no longer verifies is fetched again
    assert catalog.resolve_model("remote", manifest).read_bytes() == payload
    assert requested == ["/remote.pt", "/remote.pt"]


def test_register_and_list_round_trip(tmp_path, private_cache):
    manifest = _manifest(tmp_path / "manifest.json", [_record("shipped", file="resources/models/absent.pt")])
    model = tmp_path / "runs" / "my_model.pt"
    model.parent.mkdir()
    model.write_bytes(b"trained")
    entry = catalog.register_model(model, description="mine", modality="MR T2", method="factorization", manifest=manifest)
    assert entry.name == "my_model" and entry.source == "registered"
    catalog.register_model(model, "second", manifest=manifest)
    listed = catalog.list_models(manifest)
    assert [(e.name, e.path, e.description) for e in listed] == [("my_model", model, "mine"), ("second", model, "")]
    assert json.loads((private_cache / catalog.REGISTRY_FILE).read_text(encoding="utf-8"))["models"]["my_model"]["method"] == "factorization"
    assert catalog.resolve_model("second", manifest) == model
    assert [p.name for p in private_cache.iterdir()] == [catalog.REGISTRY_FILE]  # no temporary left
    model.unlink()  # a deleted model drops out of the list
    assert catalog.list_models(manifest) == []


def test_bad_inputs_name_the_input(tmp_path):
    manifest = _manifest(tmp_path / "manifest.json", [_record("shipped", file="resources/models/absent.pt")])
    with pytest.raises(ModelFileError, match="no such model file"):
        catalog.register_model(tmp_path / "missing.pt", manifest=manifest)
    model = tmp_path / "shipped.pt"
    model.write_bytes(b"x")
    with pytest.raises(ModelFileError, match="belongs to a catalog model"):
        catalog.register_model(model, manifest=manifest)
    with pytest.raises(ModelFileError, match="known: shipped"):
        catalog.resolve_model("nonexistent", manifest)
    with pytest.raises(ModelFileError, match="is missing"):
        catalog.resolve_model("shipped", manifest)
    unverifiable = _manifest(tmp_path / "bad.json", [_record("remote", url="https://example.org/m.pt")])
    with pytest.raises(ModelFileError, match="needs its 'size' and 'sha256'"):
        catalog.load_manifest(unverifiable)
    escaping = _manifest(tmp_path / "escape.json", [_record("x", file="../../etc/passwd")])
    with pytest.raises(ModelFileError, match="inside the lesiongan package"):
        catalog.load_manifest(escaping)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LESIONGAN_CACHE", str(tmp_path / "elsewhere"))
    assert catalog.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("LESIONGAN_CACHE")
    assert catalog.cache_dir() == Path.home() / ".cache" / "lesiongan"


def test_a_short_download_is_refused_even_when_its_hash_matches(server, tmp_path):
    """A server that ends early with a hash the manifest also got wrong: the size alone refuses it."""
    base, folder, _ = server
    short = b"weights" * 500
    sha = _serve(folder, "model.pt", short)
    target = tmp_path / "cache" / "models" / "model.pt"
    with pytest.raises(ModelFileError, match=f"expected {len(short) + 1} bytes but received {len(short)}") as caught:
        download(f"{base}/model.pt", target, sha, len(short) + 1)
    assert caught.value.source == f"{base}/model.pt"
    assert list(target.parent.iterdir()) == []
    assert download(f"{base}/model.pt", target, sha, len(short)) == target  # the exact size is accepted


def _silent_server(send: bytes = b"", close: bool = False):
    """A socket that accepts a connection, sends `send` (maybe nothing), then closes it or goes quiet."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(send)
        if not close:
            threading.Event().wait(30)  # never says more
        connection.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}/model.pt"


def _download_in_thread(url: str, target: Path, timeout: float) -> BaseException | None:
    """Run `download` in a thread and return what it raised; fail if it is still running after 20 s."""
    outcome: list[BaseException | None] = []

    def attempt():
        try:
            download(url, target, "ab" * 32, 1000, timeout=timeout)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            outcome.append(error)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(20)
    assert outcome, "the download hung: its timeout was not applied"
    return outcome[0]


_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"


@pytest.mark.parametrize("send, close, problem", [
    (b"", False, "(timed out)"),  # no answer at all
    (_HEADERS + b"x" * 10, False, "the download broke off"),  # stops mid-body and stays silent
    (_HEADERS + b"x" * 10, True, "expected 1000 bytes but received 10"),  # closes mid-body
])
def test_a_server_that_stops_answering_gives_a_clear_error(tmp_path, send, close, problem):
    listener, url = _silent_server(send, close)
    with listener:
        error = _download_in_thread(url, tmp_path / "cache" / "model.pt", timeout=1)
    assert isinstance(error, ModelFileError) and error.source == url, error
    assert problem in str(error)
    if not close:
        assert f"Download {url} with a web browser" in str(error)
    assert list((tmp_path / "cache").iterdir()) == []
