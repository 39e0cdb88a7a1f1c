"""Reprogram: the Python SDK and the `reprogram` command. Importing it never loads torch."""

from importlib.metadata import PackageNotFoundError, version

from reprogram.async_client import AsyncClient, AsyncJob
from reprogram.client import Client, Job
from reprogram.objects import (
    CatalogEntry,
    Credential,
    Dataset,
    Delivery,
    Event,
    Model,
    Prediction,
    Stored,
    Sweep,
    Trial,
    Usage,
    Webhook,
    Worker,
)
from reprogram.statuses import JobStatus

try:  # the one version is pyproject.toml's, as installed
    __version__ = version("reprogram")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
__all__ = [
    "AsyncClient",
    "AsyncJob",
    "CatalogEntry",
    "Client",
    "Credential",
    "Dataset",
    "Delivery",
    "Event",
    "Job",
    "JobStatus",
    "Model",
    "Prediction",
    "Stored",
    "Sweep",
    "Trial",
    "Usage",
    "Webhook",
    "Worker",
]
