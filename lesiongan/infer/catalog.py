"""Where model files live: the shipped demo model, the download cache and registered models.

Three sources, one list for the panels and the command line:
- shipped: inside the package (`resources/models`), listed in the manifest with no URL;
- download: listed in the manifest with a URL, size and SHA-256, cached once verified;
- registered: models a user trained, recorded in a small JSON registry in the cache folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelFileError
from ..io import write_json
from ..progress import DownloadProgressCallback
from .download import download, file_sha256

PACKAGE_DIR = Path(__file__).resolve().parents[1]
DEMO_MODEL_FILE = "demo_antgan_flair.pt"
MANIFEST_FORMAT = "lesiongan-model-manifest"
REGISTRY_FORMAT = "lesiongan-model-registry"
REGISTRY_FILE = "registered_models.json"
MANIFEST_FIELDS = ("name", "description", "modality", "method", "url", "file", "size", "sha256")


def models_dir() -> Path:
    """The package's own model folder (shipped with the extension and the wheel)."""
    return PACKAGE_DIR / "resources" / "models"


def default_model_path() -> Path:
    """The small demo model that ships with LesionGAN (the panels' default)."""
    return models_dir() / DEMO_MODEL_FILE


def cache_dir() -> Path:
    """Downloaded and registered models: $LESIONGAN_CACHE, else ~/.cache/lesiongan."""
    configured = os.environ.get("LESIONGAN_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "lesiongan"


def downloads_dir() -> Path:
    """Where verified downloads are kept, one file per manifest entry: `<name>.pt`."""
    return cache_dir() / "models"


def manifest_path() -> Path:
    return models_dir() / "manifest.json"


# Methods whose models judge images (segmentors, classifiers) instead of changing them.
SCORING_METHODS = ("segmentation", "classification")


@dataclass(frozen=True)
class ModelEntry:
    """One model the panels can offer. `path` is where the file is, or will be once downloaded."""

    name: str
    description: str
    modality: str
    method: str
    source: str  # "shipped", "download" or "registered"
    path: Path
    url: str | None = None
    size: int | None = None
    sha256: str | None = None

    @property
    def available(self) -> bool:
        """True when the file is on this computer (no download needed)."""
        return self.path.is_file()


def _read_json(path: Path, expected_format: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(path, f"cannot read it as JSON ({error})") from error
    if not isinstance(data, dict) or data.get("format") != expected_format:
        raise ModelFileError(path, f"not a {expected_format} file (its 'format' field differs)")
    if data.get("version") != 1:
        raise ModelFileError(path, f"unknown version {data.get('version')!r}; this LesionGAN reads version 1")
    return data


def _manifest_entry(raw: object, index: int, source: Path) -> ModelEntry:
    """Validate one manifest record; a shipped file not built yet may lack its size and hash."""
    where = f"{source} (model #{index})"
    if not isinstance(raw, dict) or set(raw) != set(MANIFEST_FIELDS):
        raise ModelFileError(where, f"a model needs exactly the fields {', '.join(MANIFEST_FIELDS)}")
    for key in ("name", "description", "modality", "method"):
        if not isinstance(raw[key], str) or not raw[key]:
            raise ModelFileError(where, f"'{key}' must be a non-empty string")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", raw["name"]) or ".." in raw["name"]:
        # the name becomes the cached file's name: '../../x' would write outside the cache
        raise ModelFileError(where, f"'name' {raw['name']!r} must be a plain file name (letters, digits, . _ -)")
    url, file, size, sha256 = raw["url"], raw["file"], raw["size"], raw["sha256"]
    if (url is None) == (file is None):
        raise ModelFileError(where, "give either 'url' (a download) or 'file' (shipped), not both or neither")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise ModelFileError(where, "'size' must be a positive number of bytes")
    if sha256 is not None and (
        not isinstance(sha256, str) or len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256)
    ):
        raise ModelFileError(where, "'sha256' must be 64 lowercase hex digits")
    if url is not None:
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ModelFileError(where, "'url' must be an http(s) address")
        if size is None or sha256 is None:
            raise ModelFileError(where, "a download needs its 'size' and 'sha256' to be verified")
        path = downloads_dir() / f"{raw['name']}.pt"
        source_kind = "download"
    else:
        relative = Path(file) if isinstance(file, str) else None
        if relative is None or relative.is_absolute() or ".." in relative.parts:
            raise ModelFileError(where, "'file' must be a path inside the lesiongan package")
        path = PACKAGE_DIR / relative
        source_kind = "shipped"
    return ModelEntry(
        raw["name"], raw["description"], raw["modality"], raw["method"], source_kind, path, url, size, sha256
    )


def record_shipped(shipped: Path) -> None:
    """Write a shipped file's size and SHA-256 into the package manifest's entry for it."""
    path = manifest_path()
    manifest = _read_json(path, MANIFEST_FORMAT)
    entries = [entry for entry in manifest["models"] if entry.get("name") == shipped.stem]
    if not entries:
        raise ModelFileError(path, f"has no entry named {shipped.stem!r} for {shipped}")
    for entry in entries:
        entry["size"], entry["sha256"] = shipped.stat().st_size, file_sha256(shipped)
    write_json(path, manifest)


def load_manifest(path: str | Path | None = None) -> list[ModelEntry]:
    """The models of a manifest (default: the one the package ships), validated."""
    source = Path(path) if path is not None else manifest_path()
    data = _read_json(source, MANIFEST_FORMAT)
    models = data.get("models")
    if not isinstance(models, list):
        raise ModelFileError(source, "'models' must be a list")
    entries = [_manifest_entry(raw, index, source) for index, raw in enumerate(models)]
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise ModelFileError(source, "two models share a name")
    return entries


def _registry_path() -> Path:
    return cache_dir() / REGISTRY_FILE


def _load_registry() -> dict[str, dict]:
    path = _registry_path()
    if not path.exists():
        return {}
    models = _read_json(path, REGISTRY_FORMAT).get("models")
    if not isinstance(models, dict):
        raise ModelFileError(path, "'models' must be a mapping of names to records")
    return models


def registered_models() -> list[ModelEntry]:
    """Models registered on this computer, including those whose file has since gone."""
    return [
        ModelEntry(
            name,
            record.get("description", ""),
            record.get("modality", ""),
            record.get("method", ""),
            "registered",
            Path(record["path"]),
        )
        for name, record in sorted(_load_registry().items())
    ]


def register_model(
    path: str | Path,
    name: str | None = None,
    *,
    description: str = "",
    modality: str = "",
    method: str = "",
    manifest: str | Path | None = None,
) -> ModelEntry:
    """Record a trained model file under `name` (default: its file stem) for the panels.

    Registering a name again points it at the new file (a retrained model). Names of
    catalog models are refused, so a name always means one file.
    """
    model_path = Path(path).expanduser().resolve()
    if not model_path.is_file():
        raise ModelFileError(path, "no such model file")
    name = name if name is not None else model_path.stem
    if not name.strip():
        raise ModelFileError(path, "the model name is empty")
    if name in {entry.name for entry in load_manifest(manifest)}:
        raise ModelFileError(path, f"the name {name!r} belongs to a catalog model; choose another name")
    models = _load_registry()
    models[name] = {"path": str(model_path), "description": description, "modality": modality, "method": method}
    registry = {"format": REGISTRY_FORMAT, "version": 1, "models": models}
    write_json(_registry_path(), registry)
    return ModelEntry(name, description, modality, method, "registered", model_path)


def list_models(manifest: str | Path | None = None, include_scorers: bool = False) -> list[ModelEntry]:
    """What the panels offer: shipped models present, every download (cached or not), and
    registered models whose file still exists. `entry.available` says if a download is cached.
    Models that score images rather than make them (`SCORING_METHODS`: the healthiness
    segmentor f_pre, say) are left out unless `include_scorers`.
    """
    catalog = [entry for entry in load_manifest(manifest) if entry.source == "download" or entry.available]
    listed = catalog + [entry for entry in registered_models() if entry.available]
    return [entry for entry in listed if include_scorers or entry.method not in SCORING_METHODS]


def resolve_model(
    name_or_path: str | Path,
    manifest: str | Path | None = None,
    progress: DownloadProgressCallback | None = None,
) -> Path:
    """The local file of a model given by path, registered name or catalog name.

    A catalog download is fetched (verified) the first time and taken from the cache
    after that; a cached file that no longer matches its SHA-256 is fetched again.
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate
    name = str(name_or_path)
    entries = {entry.name: entry for entry in load_manifest(manifest) + registered_models()}
    entry = entries.get(name)
    if entry is None:
        known = ", ".join(sorted(entries)) or "none"
        raise ModelFileError(name, f"neither a model file nor a known model name (known: {known})")
    if entry.source != "download":
        if not entry.available:
            raise ModelFileError(entry.path, f"the file of model {name!r} is missing")
        return entry.path
    if entry.available and entry.path.stat().st_size == entry.size and file_sha256(entry.path) == entry.sha256:
        return entry.path
    return download(entry.url, entry.path, entry.sha256, entry.size, progress=progress)
