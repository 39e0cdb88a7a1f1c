"""A background chore repeated at an interval, whose failures are told once, not every time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from config.logs import describe, log_event


def run_every(
    *, interval: float, action: Callable[[], object], stop: threading.Event, what: str,
    log: logging.Logger,
) -> None:  # fmt: skip
    """Call `action` now and every `interval` seconds until `stop` is set."""
    failing = False
    while True:
        try:
            action()
            if failing:
                log_event(log, f"{what} works again")
            failing = False
        except Exception as exc:  # the database may be down; the next round tries again
            if not failing:
                log_event(log, f"{what} failed; retrying", level=logging.WARNING,
                          error=describe(exc))  # fmt: skip
            failing = True
        if stop.wait(interval):
            return
