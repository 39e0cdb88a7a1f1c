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
from reprogramming.runtime import autocast, use_bf16
from services.estimates import REFERENCE_BACKBONE, REFERENCE_SIZE, SMALL_SIZE
from worker.device import this_device

log = logging.getLogger("reprogram.worker")
_ROUNDS = 3
_measured: list[dict[str, float]] = []
_stop = threading.Event()


class _Stopped(Exception):
    """The worker is stopping: the measurement is dropped."""


def measure() -> dict[str, float]:
    """Seconds per image of the reference backbone here, at two input sides (inference, and with
    input gradients), and seconds to load it with its weights (each job's setup)."""
    device = torch.device("cuda" if this_device().kind == "cuda" else "cpu")
    create_backbone(REFERENCE_BACKBONE)  # the first load also pays one-time imports and reads
    started = time.perf_counter()
    model = create_backbone(REFERENCE_BACKBONE).to(device).eval()
    measured = {"setup_s": time.perf_counter() - started}
    for parameter in model.parameters():
        parameter.requires_grad_(False)

    def timed(step: Callable[[], None], batch: int) -> float:
        step()  # warm-up: allocation, kernel choice
        rounds = []
        for _ in range(_ROUNDS):
            if _stop.is_set():  # a process must not exit with torch busy in another thread
                raise _Stopped
            start = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            rounds.append(time.perf_counter() - start)
        return min(rounds) / batch  # the least disturbed round: other work only slows one

    # As the engine runs a frozen backbone: its precision (bf16 where it pays) and layout.
    bf16 = use_bf16("auto", device, training_weights=False)
    # Small inputs cost more per pixel (per-layer overheads), so two sides are timed.
    for side, batch, suffix in ((REFERENCE_SIZE, 16, ""), (SMALL_SIZE, 32, "_small")):
        x = torch.rand(batch, 3, side, side, device=device)
        x = x.contiguous(memory_format=torch.channels_last)

        def forward(x: torch.Tensor = x) -> None:
            with torch.no_grad(), autocast(device, bf16):
                model(x)

        def backward(x: torch.Tensor = x) -> None:
            with autocast(device, bf16):
                out = model(x.clone().requires_grad_(True)).float().sum()
            out.backward()

        measured[f"forward_s{suffix}"] = timed(forward, batch)
        measured[f"backward_s{suffix}"] = timed(backward, batch)
    return measured


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
    except _Stopped:
        return
    except Exception as exc:  # an estimate is a nicety: the worker runs jobs without it
        log_event(log, "calibration failed", level=logging.WARNING, error=describe(exc))
        return
    _measured[:] = [measured]
    shown = ",".join(f"{key}:{value:.5f}" for key, value in measured.items())
    log_event(log, "worker calibrated", seconds=shown)


def start(settings: Settings) -> None:
    """Measure in the background; the next presence report records it."""
    if settings.calibrate:
        _stop.clear()
        threading.Thread(target=_run, args=(settings,), daemon=True, name="calibration").start()


def stop() -> None:
    """Drop a measurement still under way: it ends at its next step, not holding the exit."""
    _stop.set()
