"""The blocking Python SDK: `Client` (httpx only; it never imports torch).

What each call sends and how it retries is in `reprogram.protocol`, shared with `AsyncClient`;
this module only performs those actions with blocking I/O.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator
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


class Job(JobFields):
    """A job; `wait()`, `refresh()`, `cancel()`, `pause()`, `resume()`, `events()` and `stream()`
    act on it."""

    _client: Client

    def refresh(self) -> Job:
        """This job as the service sees it now."""
        return self._client.jobs.get(self.id)

    def cancel(self) -> Job:
        """Ask the job to stop; it ends as cancelled within one training step."""
        return self._client.jobs.cancel(self.id)

    def pause(self) -> Job:
        """Pause the job: a queued one at once, a running one at its next checkpoint."""
        return self._client.jobs.pause(self.id)

    def resume(self) -> Job:
        """Queue the paused job again; it continues from its checkpoint."""
        return self._client.jobs.resume(self.id)

    def events(self, after: int | None = None) -> list[Event]:
        """Every event so far (or after an id)."""
        return self._client.jobs.events(self.id, after=after)

    def stream(self, after: int | None = None) -> Iterator[Event]:
        """Live events until the job ends."""
        return self._client.jobs.stream(self.id, after=after)

    def wait(
        self,
        *,
        timeout: float | None = None,
        on_event: Callable[[Event], None] | None = None,
        raise_on_failure: bool = True,
    ) -> Job:
        """Follow the job's live events until it ends; return it (JobFailed if it did not succeed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for event in self._client.jobs.stream(self.id, deadline=deadline):
            if on_event is not None:
                on_event(event)
        return finished(self.refresh(), timeout, raise_on_failure)


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._run = client._run


