"""`lesiongan web`: pseudo-healthy synthesis and lesion painting in a web browser.

A trame-slicer application: Slicer's MRML scene, slice views and segment editor run headless
in this process and are served to the page. The work is done by the same logic classes the
Slicer panels use (`PseudoHealthyLogic`, `LesionSynthesisLogic`) on that scene.
"""
