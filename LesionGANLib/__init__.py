"""Slicer code shared by the LesionGAN modules (PseudoHealthy, LesionSynthesis, LesionGANTraining).

Installed beside the modules as a package of its own, the way Slicer's DICOMLib serves DICOM:

- `scenelogic`: the base of the module logics (a scripted-module logic bound to a scene);
- `nodes`: conversions between MRML volume nodes and `lesiongan` volumes, output bookkeeping;
- `models`: loaded model files, cached until the file changes;
- `dependencies`: installing what the modules need, at the first use that needs it;
- `widgets`: the panel pieces (the only part that imports qt).

Importing this package, or any part but `widgets`, needs neither qt nor torch.
"""
