"""What the SDK says to the service, written once for `Client` and `AsyncClient` (sans-I/O).

Each operation here is a generator. It yields actions — send a `Request`, `Sleep`, read the
next line of an open stream (`ReadLine`), `Close` it, or `Emit` a value to the caller — and is
sent back each action's outcome: an `httpx.Response` (or the `httpx.TransportError` that stopped
it) for a request, a line (None at the end, or the error that broke it) for `ReadLine`, None
otherwise. `Client` performs the actions with blocking calls and `AsyncClient` with awaits, so
retries, error mapping, paging, SSE parsing and reconnection live here and nowhere else.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from reprogram.errors import ConnectionFailed, from_response
from reprogram.statuses import FINISHED, SWEEP_FINISHED

DEFAULT_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
STREAM_READ_TIMEOUT_S = 60.0  # the service sends a keep-alive comment well within this

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """One HTTP request; `idempotent` says whether resending it after a broken connection is safe."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    files: Any = None
    headers: dict[str, str] | None = None
    idempotent: bool = True
    stream: bool = False  # open the response and read it line by line (ReadLine, Close)
    timeout: httpx.Timeout | None = None


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class ReadLine:
    """The next line of the open stream."""


@dataclass(frozen=True)
class Close:
    """Close the open stream."""


@dataclass(frozen=True)
class Emit:
    """A value for the caller of an iterating operation (an event of a stream)."""

    value: Any


Action = Request | Sleep | ReadLine | Close | Emit
Op = Generator[Action, Any, T]


@dataclass(frozen=True)
class Retry:
    """How often and how patiently to retry connection errors and 429/502/503/504."""

    max_retries: int = 4
    backoff: float = 0.5

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds to wait before retry number `attempt`: Retry-After when given, else backoff."""
        if response is not None:
            after = response.headers.get("retry-after", "")
            if after.replace(".", "", 1).isdigit():
                return min(float(after), 60.0)
        return self.backoff * 2 ** (attempt - 1)


@dataclass(frozen=True)
class Connection:
    """Where the service is and how to sign in, from arguments or the environment."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)


def connection(base_url: str | None, api_key: str | None) -> Connection:
    """Arguments first, then $REPROGRAM_URL / $REPROGRAM_API_KEY, then the local default."""
    url = base_url if base_url is not None else os.environ.get("REPROGRAM_URL") or DEFAULT_URL
    key = api_key if api_key is not None else os.environ.get("REPROGRAM_API_KEY")
    return Connection(url.rstrip("/"), {"Authorization": f"Bearer {key}"} if key else {})


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def call(
    request: Request, retry: Retry, *, done_on_resend: frozenset[int] = frozenset()
) -> Op[httpx.Response]:
    """Send a request, retrying what is safe to retry; raise a typed error for an error answer.

    An error whose status is in `done_on_resend`, answering a resend that an earlier attempt may
    have acted on, is returned as the answer rather than raised (see `delete` and `pause_job`).
    """
    attempt, may_have_acted = 0, False
    while True:
        attempt += 1
        outcome = yield request
        if isinstance(outcome, httpx.TransportError):
            # A request that never reached the service is always safe to send again.
            unsent = isinstance(outcome, httpx.ConnectError | httpx.ConnectTimeout)
            if attempt > retry.max_retries or not (request.idempotent or unsent):
                raise ConnectionFailed(f"{request.method} {request.path}: {outcome}") from outcome
            may_have_acted = may_have_acted or not unsent
            yield Sleep(retry.delay(attempt))
            continue
        response: httpx.Response = outcome
        if response.status_code in RETRY_STATUSES and attempt <= retry.max_retries:
            if request.stream:
                yield Close()
            # A gateway's 502/503/504 can come after the service did the work; a 429 never does.
            may_have_acted = may_have_acted or response.status_code != 429
            yield Sleep(retry.delay(attempt, response))
            continue
        if response.status_code in done_on_resend and may_have_acted:
            return response
        if response.status_code >= 400:
            if request.stream:
                yield Close()
            raise from_response(response.status_code, _json(response))
        return response


