"""Model files: one self-describing file per trained model, safe to open.

The file is a `torch.save` archive holding only plain data (str, int, float, bool, None,
lists, dicts) and tensors, so `torch.load(weights_only=True)` opens it and opening a model
never runs code from the file. Layout (version 1):

    {format, version, method, conventions, provenance, metrics,
     networks: {role: {arch, kwargs, state_dict, dtype}}}
"""

from __future__ import annotations

import math
import os
import pickle
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from ..errors import ModelFileError

FORMAT = "lesiongan-model"
VERSION = 1
DEFAULT_THRESHOLD = 0.1  # ANT-GAN's binarization threshold on the [0, 1] difference map
_PLAIN_SCALARS = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str) -> None:
    """Raise TypeError unless `value` is plain data that `weights_only` loading accepts."""
    if isinstance(value, _PLAIN_SCALARS):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a non-string key {key!r}")
            _check_plain(item, f"{where}.{key}")
        return
    raise TypeError(f"{where} is a {type(value).__name__}, not plain data (str, number, list, dict)")


def _plain(value: Any) -> Any:
    """Tuples become lists, so the stored file never depends on how a caller spelled a sequence."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def save_model(
    path: str | os.PathLike,
    *,
    method: str,
    networks: dict[str, nn.Module],
    conventions: dict,
    provenance: dict,
    metrics: dict | None = None,
    half: bool = False,
) -> Path:
    """Write a model file (atomically) and return its path.

    `networks` maps roles (a2n, n2a, segmentor, reconstructor, noise) to networks built by
    `lesiongan.nets.build_network`; `conventions` says how inputs are prepared (modalities,
    orientation, axis, spacing, size, normalization, threshold). `half=True` stores fp16
    weights (half the size); they are loaded back as fp32.
    """
    from ..io import atomic_path, write_failed
    from ..nets.registry import network_spec

    path = Path(path)
    if not networks:
        raise TypeError("save_model needs at least one network")
    for name, value in (("conventions", conventions), ("provenance", provenance), ("metrics", metrics or {})):
        _check_plain(value, name)
    if not conventions.get("modalities"):
        raise TypeError("conventions must name the modalities the model takes, e.g. ['flair']")

    entries: dict[str, dict] = {}
    for role, net in networks.items():
        spec = network_spec(net)
        _check_plain(spec["kwargs"], f"networks.{role}.kwargs")
        dtype = torch.float16 if half else torch.float32
        state = {
            key: (tensor.detach().to("cpu", dtype) if tensor.is_floating_point() else tensor.detach().cpu()).clone()
            for key, tensor in net.state_dict().items()
        }
        entries[role] = {"arch": spec["arch"], "kwargs": _plain(spec["kwargs"]), "state_dict": state,
                         "dtype": "float16" if half else "float32"}

    conventions = _plain(dict(conventions))
    conventions.setdefault("threshold", DEFAULT_THRESHOLD)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "method": str(method),
        "conventions": conventions,
        "provenance": _plain(dict(provenance)),
        "metrics": _plain(dict(metrics or {})),
        "networks": entries,
    }
    with atomic_path(path) as temporary:
        try:
            torch.save(payload, temporary)
        except RuntimeError as error:  # torch reports a short write (disk full) as a RuntimeError
            raise write_failed(path, error) from error
    return path


@dataclass
class ModelFile:
    """A loaded model file: its metadata, and its networks built on demand."""

    path: Path
    method: str
    conventions: dict
    provenance: dict
    metrics: dict
    roles: tuple[str, ...]
    device: str = "cpu"
    _entries: dict[str, dict] = field(default_factory=dict, repr=False)
    _cache: dict[tuple[str, str], nn.Module] = field(default_factory=dict, repr=False)

    @property
    def modalities(self) -> list[str]:
        return list(self.conventions["modalities"])

    @property
    def optional_modalities(self) -> list[str]:
        """Modalities an input may lack: the model was trained with them absent (set to 0) at
        times, so it runs on fewer sequences, at the quality its metrics record for that case."""
        return list(self.conventions.get("optional_modalities", []))

    @property
    def threshold(self) -> float:
        return float(self.conventions.get("threshold", DEFAULT_THRESHOLD))

    def _entry(self, role: str) -> dict:
        if role not in self._entries:
            have = ", ".join(self.roles) or "none"
            raise ModelFileError(self.path, f"has no '{role}' network (it has: {have})")
        return self._entries[role]

    def in_channels(self, role: str) -> int:
        """Image channels the role's network takes (without extra conditioning channels)."""
        return int(self._entry(role)["kwargs"].get("in_channels", len(self.modalities)))

    def extra_channels(self, role: str) -> int:
        """Conditioning channels (e.g. a lesion mask for a reconstructor) the role takes."""
        return int(self._entry(role)["kwargs"].get("extra_channels", 0))

    def check_channels(self, role: str, n_images: int, n_extra: int = 0) -> None:
        """Raise ModelFileError unless the role takes `n_images` image and `n_extra` extra channels."""
        want, want_extra = self.in_channels(role), self.extra_channels(role)
        if n_images != want:
            raise ModelFileError(
                self.path, f"the '{role}' network takes {want} channel(s) ({', '.join(self.modalities)}) "
                f"but {n_images} volume(s) were given")
        if n_extra != want_extra:
            raise ModelFileError(
                self.path, f"the '{role}' network takes {want_extra} extra channel(s) "
                f"but {n_extra} were given")

    def network(self, role: str, device: str | torch.device | None = None) -> nn.Module:
        """The role's network in eval mode with its weights, built once per device."""
        from ..nets.registry import build_network

        entry = self._entry(role)
        device = str(device or self.device)
        key = (role, device)
        if key not in self._cache:
            _check_size(self.path, role, entry)
            try:
                net = build_network(entry["arch"], **entry["kwargs"])
            except Exception as error:  # an unknown arch or bad kwargs: the file is at fault
                raise ModelFileError(self.path, f"cannot build the '{role}' network "
                                     f"({entry['arch']}): {error}") from error
            state = {key_: (t.float() if t.is_floating_point() else t) for key_, t in entry["state_dict"].items()}
            try:
                net.load_state_dict(state)
            except RuntimeError as error:
                raise ModelFileError(self.path, f"the '{role}' weights do not fit its architecture: {error}") from error
            self._cache[key] = net.to(device).eval()
        return self._cache[key]


