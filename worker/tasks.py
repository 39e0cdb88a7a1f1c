"""The one task: run a job from its row to a registered model (or a recorded failure)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from db import jobs, notify, resources
from db.models import Dataset, Model, new_id
from db.session import database_unavailable, run_transaction
from db.settings import Settings, get_settings
from db.storage import ArtifactStore, get_store, model_directory
from services.dispatch import RUN_JOB, send_job
from services.logs import describe, log_event
from services.recovery import redispatch_delay
from worker import lifecycle
from worker.app import app

log = logging.getLogger("reprogram.worker")
T = TypeVar("T")


@dataclass(frozen=True)
class Claim:
    """A job this worker took: what it needs to run it."""

    job_id: str
    owner_id: str
    spec: dict[str, Any]
    attempt: int
    worker: str
    queue: str | None


def transaction(settings: Settings, action: Callable[[Session], T], *, job_id: str) -> T:
    """Run action in a transaction, waiting out a lost database (up to outage_tolerance_s)."""

    def waiting(error: BaseException) -> None:
        log_event(log, "database unreachable; waiting for it", level=logging.WARNING,
                  job_id=job_id, error=describe(error))  # fmt: skip

    return run_transaction(
        action, url=settings.sqlalchemy_url, patience_s=settings.outage_tolerance_s,
        on_wait=waiting,
    )  # fmt: skip


@app.task(name=RUN_JOB, bind=True)
def run_job_task(self: Any, job_id: str) -> str:
    """Claim the job (a redelivered or repeated message never runs it twice) and run it."""
    settings = get_settings()
    worker = f"{self.request.hostname or socket.gethostname()}/{os.getpid()}"
    if lifecycle.draining.is_set():  # a message taken just as the worker began to stop
        log_event(log, "job left for another worker (this one is stopping)", job_id=job_id)
        send_job(settings, job_id=job_id)
        return "skipped"

    def claim(session: Session) -> Claim | None:
        job = jobs.claim_job(
            session, job_id=job_id, worker=worker,
            stale_after=timedelta(seconds=settings.heartbeat_timeout_s),
        )  # fmt: skip
        if job is None:
            return None
        return Claim(job_id, job.owner_id, dict(job.spec), job.attempt, worker, job.queue)

    claimed = transaction(settings, claim, job_id=job_id)
    if claimed is None:
        log_event(log, "job not claimed: finished, or alive on another worker", job_id=job_id)
        return "skipped"
    log_event(log, "job claimed", job_id=job_id, attempt=claimed.attempt, worker=worker)
    notify.publish(settings, job_id=job_id)
    with lifecycle.running(job_id, worker=worker, queue=claimed.queue):
        outcome = execute(claimed, settings=settings)
    log_event(log, "job attempt ended", job_id=job_id, attempt=claimed.attempt, outcome=outcome)
    return outcome


class Heartbeat(threading.Thread):
    """Tells the database the worker is alive and notices cancellation or a lost claim."""

    def __init__(self, *, job_id: str, worker: str, interval: float, settings: Settings) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.job_id, self.worker, self.interval = job_id, worker, interval
        self.url = settings.sqlalchemy_url
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self.done = threading.Event()
        self.progress: float | None = None

    def run(self) -> None:
        unreachable = False
        while not self.done.wait(self.interval):
            try:
                status, ours = run_transaction(
                    lambda s: jobs.beat(
                        s, job_id=self.job_id, worker=self.worker, progress=self.progress
                    ),
                    url=self.url,
                )
            except Exception as exc:  # a database outage must not kill the job; beat again later
                if not unreachable:
                    log_event(log, "heartbeat failed; retrying", level=logging.WARNING,
                              job_id=self.job_id, error=describe(exc))  # fmt: skip
                unreachable = True
                continue
            if unreachable:
                log_event(log, "heartbeat recorded again", job_id=self.job_id)
                unreachable = False
            if not ours:  # another worker reclaimed the job after we went silent
                self.lost.set()
            if status == jobs.CANCELLING:
                self.cancel.set()
            elif status in jobs.FINISHED:
                self.lost.set()


def execute(claim: Claim, *, settings: Settings) -> str:
    """Run a claimed job with callbacks that record events; return how it ended."""
    from reprogramming.errors import Cancelled, ReprogramError
    from reprogramming.job import run_job
    from reprogramming.spec import parse_spec

    job_id, worker = claim.job_id, claim.worker
    store = get_store(settings)
    workdir = settings.data_dir / "work" / job_id
    checkpoint_dir, artifact_dir = workdir / "checkpoint", workdir / "artifact"
    shutil.rmtree(workdir, ignore_errors=True)  # what an earlier attempt here left is stale
    resume = claim.attempt > 1 and transaction(
        settings,
        lambda s: store.get_checkpoint(s, job_id=job_id, dest=checkpoint_dir),
        job_id=job_id,
    )
    spec = parse_spec(claim.spec)
    epochs = spec.hyperparameters.epochs
    heartbeat = Heartbeat(
        job_id=job_id, worker=worker, interval=max(0.5, settings.heartbeat_timeout_s / 6),
        settings=settings,
    )  # fmt: skip
    heartbeat.start()
    deadline = time.monotonic() + settings.job_time_limit_s
    timed_out = threading.Event()

    def should_stop() -> bool:
        if time.monotonic() > deadline:
            timed_out.set()
        return (
            heartbeat.cancel.is_set()
            or heartbeat.lost.is_set()
            or timed_out.is_set()
            or lifecycle.draining.is_set()
        )

    def on_epoch(metrics: dict[str, Any]) -> None:
        heartbeat.progress = metrics["epoch"] / epochs

        def record(session: Session) -> bool:
            ours = jobs.record_epoch(
                session, job_id=job_id, worker=worker, epoch=metrics["epoch"], metrics=metrics,
                progress=metrics["epoch"] / epochs,
            )  # fmt: skip
            if ours and (checkpoint_dir / "checkpoint.pt").exists():
                store.put_checkpoint(session, job_id=job_id, source=checkpoint_dir)
            return ours

        if not transaction(settings, record, job_id=job_id):
            heartbeat.lost.set()  # stops the loop at its next step
            return
        log_event(log, "epoch checkpointed", job_id=job_id, epoch=metrics["epoch"],
                  val_accuracy=metrics.get("val_accuracy"))  # fmt: skip
        notify.publish(settings, job_id=job_id)

    def on_log(message: str) -> None:
        transaction(
            settings,
            lambda s: jobs.add_event(s, job_id=job_id, type="log", message=message),
            job_id=job_id,
        )
        notify.publish(settings, job_id=job_id)

    if resume:
        log_event(log, "job resumes from its checkpoint", job_id=job_id, attempt=claim.attempt)
        on_log(f"resuming from the checkpoint of attempt {claim.attempt - 1}")
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
            resolve_model=lambda model_id: _resolve_model(model_id, claim.owner_id, settings),
            resolve_upload=lambda dataset_id: _resolve_upload(dataset_id, claim.owner_id),
        )
    except Cancelled as stop:
        if heartbeat.cancel.is_set():
            return _finish(
                job_id, status=jobs.CANCELLED, error=None, store=store, settings=settings
            )
        if heartbeat.lost.is_set():
            return "lost"  # another worker took the job over; it will finish it
        if timed_out.is_set():
            error = f"time limit of {settings.job_time_limit_s} s exceeded"
            return _finish(job_id, status=jobs.FAILED, error=error, store=store, settings=settings)
        return _hand_back(
            claim, stop, checkpoint_dir=checkpoint_dir, store=store, settings=settings
        )
    except ReprogramError as exc:
        return _finish(
            job_id, status=jobs.FAILED, error=exc.message, store=store, settings=settings
        )
    except Exception as exc:
        if database_unavailable(exc):  # gave up waiting: leave the job to recovery
            log_event(log, "job abandoned: the database stayed unreachable", level=logging.ERROR,
                      job_id=job_id)  # fmt: skip
            return "abandoned"
        log.error("job %s crashed:\n%s", job_id, traceback.format_exc())
        error = f"{type(exc).__name__}: {exc}"
        return _finish(job_id, status=jobs.FAILED, error=error, store=store, settings=settings)
    finally:
        heartbeat.done.set()
        heartbeat.join(timeout=5)
    return _register_model(
        claim, manifest=result.manifest or {}, metrics=result.metrics,
        artifact_dir=artifact_dir, workdir=workdir, settings=settings,
    )  # fmt: skip


def _hand_back(
    claim: Claim, stop: Any, *, checkpoint_dir: Path, store: ArtifactStore, settings: Settings
) -> str:
    """The worker is stopping: store the job's latest checkpoint and put it back in the queue."""
    job_id = claim.job_id
    checkpoint = checkpoint_dir / "checkpoint.pt"
    if stop.step is not None:
        reason = f"its worker stopped; resumes at epoch {stop.epoch}, step {stop.step + 1}"
    elif checkpoint.exists():
        reason = "its worker stopped; resumes after the last checkpointed epoch"
    else:
        reason = "its worker stopped before the first checkpoint; starts again"

    def hand_back(session: Session) -> str | None:
        if checkpoint.exists():
            store.put_checkpoint(session, job_id=job_id, source=checkpoint_dir)
        if jobs.hand_back(
            session, job_id=job_id, worker=claim.worker, reason=reason,
            redispatch_after=redispatch_delay(settings, dispatches=1),
        ):  # fmt: skip
            return jobs.QUEUED
        return jobs.job_status(session, job_id=job_id)

    status = transaction(settings, hand_back, job_id=job_id)
    if status == jobs.CANCELLING:  # cancelled while stopping: honour the cancel
        return _finish(job_id, status=jobs.CANCELLED, error=None, store=store, settings=settings)
    if status != jobs.QUEUED:
        return "lost"
    send_job(settings, job_id=job_id, queue=claim.queue)
    notify.publish(settings, job_id=job_id)
    log_event(log, "job handed back", job_id=job_id, epoch=stop.epoch, step=stop.step)
    return "handed back"