class Jobs(_Resource):
    """`client.jobs`."""

    def create(self, spec: dict[str, Any], *, idempotency_key: str | None = None) -> Job:
        """Queue a job; the same idempotency key returns the same job."""
        p.refuse_auto(spec)
        data = self._run(p.create_job(spec, idempotency_key, self._client.retry))
        return make(Job, data, _client=self._client)

    def get(self, job_id: str) -> Job:
        """One job."""
        data = self._run(p.get_json(f"/v1/jobs/{job_id}", self._client.retry))
        return make(Job, data, _client=self._client)

    def list(self, *, status: str | list[str] | None = None, page_size: int = 100) -> Iterator[Job]:
        """Every job (newest first), fetching pages as the iteration goes."""
        params: dict[str, Any] = {"limit": page_size}
        if status:
            params["status"] = [status] if isinstance(status, str) else status
        for item in self._client._pages("/v1/jobs", params):
            yield make(Job, item, _client=self._client)

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop."""
        data = self._run(p.cancel_job(job_id, self._client.retry))
        return make(Job, data, _client=self._client)

    def pause(self, job_id: str) -> Job:
        """Pause a queued job at once (paused), or a running one at its next step (pausing)."""
        data = self._run(p.pause_job(job_id, self._client.retry))
        return make(Job, data, _client=self._client)

    def resume(self, job_id: str) -> Job:
        """Queue a paused job again; it continues from its checkpoint."""
        data = self._run(p.resume_job(job_id, self._client.retry))
        return make(Job, data, _client=self._client)

    def delete(self, job_id: str) -> None:
        """Delete a finished job with its events; Conflict while it runs or its model exists."""
        self._run(p.delete(f"/v1/jobs/{job_id}", self._client.retry))

    def events(self, job_id: str, *, after: int | None = None) -> builtins.list[Event]:
        """Every event so far (or after an id)."""
        return [make(Event, e) for e in self._run(p.list_events(job_id, after, self._client.retry))]

    def stream(
        self, job_id: str, *, after: int | None = None, deadline: float | None = None
    ) -> Iterator[Event]:
        """Live events until the job ends; a dropped connection resumes from the last event id."""
        op = p.stream_events(job_id, after, deadline, self._client.retry, self._client.timeout)
        for event in self._client._iterate(op):
            yield make(Event, event)


class Models(_Resource):
    """`client.models`."""

    def get(self, model_id: str) -> Model:
        """One model."""
        return make(Model, self._run(p.get_json(f"/v1/models/{model_id}", self._client.retry)))

    def list(self, *, page_size: int = 100) -> Iterator[Model]:
        """Every model (newest first)."""
        for item in self._client._pages("/v1/models", {"limit": page_size}):
            yield make(Model, item)

    def delete(self, model_id: str) -> None:
        """Delete a model and its artifact; Conflict while a model or a running job uses it."""
        self._run(p.delete(f"/v1/models/{model_id}", self._client.retry))

    def predict(
        self, model_id: str, images: Any, *, top_k: int = 5
    ) -> builtins.list[builtins.list[Prediction]]:
        """Top-k labels for images: paths, bytes, PIL images or numpy arrays (one or a list)."""
        op = p.predict(model_id, p.encode_images(images), top_k, self._client.retry)
        return predictions(self._run(op))

    def download(self, model_id: str, directory: str | Path) -> Path:
        """Save the artifact (manifest.json and model.safetensors) into a directory."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for name in ("manifest.json", "model.safetensors"):
            (target / name).write_bytes(self._run(p.download(model_id, name, self._client.retry)))
        return target

    def export(self, model_id: str, path: str | Path, *, format: str = "onnx") -> Path:
        """Save the whole model as one file: `onnx` (ONNX Runtime, Triton) or `torchscript`."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self._run(p.export(model_id, format, self._client.retry)))
        return target


class Datasets(_Resource):
    """`client.datasets`."""

    def upload(self, source: str | Path) -> Dataset:
        """Upload an image-folder archive, or a folder (zipped on the fly), one folder per class."""
        name, data = p.archive(source)
        return make(Dataset, self._run(p.upload_dataset(name, data, self._client.retry)))

    def get(self, dataset_id: str) -> Dataset:
        """One uploaded dataset."""
        path = f"/v1/datasets/{dataset_id}"
        return make(Dataset, self._run(p.get_json(path, self._client.retry)))

    def delete(self, dataset_id: str) -> None:
        """Delete an uploaded dataset; Conflict while a queued or running job uses it."""
        self._run(p.delete(f"/v1/datasets/{dataset_id}", self._client.retry))


class Catalog(_Resource):
    """`client.catalog`: what this service can run, and whether it works offline there."""

    def backbones(self) -> list[CatalogEntry]:
        return self._entries("/v1/backbones")

    def datasets(self) -> list[CatalogEntry]:
        """Built-in datasets and this owner's uploads."""
        return self._entries("/v1/datasets")

    def methods(self) -> list[CatalogEntry]:
        return self._entries("/v1/methods")

    def _entries(self, path: str) -> list[CatalogEntry]:
        body = self._run(p.get_json(path, self._client.retry))
        return [make(CatalogEntry, e) for e in body["data"]]


class Workers(_Resource):
    """`client.workers`: the live workers of the service."""

    def list(self) -> builtins.list[Worker]:
        """Workers seen within the heartbeat timeout (a job id only when the job is yours)."""
        data = self._run(p.list_json("/v1/workers", self._client.retry))
        return [make(Worker, w) for w in data]


