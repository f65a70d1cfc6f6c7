"""`lesiongan.device`: the one place that turns 'auto', 'cpu' or 'cuda' into a torch device."""

from __future__ import annotations

import pytest
import torch

from lesiongan import device
from lesiongan.errors import LesionGANError


def test_auto_is_the_gpu_when_there_is_one_else_the_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert device.resolve_device("auto").type == expected
    assert device.resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_a_missing_gpu_or_an_unknown_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(LesionGANError, match="no usable CUDA GPU"):
        device.resolve_device("cuda:0")
    with pytest.raises(LesionGANError, match="unknown device 'tpu7'"):
        device.resolve_device("tpu7")


def test_cpu_threads_keep_the_setting_where_the_load_is_unknown(monkeypatch):
    monkeypatch.setattr(device, "busy_cores", lambda: None)
    assert device.cpu_threads() == torch.get_num_threads()
