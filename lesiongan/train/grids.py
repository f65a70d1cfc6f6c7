"""PNG grid of sample panels: one column per panel, one row per slice, titles on top."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..data.volume import atomic_path

TITLE_HEIGHT = 14


def save_grid(panels: list[tuple[str, torch.Tensor]], path: Path, max_rows: int = 4) -> Path:
    """Write `panels` (titled (N, C, H, W) tensors in [0, 1]; first channel shown) as one PNG."""
    columns = [panel[:max_rows, :1].detach().float().clamp(0, 1).cpu() for _, panel in panels]
    rows = min(column.shape[0] for column in columns)
    height, width = columns[0].shape[-2:]
    canvas = np.zeros((TITLE_HEIGHT + rows * height, len(columns) * width), dtype=np.uint8)
    for c, column in enumerate(columns):
        for r in range(rows):
            canvas[TITLE_HEIGHT + r * height : TITLE_HEIGHT + (r + 1) * height, c * width : (c + 1) * width] = (column[r, 0].numpy() * 255).round()
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for c, (title, _) in enumerate(panels):
        draw.text((c * width + 2, 1), title[: max(1, width // 6)], fill=255)
    with atomic_path(path) as temporary:
        image.save(temporary, format="PNG")
    return path
