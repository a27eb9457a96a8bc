"""Generated faces written in the official dataset formats (``otmark synth``).

Modules (one job each): ``face_model`` (3-D curves, identity/expression, scheme sampling),
``camera`` (pose, projection, self-occlusion), ``render`` (drawing), ``background``,
``accessories`` (occluders and their per-point flags), ``domains`` (per-dataset parameter
distributions), ``video`` (smooth trajectories), ``generate`` (samples -> files through
:mod:`otmark.datasets` writers).
"""
