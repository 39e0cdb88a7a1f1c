"""The job state machine on a real Postgres: claims, heartbeats, cancellation, paging."""

from __future__ import annotations

import time
from datetime import timedelta

from db import jobs
from db.owners import create_key, owner_for_key
from db.session import session_scope

SPEC = {"backbone": {"name": "efficientnet_lite0"}, "dataset": {"name": "digits"}}


def _owner(url: str, name: str) -> str:
    with session_scope(url) as session:
        owner, key = create_key(session, owner_name=name)
        assert owner_for_key(session, key=key).id == owner.id
        assert owner_for_key(session, key=key + "x") is None
        return owner.id


def test_a_job_is_claimed_once(database_url: str) -> None:
    owner = _owner(database_url, "claims")
    with session_scope(database_url) as session:
        job, created = jobs.create_job(session, owner_id=owner, spec=SPEC)
        assert created
        job_id = job.id
    stale = timedelta(seconds=60)
    with session_scope(database_url) as session:
        first = jobs.claim_job(session, job_id=job_id, worker="w1", stale_after=stale)
        assert first is not None and first.attempt == 1 and first.status == jobs.RUNNING
    with session_scope(database_url) as session:  # a redelivered message
        assert jobs.claim_job(session, job_id=job_id, worker="w2", stale_after=stale) is None
    with session_scope(database_url) as session:
        assert jobs.beat(session, job_id=job_id, worker="w1") == (jobs.RUNNING, True)
        assert jobs.beat(session, job_id=job_id, worker="w2") == (jobs.RUNNING, False)


def test_a_silent_worker_loses_its_job(database_url: str) -> None:
    owner = _owner(database_url, "stale")
    with session_scope(database_url) as session:
        job_id = jobs.create_job(session, owner_id=owner, spec=SPEC)[0].id
    with session_scope(database_url) as session:
        jobs.claim_job(session, job_id=job_id, worker="w1", stale_after=timedelta(seconds=60))
    time.sleep(0.3)
    short = timedelta(milliseconds=100)
    with session_scope(database_url) as session:
        due = jobs.due_for_dispatch(session, quiet_for=short, stale_after=short)
        assert job_id in [job.id for job in due]
        again = jobs.claim_job(session, job_id=job_id, worker="w2", stale_after=short)
        assert again is not None and again.attempt == 2 and again.worker == "w2"
    with session_scope(database_url) as session:
        assert jobs.beat(session, job_id=job_id, worker="w1")[1] is False  # w1 sees it lost it


def test_cancel_transitions(database_url: str) -> None:
    owner = _owner(database_url, "cancel")
    with session_scope(database_url) as session:
        queued = jobs.create_job(session, owner_id=owner, spec=SPEC)[0]
        running = jobs.create_job(session, owner_id=owner, spec=SPEC)[0]
        ids = queued.id, running.id
    with session_scope(database_url) as session:
        jobs.claim_job(session, job_id=ids[1], worker="w", stale_after=timedelta(seconds=60))
    with session_scope(database_url) as session:
        assert jobs.request_cancel(session, job=jobs.get_job(session, job_id=ids[0])).status == (
            jobs.CANCELLED
        )
        assert jobs.request_cancel(session, job=jobs.get_job(session, job_id=ids[1])).status == (
            jobs.CANCELLING
        )
        assert jobs.beat(session, job_id=ids[1], worker="w")[0] == jobs.CANCELLING
        jobs.finish_job(session, job_id=ids[1], status=jobs.CANCELLED)
    with session_scope(database_url) as session:
        statuses = [e.message for e in jobs.list_events(session, job_id=ids[1])]
        assert statuses == ["queued", "running", "cancelling", "cancelled"]


def test_idempotency_and_paging(database_url: str) -> None:
    owner = _owner(database_url, "pages")
    with session_scope(database_url) as session:
        a, created = jobs.create_job(session, owner_id=owner, spec=SPEC, idempotency_key="k")
        b, again = jobs.create_job(session, owner_id=owner, spec=SPEC, idempotency_key="k")
        assert created and not again and a.id == b.id
        for _ in range(4):
            jobs.create_job(session, owner_id=owner, spec=SPEC)
    seen, cursor = [], None
    with session_scope(database_url) as session:
        while True:
            page, cursor = jobs.list_jobs(session, owner_id=owner, limit=2, cursor=cursor)
            seen += [j.id for j in page]
            if cursor is None:
                break
    assert len(seen) == len(set(seen)) == 5


def test_a_cancel_or_pause_lands_even_if_a_worker_claims_the_job_meanwhile(
    database_url: str,
) -> None:
    owner = _owner(database_url, "racing")
    stale = timedelta(seconds=60)
    for request, expected in ((jobs.request_cancel, jobs.CANCELLING),
                              (jobs.request_pause, jobs.PAUSING)):  # fmt: skip
        with session_scope(database_url) as session:
            job_id = jobs.create_job(session, owner_id=owner, spec=SPEC)[0].id
        with session_scope(database_url) as api:
            seen = jobs.get_job(api, job_id=job_id)
            assert seen is not None and seen.status == jobs.QUEUED  # what the API read...
            with session_scope(database_url) as worker:  # ...before a worker claimed it
                assert jobs.claim_job(worker, job_id=job_id, worker="w", stale_after=stale)
            assert request(api, job=seen).status == expected
        with session_scope(database_url) as session:
            assert jobs.job_status(session, job_id=job_id) == expected
