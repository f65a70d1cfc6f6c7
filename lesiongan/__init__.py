"""LesionGAN core: pseudo-healthy synthesis, lesion detection and lesion synthesis with GANs.

Pure PyTorch/SimpleITK: nothing here imports slicer, qt, ctk or vtk.
"""

__version__ = "0.1.0"
