"""One attempt at a claimed job: train with callbacks that record progress, then one outcome.

An attempt ends as succeeded (a model is registered), failed, cancelled, handed back (the
worker is stopping; the job resumes from its checkpoint elsewhere), lost (another worker took
it over) or abandoned (the database stayed away; recovery finds the job again).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from config.logs import describe, log_event
from config.settings import Settings
from db import jobs
from db.models import utcnow
from db.session import database_unavailable, run_transaction
from messaging import notify
from reprogram.statuses import JobStatus
from reprogramming.errors import Cancelled, ReprogramError
from reprogramming.job import JobResult, run_job
from services import datasets, estimates, models, remote_datasets, sweeps
from services import jobs as job_service
from services.errors import ServiceError
from services.specs import JobSpec
from storage.artifacts import CHECKPOINT_FILE, get_store
from worker import lifecycle
from worker.heartbeat import Heartbeat

log = logging.getLogger("reprogram.worker")
T = TypeVar("T")


@dataclass(frozen=True)
class Claim:
    """A job this worker took: what it needs to run it."""

    job_id: str
    owner_id: str
    spec: JobSpec
    attempt: int
    worker: str
    queue: str | None
    start_epoch: int = 0  # epochs already done (checkpointed) when this attempt began
    sweep_id: str | None = None  # a sweep's trial: its pruner hears each epoch
    trial: int | None = None


def transaction(settings: Settings, action: Callable[[Session], T], *, job_id: str) -> T:
    """Run action in a transaction, waiting out a lost database (up to outage_tolerance_s)."""

    def waiting(error: BaseException) -> None:
        log_event(log, "database unreachable; waiting for it", level=logging.WARNING,
                  job_id=job_id, error=describe(error))  # fmt: skip

    return run_transaction(
        action, url=settings.sqlalchemy_url, patience_s=settings.outage_tolerance_s,
        on_wait=waiting,
    )  # fmt: skip


class Attempt:
    """The state of one attempt: its folders, its heartbeat, its deadline, and its callbacks."""

    def __init__(self, claim: Claim, *, settings: Settings) -> None:
        self.claim, self.settings, self.job_id = claim, settings, claim.job_id
        self.store = get_store(settings)
        self.workdir = settings.data_dir / "work" / claim.job_id
        self.checkpoint_dir = self.workdir / "checkpoint"
        self.artifact_dir = self.workdir / "artifact"
        self.heartbeat = Heartbeat(
            job_id=claim.job_id, worker=claim.worker, settings=settings,
            interval=max(0.5, settings.heartbeat_timeout_s / 6),
        )  # fmt: skip
        self.deadline = time.monotonic() + settings.job_time_limit_s
        self.began = time.monotonic()
        self.pace_s: float | None = None  # seconds per epoch in this attempt
        self.pruned: str | None = None  # why its sweep stopped this trial, if it did
        self.timed_out = threading.Event()

    def fetch_checkpoint(self) -> bool:
        """Start from a clean folder, with the last attempt's checkpoint if there is one."""
        shutil.rmtree(self.workdir, ignore_errors=True)  # what an earlier attempt left is stale
        if self.claim.attempt == 1:
            return False
        return transaction(
            self.settings,
            lambda s: self.store.get_checkpoint(s, job_id=self.job_id, dest=self.checkpoint_dir),
            job_id=self.job_id,
        )

    def should_stop(self) -> bool:
        if time.monotonic() > self.deadline:
            self.timed_out.set()
        beat = self.heartbeat
        return (
            beat.cancel.is_set()
            or beat.pause.is_set()
            or beat.lost.is_set()
            or self.timed_out.is_set()
            or lifecycle.draining.is_set()
        )

    def on_epoch(self, metrics: dict[str, Any]) -> None:
        """Record an epoch's metrics, checkpoint and new finish estimate, if the job is ours."""
        epochs = self.claim.spec.hyperparameters.epochs
        progress = metrics["epoch"] / epochs
        self.heartbeat.progress = progress
        done_here, eta = metrics["epoch"] - self.claim.start_epoch, None
        if done_here > 0:
            self.pace_s = (time.monotonic() - self.began) / done_here
            eta = estimates.finish_at(now=utcnow(), pace_s=self.pace_s,
                                      epochs_left=epochs - metrics["epoch"])  # fmt: skip
            metrics = metrics | {"estimated_finish_at": eta.isoformat()}

        def record(session: Session) -> bool:
            ours = jobs.record_epoch(
                session, job_id=self.job_id, worker=self.claim.worker, epoch=metrics["epoch"],
                metrics=metrics, progress=progress, estimated_finish_at=eta,
            )  # fmt: skip
            if ours and self._checkpointed():
                self.store.put_checkpoint(session, job_id=self.job_id, source=self.checkpoint_dir)
            return ours

        if not transaction(self.settings, record, job_id=self.job_id):
            self.heartbeat.lost.set()  # stops the loop at its next step
            return
        log_event(log, "epoch checkpointed", job_id=self.job_id, epoch=metrics["epoch"],
                  val_accuracy=metrics.get("val_accuracy"))  # fmt: skip
        notify.publish(self.settings, job_id=self.job_id)
        self.report_to_sweep(metrics)

    def report_to_sweep(self, metrics: dict[str, Any]) -> None:
        """A trial tells its sweep's pruner each epoch, and stops when the pruner says so."""
        claim, value = self.claim, metrics.get("val_accuracy")
        if claim.sweep_id is None or claim.trial is None or value is None:
            return
        if sweeps.report_epoch(self.settings, sweep_id=claim.sweep_id, trial=claim.trial,
                               epoch=metrics["epoch"], value=float(value)):  # fmt: skip
            self.pruned = (f"{sweeps.PRUNED} after epoch {metrics['epoch']} (val_accuracy "
                           f"{value:.4f} behind the other trials)")  # fmt: skip
            self.heartbeat.cancel.set()  # stops the loop at its next step

    def on_log(self, message: str) -> None:
        transaction(
            self.settings,
            lambda s: jobs.add_event(s, job_id=self.job_id, type="log", message=message),
            job_id=self.job_id,
        )
        notify.publish(self.settings, job_id=self.job_id)

    def train(self, *, resume: bool) -> JobResult:
        """Run the engine on the job's spec, resuming from the checkpoint if asked."""
        claim, settings = self.claim, self.settings
        return run_job(
            self.local_spec(),
            output_dir=self.artifact_dir,
            data_dir=settings.data_dir,
            on_epoch=self.on_epoch,
            on_log=self.on_log,
            should_stop=self.should_stop,
            checkpoint_dir=self.checkpoint_dir,
            resume=resume,
            resolve_model=lambda model_id: transaction(
                settings, lambda s: models.local_directory(
                    s, settings=settings, owner_id=claim.owner_id, model_id=model_id),
                job_id=self.job_id,
            ),
            resolve_upload=lambda dataset_id: transaction(
                settings, lambda s: datasets.archive_path(
                    s, settings=settings, owner_id=claim.owner_id, dataset_id=dataset_id),
                job_id=self.job_id,
            ),
        )  # fmt: skip

    def local_spec(self) -> JobSpec:
        """The job's spec, with a dataset named by uri replaced by this machine's copy of it."""
        spec, settings = self.claim.spec, self.settings
        dataset = spec.dataset
        if dataset.uri is None:
            return spec
        keys = transaction(settings, lambda s: remote_datasets.keys_for(
            s, owner_id=self.claim.owner_id, dataset=dataset), job_id=self.job_id)  # fmt: skip
        self.on_log(f"dataset: reading {dataset.uri}")
        path = remote_datasets.fetch(settings, keys=keys, uri=dataset.uri)
        local = dataset.model_copy(update={"uri": None, "credentials_id": None, "path": str(path)})
        return spec.model_copy(update={"dataset": local})

    def finish(self, status: JobStatus, error: str | None = None) -> str:
        """End the job in a final status, dropping its checkpoint."""

        def finish(session: Session) -> None:
            jobs.finish_job(session, job_id=self.job_id, status=status, error=error)
            self.store.delete_checkpoint(session, job_id=self.job_id)

        transaction(self.settings, finish, job_id=self.job_id)
        notify.publish(self.settings, job_id=self.job_id)
        return status

    def stopped(self, stop: Cancelled) -> str:
        """The loop stopped early: cancelled, lost, out of time, or its worker is stopping."""
        if self.heartbeat.cancel.is_set():
            return self.finish(JobStatus.CANCELLED, error=self.pruned)
        if self.heartbeat.lost.is_set():
            return "lost"  # another worker took the job over; it will finish it
        if self.timed_out.is_set():
            limit = self.settings.job_time_limit_s
            return self.finish(JobStatus.FAILED, f"time limit of {limit} s exceeded")
        if self.heartbeat.pause.is_set():
            return self.pause(stop)
        return self.hand_back(stop)

    def pause(self, stop: Cancelled) -> str:
        """Asked to pause: store the checkpoint and leave the job paused (resume queues it)."""
        if stop.step is not None:
            where = f"at epoch {stop.epoch}, step {stop.step + 1}"
        else:
            where = (
                "after the last checkpointed epoch" if self._checkpointed() else "from the start"
            )
        return self._let_go(
            stop, moved_to=JobStatus.PAUSED, outcome="paused", note="job paused",
            move=lambda session: jobs.paused(
                session, job_id=self.job_id, worker=self.claim.worker, reason=f"resumes {where}"),
        )  # fmt: skip

    def hand_back(self, stop: Cancelled) -> str:
        """The worker is stopping: store the latest checkpoint and put the job back in the queue."""
        if stop.step is not None:
            reason = f"its worker stopped; resumes at epoch {stop.epoch}, step {stop.step + 1}"
        elif self._checkpointed():
            reason = "its worker stopped; resumes after the last checkpointed epoch"
        else:
            reason = "its worker stopped before the first checkpoint; starts again"
        return self._let_go(
            stop, moved_to=JobStatus.QUEUED, outcome="handed back", note="job handed back",
            move=lambda session: job_service.hand_back(
                session, settings=self.settings, job_id=self.job_id, worker=self.claim.worker,
                reason=reason, queue=self.claim.queue),
        )  # fmt: skip

    def _checkpointed(self) -> bool:
        return (self.checkpoint_dir / CHECKPOINT_FILE).exists()

    def _let_go(
        self, stop: Cancelled, *, move: Callable[[Session], bool], moved_to: JobStatus,
        outcome: str, note: str,
    ) -> str:  # fmt: skip
        """Store the latest checkpoint and `move` the job off this worker, in one transaction."""

        def let_go(session: Session) -> str | None:
            if self._checkpointed():
                self.store.put_checkpoint(session, job_id=self.job_id, source=self.checkpoint_dir)
            if move(session):
                return moved_to
            return jobs.job_status(session, job_id=self.job_id)

        status = transaction(self.settings, let_go, job_id=self.job_id)
        if status == JobStatus.CANCELLING:  # cancelled while stopping: honour the cancel
            return self.finish(JobStatus.CANCELLED)
        if status != moved_to:
            return "lost"
        notify.publish(self.settings, job_id=self.job_id)
        log_event(log, note, job_id=self.job_id, epoch=stop.epoch, step=stop.step)
        return outcome

    def register(self, result: JobResult) -> str:
        """Store the artifact, register the model and mark the job succeeded, in one transaction."""
        claim = self.claim

        def register(session: Session) -> None:
            if self.pace_s is not None:  # what later jobs like this one are estimated from
                jobs.record_pace(session, job_id=self.job_id, seconds_per_epoch=self.pace_s)
            models.register(
                session, store=self.store, owner_id=claim.owner_id, job_id=self.job_id,
                spec=claim.spec, manifest=result.manifest or {}, metrics=result.metrics,
                artifact_dir=self.artifact_dir,
            )  # fmt: skip

        transaction(self.settings, register, job_id=self.job_id)
        notify.publish(self.settings, job_id=self.job_id)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return JobStatus.SUCCEEDED


