"""Model files and slice-wise batched inference.

    from lesiongan.infer import load_model, run_model
    result = run_model(read_volume("case_flair.nii.gz"), load_model("model.pt"))
"""

from .engine import InferenceResult, resolve_device, run_model, threshold_difference
from .modelfile import FORMAT, VERSION, ModelFile, load_model, save_model

__all__ = ["FORMAT", "VERSION", "InferenceResult", "ModelFile", "load_model", "resolve_device", "run_model",
           "save_model", "threshold_difference"]
