"""The asyncio Python SDK: `AsyncClient`, the same calls as `Client`, awaited.

What each call sends and how it retries is in `reprogram.protocol`, shared with `Client`; this
module only performs those actions with awaits.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from reprogram import protocol as p
from reprogram.objects import (
    CatalogEntry,
    Credential,
    Dataset,
    Delivery,
    Event,
    JobFields,
    Model,
    Prediction,
    Sweep,
    Usage,
    Webhook,
    Worker,
    finished,
    make,
    predictions,
    sweep_finished,
    usage,
)


class AsyncJob(JobFields):
    """A job; `await job.wait()`, `refresh()`, `cancel()`, `pause()`, `resume()`, `events()`;
    `async for` `stream()`."""

    _client: AsyncClient

    async def refresh(self) -> AsyncJob:
        """This job as the service sees it now."""
        return await self._client.jobs.get(self.id)

    async def cancel(self) -> AsyncJob:
        """Ask the job to stop; it ends as cancelled within one training step."""
        return await self._client.jobs.cancel(self.id)

    async def pause(self) -> AsyncJob:
        """Pause the job: a queued one at once, a running one at its next checkpoint."""
        return await self._client.jobs.pause(self.id)

    async def resume(self) -> AsyncJob:
        """Queue the paused job again; it continues from its checkpoint."""
        return await self._client.jobs.resume(self.id)

    async def events(self, after: int | None = None) -> list[Event]:
        """Every event so far (or after an id)."""
        return await self._client.jobs.events(self.id, after=after)

    def stream(self, after: int | None = None) -> AsyncIterator[Event]:
        """Live events until the job ends."""
        return self._client.jobs.stream(self.id, after=after)

    async def wait(
        self,
        *,
        timeout: float | None = None,
        on_event: Callable[[Event], Any] | None = None,
        raise_on_failure: bool = True,
    ) -> AsyncJob:
        """Follow the job's live events until it ends; return it (JobFailed if it did not succeed).

        `on_event` may be a plain function or a coroutine function.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        async for event in self._client.jobs.stream(self.id, deadline=deadline):
            if on_event is not None and asyncio.iscoroutine(result := on_event(event)):
                await result
        return finished(await self.refresh(), timeout, raise_on_failure)


class _Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._run = client._run


class AsyncJobs(_Resource):
    """`client.jobs`."""

    async def create(self, spec: dict[str, Any], *, idempotency_key: str | None = None) -> AsyncJob:
        """Queue a job; the same idempotency key returns the same job."""
        p.refuse_auto(spec)
        data = await self._run(p.create_job(spec, idempotency_key, self._client.retry))
        return make(AsyncJob, data, _client=self._client)

    async def get(self, job_id: str) -> AsyncJob:
        """One job."""
        data = await self._run(p.get_json(f"/v1/jobs/{job_id}", self._client.retry))
        return make(AsyncJob, data, _client=self._client)

    async def list(
        self, *, status: str | list[str] | None = None, page_size: int = 100
    ) -> AsyncIterator[AsyncJob]:
        """Every job (newest first), fetching pages as the iteration goes."""
        params: dict[str, Any] = {"limit": page_size}
        if status:
            params["status"] = [status] if isinstance(status, str) else status
        async for item in self._client._pages("/v1/jobs", params):
            yield make(AsyncJob, item, _client=self._client)

    async def cancel(self, job_id: str) -> AsyncJob:
        """Ask a job to stop."""
        data = await self._run(p.cancel_job(job_id, self._client.retry))
        return make(AsyncJob, data, _client=self._client)

    async def pause(self, job_id: str) -> AsyncJob:
        """Pause a queued job at once (paused), or a running one at its next step (pausing)."""
        data = await self._run(p.pause_job(job_id, self._client.retry))
        return make(AsyncJob, data, _client=self._client)

    async def resume(self, job_id: str) -> AsyncJob:
        """Queue a paused job again; it continues from its checkpoint."""
        data = await self._run(p.resume_job(job_id, self._client.retry))
        return make(AsyncJob, data, _client=self._client)

    async def delete(self, job_id: str) -> None:
        """Delete a finished job with its events; Conflict while it runs or its model exists."""
        await self._run(p.delete(f"/v1/jobs/{job_id}", self._client.retry))

    async def events(self, job_id: str, *, after: int | None = None) -> builtins.list[Event]:
        """Every event so far (or after an id)."""
        events = await self._run(p.list_events(job_id, after, self._client.retry))
        return [make(Event, e) for e in events]

    async def stream(
        self, job_id: str, *, after: int | None = None, deadline: float | None = None
    ) -> AsyncIterator[Event]:
        """Live events until the job ends; a dropped connection resumes from the last event id."""
        op = p.stream_events(job_id, after, deadline, self._client.retry, self._client.timeout)
        async for event in self._client._iterate(op):
            yield make(Event, event)


