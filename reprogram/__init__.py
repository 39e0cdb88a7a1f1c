"""Reprogram: the Python SDK and the `reprogram` command. Importing it never loads torch."""

from reprogram.client import Client, Dataset, Event, Job, Model, Prediction

__version__ = "0.1.0"
__all__ = ["Client", "Dataset", "Event", "Job", "Model", "Prediction"]