def get_json(path: str, retry: Retry, params: dict[str, Any] | None = None) -> Op[Any]:
    """GET a JSON document."""
    response = yield from call(Request("GET", path, params=params), retry)
    return response.json()


def refuse_auto(spec: dict[str, Any]) -> None:
    """Method 'auto' starts a sweep, not a job: say where it goes instead of making a Job of it."""
    method = spec.get("method")
    if isinstance(method, dict) and method.get("kind") == "auto":
        raise ValueError("method 'auto' starts a sweep: use client.sweeps.create(base=spec)")


def create_job(spec: dict[str, Any], idempotency_key: str | None, retry: Retry) -> Op[Any]:
    """POST a job; a generated Idempotency-Key makes a retried create return the same job."""
    key = idempotency_key or f"sdk-{uuid.uuid4()}"
    request = Request("POST", "/v1/jobs", json=spec, headers={"Idempotency-Key": key})
    response = yield from call(request, retry)
    return response.json()


def cancel_job(job_id: str, retry: Retry) -> Op[Any]:
    """Ask a job to stop (asking twice is harmless)."""
    response = yield from call(Request("POST", f"/v1/jobs/{job_id}/cancel"), retry)
    return response.json()


def delete(path: str, retry: Retry) -> Op[None]:
    """DELETE a resource (204)."""
    # Resent like a GET after a broken connection or a 502/503/504: deleting twice cannot do
    # harm. If the lost attempt did delete it, the resend gets 404; that counts as success,
    # because what the caller asked for (that it is gone) is true, and raising NotFound for a
    # delete that worked would send a careful caller hunting for a bug that is not there. A 404
    # to a first attempt, or to resends of attempts that never reached the service, still raises
    # NotFound: the id is wrong, or someone else's.
    yield from call(Request("DELETE", path), retry, done_on_resend=frozenset({404}))


def pause_job(job_id: str, retry: Retry) -> Op[Any]:
    """Pause a queued job at once, or have a running one checkpoint and stop (status pausing)."""
    return (yield from _transition(job_id, "pause", retry, reached={"pausing", "paused"}))


def resume_job(job_id: str, retry: Retry) -> Op[Any]:
    """Queue a paused job again; it continues from its checkpoint."""
    return (yield from _transition(job_id, "resume", retry, reached={"queued", "running"}))


def _transition(job_id: str, action: str, retry: Retry, *, reached: set[str]) -> Op[Any]:
    """POST /v1/jobs/{id}/<action>; the job it answers with."""
    request = Request("POST", f"/v1/jobs/{job_id}/{action}")
    response = yield from call(request, retry, done_on_resend=frozenset({409}))
    if response.status_code != 409:
        return response.json()
    # The 409 answers a resend whose lost first attempt may have done the work: if the job is
    # where that attempt would have put it, the caller got what they asked for, as with delete.
    job = yield from get_json(f"/v1/jobs/{job_id}", retry)
    if job["status"] in reached:
        return job
    raise from_response(409, _json(response))


def list_json(path: str, retry: Retry, params: dict[str, Any] | None = None) -> Op[Any]:
    """The `data` of an unpaged list: {"data": [...]}."""
    body = yield from get_json(path, retry, params)
    return body["data"]


def create_webhook(url: str, description: str | None, retry: Retry) -> Op[Any]:
    """POST a webhook endpoint; not resent after a broken connection, since that could make two."""
    body = {"url": url} | ({"description": description} if description is not None else {})
    request = Request("POST", "/v1/webhooks", json=body, idempotent=False)
    response = yield from call(request, retry)
    return response.json()


def enable_webhook(webhook_id: str, retry: Retry) -> Op[Any]:
    """Turn a disabled webhook endpoint back on (enabling twice is harmless)."""
    response = yield from call(Request("POST", f"/v1/webhooks/{webhook_id}/enable"), retry)
    return response.json()


