"""Reprogramming engine: repurpose pretrained image classifiers without changing their weights.

Importing this package stays light (no torch): the job spec lives in `reprogramming.spec`;
the engine's heavy parts are imported from their modules (`reprogramming.job`, ...).
"""

from importlib.metadata import PackageNotFoundError, version

try:  # the one version is pyproject.toml's, as installed
    __version__ = version("reprogram")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