class Webhooks(_Resource):
    """`client.webhooks`: endpoints that receive this owner's job status changes, signed."""

    def create(self, url: str, *, description: str | None = None) -> Webhook:
        """Register an endpoint; the answer's `secret` is shown this once."""
        data = self._run(p.create_webhook(url, description, self._client.retry))
        return make(Webhook, data)

    def list(self) -> builtins.list[Webhook]:
        """This owner's endpoints (without their secrets)."""
        data = self._run(p.list_json("/v1/webhooks", self._client.retry))
        return [make(Webhook, w) for w in data]

    def get(self, webhook_id: str) -> Webhook:
        """One endpoint: whether it is enabled, and why not."""
        path = f"/v1/webhooks/{webhook_id}"
        return make(Webhook, self._run(p.get_json(path, self._client.retry)))

    def enable(self, webhook_id: str) -> Webhook:
        """Turn a disabled endpoint back on."""
        return make(Webhook, self._run(p.enable_webhook(webhook_id, self._client.retry)))

    def delete(self, webhook_id: str) -> None:
        """Stop sending to an endpoint and drop its log."""
        self._run(p.delete(f"/v1/webhooks/{webhook_id}", self._client.retry))

    def deliveries(self, webhook_id: str, *, limit: int = 100) -> builtins.list[Delivery]:
        """The endpoint's log, newest first: each message, its attempts and outcome."""
        path = f"/v1/webhooks/{webhook_id}/deliveries"
        data = self._run(p.list_json(path, self._client.retry, {"limit": limit}))
        return [make(Delivery, d) for d in data]


