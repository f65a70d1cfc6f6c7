"""Property-based and fuzz tests of the readers, the model-file loader, the inference API and the
option checks, with a fixed example budget (derandomized: CI runs the same examples each time).

The rule every test holds: any input gives a correct result or exactly one LesionGANError with a
message that names what is wrong; never another exception.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lesiongan.data.volume import Volume, read_volume, write_volume
from lesiongan.errors import InputError, LesionGANError
from lesiongan.infer.engine import run_model
from lesiongan.infer.modelfile import load_model
from lesiongan.train.config import check_config
from lesiongan.train.validate import check_options
from test_infer_support import brain_volume, write_model

BUDGET = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SMALL_BUDGET = settings(BUDGET, max_examples=30)


def _clear(error: LesionGANError) -> None:
    message = str(error)
    assert message and len(message) < 2000 and "\n" not in message.strip(), message


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("fuzz_originals")
    volume = brain_volume(shape=(6, 10, 12))
    return {suffix: write_volume(volume, folder / f"v{suffix}").read_bytes()
            for suffix in (".nii", ".nii.gz", ".nrrd", ".mha")}


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None, limit: int | None = None) -> bytes:
    """Set bytes at positions (taken modulo `limit` or the length) and optionally truncate."""
    buffer = bytearray(data)
    span = min(len(buffer), limit or len(buffer))
    for position, value in edits:
        buffer[position % span] = value
    if cut is not None:
        buffer = buffer[: cut % (len(buffer) + 1)]
    return bytes(buffer)


_EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=6)


def _read_or_clear_error(path: Path, original: Volume | None = None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            volume = read_volume(path, allow_empty=True)
        except LesionGANError as error:
            _clear(error)
            return
    assert volume.array.dtype == np.float32 and volume.array.ndim == 3
    assert np.isfinite(volume.array).all() and min(volume.spacing) > 0


@pytest.mark.parametrize("suffix, header_bytes", [(".nii", 352), (".nrrd", 300), (".mha", 300)])
@BUDGET
@given(edits=_EDITS, cut=st.none() | st.integers(0, 1 << 20))
def test_mutated_volume_headers(tmp_path, originals, suffix, header_bytes, edits, cut):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(_mutate(originals[suffix], edits, cut, limit=header_bytes))
    _read_or_clear_error(path)


@SMALL_BUDGET
@given(edits=_EDITS, cut=st.none() | st.integers(0, 1 << 20))
def test_mutated_gzip_volumes(tmp_path, originals, edits, cut):
    path = tmp_path / "fuzz.nii.gz"
    path.write_bytes(_mutate(originals[".nii.gz"], edits, cut))
    _read_or_clear_error(path)


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory) -> bytes:
    return write_model(tmp_path_factory.mktemp("fuzz_model") / "m.pt", ceiling=0.0).read_bytes()


@SMALL_BUDGET
@given(edits=_EDITS, cut=st.none() | st.integers(0, 1 << 20))
def test_mutated_model_files(tmp_path, model_bytes, edits, cut):
    path = tmp_path / "fuzz.pt"
    path.write_bytes(_mutate(model_bytes, edits, cut))
    try:
        model = load_model(path)
        result = run_model(brain_volume(shape=(6, 12, 12)), model, role=model.roles[0])
    except LesionGANError as error:
        _clear(error)
        return
    assert np.isfinite(result.output.array).all()


_DTYPES = st.sampled_from([np.uint8, np.int16, np.uint16, np.int32, np.float16, np.float32, np.float64, np.bool_])
_SPACING = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(write_model(tmp_path_factory.mktemp("fuzz_api") / "m.pt", ceiling=0.0,
                                  conventions={"spacing": 1.0}))


@settings(BUDGET, max_examples=20)
@given(array=hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=12)),
       spacing=st.tuples(_SPACING, _SPACING, _SPACING))
def test_run_model_on_arbitrary_volumes(model, array, spacing):
    try:
        volume = Volume(array, spacing, (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        result = run_model(volume, model)
    except LesionGANError as error:
        _clear(error)
        return
    assert result.output.shape == array.shape and result.mask.array.dtype == np.uint8
    assert np.isfinite(result.output.array).all()


_ANY_NUMBER = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True), st.booleans())


@BUDGET
@given(key=st.sampled_from(["lr", "beta1", "beta2", "decay_start", "ngf", "ndf", "n_blocks", "lambda_am",
                            "lambda_cc", "pool_size", "unet_depth", "clip"]), value=_ANY_NUMBER)
def test_option_values(key, value):
    try:
        check_options({key: value}, "antgan")
    except InputError as error:
        _clear(error)
        assert key in str(error)
        return
    if not isinstance(value, bool):
        assert math.isfinite(value) and value >= 0
        if key == "lr":
            assert value > 0


@BUDGET
@given(iterations=_ANY_NUMBER, batch=_ANY_NUMBER, every=_ANY_NUMBER, seed=_ANY_NUMBER,
       size=st.none() | st.tuples(st.integers(-8, 5000), st.integers(-8, 5000)),
       spacing=st.none() | st.floats(allow_nan=True, allow_infinity=True))
def test_run_settings(iterations, batch, every, seed, size, spacing):
    from lesiongan.train import TrainConfig

    config = TrainConfig(iterations=iterations, batch_size=batch, checkpoint_every=every, seed=seed, size=size,
                         spacing=spacing)
    try:
        check_config(config)
    except InputError as error:
        _clear(error)
        return
    assert isinstance(iterations, int) and iterations >= 1 and isinstance(every, int) and every >= 1
    assert 0 <= seed < 2**32
    assert size is None or all(n % 4 == 0 and n >= 8 for n in size)
    assert spacing is None or 0.05 <= spacing <= 20


@SMALL_BUDGET
@given(text=st.text(alphabet="NRRD0123456789 :.-\nabcdefghijklmnopqrstuvwxyz", max_size=300))
def test_nrrd_header_text(tmp_path, text):
    path = tmp_path / "fuzz.nrrd"
    path.write_bytes(b"NRRD0004\n" + text.encode() + b"\n\n" + bytes(64))
    _read_or_clear_error(path)