def create_credential(
    name: str,
    access_key_id: str,
    secret_access_key: str,
    endpoint_url: str | None,
    region: str | None,
    retry: Retry,
) -> Op[Any]:
    """POST an owner's keys to an S3-compatible store; not resent after a broken connection,
    since that could keep two. The answer never holds the secret."""
    body = {"name": name, "access_key_id": access_key_id, "secret_access_key": secret_access_key}
    body |= {k: v for k, v in (("endpoint_url", endpoint_url), ("region", region)) if v is not None}
    request = Request("POST", "/v1/credentials", json=body, idempotent=False)
    response = yield from call(request, retry)
    return response.json()


def sweep_body(spec: dict[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
    """A sweep's spec from a whole document, keyword fields, or both (the fields win; the
    service says what is missing or wrong)."""
    return dict(spec or {}) | {k: v for k, v in fields.items() if v is not None}


def create_sweep(body: dict[str, Any], retry: Retry) -> Op[Any]:
    """POST a sweep; not resent after a broken connection, since that could start two."""
    response = yield from call(Request("POST", "/v1/sweeps", json=body, idempotent=False), retry)
    return response.json()


def cancel_sweep(sweep_id: str, retry: Retry) -> Op[Any]:
    """Start no more trials and cancel the running ones; the sweep with its trials."""
    return (yield from _sweep_transition(sweep_id, "cancel", retry, reached={"cancelled"}))


def pause_sweep(sweep_id: str, retry: Retry) -> Op[Any]:
    """Start no more trials and pause those queued or running; the sweep with its trials."""
    return (yield from _sweep_transition(sweep_id, "pause", retry, reached={"paused"}))


def resume_sweep(sweep_id: str, retry: Retry) -> Op[Any]:
    """Go on with a paused sweep: its paused trials continue from their checkpoints and new
    ones start; the sweep with its trials."""
    # A resume that finds every trial done ends the sweep there and then (succeeded or failed).
    reached = {"running", "succeeded", "failed"}
    return (yield from _sweep_transition(sweep_id, "resume", retry, reached=reached))


def _sweep_transition(sweep_id: str, action: str, retry: Retry, *, reached: set[str]) -> Op[Any]:
    """POST /v1/sweeps/{id}/<action>; the sweep it answers with (as `_transition` for jobs)."""
    request = Request("POST", f"/v1/sweeps/{sweep_id}/{action}")
    response = yield from call(request, retry, done_on_resend=frozenset({409}))
    if response.status_code != 409:
        return response.json()
    # The 409 answers a resend whose lost first attempt may have done the work: if the sweep is
    # where that attempt would have put it, the caller got what they asked for.
    sweep = yield from get_json(f"/v1/sweeps/{sweep_id}", retry)
    if sweep["status"] in reached:
        return sweep
    raise from_response(409, _json(response))


def follow_sweep(sweep_id: str, deadline: float | None, interval: float, retry: Retry) -> Op[None]:
    """Emit the sweep with its trials at once and again whenever it changes, until it ends or
    the deadline passes (there is no stream of a sweep's events: it is polled)."""
    last = None
    while True:
        sweep = yield from get_json(f"/v1/sweeps/{sweep_id}", retry)
        if sweep != last:
            last = sweep
            yield Emit(sweep)
        left = None if deadline is None else deadline - time.monotonic()
        if sweep["status"] in SWEEP_FINISHED or (left is not None and left <= 0):
            return
        yield Sleep(interval if left is None else min(interval, left))


def page(path: str, params: dict[str, Any], cursor: str | None, retry: Retry) -> Op[Any]:
    """One page of a list: {"data": [...], "has_more": ..., "next_cursor": ...}."""
    query = dict(params, **({"cursor": cursor} if cursor else {}))
    return (yield from get_json(path, retry, query))


def list_events(job_id: str, after: int | None, retry: Retry) -> Op[list[dict[str, Any]]]:
    """Every event of a job so far (or after an id), across pages."""
    events: list[dict[str, Any]] = []
    while True:
        params = {"after": after} if after is not None else {}
        body = yield from get_json(f"/v1/jobs/{job_id}/events", retry, params)
        events += body["data"]
        if not body["has_more"] or not body["data"]:
            return events
        after = events[-1]["id"]


class SseParser:
    """Server-sent events from lines: feed() returns (event type, data) when one completes."""

    def __init__(self) -> None:
        self.kind: str | None = None
        self.data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        if line.startswith("event:"):
            self.kind = line[6:].strip()
        elif line.startswith("data:"):
            self.data.append(line[5:].removeprefix(" "))
        elif line == "" and self.data:
            done = (self.kind or "message", "\n".join(self.data))
            self.kind, self.data = None, []
            return done
        return None


def stream_events(
    job_id: str, after: int | None, deadline: float | None, retry: Retry, timeout: float
) -> Op[None]:
    """Emit a job's events live until it ends; a dropped connection resumes after the last id."""
    last, drops = after, 0
    stream_timeout = httpx.Timeout(timeout, read=STREAM_READ_TIMEOUT_S)
    while deadline is None or time.monotonic() < deadline:
        headers = {"Last-Event-ID": str(last)} if last is not None else {}
        path = f"/v1/jobs/{job_id}/events/stream"
        yield from call(Request("GET", path, headers=headers, stream=True, timeout=stream_timeout),
                        retry)  # fmt: skip
        parser, dropped = SseParser(), False
        while True:
            line = yield ReadLine()
            if isinstance(line, Exception):
                dropped = True
                break
            if line is None or (deadline is not None and time.monotonic() > deadline):
                break
            done = parser.feed(line)
            if done is None:
                continue
            kind, data = done
            if kind == "end":
                yield Close()
                return
            event = json.loads(data)
            last, drops = event["id"], 0
            yield Emit(event)
        yield Close()
        if dropped:
            drops += 1
            if drops > retry.max_retries:
                raise ConnectionFailed(f"the event stream of {job_id} kept dropping")
            yield Sleep(retry.delay(drops))
            continue
        job = yield from get_json(f"/v1/jobs/{job_id}", retry)
        if job["status"] in FINISHED:  # closed without 'end': deliver what is left, then stop
            for event in (yield from list_events(job_id, last, retry)):
                yield Emit(event)
            return


def predict(model_id: str, images: list[tuple[str, bytes]], top_k: int, retry: Retry) -> Op[Any]:
    """Top-k predictions for encoded images."""
    files = [("files", (name, data, "application/octet-stream")) for name, data in images]
    path = f"/v1/models/{model_id}/predict"
    response = yield from call(Request("POST", path, files=files, params={"top_k": top_k}), retry)
    return response.json()


def download(model_id: str, name: str, retry: Retry) -> Op[bytes]:
    """One file of a model's artifact."""
    path = f"/v1/models/{model_id}/artifact"
    response = yield from call(Request("GET", path, params={"file": name}), retry)
    return response.content


def export(model_id: str, format: str, retry: Retry) -> Op[bytes]:
    """The whole model as one ONNX or TorchScript file."""
    path = f"/v1/models/{model_id}/export"
    response = yield from call(Request("GET", path, params={"format": format}), retry)
    return response.content


def upload_dataset(name: str, data: bytes, retry: Retry) -> Op[Any]:
    """POST an archive; not resent after a broken connection, since that could make two."""
    request = Request("POST", "/v1/datasets", files={"file": (name, data)}, idempotent=False)
    response = yield from call(request, retry)
    return response.json()


def encode_image(image: Any) -> tuple[str, bytes]:
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


def encode_images(images: Any) -> list[tuple[str, bytes]]:
    """One image or a list of them, encoded."""
    return [encode_image(i) for i in (images if isinstance(images, list | tuple) else [images])]


def archive(source: str | os.PathLike[str]) -> tuple[str, bytes]:
    """(file name, bytes) of an archive, or of a folder zipped on the fly."""
    path = Path(source)
    if not path.is_dir():
        return path.name, path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for item in sorted(path.rglob("*")):
            if item.is_file():
                zipped.write(item, item.relative_to(path.parent))
    return f"{path.name}.zip", buffer.getvalue()