# Bounds on a network's integer architecture arguments (widths, block counts, sizes). A file
# may not make the loader build a network of 10^9 blocks: the networks LesionGAN trains stay
# far below these.
MAX_ARCH_INT = 4096
# Counts of repeated layers, bounded tighter: each is a Python object to build, even on `meta`.
MAX_REPEATS = {"n_blocks": 64, "n_layers": 16, "depth": 16}


def _numbers(value: Any) -> Iterable[Any]:
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def _check_size(path: Path, role: str, entry: dict) -> None:
    """Refuse a network whose arguments are out of bounds or whose parameter count differs from
    its stored weights, before anything is allocated: the network is first built on the `meta`
    device, which allocates no memory."""
    from ..limits import check_memory
    from ..nets.registry import build_network

    for key, limit in MAX_REPEATS.items():
        count = entry["kwargs"].get(key)
        if isinstance(count, int) and not isinstance(count, bool) and count > limit:
            raise ModelFileError(path, f"the '{role}' network's architecture asks for {key}={count} (more than "
                                       f"{limit}): refused, it would not fit in memory")
    for number in _numbers(entry["kwargs"]):
        if isinstance(number, float) and not math.isfinite(number):
            raise ModelFileError(path, f"the '{role}' network's architecture holds {number!r}")
        if isinstance(number, int) and not -1 <= number <= MAX_ARCH_INT:
            raise ModelFileError(path, f"the '{role}' network's architecture asks for {number} (more than "
                                       f"{MAX_ARCH_INT}): refused, it would not fit in memory")
    try:
        with torch.device("meta"):
            shell = build_network(entry["arch"], **entry["kwargs"])
    except Exception as error:  # an unknown arch or bad kwargs: the file is at fault
        raise ModelFileError(path, f"cannot build the '{role}' network ({entry['arch']}): {error}") from error
    wanted = sum(t.numel() for t in shell.state_dict().values())
    stored = sum(t.numel() for t in entry["state_dict"].values())
    if wanted != stored:
        raise ModelFileError(path, f"the '{role}' weights do not fit its architecture ({entry['arch']} has "
                                   f"{wanted} values, the file stores {stored})")
    check_memory(wanted * 4 * 2, f"building the '{role}' network of {path}")