class Credentials(_Resource):
    """`client.credentials`: this owner's keys to S3-compatible stores, for datasets named by uri."""

    def create(
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
        return make(Credential, self._run(op))

    def list(self) -> builtins.list[Credential]:
        """This owner's credentials, oldest first (without their secrets)."""
        data = self._run(p.list_json("/v1/credentials", self._client.retry))
        return [make(Credential, c) for c in data]

    def get(self, credential_id: str) -> Credential:
        """One credential: its store, and when a job last used it."""
        path = f"/v1/credentials/{credential_id}"
        return make(Credential, self._run(p.get_json(path, self._client.retry)))

    def delete(self, credential_id: str) -> None:
        """Forget a credential; Conflict (`credential_in_use`) while a queued or running job
        needs it."""
        self._run(p.delete(f"/v1/credentials/{credential_id}", self._client.retry))


class Sweeps(_Resource):
    """`client.sweeps`: searches over job specs whose trials are jobs; the best model is promoted."""

    def create(
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
        """Start a sweep from a whole spec, keyword fields, or both (the fields win): `base` a
        job spec, `space` {dotted path: {"type": "categorical" | "float" | "int", ...}},
        `budget` {"trials", "parallelism", "max_seconds"}, `pruner` median |
        successive_halving | none, `initial` points to try first [{dotted path: value}]. Its
        first trials are queued at once. Not resent after a broken connection, since that could
        start two."""
        body = p.sweep_body(spec, dict(base=base, space=space, name=name, budget=budget,
                                       pruner=pruner, objective=objective, seed=seed,
                                       initial=initial))  # fmt: skip
        return make(Sweep, self._run(p.create_sweep(body, self._client.retry)))

    def list(self, *, page_size: int = 100) -> Iterator[Sweep]:
        """Every sweep (newest first, without their trials), fetching pages as it goes."""
        for item in self._client._pages("/v1/sweeps", {"limit": page_size}):
            yield make(Sweep, item)

    def get(self, sweep_id: str) -> Sweep:
        """One sweep with every trial."""
        path = f"/v1/sweeps/{sweep_id}"
        return make(Sweep, self._run(p.get_json(path, self._client.retry)))

    def cancel(self, sweep_id: str) -> Sweep:
        """Start no more trials and cancel those running; Conflict if it already ended."""
        return make(Sweep, self._run(p.cancel_sweep(sweep_id, self._client.retry)))

    def pause(self, sweep_id: str) -> Sweep:
        """Start no more trials and pause those queued or running (each keeps its checkpoint);
        Conflict (`not_running`) unless it is running."""
        return make(Sweep, self._run(p.pause_sweep(sweep_id, self._client.retry)))

    def resume(self, sweep_id: str) -> Sweep:
        """Go on with a paused sweep: its paused trials continue from their checkpoints and new
        ones start; Conflict (`not_paused`) unless it is paused."""
        return make(Sweep, self._run(p.resume_sweep(sweep_id, self._client.retry)))

    def wait(
        self,
        sweep_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = 2.0,
        on_update: Callable[[Sweep], None] | None = None,
        raise_on_failure: bool = True,
    ) -> Sweep:
        """Poll the sweep until it ends (a paused one is waited on); return it with its trials.
        `on_update` sees it at once and whenever it changes. TimeoutError if it still runs after `timeout` seconds;
        SweepFailed if it ended failed or cancelled (unless `raise_on_failure` is False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        op = p.follow_sweep(sweep_id, deadline, poll_interval, self._client.retry)
        sweep = None
        for data in self._client._iterate(op):
            sweep = make(Sweep, data)
            if on_update is not None:
                on_update(sweep)
        assert sweep is not None  # the first look is always emitted
        return sweep_finished(sweep, timeout, raise_on_failure)


class _Stream:
    """The one open streaming response of an operation, closed however the operation ends."""

    response: httpx.Response | None = None
    lines: Iterator[str] | None = None

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
        self.response = self.lines = None


class Client:
    """A client of the Reprogram service.

    `base_url` and `api_key` default to $REPROGRAM_URL (else http://127.0.0.1:8000) and
    $REPROGRAM_API_KEY. Connection errors and 429/502/503/504 are retried with exponential
    backoff, honouring Retry-After; other errors raise typed exceptions (reprogram.errors).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        where = p.connection(base_url, api_key)
        self.base_url, self.timeout = where.base_url, timeout
        self.retry = p.Retry(max_retries=max_retries, backoff=backoff)
        self._http = httpx.Client(
            base_url=where.base_url, headers=where.headers, timeout=timeout, transport=transport
        )
        self.jobs, self.models, self.datasets = Jobs(self), Models(self), Datasets(self)
        self.catalog, self.workers, self.webhooks = Catalog(self), Workers(self), Webhooks(self)
        self.credentials, self.sweeps = Credentials(self), Sweeps(self)

    def usage(self) -> Usage:
        """What this key's owner stores: uploaded datasets and models, counted and sized."""
        return usage(self._run(p.get_json("/v1/usage", self.retry)))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _perform(self, action: p.Action, stream: _Stream) -> Any:
        """Carry out one action of an operation and return its outcome."""
        if isinstance(action, p.Sleep):
            time.sleep(action.seconds)
            return None
        if isinstance(action, p.Close):
            stream.close()
            return None
        if isinstance(action, p.ReadLine):
            try:
                return next(stream.lines, None) if stream.lines is not None else None
            except (httpx.TransportError, httpx.StreamError) as exc:
                return exc
        assert isinstance(action, p.Request)
        timeout = action.timeout if action.timeout is not None else httpx.USE_CLIENT_DEFAULT
        request = self._http.build_request(
            action.method, action.path, params=action.params, json=action.json,
            files=action.files, headers=action.headers, timeout=timeout,
        )  # fmt: skip
        try:
            response = self._http.send(request, stream=action.stream)
            if action.stream:
                stream.response, stream.lines = response, response.iter_lines()
                if response.status_code >= 400:
                    response.read()  # so the error's message can be read
        except httpx.TransportError as exc:
            return exc
        return response

    def _run(self, op: p.Op[Any]) -> Any:
        """Run an operation to its result."""
        stream, outcome = _Stream(), None
        try:
            while True:
                try:
                    action = op.send(outcome)
                except StopIteration as stop:
                    return stop.value
                outcome = self._perform(action, stream)
        finally:
            stream.close()

    def _iterate(self, op: p.Op[Any]) -> Iterator[Any]:
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
                    outcome = self._perform(action, stream)
        finally:
            stream.close()
            op.close()

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            body = self._run(p.page(path, params, cursor, self.retry))
            yield from body["data"]
            if not body["has_more"]:
                return
            cursor = body["next_cursor"]
