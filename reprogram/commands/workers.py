"""`reprogram workers`."""

from __future__ import annotations

from reprogram.client import Client, Worker
from reprogram.commands.output import print_listing


def workers_list(client: Client, *, as_json: bool) -> int:
    """Print the live workers: what each runs on, its queues, its current job and throughput."""
    headers = ("ID", "KIND", "DEVICE", "MEM", "QUEUES", "BUSY", "JOBS", "JOBS/H")

    def row(w: Worker) -> tuple[str, ...]:
        busy = (w.job_id or "yes") if w.busy else "no"  # a job id only when the job is yours
        return (w.id, w.kind, w.device or "-", f"{w.memory_gb:.1f} GB", ",".join(w.queues),
                busy, str(w.jobs_done), f"{w.jobs_per_hour:.2f}")  # fmt: skip

    return print_listing(client.workers.list(), limit=0, as_json=as_json, headers=headers,
                         row=row, empty="no live workers")  # fmt: skip
