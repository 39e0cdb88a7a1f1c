"""How the client commands show an estimated finish: in `jobs get` and on the watch progress line."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from reprogram.client import Job
from reprogram.commands.formatting import dataset_text, eta
from reprogram.commands.watch import _Progress
from reprogram.objects import Event, make


class Terminal(io.StringIO):
    """What the progress line is drawn on: a stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _last_line(terminal: Terminal) -> str:
    """The progress line as last drawn."""
    return terminal.getvalue().split("\r")[-1]


def test_eta_text() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert eta(None, now=now) is None
    assert eta(now + timedelta(seconds=20), now=now) == "<1 min left"
    assert eta(now + timedelta(minutes=3, seconds=10), now=now) == "~3 min left"
    later = now + timedelta(hours=2)
    text = eta(later, now=now)
    assert text is not None and re.fullmatch(r"eta (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d", text)
    assert text.endswith(later.astimezone().strftime("%H:%M:%S"))


def test_the_job_parses_its_estimate_and_tolerates_unknown_fields() -> None:
    soon = datetime.now(UTC) + timedelta(minutes=10)
    job = make(Job, {"id": "job_x", "status": "running", "spec": {}, "a_future_field": 1,
                     "estimated_finish_at": soon.isoformat(), "waiting_reason": None})  # fmt: skip
    assert job.estimated_finish_at == soon
    assert make(Job, {"id": "job_x", "status": "queued", "spec": {}}).estimated_finish_at is None
    unreadable = {"id": "job_x", "status": "queued", "spec": {}, "estimated_finish_at": "soon"}
    assert make(Job, unreadable).estimated_finish_at is None


def test_the_progress_line_shows_the_latest_estimate_while_running() -> None:
    now = datetime.now(UTC)
    job = make(Job, {"id": "job_x", "status": "running", "spec": {},
                     "estimated_finish_at": (now + timedelta(hours=3)).isoformat()})  # fmt: skip
    terminal = Terminal()
    progress = _Progress(job, 10, stream=terminal)
    progress.draw()
    assert "eta " in _last_line(terminal)

    metrics = {"val_accuracy": 0.5, "estimated_finish_at": (now + timedelta(minutes=5)).isoformat()}
    progress.update(event=Event(id=1, type="epoch", epoch=1, metrics=metrics))
    line = _last_line(terminal)
    assert "1/10 epochs" in line and re.search(r"~[45] min left", line)

    # an epoch event without an estimate keeps the last one
    progress.update(event=Event(id=2, type="epoch", epoch=2, metrics={"val_accuracy": 0.6}))
    assert re.search(r"~[45] min left", _last_line(terminal))

    progress.update(status="paused")  # no estimate while it does not run
    assert "paused" in _last_line(terminal) and "left" not in _last_line(terminal)


def test_dataset_text_names_each_kind_of_source() -> None:
    assert dataset_text({"name": "digits", "max_per_class": 20}) == "digits"
    assert dataset_text({"upload_id": "ds_1"}) == "upload ds_1"
    uri = {"uri": "s3://bucket/sets/flowers.tar.gz", "credentials_id": "cred_1"}
    assert dataset_text(uri) == "s3://bucket/sets/flowers.tar.gz"
    assert dataset_text(None) == "-"
