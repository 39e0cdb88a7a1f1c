"""Reprogram: the Python SDK and the `reprogram` command. Importing it never loads torch."""

__version__ = "0.1.0"