class AsyncModels(_Resource):
    """`client.models`."""

    async def get(self, model_id: str) -> Model:
        """One model."""
        data = await self._run(p.get_json(f"/v1/models/{model_id}", self._client.retry))
        return make(Model, data)

    async def list(self, *, page_size: int = 100) -> AsyncIterator[Model]:
        """Every model (newest first)."""
        async for item in self._client._pages("/v1/models", {"limit": page_size}):
            yield make(Model, item)

    async def delete(self, model_id: str) -> None:
        """Delete a model and its artifact; Conflict while a model or a running job uses it."""
        await self._run(p.delete(f"/v1/models/{model_id}", self._client.retry))

    async def predict(
        self, model_id: str, images: Any, *, top_k: int = 5
    ) -> builtins.list[builtins.list[Prediction]]:
        """Top-k labels for images: paths, bytes, PIL images or numpy arrays (one or a list)."""
        op = p.predict(model_id, p.encode_images(images), top_k, self._client.retry)
        return predictions(await self._run(op))

    async def download(self, model_id: str, directory: str | Path) -> Path:
        """Save the artifact (manifest.json and model.safetensors) into a directory."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for name in ("manifest.json", "model.safetensors"):
            data = await self._run(p.download(model_id, name, self._client.retry))
            (target / name).write_bytes(data)
        return target

    async def export(self, model_id: str, path: str | Path, *, format: str = "onnx") -> Path:
        """Save the whole model as one file: `onnx` (ONNX Runtime, Triton) or `torchscript`."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(await self._run(p.export(model_id, format, self._client.retry)))
        return target


class AsyncDatasets(_Resource):
    """`client.datasets`."""

    async def upload(self, source: str | Path) -> Dataset:
        """Upload an image-folder archive, or a folder (zipped on the fly), one folder per class."""
        name, data = p.archive(source)
        return make(Dataset, await self._run(p.upload_dataset(name, data, self._client.retry)))

    async def get(self, dataset_id: str) -> Dataset:
        """One uploaded dataset."""
        path = f"/v1/datasets/{dataset_id}"
        return make(Dataset, await self._run(p.get_json(path, self._client.retry)))

    async def delete(self, dataset_id: str) -> None:
        """Delete an uploaded dataset; Conflict while a queued or running job uses it."""
        await self._run(p.delete(f"/v1/datasets/{dataset_id}", self._client.retry))


class AsyncCatalog(_Resource):
    """`client.catalog`: what this service can run, and whether it works offline there."""

    async def backbones(self) -> list[CatalogEntry]:
        return await self._entries("/v1/backbones")

    async def datasets(self) -> list[CatalogEntry]:
        """Built-in datasets and this owner's uploads."""
        return await self._entries("/v1/datasets")

    async def methods(self) -> list[CatalogEntry]:
        return await self._entries("/v1/methods")

    async def _entries(self, path: str) -> list[CatalogEntry]:
        body = await self._run(p.get_json(path, self._client.retry))
        return [make(CatalogEntry, e) for e in body["data"]]


class AsyncWorkers(_Resource):
    """`client.workers`: the live workers of the service."""

    async def list(self) -> builtins.list[Worker]:
        """Workers seen within the heartbeat timeout (a job id only when the job is yours)."""
        data = await self._run(p.list_json("/v1/workers", self._client.retry))
        return [make(Worker, w) for w in data]