def _check_weights(path: Path, networks: dict) -> None:
    """Every stored weight is a tensor and finite: a NaN weight turns every output into NaN."""
    for role, entry in networks.items():
        state = entry["state_dict"]
        if not isinstance(state, dict) or not isinstance(entry["kwargs"], dict):
            raise ModelFileError(path, f"the '{role}' network entry is malformed (kwargs and state_dict must be mappings)")
        for name, tensor in state.items():
            if not isinstance(tensor, torch.Tensor):
                raise ModelFileError(path, f"the '{role}' weight {name!r} is a {type(tensor).__name__}, not a tensor")
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise ModelFileError(path, f"the '{role}' weight {name!r} holds NaN or infinite values; "
                                           "the model would give NaN everywhere")


def _check_archive(path: Path) -> None:
    """Every member's CRC-32: torch.load does not check them, so a flipped bit would be used."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    # zipfile reports some damage as NotImplementedError (a mangled compression method) or
    # RuntimeError (a flipped "encrypted" flag)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as error:
        raise ModelFileError(path, f"is truncated or damaged ({error})") from error
    if damaged is not None:
        raise ModelFileError(path, f"is damaged: its part {damaged!r} fails its checksum (a corrupted copy?)")


def _check_shipped(path: Path) -> None:
    """A model shipped with LesionGAN must be the file its manifest lists (size and SHA-256)."""
    from .catalog import load_manifest, models_dir
    from .download import file_sha256

    try:
        if path.resolve().parent != models_dir().resolve():
            return
    except OSError:
        return
    for entry in load_manifest():
        if entry.source == "shipped" and entry.path.resolve() == path.resolve() and entry.sha256:
            if path.stat().st_size != entry.size or file_sha256(path) != entry.sha256:
                raise ModelFileError(path, "differs from the file LesionGAN shipped (its size or SHA-256 does "
                                           "not match the manifest); reinstall the extension")


def _read_payload(path: Path) -> dict:
    if not path.is_file():
        raise ModelFileError(path, "no such model file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise ModelFileError(path, f"cannot be read ({error.strerror or error})") from error
    if head[:2] != b"PK":
        raise ModelFileError(path, "is not a LesionGAN model file (not a PyTorch archive)")
    try:
        whole = zipfile.is_zipfile(path)
    except zipfile.BadZipFile as error:  # is_zipfile lets some damaged end records through as errors
        raise ModelFileError(path, f"is truncated or damaged ({error})") from error
    if not whole:
        raise ModelFileError(path, "is truncated or damaged (the archive is incomplete)")
    _check_archive(path)
    _check_shipped(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ModelFileError(
            path, "refuses to run code from the file: it holds objects other than plain data and "
            f"tensors, so it is not a LesionGAN model file ({str(error).splitlines()[-1][:200]})") from error
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError, TypeError,
            AttributeError, IndexError, UnicodeDecodeError, OverflowError, MemoryError) as error:
        # a damaged archive can fail anywhere inside torch.load's unpickler and storage reader
        message = (str(error).splitlines() or [type(error).__name__])[0][:200]
        raise ModelFileError(path, f"is truncated or damaged ({message})") from error
    return payload


def _validate(path: Path, payload: Any) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ModelFileError(path, f"is not a LesionGAN model file (format {found!r}, expected {FORMAT!r})")
    version = payload.get("version")
    if version != VERSION:
        raise ModelFileError(path, f"has model file version {version!r}; this LesionGAN reads version {VERSION}")
    networks = payload.get("networks")
    if not isinstance(networks, dict) or not networks:
        raise ModelFileError(path, "holds no networks")
    for role, entry in networks.items():
        if not isinstance(entry, dict) or not {"arch", "kwargs", "state_dict"} <= entry.keys():
            raise ModelFileError(path, f"the '{role}' network entry lacks arch, kwargs or state_dict")
    _check_weights(path, networks)
    conventions = payload.get("conventions")
    if not isinstance(conventions, dict) or not conventions.get("modalities"):
        raise ModelFileError(path, "its conventions do not name the modalities the model takes")
    modalities = conventions["modalities"]
    if not isinstance(modalities, list) or not all(isinstance(m, str) and m for m in modalities):
        raise ModelFileError(path, f"its modalities {modalities!r} are not a list of names")
    optional = conventions.get("optional_modalities", [])
    if not isinstance(optional, list) or not all(isinstance(m, str) and m in modalities[1:] for m in optional):
        raise ModelFileError(path, f"its optional modalities {optional!r} are not a list of its modalities "
                                   "after the first")
    _check_conventions(path, conventions)
    threshold = conventions.get("threshold", DEFAULT_THRESHOLD)
    if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ModelFileError(path, f"its default threshold {threshold!r} is not a number")


def _check_conventions(path: Path, conventions: dict) -> None:
    """Spacing and size a model asks inputs to be brought to: positive, finite and bounded."""
    spacing = conventions.get("spacing")
    spacings = [spacing] if isinstance(spacing, (int, float)) else spacing
    if spacing is not None and (not isinstance(spacings, list) or len(spacings) not in (1, 2) or not all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) and s > 0 for s in spacings)):
        raise ModelFileError(path, f"its in-plane spacing {spacing!r} is not one or two positive numbers of mm")
    size = conventions.get("size")
    if size is not None:
        sizes = [size] if isinstance(size, (int, float)) else size
        if (not isinstance(sizes, list) or len(sizes) not in (1, 2)
                or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_ARCH_INT for n in sizes)):
            raise ModelFileError(path, f"its slice size {size!r} is not one or two whole numbers in "
                                       f"[1, {MAX_ARCH_INT}]")


def load_model(path: str | os.PathLike, device: str = "cpu", roles: Iterable[str] | None = None) -> ModelFile:
    """Open a model file without running code from it; `roles` (if given) must all be present.
    A bare name that is no file (`demo_antgan_brain`) is a catalog or registered model's name."""
    path = Path(path)
    if not path.exists() and not path.suffix and len(path.parts) == 1:
        from .catalog import resolve_model

        path = resolve_model(str(path))
    payload = _read_payload(path)
    _validate(path, payload)
    entries: dict[str, dict] = payload["networks"]
    if roles is not None:
        roles = list(roles)
        missing = [role for role in roles if role not in entries]
        if missing:
            raise ModelFileError(path, f"has no {', '.join(repr(r) for r in missing)} network "
                                 f"(it has: {', '.join(entries)})")
        entries = {role: entries[role] for role in roles}
    model = ModelFile(path=path, method=str(payload.get("method", "")), conventions=payload["conventions"],
                      provenance=payload.get("provenance") or {}, metrics=payload.get("metrics") or {},
                      roles=tuple(entries), device=device, _entries=entries)
    for role in model.roles:
        if "in_channels" in entries[role]["kwargs"] and role in ("a2n", "n2a", "reconstructor"):
            if model.in_channels(role) != len(model.modalities):
                raise ModelFileError(path, f"the '{role}' network takes {model.in_channels(role)} channel(s) "
                                     f"but the file names {len(model.modalities)} modalities")
    return model


def repack_model(source: str | os.PathLike, destination: str | os.PathLike, *, half: bool | None = True,
                 metrics: dict | None = None, conventions: dict | None = None) -> Path:
    """Write `source` again as `destination`, with fp16 weights, measured metrics and/or
    updated conventions (a calibrated threshold).

    How a trained run's `model.pt` becomes a model small enough to ship: the networks, roles,
    conventions and provenance are kept; `metrics` (when given) replaces the file's metrics,
    `conventions` updates the given keys; `half=None` keeps the weights' stored precision.
    """
    model = load_model(source)
    if half is None:
        half = all(model._entry(role).get("dtype") == "float16" for role in model.roles)
    return save_model(destination, method=model.method,
                      networks={role: model.network(role) for role in model.roles},
                      conventions={**model.conventions, **(conventions or {})}, provenance=model.provenance,
                      metrics=model.metrics if metrics is None else metrics, half=half)
