"""otmark: robust facial landmark detection with heatmap regression models.

Subpackages (each owns one step of the data path, see docs/architecture.md):
``schemes``, ``datasets``, ``synth``, ``transforms``, ``heatmaps``, ``models``, ``ot``,
``losses``, ``metrics``, ``perturb``, ``protocols``, ``engine``, ``inference``, ``cli``.
"""

__version__ = "0.1.0"
