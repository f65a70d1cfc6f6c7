"""The training loop every method shares: `train(TrainConfig(...)) -> model file path`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loop import TrainConfig, train


def __getattr__(name: str) -> Any:
    # Lazy, so `import lesiongan.train.checkpoint` does not pull in the method registry.
    if name in ("TrainConfig", "train"):
        from . import loop

        return getattr(loop, name)
    raise AttributeError(name)


__all__ = ["TrainConfig", "train"]
