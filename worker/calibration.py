"""The worker's own speed, measured once at startup, so that a job no similar job has run
before still gets an estimate at submission (services.estimates.from_calibration)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from config.logs import describe, log_event
from config.settings import Settings
from reprogramming.backbones import create_backbone
from services.estimates import REFERENCE_BACKBONE, REFERENCE_SIZE
from worker.device import this_device

log = logging.getLogger("reprogram.worker")
_BATCH, _ROUNDS = 4, 3
_measured: list[dict[str, float]] = []


def measure() -> dict[str, float]:
    """Seconds per image of the reference backbone here: inference, and with input gradients."""
    device = torch.device("cuda" if this_device().kind == "cuda" else "cpu")
    # Random weights: the speed is the same, and nothing has to be read from disk.
    model = create_backbone(REFERENCE_BACKBONE, weights="random").to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    x = torch.rand(_BATCH, 3, REFERENCE_SIZE, REFERENCE_SIZE, device=device)

    def timed(step: Callable[[], None]) -> float:
        step()  # warm-up: allocation, kernel choice
        rounds = []
        for _ in range(_ROUNDS):
            start = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            rounds.append(time.perf_counter() - start)
        return min(rounds) / _BATCH  # the least disturbed round: other work only slows one

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def backward() -> None:
        program = x.clone().requires_grad_(True)
        model(program).sum().backward()

    return {"forward_s": timed(forward), "backward_s": timed(backward)}


def _cached(settings: Settings) -> dict[str, float]:
    """This machine's measurement, taken once per device, thread count and torch version."""
    device = this_device()
    key = f"{device.kind}|{device.name}|{torch.get_num_threads()}|{torch.__version__}"
    path: Path = settings.data_dir / "calibration.json"
    try:
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            return dict(saved["measured"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    measured = measure()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "measured": measured}))
    return measured


def current() -> dict[str, float] | None:
    """What this process measured, once it has (its presence reports carry it)."""
    return _measured[0] if _measured else None


def _run(settings: Settings) -> None:
    try:
        measured = _cached(settings)
    except Exception as exc:  # an estimate is a nicety: the worker runs jobs without it
        log_event(log, "calibration failed", level=logging.WARNING, error=describe(exc))
        return
    _measured[:] = [measured]
    log_event(log, "worker calibrated", forward_s=round(measured["forward_s"], 5),
              backward_s=round(measured["backward_s"], 5))  # fmt: skip


def start(settings: Settings) -> None:
    """Measure in the background; the next presence report records it."""
    if settings.calibrate:
        threading.Thread(target=_run, args=(settings,), daemon=True, name="calibration").start()
