"""The one task: run a job from its row to a registered model (or a recorded failure)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

from db import jobs, notify, resources
from db.models import Dataset, Model, new_id
from db.session import session_scope
from db.settings import Settings, get_settings
from db.storage import get_store, model_directory
from worker.app import app

TASK_NAME = "reprogram.run_job"
log = logging.getLogger(__name__)


@app.task(name=TASK_NAME, bind=True)
def run_job_task(self: Any, job_id: str) -> str:
    """Claim the job (a redelivered message never runs it twice) and run it."""
    settings = get_settings()
    worker = f"{self.request.hostname or socket.gethostname()}/{os.getpid()}"
    with session_scope() as session:
        job = jobs.claim_job(
            session,
            job_id=job_id,
            worker=worker,
            stale_after=timedelta(seconds=settings.heartbeat_timeout_s),
        )
        if job is None:
            log.info("job %s is not ours to run (finished, or alive on another worker)", job_id)
            return "skipped"
        spec, owner_id, attempt = dict(job.spec), job.owner_id, job.attempt
    notify.publish(settings, job_id=job_id)
    return execute(
        job_id=job_id, owner_id=owner_id, spec=spec, attempt=attempt, worker=worker,
        settings=settings,
    )  # fmt: skip


class Heartbeat(threading.Thread):
    """Tells the database the worker is alive and notices cancellation or a lost claim."""

    def __init__(self, *, job_id: str, worker: str, interval: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.job_id, self.worker, self.interval = job_id, worker, interval
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self.done = threading.Event()
        self.progress: float | None = None

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                with session_scope() as session:
                    status, ours = jobs.beat(
                        session, job_id=self.job_id, worker=self.worker, progress=self.progress
                    )
                if not ours:  # another worker reclaimed the job after we went silent
                    self.lost.set()
            except Exception:  # a database hiccup must not kill the job; try again next beat
                log.exception("heartbeat for %s failed", self.job_id)
                continue
            if status == jobs.CANCELLING:
                self.cancel.set()
            elif status in jobs.FINISHED:
                self.lost.set()


def execute(
    *, job_id: str, owner_id: str, spec: dict[str, Any], attempt: int, worker: str,
    settings: Settings,
) -> str:  # fmt: skip
    """Run a claimed job with callbacks that record events; return its final status."""
    from reprogramming.errors import Cancelled, ReprogramError
    from reprogramming.job import run_job

    store = get_store(settings)
    workdir = settings.data_dir / "work" / job_id
    checkpoint_dir, artifact_dir = workdir / "checkpoint", workdir / "artifact"
    shutil.rmtree(artifact_dir, ignore_errors=True)
    resume = False
    if attempt > 1:
        with session_scope() as session:
            resume = store.get_checkpoint(session, job_id=job_id, dest=checkpoint_dir)
    epochs = int(spec.get("hyperparameters", {}).get("epochs", 10))
    heartbeat = Heartbeat(
        job_id=job_id, worker=worker, interval=max(0.5, settings.heartbeat_timeout_s / 6)
    )
    heartbeat.start()
    deadline = time.monotonic() + settings.job_time_limit_s
    timed_out = threading.Event()

    def should_stop() -> bool:
        if time.monotonic() > deadline:
            timed_out.set()
        return heartbeat.cancel.is_set() or heartbeat.lost.is_set() or timed_out.is_set()

    def on_epoch(metrics: dict[str, Any]) -> None:
        heartbeat.progress = metrics["epoch"] / epochs
        with session_scope() as session:
            jobs.add_event(
                session, job_id=job_id, type="epoch", epoch=metrics["epoch"], metrics=metrics
            )
            jobs.beat(
                session, job_id=job_id, worker=worker, progress=heartbeat.progress,
                epoch=metrics["epoch"],
            )  # fmt: skip
            if (checkpoint_dir / "checkpoint.pt").exists():
                store.put_checkpoint(session, job_id=job_id, source=checkpoint_dir)
        notify.publish(settings, job_id=job_id)

    def on_log(message: str) -> None:
        with session_scope() as session:
            jobs.add_event(session, job_id=job_id, type="log", message=message)
        notify.publish(settings, job_id=job_id)

    if resume:
        on_log(f"resuming from the checkpoint of attempt {attempt - 1}")
    try:
        result = run_job(
            spec,
            output_dir=artifact_dir,
            data_dir=settings.data_dir,
            on_epoch=on_epoch,
            on_log=on_log,
            should_stop=should_stop,
            checkpoint_dir=checkpoint_dir,
            resume=resume,
            resolve_model=lambda model_id: _resolve_model(model_id, owner_id, settings),
            resolve_upload=lambda dataset_id: _resolve_upload(dataset_id, owner_id),
        )
    except Cancelled:
        if heartbeat.lost.is_set() and not heartbeat.cancel.is_set():
            return "lost"  # another worker took the job over; it will finish it
        status, error = (
            (jobs.FAILED, f"time limit of {settings.job_time_limit_s} s exceeded")
            if timed_out.is_set()
            else (jobs.CANCELLED, None)
        )
        return _finish(job_id, status=status, error=error, store=store)
    except ReprogramError as exc:
        return _finish(job_id, status=jobs.FAILED, error=exc.message, store=store)
    except Exception as exc:
        log.error("job %s crashed:\n%s", job_id, traceback.format_exc())
        return _finish(
            job_id, status=jobs.FAILED, error=f"{type(exc).__name__}: {exc}", store=store
        )
    finally:
        heartbeat.done.set()
        heartbeat.join(timeout=5)
    return _register_model(
        job_id=job_id, owner_id=owner_id, spec=spec, manifest=result.manifest or {},
        metrics=result.metrics, artifact_dir=artifact_dir, workdir=workdir, settings=settings,
    )  # fmt: skip


def _finish(job_id: str, *, status: str, error: str | None, store: Any) -> str:
    with session_scope() as session:
        jobs.finish_job(session, job_id=job_id, status=status, error=error)
        store.delete_checkpoint(session, job_id=job_id)
    notify.publish(get_settings(), job_id=job_id)
    return status


def _register_model(
    *, job_id: str, owner_id: str, spec: dict[str, Any], manifest: dict[str, Any],
    metrics: dict[str, Any], artifact_dir: Path, workdir: Path, settings: Settings,
) -> str:  # fmt: skip
    """Store the artifact, register the model and mark the job succeeded, in one transaction."""
    store = get_store(settings)
    with session_scope() as session:
        if resources.model_for_job(session, job_id=job_id) is not None:
            return jobs.SUCCEEDED  # registered already by an earlier attempt
        model_id = new_id("mdl")
        location, size = store.put_artifact(session, model_id=model_id, source=artifact_dir)
        session.add(
            Model(
                id=model_id,
                owner_id=owner_id,
                job_id=job_id,
                name=spec.get("name"),
                method=manifest.get("method", spec.get("method", {}).get("kind", "")),
                labels=manifest.get("labels", []),
                metrics=metrics,
                backbone=manifest.get("backbone", {}),
                manifest=manifest,
                artifact_store=store.name,
                artifact_location=location,
                artifact_bytes=size,
            )
        )
        session.flush()
        jobs.finish_job(
            session, job_id=job_id, status=jobs.SUCCEEDED, model_id=model_id, metrics=metrics
        )
        store.delete_checkpoint(session, job_id=job_id)
    notify.publish(settings, job_id=job_id)
    shutil.rmtree(workdir, ignore_errors=True)
    return jobs.SUCCEEDED


def _resolve_model(model_id: str, owner_id: str, settings: Settings) -> Path:
    """The local artifact directory of one of the owner's models."""
    from reprogramming.errors import UnknownNameError

    with session_scope() as session:
        model = resources.get_owned(session, Model, id=model_id, owner_id=owner_id)
        if model is None:
            raise UnknownNameError(f"no model '{model_id}'", field="backbone.model_id")
        return model_directory(session, model=model, settings=settings)


def _resolve_upload(dataset_id: str, owner_id: str) -> Path:
    """The stored archive of one of the owner's uploaded datasets."""
    from reprogramming.errors import UnknownNameError

    with session_scope() as session:
        dataset = resources.get_owned(session, Dataset, id=dataset_id, owner_id=owner_id)
        if dataset is None:
            raise UnknownNameError(f"no dataset '{dataset_id}'", field="dataset.upload_id")
        return Path(dataset.path)
