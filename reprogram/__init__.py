"""Reprogram: the Python SDK and the `reprogram` command. Importing it never loads torch."""

from reprogram.async_client import AsyncClient, AsyncJob
from reprogram.client import Client, Job
from reprogram.objects import CatalogEntry, Dataset, Event, Model, Prediction

__version__ = "0.1.0"
__all__ = [
    "AsyncClient",
    "AsyncJob",
    "CatalogEntry",
    "Client",
    "Dataset",
    "Event",
    "Job",
    "Model",
    "Prediction",
]
