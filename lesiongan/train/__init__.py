"""The training loop every method shares: `train(TrainConfig(...)) -> model file path`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import TrainConfig
    from .loop import train


def __getattr__(name: str) -> Any:
    # Lazy, so `import lesiongan.train.checkpoint` does not pull in the method registry, and
    # `TrainConfig` comes without torch.
    if name == "TrainConfig":
        from .config import TrainConfig

        return TrainConfig
    if name == "train":
        from .loop import train

        return train
    raise AttributeError(name)


__all__ = ["TrainConfig", "train"]
