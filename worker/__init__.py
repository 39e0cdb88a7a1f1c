"""Celery workers: each task claims one job, runs the engine, and records what happened."""