class AsyncWebhooks(_Resource):
    """`client.webhooks`: endpoints that receive this owner's job status changes, signed."""

    async def create(self, url: str, *, description: str | None = None) -> Webhook:
        """Register an endpoint; the answer's `secret` is shown this once."""
        data = await self._run(p.create_webhook(url, description, self._client.retry))
        return make(Webhook, data)

    async def list(self) -> builtins.list[Webhook]:
        """This owner's endpoints (without their secrets)."""
        data = await self._run(p.list_json("/v1/webhooks", self._client.retry))
        return [make(Webhook, w) for w in data]

    async def get(self, webhook_id: str) -> Webhook:
        """One endpoint: whether it is enabled, and why not."""
        path = f"/v1/webhooks/{webhook_id}"
        return make(Webhook, await self._run(p.get_json(path, self._client.retry)))

    async def enable(self, webhook_id: str) -> Webhook:
        """Turn a disabled endpoint back on."""
        return make(Webhook, await self._run(p.enable_webhook(webhook_id, self._client.retry)))

    async def delete(self, webhook_id: str) -> None:
        """Stop sending to an endpoint and drop its log."""
        await self._run(p.delete(f"/v1/webhooks/{webhook_id}", self._client.retry))

    async def deliveries(self, webhook_id: str, *, limit: int = 100) -> builtins.list[Delivery]:
        """The endpoint's log, newest first: each message, its attempts and outcome."""
        path = f"/v1/webhooks/{webhook_id}/deliveries"
        data = await self._run(p.list_json(path, self._client.retry, {"limit": limit}))
        return [make(Delivery, d) for d in data]