def run_attempt(claim: Claim, *, settings: Settings) -> str:
    """Run a claimed job to one outcome (see the module's docstring)."""
    attempt = Attempt(claim, settings=settings)
    resume = attempt.fetch_checkpoint()
    if resume:
        log_event(log, "job resumes from its checkpoint", job_id=claim.job_id,
                  attempt=claim.attempt)  # fmt: skip
        attempt.on_log(f"resuming from the checkpoint of attempt {claim.attempt - 1}")
    attempt.heartbeat.start()
    try:
        result = attempt.train(resume=resume)
    except Cancelled as stop:
        return attempt.stopped(stop)
    except (ReprogramError, ServiceError) as exc:  # e.g. a missing model or dataset
        return attempt.finish(JobStatus.FAILED, exc.message)
    except Exception as exc:
        if database_unavailable(exc):  # gave up waiting: leave the job to recovery
            log_event(log, "job abandoned: the database stayed unreachable", level=logging.ERROR,
                      job_id=claim.job_id)  # fmt: skip
            return "abandoned"
        log.error("job %s crashed:\n%s", claim.job_id, traceback.format_exc())
        return attempt.finish(JobStatus.FAILED, f"{type(exc).__name__}: {exc}")
    finally:
        attempt.heartbeat.done.set()
        attempt.heartbeat.join(timeout=5)
    return attempt.register(result)
