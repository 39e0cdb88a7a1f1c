"""The asyncio SDK against the real running service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as photos
from support.client import small_job
from support.proxy import proxy_for

from reprogram import AsyncClient, AsyncJob, Credential, Event, Stored, Usage, Webhook
from reprogram.errors import Conflict, InvalidRequest, JobFailed, NotFound


def test_lifecycle(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("async-user")
    photo = tmp_path / "cat.png"
    Image.fromarray(photos.chelsea()).save(photo)

    async def scenario() -> None:
        async with AsyncClient(service.api_url, key) as client:
            job = await client.jobs.create(small_job(name="async"), idempotency_key="async-1")
            again = await client.jobs.create(small_job(name="async"), idempotency_key="async-1")
            assert isinstance(job, AsyncJob) and again.id == job.id
            seen: list[Event] = []

            async def remember(event: Event) -> None:
                seen.append(event)

            done = await job.wait(on_event=remember, timeout=300)
            assert done.status == "succeeded" and done.model_id
            assert [e.epoch for e in seen if e.type == "epoch"] == [1, 2, 3]
            assert [e.id for e in await job.events()] == [e.id for e in seen]

            model = await client.models.get(done.model_id)
            [top] = await client.models.predict(model.id, photo, top_k=3)
            assert len(top) == 3 and top[0].label in model.labels
            assert (await client.models.download(model.id, tmp_path / "a")).is_dir()

            others = [await client.jobs.create(small_job(name=f"async-{i}")) for i in range(2)]
            await asyncio.gather(*(j.wait(timeout=300) for j in others))
            ids = [j.id async for j in client.jobs.list(page_size=1)]
            assert len(ids) == len(set(ids)) == 3
            assert [m.id async for m in client.models.list(page_size=1)][-1] == model.id
            await client.models.delete(model.id)
            with pytest.raises(NotFound):
                await client.models.get(model.id)
            assert "digits" in {d.name for d in await client.catalog.datasets()}

            with pytest.raises(NotFound):
                await client.jobs.get("job_nope")
            with pytest.raises(InvalidRequest) as info:
                await client.jobs.create(small_job(hyperparameters={"epochs": 0}))
            assert info.value.field == "hyperparameters.epochs"
            failing = await client.jobs.create(
                small_job(dataset={"name": "digits", "classes": ["0", "zebra"]})
            )
            with pytest.raises(JobFailed):
                await failing.wait(timeout=300)

    asyncio.run(scenario())


def test_stream_resumes_after_a_dropped_connection(service) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("async-dropper")
    slow = small_job(name="async-dropped",
                     method={"kind": "adversarial_program", "canvas_size": 32},
                     hyperparameters={"epochs": 5, "batch_size": 16})  # fmt: skip

    async def scenario() -> None:
        with proxy_for(service.api_url) as proxy:
            async with AsyncClient(proxy.url, key, backoff=0.05) as client:
                job = await client.jobs.create(slow)
                seen, cut_at = [], None
                async for event in job.stream():
                    seen.append(event)
                    if event.type == "epoch" and cut_at is None:
                        cut_at = proxy.connections
                        proxy.drop()
                assert proxy.connections > cut_at
                assert [e.id for e in seen] == [e.id for e in await job.events()]
                assert [e.epoch for e in seen if e.type == "epoch"] == [1, 2, 3, 4, 5]

    asyncio.run(scenario())


def test_delete_and_usage(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("async-deleter")
    rng = np.random.default_rng()
    for label in ("a", "b"):
        (tmp_path / "set" / label).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "set" / label / f"{i}.png")
    nothing = Usage(datasets=Stored(0, 0), models=Stored(0, 0))
    slow = small_job(name="async-delete", method={"kind": "adversarial_program", "canvas_size": 32},
                     hyperparameters={"epochs": 200, "batch_size": 16})  # fmt: skip

    async def scenario() -> None:
        async with AsyncClient(service.api_url, key) as client:
            assert await client.usage() == nothing
            dataset = await client.datasets.upload(tmp_path / "set")
            assert (await client.usage()).datasets == Stored(1, dataset.size_bytes)
            job = await client.jobs.create(slow)
            with pytest.raises(Conflict) as info:
                await client.jobs.delete(job.id)
            assert info.value.code == "job_active" and "cancel" in info.value.message.lower()
            await (await job.cancel()).wait(timeout=120, raise_on_failure=False)
            await client.jobs.delete(job.id)
            await client.datasets.delete(dataset.id)
            with pytest.raises(NotFound):
                await client.datasets.delete(dataset.id)
            assert await client.usage() == nothing

    asyncio.run(scenario())


def test_pause_resume_workers_and_webhooks(service) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("async-fleet")

    async def scenario() -> None:
        async with AsyncClient(service.api_url, key) as client:
            workers = await client.workers.list()
            assert service.env["REPROGRAM_QUEUE"] in {q for w in workers for q in w.queues}

            hook = await client.webhooks.create("http://127.0.0.1:9/hook")
            assert isinstance(hook, Webhook) and (hook.secret or "").startswith("whsec_")
            assert (await client.webhooks.get(hook.id)).secret is None
            assert [w.id for w in await client.webhooks.list()] == [hook.id]
            assert (await client.webhooks.enable(hook.id)).enabled

            # a job no live worker can hold stays queued: it pauses at once
            waiting = await client.jobs.create(
                small_job(name="async-waits", resources={"min_memory_gb": 100000})
            )
            assert waiting.waiting_reason and "100000 GB" in waiting.waiting_reason
            paused = await waiting.pause()
            assert paused.status == "paused" and paused.waiting_reason is None
            with pytest.raises(Conflict) as info:
                await client.jobs.pause(waiting.id)
            assert info.value.code == "not_pausable"
            resumed = await client.jobs.resume(waiting.id)
            assert resumed.status == "queued" and resumed.waiting_reason
            await resumed.cancel()

            types = [d.type for d in await client.webhooks.deliveries(hook.id)]
            assert {"job.paused", "job.cancelled"} <= set(types)
            await client.webhooks.delete(hook.id)
            with pytest.raises(NotFound):
                await client.webhooks.deliveries(hook.id)

    asyncio.run(scenario())


def test_credentials(service) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("async-keeper")

    async def scenario() -> None:
        async with AsyncClient(service.api_url, key) as client:
            made = await client.credentials.create(
                "r2", access_key_id="ASYNCKEY000000000Z9", secret_access_key="async-secret",
                endpoint_url="https://r2.example.com", region="auto",
            )  # fmt: skip
            assert isinstance(made, Credential) and made.access_key_hint == "…00Z9"
            assert (made.endpoint_url, made.region) == ("https://r2.example.com", "auto")
            assert await client.credentials.get(made.id) == made
            assert [c.id for c in await client.credentials.list()] == [made.id]
            await client.credentials.delete(made.id)
            with pytest.raises(NotFound):
                await client.credentials.get(made.id)
            with pytest.raises(NotFound):
                await client.credentials.delete(made.id)
            assert await client.credentials.list() == []

    asyncio.run(scenario())
