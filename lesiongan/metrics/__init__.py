"""Quality metrics of pseudo-healthy synthesis, lesion detection and image synthesis.

One protocol (`protocol.score_case`, `protocol.summarize`) on normalized [0, 1] intensities
inside the foreground: non-lesion PSNR (ANT-GAN), identity and healthiness (Xia et al.),
Dice / precision / recall / AUPRC of the difference map, PSNR/SSIM against the phantom's
true healthy volume, and realism scores (classifier two-sample test, FID-style distance).
"""

from .detection import auprc, dice, precision_recall_f1
from .healthiness import healthiness
from .image import masked_ms_ssim, psnr, ssim
from .protocol import score_case, summarize
from .realism import c2st_accuracy, frechet_distance, image_features

__all__ = [
    "auprc",
    "c2st_accuracy",
    "dice",
    "frechet_distance",
    "healthiness",
    "image_features",
    "masked_ms_ssim",
    "precision_recall_f1",
    "psnr",
    "score_case",
    "ssim",
    "summarize",
]
