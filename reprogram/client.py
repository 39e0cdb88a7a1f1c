"""The Python SDK: `Client` for the Reprogram service (httpx only; it never imports torch)."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reprogram.errors import ConnectionFailed, JobFailed, from_response

DEFAULT_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = {429, 502, 503, 504}
FINISHED = ("succeeded", "failed", "cancelled")


@dataclass
class Event:
    """An epoch's metrics, a log line, or a status change of a job."""

    id: int
    type: str
    epoch: int | None = None
    metrics: dict[str, Any] | None = None
    message: str | None = None
    created_at: str | None = None


@dataclass
class Prediction:
    label: str
    score: float


@dataclass
class Model:
    """A trained model."""

    id: str
    job_id: str
    method: str
    labels: list[str]
    metrics: dict[str, Any]
    backbone: dict[str, Any]
    name: str | None = None
    artifact_bytes: int = 0
    created_at: str | None = None


@dataclass
class Dataset:
    """An uploaded dataset; use its id as `{"dataset": {"upload_id": id}}`."""

    id: str
    name: str
    classes: list[str]
    num_images: int
    size_bytes: int
    created_at: str | None = None


@dataclass
class Job:
    """A job; `wait()`, `refresh()`, `cancel()`, `events()` and `stream()` act on it."""

    id: str
    status: str
    spec: dict[str, Any]
    name: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    attempt: int = 0
    progress: float = 0.0
    epoch: int = 0
    error: str | None = None
    metrics: dict[str, Any] | None = None
    model_id: str | None = None
    _client: Client | None = field(default=None, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    def refresh(self) -> Job:
        """This job as the service sees it now."""
        assert self._client is not None
        return self._client.jobs.get(self.id)

    def cancel(self) -> Job:
        assert self._client is not None
        return self._client.jobs.cancel(self.id)

    def events(self, after: int | None = None) -> list[Event]:
        assert self._client is not None
        return self._client.jobs.events(self.id, after=after)

    def stream(self, after: int | None = None) -> Iterator[Event]:
        assert self._client is not None
        return self._client.jobs.stream(self.id, after=after)

    def wait(
        self,
        *,
        timeout: float | None = None,
        on_event: Callable[[Event], None] | None = None,
        raise_on_failure: bool = True,
    ) -> Job:
        """Follow the job's live events until it ends; return it (JobFailed if it did not succeed)."""
        assert self._client is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        for event in self._client.jobs.stream(self.id, deadline=deadline):
            if on_event is not None:
                on_event(event)
        job = self.refresh()
        if not job.done:
            raise TimeoutError(f"job {self.id} still {job.status} after {timeout} s")
        if raise_on_failure and job.status != "succeeded":
            raise JobFailed(job)
        return job


def _make(cls: type, data: dict[str, Any], **extra: Any) -> Any:
    names = set(cls.__dataclass_fields__)
    return cls(**{k: v for k, v in data.items() if k in names}, **extra)


def _image_bytes(image: Any) -> tuple[str, bytes]:
    """(file name, encoded bytes) for a path, bytes, a PIL image or a numpy array."""
    if isinstance(image, bytes | bytearray):
        return "image", bytes(image)
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        return path.name, path.read_bytes()
    from PIL import Image  # only when given images that need encoding

    if not isinstance(image, Image.Image):
        import numpy as np

        array = np.asarray(image)
        if array.dtype != np.uint8:
            array = np.clip(array * (255.0 if array.max(initial=0) <= 1.0 else 1.0), 0, 255)
            array = array.astype(np.uint8)
        image = Image.fromarray(array.squeeze())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "image.png", buffer.getvalue()


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client


class Jobs(_Resource):
    """`client.jobs`."""

    def create(self, spec: dict[str, Any], *, idempotency_key: str | None = None) -> Job:
        """Queue a job; the same idempotency key returns the same job."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        data = self._client._request("POST", "/v1/jobs", json=spec, headers=headers).json()
        return _make(Job, data, _client=self._client)

    def get(self, job_id: str) -> Job:
        return _make(Job, self._client._request("GET", f"/v1/jobs/{job_id}").json(),
                     _client=self._client)  # fmt: skip

    def list(self, *, status: str | list[str] | None = None, page_size: int = 100) -> Iterator[Job]:
        """Every job (newest first), fetching pages as the iteration goes."""
        params: dict[str, Any] = {"limit": page_size}
        if status:
            params["status"] = [status] if isinstance(status, str) else status
        for item in self._client._pages("/v1/jobs", params):
            yield _make(Job, item, _client=self._client)

    def cancel(self, job_id: str) -> Job:
        return _make(Job, self._client._request("POST", f"/v1/jobs/{job_id}/cancel").json(),
                     _client=self._client)  # fmt: skip

    def events(self, job_id: str, *, after: int | None = None) -> list[Event]:
        """Every event so far (or after an id)."""
        events: list[Event] = []
        while True:
            params = {"after": after} if after is not None else {}
            body = self._client._request("GET", f"/v1/jobs/{job_id}/events", params=params).json()
            events += [_make(Event, e) for e in body["data"]]
            if not body["has_more"]:
                return events
            after = events[-1].id

    def stream(
        self, job_id: str, *, after: int | None = None, deadline: float | None = None
    ) -> Iterator[Event]:
        """Live events until the job ends; a dropped connection resumes from the last event id."""
        last = after
        failures = 0
        while deadline is None or time.monotonic() < deadline:
            headers = {"Last-Event-ID": str(last)} if last is not None else {}
            try:
                with self._client._http.stream(
                    "GET", f"/v1/jobs/{job_id}/events/stream", headers=headers,
                    timeout=httpx.Timeout(self._client.timeout, read=60.0),
                ) as response:  # fmt: skip
                    if response.status_code >= 400:
                        response.read()
                        raise from_response(response.status_code, _json(response))
                    failures = 0
                    kind, data = None, None
                    for line in response.iter_lines():
                        if line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: "):
                            data = line[6:]
                        elif line == "" and data is not None:
                            if kind == "end":
                                return
                            event = _make(Event, json.loads(data))
                            last = event.id
                            yield event
                            kind, data = None, None
                        if deadline is not None and time.monotonic() > deadline:
                            return
                if self._client.jobs.get(job_id).done:  # closed without 'end': check, then go
                    yield from self.events(job_id, after=last)
                    return
            except (httpx.TransportError, httpx.StreamError):
                failures += 1
                if failures > self._client.max_retries:
                    raise ConnectionFailed(f"event stream of {job_id} kept dropping") from None
                time.sleep(self._client._delay(failures, None))


class Models(_Resource):
    """`client.models`."""

    def get(self, model_id: str) -> Model:
        return _make(Model, self._client._request("GET", f"/v1/models/{model_id}").json())

    def list(self, *, page_size: int = 100) -> Iterator[Model]:
        for item in self._client._pages("/v1/models", {"limit": page_size}):
            yield _make(Model, item)

    def predict(self, model_id: str, images: Any, *, top_k: int = 5) -> list[list[Prediction]]:
        """Top-k labels for images: paths, bytes, PIL images or numpy arrays (one or a list)."""
        if not isinstance(images, list | tuple):
            images = [images]
        files = []
        for image in images:
            name, data = _image_bytes(image)
            files.append(("files", (name, data, "application/octet-stream")))
        body = self._client._request(
            "POST", f"/v1/models/{model_id}/predict", files=files, params={"top_k": top_k}
        ).json()
        return [[Prediction(**s) for s in p["top_k"]] for p in body["predictions"]]

    def download(self, model_id: str, directory: str | Path) -> Path:
        """Save the artifact (manifest.json and model.safetensors) into a directory."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for name in ("manifest.json", "model.safetensors"):
            response = self._client._request(
                "GET", f"/v1/models/{model_id}/artifact", params={"file": name}
            )
            (target / name).write_bytes(response.content)
        return target


class Datasets(_Resource):
    """`client.datasets`."""

    def upload(self, source: str | Path) -> Dataset:
        """Upload an image-folder archive, or a folder (zipped on the fly), one folder per class."""
        path = Path(source)
        if path.is_dir():
            import zipfile

            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for item in sorted(path.rglob("*")):
                    if item.is_file():
                        archive.write(item, item.relative_to(path.parent))
            name, data = f"{path.name}.zip", buffer.getvalue()
        else:
            name, data = path.name, path.read_bytes()
        body = self._client._request("POST", "/v1/datasets", files={"file": (name, data)}).json()
        return _make(Dataset, body)

    def get(self, dataset_id: str) -> Dataset:
        return _make(Dataset, self._client._request("GET", f"/v1/datasets/{dataset_id}").json())


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


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
        self.base_url = (base_url or os.environ.get("REPROGRAM_URL") or DEFAULT_URL).rstrip("/")
        key = api_key or os.environ.get("REPROGRAM_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self.jobs, self.models, self.datasets = Jobs(self), Models(self), Datasets(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = response.headers.get("retry-after", "")
            if after.replace(".", "", 1).isdigit():
                return min(float(after), 60.0)
        return self.backoff * 2 ** (attempt - 1)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt > self.max_retries:
                    raise ConnectionFailed(f"{method} {self.base_url}{path}: {exc}") from exc
                time.sleep(self._delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt <= self.max_retries:
                time.sleep(self._delay(attempt, response))
                continue
            if response.status_code >= 400:
                raise from_response(response.status_code, _json(response))
            return response

    def _pages(self, path: str, params: dict[str, Any]) -> Iterable[dict[str, Any]]:
        cursor = None
        while True:
            query = dict(params, **({"cursor": cursor} if cursor else {}))
            body = self._request("GET", path, params=query).json()
            yield from body["data"]
            if not body["has_more"]:
                return
            cursor = body["next_cursor"]
