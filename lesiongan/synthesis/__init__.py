"""Lesion synthesis: paint a lesion into a region, random plausible regions, augmentation in the
BraTS layout, new images from noise, and the Visual Turing Test."""

from .paint import BLEND_MARGIN_MM, PaintResult, blend_weights, paint_lesion, painting_role
from .placement import brain_mask, random_lesion_masks, ventricle_mask
from .turing import TuringScore, TuringTest, machine_judgement

__all__ = ["BLEND_MARGIN_MM", "PaintResult", "TuringScore", "TuringTest", "blend_weights", "brain_mask",
           "machine_judgement", "paint_lesion", "painting_role", "random_lesion_masks", "ventricle_mask"]
