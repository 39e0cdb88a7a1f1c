"""Serving many trained models from one process: a memory-sized cache and cross-model batching.

`ModelServer` is the entry point; the API wraps one in HTTP, and a Python program can use one
directly (see `reprogramming.serving.server`).
"""

from reprogramming.errors import InvalidImageError
from reprogramming.serving.cache import CacheStats, ModelCache
from reprogramming.serving.server import ModelServer, Observer
from reprogramming.serving.units import ServedModel

__all__ = [
    "CacheStats",
    "InvalidImageError",
    "ModelCache",
    "ModelServer",
    "Observer",
    "ServedModel",
]