def _finish(
    job_id: str, *, status: str, error: str | None, store: ArtifactStore, settings: Settings
) -> str:
    def finish(session: Session) -> None:
        jobs.finish_job(session, job_id=job_id, status=status, error=error)
        store.delete_checkpoint(session, job_id=job_id)

    transaction(settings, finish, job_id=job_id)
    notify.publish(settings, job_id=job_id)
    return status


def _register_model(
    claim: Claim, *, manifest: dict[str, Any], metrics: dict[str, Any], artifact_dir: Path,
    workdir: Path, settings: Settings,
) -> str:  # fmt: skip
    """Store the artifact, register the model and mark the job succeeded, in one transaction."""
    store = get_store(settings)
    spec = claim.spec

    def register(session: Session) -> None:
        if resources.model_for_job(session, job_id=claim.job_id) is not None:
            return  # registered already (a retried write whose first commit went through)
        model_id = new_id("mdl")
        location, size = store.put_artifact(session, model_id=model_id, source=artifact_dir)
        session.add(
            Model(
                id=model_id,
                owner_id=claim.owner_id,
                job_id=claim.job_id,
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
            session, job_id=claim.job_id, status=jobs.SUCCEEDED, model_id=model_id,
            metrics=metrics,
        )  # fmt: skip
        store.delete_checkpoint(session, job_id=claim.job_id)

    transaction(settings, register, job_id=claim.job_id)
    notify.publish(settings, job_id=claim.job_id)
    shutil.rmtree(workdir, ignore_errors=True)
    return jobs.SUCCEEDED


def _resolve_model(model_id: str, owner_id: str, settings: Settings) -> Path:
    """The local artifact directory of one of the owner's models."""
    from reprogramming.errors import UnknownNameError

    def directory(session: Session) -> Path:
        model = resources.get_owned(session, Model, id=model_id, owner_id=owner_id)
        if model is None:
            raise UnknownNameError(f"no model '{model_id}'", field="backbone.model_id")
        return model_directory(session, model=model, settings=settings)

    return transaction(settings, directory, job_id=model_id)


def _resolve_upload(dataset_id: str, owner_id: str) -> Path:
    """The stored archive of one of the owner's uploaded datasets."""
    from reprogramming.errors import UnknownNameError

    def archive(session: Session) -> Path:
        dataset = resources.get_owned(session, Dataset, id=dataset_id, owner_id=owner_id)
        if dataset is None:
            raise UnknownNameError(f"no dataset '{dataset_id}'", field="dataset.upload_id")
        return Path(dataset.path)

    return transaction(get_settings(), archive, job_id=dataset_id)
