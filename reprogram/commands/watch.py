"""Following a job live: a self-redrawing progress line, a table of epochs, and its outcome."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable
from typing import TextIO

from reprogram.client import Client, Job
from reprogram.commands.exits import Exit
from reprogram.commands.formatting import duration, eta, number
from reprogram.commands.output import plain, print_json
from reprogram.commands.running import fail
from reprogram.objects import Event, timestamp
from reprogram.statuses import JobStatus

# Fixed widths, because rows are printed as the epochs arrive.
_EPOCH_COLUMNS = (("epoch", 7), ("train loss", 10), ("train acc", 9), ("val loss", 8),
                  ("val acc", 7), ("seconds", 7))  # fmt: skip


def follow(client: Client, job: Job, *, as_json: bool) -> int:
    """Show a job's events as they come (a progress line, an epoch table); exit by its outcome."""
    total = int(job.spec.get("hyperparameters", {}).get("epochs") or 0)
    progress = _Progress(job, total, stream=sys.stderr)
    progress.draw()
    try:
        _show_events(client.jobs.stream(job.id), progress, as_json=as_json)
    except KeyboardInterrupt:
        progress.clear()
        print(f"\nstopped watching; the job keeps running (reprogram jobs cancel {job.id})",
              file=sys.stderr)  # fmt: skip
        return Exit.INTERRUPTED
    finally:
        progress.clear()
    return _outcome(client.jobs.get(job.id), as_json=as_json)


def _show_events(events: Iterable[Event], progress: _Progress, *, as_json: bool) -> None:
    """Draw each event as it comes: epochs as rows of the table, then status changes and logs."""
    header = False
    for event in events:
        if event.type == "epoch":
            progress.total = int((event.metrics or {}).get("epochs") or progress.total)
            progress.update(event=event)
            if not as_json:
                if not header:
                    titles = (t.rjust(w) for t, w in _EPOCH_COLUMNS)
                    progress.say("  ".join(titles), sys.stdout)
                    header = True
                progress.say(_epoch_row(event, progress.total), sys.stdout)
        elif event.type == "status" and event.message:
            progress.update(status=event.message.split(":", 1)[0])
            if not as_json and not progress.live:
                print(f"status: {event.message}", file=sys.stderr, flush=True)
        elif event.type == "log" and event.message and not as_json:
            progress.say(f"log: {event.message}", sys.stderr)


def _outcome(job: Job, *, as_json: bool) -> int:
    """Print how a followed job ended; its exit code."""
    if as_json:
        print_json(plain(job))
    elif job.status == JobStatus.SUCCEEDED:
        metrics = job.metrics or {}
        print(f"succeeded in {duration(job.started_at, job.finished_at) or '?'}: test accuracy "
              f"{number(metrics.get('test_accuracy'))}, model {job.model_id}")  # fmt: skip
    if job.status == JobStatus.SUCCEEDED:
        return Exit.OK
    if job.status == JobStatus.CANCELLED:
        print(f"job {job.id} was cancelled", file=sys.stderr)
        return Exit.JOB_CANCELLED
    if job.status == JobStatus.FAILED:
        print(f"error: job {job.id} failed: {job.error or 'no reason given'}", file=sys.stderr)
        return Exit.JOB_FAILED
    # The stream ended but the job has not (it cannot, unless the service misbehaves).
    return fail(Exit.SERVICE_ERROR, f"the event stream ended while job {job.id} is {job.status}")


def _epoch_row(event: Event, total: int) -> str:
    """One row of the epoch table."""
    m = event.metrics or {}
    epoch = f"{event.epoch}/{total}" if total else str(event.epoch)
    values = (epoch, number(m.get("train_loss")), number(m.get("train_accuracy")),
              number(m.get("val_loss")), number(m.get("val_accuracy")),
              number(m.get("epoch_s"), ".1f"))  # fmt: skip
    return "  ".join(v.rjust(w) for v, (_, w) in zip(values, _EPOCH_COLUMNS, strict=True))


class _Progress:
    """One self-redrawing progress line on stderr (only when stderr is a terminal)."""

    def __init__(self, job: Job, total: int, *, stream: TextIO) -> None:
        self.job_id, self.total, self.stream = job.id, total, stream
        self.status, self.epoch, self.val = job.status, 0, None  # the stream replays from the start
        self.finish = job.estimated_finish_at  # the latest epoch event's estimate replaces it
        self.live = stream.isatty()
        self.shown = False

    def update(self, *, status: str | None = None, event: Event | None = None) -> None:
        """Take a new status or epoch event and redraw."""
        if status:
            self.status = status
        if event is not None and event.epoch:
            self.epoch = event.epoch
            self.val = (event.metrics or {}).get("val_accuracy")
            self.finish = timestamp((event.metrics or {}).get("estimated_finish_at")) or self.finish
        self.draw()

    def draw(self) -> None:
        """Redraw the progress line."""
        if not self.live:
            return
        width = 24
        fraction = min(self.epoch / self.total, 1.0) if self.total else 0.0
        bar = "#" * int(fraction * width) + "-" * (width - int(fraction * width))
        line = f"{self.job_id}  {self.status:<10} [{bar}] {self.epoch}/{self.total or '?'} epochs"
        if self.val is not None:
            line += f"  val acc {self.val:.4f}"
        if self.status in (JobStatus.QUEUED, JobStatus.RUNNING) and (left := eta(self.finish)):
            line += f"  {left}"
        columns = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r" + line[: columns - 1] + "\033[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the progress line."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def say(self, text: str, stream: TextIO) -> None:
        """Print a line above the progress line."""
        self.clear()
        print(text, file=stream, flush=True)
        self.draw()
