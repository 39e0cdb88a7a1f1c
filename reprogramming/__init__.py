"""Reprogramming engine: repurpose pretrained image classifiers without changing their weights.

Importing this package stays light (no torch): the job spec lives in `reprogramming.spec`;
the engine's heavy parts are imported from their modules (`reprogramming.job`, ...).
"""

__version__ = "0.1.0"
