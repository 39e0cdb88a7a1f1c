"""`reprogram jobs create | list | get | cancel | pause | resume | delete | watch`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from reprogram.client import Client, Job
from reprogram.commands.exits import Exit, UsageError
from reprogram.commands.formatting import (
    backbone_text,
    dataset_text,
    duration,
    local_time,
    number,
    time_left,
)
from reprogram.commands.output import (
    plain,
    print_deleted,
    print_fields,
    print_json,
    print_listing,
    print_one,
)
from reprogram.commands.watch import follow
from reprogram.errors import InvalidRequest
from reprogram.statuses import JobStatus


def jobs_create(
    client: Client, *, spec: str, watch: bool, idempotency_key: str | None, as_json: bool
) -> int:
    """Queue a job from a spec file or stdin; with watch, follow it and exit by its outcome."""
    job = client.jobs.create(read_spec(spec), idempotency_key=idempotency_key)
    if not watch:
        if as_json:
            print_json(plain(job))
        else:
            print_fields(_job_fields(job))
            print(f"\nfollow it with: reprogram jobs watch {job.id}", file=sys.stderr)
        return Exit.OK
    if not as_json:
        print(f"job {job.id} {job.status}" + (f" ({job.name})" if job.name else ""))
    return follow(client, job, as_json=as_json)


def jobs_list(client: Client, *, status: list[str] | None, limit: int, as_json: bool) -> int:
    """Print your jobs, newest first (at most `limit`; 0 for all)."""
    headers = ("ID", "STATUS", "BACKBONE", "DATASET", "METHOD", "BEST VAL ACC", "CREATED")
    waiting: list[Job] = []

    def row(j: Job) -> tuple[Any, ...]:
        if j.status == JobStatus.QUEUED and j.waiting_reason:
            waiting.append(j)
        return (j.id, _status_text(j), backbone_text(j.spec.get("backbone")),
                dataset_text(j.spec.get("dataset")), j.spec.get("method", {}).get("kind", "-"),
                number((j.metrics or {}).get("best_val_accuracy")), local_time(j.created_at))  # fmt: skip

    code = print_listing(client.jobs.list(status=status), limit=limit, as_json=as_json,
                         headers=headers, row=row, empty="no jobs")  # fmt: skip
    if waiting:  # too long for a column; a note under the table, like the --limit one
        print("", file=sys.stderr)
    for j in waiting:
        print(f"{j.id} waits: {j.waiting_reason}", file=sys.stderr)
    return code


def jobs_get(client: Client, *, job_id: str, as_json: bool) -> int:
    """Print one job."""
    return print_one(client.jobs.get(job_id), fields=_job_fields, as_json=as_json)


def _print_moved(job: Job, *, as_json: bool, on_the_way: tuple[JobStatus, str]) -> int:
    """Print where a cancel or pause left the job, saying so when it is still on its way."""
    status, note = on_the_way
    if as_json:
        print_json(plain(job))
    elif job.status == status:
        print(f"job {job.id} {status} ({note})")
    else:
        print(f"job {job.id} {job.status}")
    return Exit.OK


def jobs_cancel(client: Client, *, job_id: str, as_json: bool) -> int:
    """Cancel a queued job at once, or ask a running one to stop."""
    return _print_moved(
        client.jobs.cancel(job_id),
        as_json=as_json,
        on_the_way=(JobStatus.CANCELLING, "it stops within a training step"),
    )


def jobs_pause(client: Client, *, job_id: str, as_json: bool) -> int:
    """Pause a queued job at once, or have a running one checkpoint and free its worker."""
    return _print_moved(
        client.jobs.pause(job_id),
        as_json=as_json,
        on_the_way=(JobStatus.PAUSING, "it stops at its next training step; resume it later"),
    )


def jobs_resume(client: Client, *, job_id: str, as_json: bool) -> int:
    """Queue a paused job again; it continues from its checkpoint."""
    job = client.jobs.resume(job_id)
    if as_json:
        print_json(plain(job))
    else:
        print(f"job {job.id} {job.status}" + (f" (continues after epoch {job.epoch})"
                                              if job.epoch else ""))  # fmt: skip
        if job.status == JobStatus.QUEUED and job.waiting_reason:
            print(f"waiting: {job.waiting_reason}", file=sys.stderr)
    return Exit.OK


def jobs_delete(client: Client, *, job_id: str, as_json: bool) -> int:
    """Delete a finished job with its events (its model, if any, must be deleted first)."""
    client.jobs.delete(job_id)
    return print_deleted("job", job_id, as_json=as_json)


def jobs_watch(client: Client, *, job_id: str, as_json: bool) -> int:
    """Follow a job live until it ends; exit 0 if it succeeded, 1 if it failed, 3 if cancelled."""
    job = client.jobs.get(job_id)
    if not as_json:
        print(f"job {job.id} {job.status}" + (f" ({job.name})" if job.name else ""))
    return follow(client, job, as_json=as_json)


def read_spec(source: str) -> dict[str, Any]:
    """A job's (or a sweep's) spec from a file or '-' (stdin), as a JSON object."""
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read spec {name}: {exc.strerror or exc}") from None
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(0, "invalid_json", f"spec {name} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise InvalidRequest(0, "invalid_json", f"spec {name} must be a JSON object")
    return spec


def _job_fields(job: Job) -> list[tuple[str, Any]]:
    """What `jobs get` shows."""
    spec, metrics = job.spec, job.metrics or {}
    hp = spec.get("hyperparameters", {})
    total = hp.get("epochs")
    hyper = ", ".join(f"{k} {v}" for k, v in hp.items() if k != "epochs")
    return [
        ("id", job.id), ("name", job.name), ("status", job.status),
        ("sweep", f"{job.sweep_id} (trial {job.trial})" if job.sweep_id else None),
        ("waiting", job.waiting_reason if job.status == JobStatus.QUEUED else None),
        ("backbone", backbone_text(spec.get("backbone"))),
        ("dataset", dataset_text(spec.get("dataset"))),
        ("method", spec.get("method", {}).get("kind")),
        ("epoch", f"{job.epoch}/{total}" if total else job.epoch),
        ("hyperparameters", hyper), ("attempt", job.attempt),
        ("created", local_time(job.created_at)), ("started", local_time(job.started_at)),
        ("finished", local_time(job.finished_at)),
        ("estimated finish", _finish_text(job)),
        ("duration", duration(job.started_at, job.finished_at)),
        ("test accuracy", number(metrics.get("test_accuracy"))),
        ("best val acc", number(metrics.get("best_val_accuracy"))),
        ("model", job.model_id), ("error", job.error),
    ]  # fmt: skip


def _finish_text(job: Job) -> str | None:
    """When an unfinished job should finish, in local time, with the time left if it is soon."""
    if job.done or job.estimated_finish_at is None:
        return None
    left = time_left(job.estimated_finish_at)
    text = job.estimated_finish_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} ({left})" if left else text


def _status_text(job: Job) -> str:
    """A job's status, with its epoch while it runs."""
    total = job.spec.get("hyperparameters", {}).get("epochs")
    if job.status == JobStatus.RUNNING and total:
        return f"{JobStatus.RUNNING} {job.epoch}/{total}"
    if job.status == JobStatus.QUEUED and job.waiting_reason:
        return f"{JobStatus.QUEUED} (waiting)"
    if job.status in (JobStatus.PAUSING, JobStatus.PAUSED) and total and job.epoch:
        return f"{job.status} {job.epoch}/{total}"
    return job.status
