"""Model files for the module logics: loaded once, kept until the file changes."""

from __future__ import annotations

import os
from pathlib import Path

from lesiongan.errors import InputError, ModelFileError


class ModelCache:
    """The last loaded model file. `load(None)` is the shipped demo model, a path or a catalog
    name is loaded (a catalog download is fetched first), a loaded model is taken as it is."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, float], object] = {}

    def load(self, model: object = None) -> object:
        from lesiongan.infer import catalog, modelfile  # torch: only once a model is needed

        if isinstance(model, modelfile.ModelFile):
            return model
        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise InputError("model", f"must be a model file path, a model name or a loaded model, "
                                      f"not {type(model).__name__} {model!r}")
        path = catalog.default_model_path() if model is None else catalog.resolve_model(model)
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(path, "no such model file")
        key = (str(path.resolve()), path.stat().st_mtime)
        if key not in self._loaded:
            self._loaded = {key: modelfile.load_model(path)}
        return self._loaded[key]

    def threshold(self, model: object = None) -> float:
        """The mask threshold the model file carries (calibrated when it was made)."""
        return float(self.load(model).threshold)
