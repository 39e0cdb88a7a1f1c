"""Recovery scans on a real Postgres and Redis: what they re-send, when, and only once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from support.services import fresh_database, postgres_server, redis_server

from config.settings import Settings
from db import jobs
from db.models import Job, utcnow
from db.owners import create_key
from db.session import session_scope
from messaging.broker import queue_depth
from services.enqueue import redispatch_delay
from services.recovery import sweep

SPEC = {"backbone": {"name": "efficientnet_lite0"}, "dataset": {"name": "digits"}}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    """A database of these tests' own (a scan sees every job in it) and a Redis URL."""
    with postgres_server() as pg, fresh_database(pg) as database, redis_server() as redis:
        yield database, redis


@pytest.fixture
def settings(servers: tuple[str, str]) -> Settings:
    """Settings of a fresh queue, with short recovery intervals."""
    database, redis = servers
    return Settings(
        database_url=database, broker_url=redis, queue=f"recovery-{uuid.uuid4().hex[:8]}",
        requeue_after_s=0.2, heartbeat_timeout_s=0.5,
    )  # fmt: skip


def _jobs(settings: Settings, count: int) -> list[str]:
    """Queued jobs whose first message went nowhere (as if the broker lost it)."""
    with session_scope(settings.sqlalchemy_url) as session:
        owner, _ = create_key(session, owner_name=f"recovery-{uuid.uuid4().hex[:6]}")
        return [
            jobs.create_job(
                session, owner_id=owner.id, spec=SPEC, queue=settings.queue,
                redispatch_after=redispatch_delay(settings, dispatches=1),
            )[0].id
            for _ in range(count)
        ]  # fmt: skip


def _sweep(settings: Settings, ids: list[str]) -> list[str]:
    """The jobs among ids that a scan re-sent (earlier tests' jobs may be due again too)."""
    return [job_id for job_id in sweep(settings) if job_id in ids]


def _row(settings: Settings, job_id: str) -> Job:
    with session_scope(settings.sqlalchemy_url) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_concurrent_scans_send_each_lost_job_once(settings: Settings) -> None:
    ids = _jobs(settings, 30)
    time.sleep(0.3)  # older than requeue_after_s
    barrier = threading.Barrier(4)
    sent: list[list[str]] = []

    def scan() -> None:
        barrier.wait()
        sent.append(_sweep(settings, ids))

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(job_id for batch in sent for job_id in batch) == sorted(ids)
    assert queue_depth(settings, queue=settings.queue) == 30
    assert {_row(settings, job_id).dispatches for job_id in ids} == {2}


def test_an_unclaimed_job_is_resent_at_doubling_intervals(settings: Settings) -> None:
    slow = settings.model_copy(update={"requeue_after_s": 1.0})
    ids = _jobs(slow, 1)
    assert _sweep(slow, ids) == []  # just sent
    time.sleep(1.1)
    assert _sweep(slow, ids) == ids  # unclaimed for requeue_after_s
    assert _sweep(slow, ids) == []  # the message is in the queue: wait 2 × requeue_after_s
    row = _row(slow, ids[0])
    assert row.redispatch_at is not None
    assert timedelta(seconds=1.5) < row.redispatch_at - utcnow() <= timedelta(seconds=2)


def test_an_empty_queue_means_lost_messages(settings: Settings) -> None:
    """A queued job whose message isn't in the broker is sent at once, not after the backoff."""
    slow = settings.model_copy(update={"requeue_after_s": 600.0})
    ids = _jobs(slow, 1)
    job_id = ids[0]
    with session_scope(slow.sqlalchemy_url) as session:  # sent a while ago, not yet overdue
        job = session.get(Job, job_id)
        assert job is not None
        job.dispatched_at = utcnow() - timedelta(seconds=30)
    assert queue_depth(slow, queue=slow.queue) == 0  # the broker never got (or lost) it
    assert _sweep(slow, ids) == ids
    assert queue_depth(slow, queue=slow.queue) == 1
    with session_scope(slow.sqlalchemy_url) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.dispatched_at = utcnow() - timedelta(seconds=30)
    assert _sweep(slow, ids) == []  # its message is waiting: no reason to send another


def test_a_silent_worker_s_jobs_are_resent_or_cancelled(settings: Settings) -> None:
    ids = _jobs(settings, 2)
    running, cancelling = ids
    with session_scope(settings.sqlalchemy_url) as session:
        for job_id in (running, cancelling):
            jobs.claim_job(session, job_id=job_id, worker="w1", stale_after=timedelta(seconds=60))
        job = jobs.get_job(session, job_id=cancelling)
        assert job is not None
        jobs.request_cancel(session, job=job)
    assert _sweep(settings, ids) == []  # heartbeats are fresh
    time.sleep(0.6)  # both workers fell silent
    assert _sweep(settings, ids) == [running]
    assert _row(settings, cancelling).status == jobs.CANCELLED
    with session_scope(settings.sqlalchemy_url) as session:  # a worker resumes it
        again = jobs.claim_job(session, job_id=running, worker="w2",
                               stale_after=timedelta(seconds=0.5))  # fmt: skip
        assert again is not None and again.attempt == 2


def test_a_job_whose_worker_dies_soon_after_its_claim_is_resent_at_once(
    settings: Settings,
) -> None:
    # The first send's wait for a claim (an hour here) must not delay resending a claimed job
    # whose worker fell silent; a second scan does not send it again before that wait is up.
    settings = settings.model_copy(update={"requeue_after_s": 3600.0})
    [job_id] = _jobs(settings, 1)
    with session_scope(settings.sqlalchemy_url) as session:
        jobs.claim_job(session, job_id=job_id, worker="w1", stale_after=timedelta(seconds=60))
    time.sleep(0.6)  # the worker fell silent right after its claim
    assert _sweep(settings, [job_id]) == [job_id]
    assert _sweep(settings, [job_id]) == []
