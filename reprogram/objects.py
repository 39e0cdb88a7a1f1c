"""The typed objects both SDK clients return: jobs, events, models, datasets, predictions, usage,
workers, webhooks, credentials, and sweeps with their trials."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from reprogram.errors import JobFailed, SweepFailed
from reprogram.statuses import FINISHED, SWEEP_FINISHED, JobStatus

T = TypeVar("T")


def make(cls: type[T], data: dict[str, Any], **extra: Any) -> T:
    """An object from a JSON document, ignoring fields this SDK version does not know."""
    names = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    return cls(**{k: v for k, v in data.items() if k in names}, **extra)


def timestamp(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (naive ones are UTC); None if absent or bad."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
class CatalogEntry:
    """A backbone, dataset or method the service knows, and whether it works offline there."""

    name: str
    available_offline: bool
    description: str = ""
    input_size: int | None = None


@dataclass
class Stored:
    """How many items of one kind the caller stores, and their bytes."""

    count: int
    bytes: int


@dataclass
class Usage:
    """What the caller stores: uploaded datasets and models."""

    datasets: Stored
    models: Stored


@dataclass
class Worker:
    """A live worker process: what it runs on, which queues it takes, and how busy it has been."""

    id: str
    kind: str
    device: str = ""
    memory_gb: float = 0.0
    queues: list[str] = field(default_factory=list)
    started_at: str | None = None
    last_seen: str | None = None
    busy: bool = False
    job_id: str | None = None  # its current job, shown only when it is yours
    jobs_done: int = 0
    jobs_per_hour: float = 0.0
    busy_fraction: float = 0.0


@dataclass
class Webhook:
    """An endpoint that receives signed job.<status> messages; `secret` only when just created."""

    id: str
    url: str
    description: str | None = None
    enabled: bool = True
    failures: int = 0
    disabled_reason: str | None = None
    created_at: str | None = None
    secret: str | None = None


@dataclass
class Delivery:
    """One message to a webhook endpoint and how its delivery went (or a note in its log)."""

    id: str
    type: str
    status: str
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    created_at: str | None = None
    delivered_at: str | None = None
    next_attempt_at: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Credential:
    """Keys to an S3-compatible store that this owner's jobs read datasets with; use its id as
    `{"dataset": {"uri": "s3://bucket/key.tar.gz", "credentials_id": id}}`. The secret is never
    returned, and the key id only by its last four characters (`access_key_hint`)."""

    id: str
    name: str
    kind: str = "s3"
    access_key_hint: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    created_at: str | None = None
    last_used_at: str | None = None


@dataclass
class Trial:
    """One trial of a sweep: the values it tried (by dotted path), how it went, and its job.

    `state` is `waiting` (a point of the spec's `initial` not yet begun: no job yet),
    `running`, `complete`, `pruned` or `fail`; `value` is its validation accuracy (only when
    complete); `error` says why a trial failed or was pruned.
    """

    number: int
    state: str
    params: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    job_id: str | None = None
    job_status: str | None = None
    error: str | None = None


@dataclass
class Sweep:
    """A search over job specs whose trials are jobs; when it ends, the best trial's model is
    promoted (`model_id`) and its test accuracy reported, once. `trials` are filled by
    `get`, `cancel`, `pause`, `resume` and `wait` (a listing leaves them out)."""

    id: str
    status: str  # running, paused, succeeded, failed or cancelled
    spec: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    created_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    best_job_id: str | None = None
    best_value: float | None = None
    model_id: str | None = None
    test_accuracy: float | None = None
    trials: list[Trial] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.trials = [t if isinstance(t, Trial) else make(Trial, t) for t in self.trials]

    @property
    def done(self) -> bool:
        return self.status in SWEEP_FINISHED

    @property
    def best_trial(self) -> Trial | None:
        """The promoted trial once the sweep ended, else the best complete one so far."""
        if self.best_job_id is not None:
            for trial in self.trials:
                if trial.job_id == self.best_job_id:
                    return trial
        complete = [t for t in self.trials if t.state == "complete" and t.value is not None]
        return max(complete, key=lambda t: (t.value, -t.number), default=None)


@dataclass
class JobFields:
    """What the service says about a job; `Job` and `AsyncJob` add the actions."""

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
    waiting_reason: str | None = None  # while queued: why no live worker can take it
    estimated_finish_at: datetime | None = None
    sweep_id: str | None = None  # the sweep this job is a trial of
    trial: int | None = None  # its trial number in that sweep
    _client: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.estimated_finish_at = timestamp(self.estimated_finish_at)

    @property
    def done(self) -> bool:
        return self.status in FINISHED


def predictions(body: dict[str, Any]) -> list[list[Prediction]]:
    """The top-k lists of a /predict answer, one per image."""
    return [[Prediction(**s) for s in p["top_k"]] for p in body["predictions"]]


def usage(body: dict[str, Any]) -> Usage:
    """The answer of /v1/usage."""
    return Usage(datasets=make(Stored, body["datasets"]), models=make(Stored, body["models"]))


def sweep_finished(sweep: Sweep, timeout: float | None, raise_on_failure: bool) -> Sweep:
    """The sweep a wait() ended on: TimeoutError if it still runs, SweepFailed if it did not
    succeed (no trial succeeded, or it was cancelled)."""
    if not sweep.done:
        raise TimeoutError(f"sweep {sweep.id} still {sweep.status} after {timeout} s")
    if raise_on_failure and sweep.status != "succeeded":
        raise SweepFailed(sweep)
    return sweep


def finished(job: Any, timeout: float | None, raise_on_failure: bool) -> Any:
    """The job a wait() ended on: TimeoutError if it is still going, JobFailed if it failed."""
    if not job.done:
        raise TimeoutError(f"job {job.id} still {job.status} after {timeout} s")
    if raise_on_failure and job.status != JobStatus.SUCCEEDED:
        raise JobFailed(job)
    return job