class AsyncCredentials(_Resource):
    """`client.credentials`: this owner's keys to S3-compatible stores, for datasets named by uri."""

    async def create(
        self,
        name: str,
        *,
        access_key_id: str,
        secret_access_key: str,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> Credential:
        """Keep keys that this owner's jobs may read `dataset.uri` with; the secret is never
        returned. `endpoint_url` for MinIO, R2 and the like (default: AWS for the region)."""
        op = p.create_credential(name, access_key_id, secret_access_key, endpoint_url, region,
                                 self._client.retry)  # fmt: skip
        return make(Credential, await self._run(op))

    async def list(self) -> builtins.list[Credential]:
        """This owner's credentials, oldest first (without their secrets)."""
        data = await self._run(p.list_json("/v1/credentials", self._client.retry))
        return [make(Credential, c) for c in data]

    async def get(self, credential_id: str) -> Credential:
        """One credential: its store, and when a job last used it."""
        path = f"/v1/credentials/{credential_id}"
        return make(Credential, await self._run(p.get_json(path, self._client.retry)))

    async def delete(self, credential_id: str) -> None:
        """Forget a credential; Conflict (`credential_in_use`) while a queued or running job
        needs it."""
        await self._run(p.delete(f"/v1/credentials/{credential_id}", self._client.retry))


class AsyncSweeps(_Resource):
    """`client.sweeps`: searches over job specs whose trials are jobs; the best model is promoted."""

    async def create(
        self,
        spec: dict[str, Any] | None = None,
        *,
        base: dict[str, Any] | None = None,
        space: dict[str, Any] | None = None,
        name: str | None = None,
        budget: dict[str, Any] | None = None,
        pruner: str | None = None,
        objective: str | None = None,
        seed: int | None = None,
        initial: list[dict[str, Any]] | None = None,
    ) -> Sweep:
        """Start a sweep from a whole spec, keyword fields, or both (the fields win); as
        `Client.sweeps.create`. Not resent after a broken connection, since that could start
        two."""
        body = p.sweep_body(spec, dict(base=base, space=space, name=name, budget=budget,
                                       pruner=pruner, objective=objective, seed=seed,
                                       initial=initial))  # fmt: skip
        return make(Sweep, await self._run(p.create_sweep(body, self._client.retry)))

    async def list(self, *, page_size: int = 100) -> AsyncIterator[Sweep]:
        """Every sweep (newest first, without their trials), fetching pages as it goes."""
        async for item in self._client._pages("/v1/sweeps", {"limit": page_size}):
            yield make(Sweep, item)

    async def get(self, sweep_id: str) -> Sweep:
        """One sweep with every trial."""
        path = f"/v1/sweeps/{sweep_id}"
        return make(Sweep, await self._run(p.get_json(path, self._client.retry)))

    async def cancel(self, sweep_id: str) -> Sweep:
        """Start no more trials and cancel those running; Conflict if it already ended."""
        return make(Sweep, await self._run(p.cancel_sweep(sweep_id, self._client.retry)))

    async def pause(self, sweep_id: str) -> Sweep:
        """Start no more trials and pause those queued or running (each keeps its checkpoint);
        Conflict (`not_running`) unless it is running."""
        return make(Sweep, await self._run(p.pause_sweep(sweep_id, self._client.retry)))

    async def resume(self, sweep_id: str) -> Sweep:
        """Go on with a paused sweep: its paused trials continue from their checkpoints and new
        ones start; Conflict (`not_paused`) unless it is paused."""
        return make(Sweep, await self._run(p.resume_sweep(sweep_id, self._client.retry)))

    async def wait(
        self,
        sweep_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = 2.0,
        on_update: Callable[[Sweep], Any] | None = None,
        raise_on_failure: bool = True,
    ) -> Sweep:
        """Poll the sweep until it ends (a paused one is waited on); return it with its
        trials. `on_update` (a plain function or a coroutine function) sees it at once and
        whenever it changes. TimeoutError if it still runs after `timeout` seconds; SweepFailed
        if it ended failed or cancelled (unless `raise_on_failure` is False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        op = p.follow_sweep(sweep_id, deadline, poll_interval, self._client.retry)
        sweep = None
        async for data in self._client._iterate(op):
            sweep = make(Sweep, data)
            if on_update is not None and asyncio.iscoroutine(result := on_update(sweep)):
                await result
        assert sweep is not None  # the first look is always emitted
        return sweep_finished(sweep, timeout, raise_on_failure)


class _Stream:
    """The one open streaming response of an operation, closed however the operation ends."""

    response: httpx.Response | None = None
    lines: AsyncIterator[str] | None = None

    async def close(self) -> None:
        if self.response is not None:
            await self.response.aclose()
        self.response = self.lines = None


class AsyncClient:
    """An asyncio client of the Reprogram service; use `async with AsyncClient(...) as client`.

    Same arguments, retries and typed errors as `Client`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        where = p.connection(base_url, api_key)
        self.base_url, self.timeout = where.base_url, timeout
        self.retry = p.Retry(max_retries=max_retries, backoff=backoff)
        self._http = httpx.AsyncClient(
            base_url=where.base_url, headers=where.headers, timeout=timeout, transport=transport
        )
        self.jobs, self.models = AsyncJobs(self), AsyncModels(self)
        self.datasets, self.catalog = AsyncDatasets(self), AsyncCatalog(self)
        self.workers, self.webhooks = AsyncWorkers(self), AsyncWebhooks(self)
        self.credentials, self.sweeps = AsyncCredentials(self), AsyncSweeps(self)

    async def usage(self) -> Usage:
        """What this key's owner stores: uploaded datasets and models, counted and sized."""
        return usage(await self._run(p.get_json("/v1/usage", self.retry)))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _perform(self, action: p.Action, stream: _Stream) -> Any:
        """Carry out one action of an operation and return its outcome."""
        if isinstance(action, p.Sleep):
            await asyncio.sleep(action.seconds)
            return None
        if isinstance(action, p.Close):
            await stream.close()
            return None
        if isinstance(action, p.ReadLine):
            try:
                return await anext(stream.lines, None) if stream.lines is not None else None
            except (httpx.TransportError, httpx.StreamError) as exc:
                return exc
        assert isinstance(action, p.Request)
        timeout = action.timeout if action.timeout is not None else httpx.USE_CLIENT_DEFAULT
        request = self._http.build_request(
            action.method, action.path, params=action.params, json=action.json,
            files=action.files, headers=action.headers, timeout=timeout,
        )  # fmt: skip
        try:
            response = await self._http.send(request, stream=action.stream)
            if action.stream:
                stream.response, stream.lines = response, response.aiter_lines()
                if response.status_code >= 400:
                    await response.aread()  # so the error's message can be read
        except httpx.TransportError as exc:
            return exc
        return response

    async def _run(self, op: p.Op[Any]) -> Any:
        """Run an operation to its result."""
        stream, outcome = _Stream(), None
        try:
            while True:
                try:
                    action = op.send(outcome)
                except StopIteration as stop:
                    return stop.value
                outcome = await self._perform(action, stream)
        finally:
            await stream.close()

    async def _iterate(self, op: p.Op[Any]) -> AsyncIterator[Any]:
        """Run an operation, yielding what it emits."""
        stream, outcome = _Stream(), None
        try:
            while True:
                try:
                    action = op.send(outcome)
                except StopIteration:
                    return
                if isinstance(action, p.Emit):
                    outcome = None
                    yield action.value
                else:
                    outcome = await self._perform(action, stream)
        finally:
            await stream.close()
            op.close()

    async def _pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        cursor = None
        while True:
            body = await self._run(p.page(path, params, cursor, self.retry))
            for item in body["data"]:
                yield item
            if not body["has_more"]:
                return
            cursor = body["next_cursor"]
