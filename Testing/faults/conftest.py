"""Fixtures of the fault suite: a small data folder of image + mask pairs, made in a moment."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two subjects of 12 x 32 x 32 voxels, `<name>.nii.gz` + `<name>_mask.nii.gz`, each with a lesion."""
    from lesiongan.data.volume import write_volume
    from test_infer_support import brain_volume

    root = tmp_path_factory.mktemp("fault_pairs")
    for index in range(2):
        volume = brain_volume(shape=(12, 32, 32), seed=index)
        write_volume(volume, root / f"subject{index}.nii.gz")
        write_volume(volume.with_array((volume.array == 1000).astype(np.uint8)), root / f"subject{index}_mask.nii.gz")
    return root
