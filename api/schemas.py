"""Request and response bodies of the v1 API (the job spec itself lives in the engine)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from reprogram.statuses import JobStatus

T = TypeVar("T")
_NOW = "2026-11-24T12:00:00Z"


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(from_attributes=True, json_schema_extra={"examples": list(examples)})


class Page(BaseModel, Generic[T]):
    """One page of a list; pass next_cursor as ?cursor= for the next."""

    model_config = _examples({"data": [], "has_more": False, "next_cursor": None})

    data: list[T]
    has_more: bool
    next_cursor: str | None = None


def page_of(schema: type[BaseModel], rows: list[Any], next_cursor: str | None) -> Page[Any]:
    """A Page of `schema` objects built from ORM rows."""
    return Page[schema](  # type: ignore[valid-type]
        data=[schema.model_validate(r) for r in rows],
        has_more=next_cursor is not None,
        next_cursor=next_cursor,
    )


class Job(BaseModel):
    """A reprogramming job and where it stands."""

    model_config = _examples(
        {
            "id": "job_4f1c2e9a0b7d4c3e8a11",
            "name": "effnet-fashion",
            "status": "running",
            "spec": {"backbone": {"name": "efficientnet_lite0"}, "dataset": {"name": "digits"}},
            "created_at": _NOW,
            "started_at": _NOW,
            "finished_at": None,
            "attempt": 1,
            "progress": 0.3,
            "epoch": 3,
            "error": None,
            "metrics": None,
            "model_id": None,
        }
    )

    id: str
    name: str | None
    status: JobStatus
    spec: dict[str, Any]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempt: int = 0
    progress: float = 0.0
    epoch: int = 0
    error: str | None = None
    metrics: dict[str, Any] | None = None
    model_id: str | None = None
    estimated_seconds: float | None = Field(
        default=None,
        description="Predicted at submission from similar past jobs (same backbone, method, "
        "sizes, data and device kind), else from the live workers' startup calibration and "
        "the images the dataset gives: how long the job runs.",
    )
    estimated_finish_at: datetime | None = Field(
        default=None,
        description="When the job should finish: from similar jobs until it starts, then from "
        "its own pace, updated every epoch (each epoch event carries it too).",
    )
    waiting_reason: str | None = Field(
        default=None,
        description="While queued: why no worker can take the job yet (none live on its queue, "
        "or none with the memory it asks for).",
    )
    sweep_id: str | None = Field(default=None, description="The sweep this job is a trial of.")
    trial: int | None = Field(default=None, description="Its trial number in that sweep.")


class Event(BaseModel):
    """An epoch's metrics, a log line, or a status change."""

    model_config = _examples(
        {
            "id": 42,
            "type": "epoch",
            "epoch": 3,
            "metrics": {"train_loss": 0.41, "train_accuracy": 0.88, "val_accuracy": 0.86},
            "message": None,
            "created_at": _NOW,
        }
    )

    id: int
    type: str = Field(description="epoch, log or status")
    epoch: int | None = None
    metrics: dict[str, Any] | None = None
    message: str | None = None
    created_at: datetime


class EventList(BaseModel):
    model_config = _examples({"data": [], "has_more": False, "next_cursor": None})

    data: list[Event]
    has_more: bool
    next_cursor: str | None = Field(default=None, description="pass as ?after= for more")


class Model(BaseModel):
    """A trained model: what a succeeded job produced."""

    model_config = _examples(
        {
            "id": "mdl_9a8b7c6d5e4f3a2b1c0d",
            "job_id": "job_4f1c2e9a0b7d4c3e8a11",
            "name": "effnet-fashion",
            "method": "linear_probe",
            "labels": ["T-shirt/top", "Trouser"],
            "metrics": {"test_accuracy": 0.87},
            "backbone": {"name": "efficientnet_lite0", "weights": "imagenet"},
            "artifact_bytes": 52000,
            "created_at": _NOW,
        }
    )

    id: str
    job_id: str
    name: str | None = None
    method: str
    labels: list[str]
    metrics: dict[str, Any]
    backbone: dict[str, Any]
    artifact_bytes: int
    created_at: datetime


class Dataset(BaseModel):
    """An uploaded image-folder dataset."""

    model_config = _examples(
        {
            "id": "ds_0a1b2c3d4e5f6a7b8c9d",
            "name": "pets.zip",
            "classes": ["cats", "dogs"],
            "num_images": 240,
            "size_bytes": 1048576,
            "created_at": _NOW,
        }
    )

    id: str
    name: str
    classes: list[str]
    num_images: int
    size_bytes: int
    created_at: datetime


class CatalogEntry(BaseModel):
    """A backbone, dataset or method this service knows."""

    model_config = _examples(
        {"name": "efficientnet_lite0", "description": "...", "available_offline": True}
    )

    name: str
    description: str = ""
    available_offline: bool
    input_size: int | None = None


class Catalog(BaseModel):
    model_config = _examples(
        {"data": [{"name": "digits", "description": "...", "available_offline": True}]}
    )

    data: list[CatalogEntry]


class PredictRequest(BaseModel):
    """Images as base64 (standard or URL-safe), as an alternative to multipart files."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"images": ["iVBORw0KGgo..."], "top_k": 3}]}
    )

    images: list[str] = Field(min_length=1)
    top_k: int = Field(default=5, ge=1, le=1000)


class Score(BaseModel):
    """One label and its probability."""

    model_config = _examples({"label": "Sneaker", "score": 0.93})

    label: str
    score: float


class ImagePrediction(BaseModel):
    """The most likely labels of one image, best first."""

    model_config = _examples({"top_k": [{"label": "Sneaker", "score": 0.93}]})

    top_k: list[Score]


class PredictResponse(BaseModel):
    """Top-k labels with probabilities, one entry per image, in request order."""

    model_config = _examples(
        {
            "model_id": "mdl_9a8b7c6d5e4f3a2b1c0d",
            "predictions": [
                {"top_k": [{"label": "Sneaker", "score": 0.93}, {"label": "Sandal", "score": 0.05}]}
            ],
        }
    )

    model_id: str
    predictions: list[ImagePrediction]


class Health(BaseModel):
    model_config = _examples({"status": "ok", "checks": {"database": "ok", "broker": "ok"}})

    status: str
    checks: dict[str, str] = {}


class ErrorBody(BaseModel):
    model_config = _examples(
        {"code": "not_found", "message": "no job 'job_x'"},
        {"code": "invalid_request", "message": "lr: must be > 0", "field": "hyperparameters.lr"},
    )

    code: str
    message: str
    field: str | None = None


class Error(BaseModel):
    """Every error response has this shape."""

    model_config = _examples(
        {
            "error": {
                "code": "invalid_request",
                "message": "hyperparameters.epochs: ...",
                "field": "hyperparameters.epochs",
            }
        }
    )

    error: ErrorBody


class Stored(BaseModel):
    """How many items of one kind, and their bytes."""

    model_config = _examples({"count": 3, "bytes": 1048576})

    count: int
    bytes: int


class Usage(BaseModel):
    """What the caller stores."""

    model_config = _examples(
        {"datasets": {"count": 2, "bytes": 4194304}, "models": {"count": 5, "bytes": 260000}}
    )

    datasets: Stored
    models: Stored


class Worker(BaseModel):
    """A live worker process: what it runs on, what it takes, and how busy it has been."""

    model_config = _examples(
        {
            "id": "gpu0@node1/4242",
            "kind": "cuda",
            "device": "NVIDIA H100",
            "memory_gb": 79.6,
            "queues": ["reprogram", "reprogram-cuda"],
            "started_at": _NOW,
            "last_seen": _NOW,
            "busy": True,
            "job_id": None,
            "jobs_done": 12,
            "jobs_per_hour": 9.5,
            "busy_fraction": 0.82,
            "calibration": {"forward_s": 0.004, "backward_s": 0.011},
        }
    )

    id: str
    kind: str
    device: str
    memory_gb: float
    queues: list[str]
    started_at: datetime
    last_seen: datetime
    busy: bool
    job_id: str | None = Field(default=None, description="Its current job, if it is yours.")
    jobs_done: int
    jobs_per_hour: float
    busy_fraction: float
    calibration: dict[str, float] | None = Field(
        default=None,
        description="Seconds per image of the reference backbone (EfficientNet-Lite0 at 224²) "
        "measured at startup: forward_s (inference) and backward_s (with input gradients). "
        "Estimates jobs unlike any that ran before.",
    )


class WorkerList(BaseModel):
    """The workers seen within the heartbeat timeout."""

    model_config = _examples({"data": []})

    data: list[Worker]


class WebhookCreate(BaseModel):
    """Where to send job state changes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://example.com/hooks/reprogram", "description": "CI notifier"}
            ]
        },
    )

    url: str = Field(max_length=2000)
    description: str | None = Field(default=None, max_length=200)


class Webhook(BaseModel):
    """An endpoint that receives signed job.<status> messages (Standard Webhooks)."""

    model_config = _examples(
        {
            "id": "wh_0a1b2c3d4e5f6a7b8c9d",
            "url": "https://example.com/hooks/reprogram",
            "description": "CI notifier",
            "enabled": True,
            "failures": 0,
            "disabled_reason": None,
            "created_at": _NOW,
            "secret": None,
        }
    )

    id: str
    url: str
    description: str | None = None
    enabled: bool
    failures: int = Field(description="Failed attempts in a row; past the limit it is disabled.")
    disabled_reason: str | None = None
    created_at: datetime


class WebhookCreated(Webhook):
    """A new endpoint, with its secret: keep it, for this is the only time it is shown."""

    model_config = _examples(
        {"id": "wh_0a1b2c3d4e5f6a7b8c9d", "url": "https://example.com/hooks/reprogram",
         "description": "CI notifier", "enabled": True, "failures": 0, "disabled_reason": None,
         "created_at": _NOW, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    )  # fmt: skip

    secret: str = Field(description="whsec_…: verifies each message's webhook-signature.")


class WebhookDelivery(BaseModel):
    """One message to an endpoint and how its delivery went (or a note such as its disabling)."""

    model_config = _examples(
        {
            "id": "msg_0a1b2c3d4e5f6a7b8c9d",
            "type": "job.succeeded",
            "status": "delivered",
            "attempts": 1,
            "last_status": 200,
            "last_error": None,
            "created_at": _NOW,
            "delivered_at": _NOW,
            "next_attempt_at": None,
            "payload": {"type": "job.succeeded", "timestamp": _NOW, "data": {"job_id": "job_…"}},
        }
    )

    id: str
    type: str
    status: str = Field(description="pending, delivered, failed, or event (a note in the log)")
    attempts: int
    last_status: int | None = None
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None
    payload: dict[str, Any]


class WebhookList(BaseModel):
    """The caller's webhook endpoints."""

    model_config = _examples({"data": []})

    data: list[Webhook]


class DeliveryList(BaseModel):
    """An endpoint's log, newest first."""

    model_config = _examples({"data": []})

    data: list[WebhookDelivery]


class CredentialCreate(BaseModel):
    """Keys to an S3-compatible store, for jobs that name a dataset by uri."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "datasets bucket", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                 "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                 "endpoint_url": "https://minio.example.com", "region": "us-east-1"}
            ]
        },
    )  # fmt: skip

    name: str = Field(min_length=1, max_length=200)
    access_key_id: str = Field(min_length=1, max_length=200)
    secret_access_key: str = Field(min_length=1, max_length=1000)
    endpoint_url: str | None = Field(
        default=None, max_length=2000,
        description="An S3-compatible endpoint (MinIO, R2, …); default: AWS's for the region.",
    )  # fmt: skip
    region: str | None = Field(default=None, max_length=50)


class Credential(BaseModel):
    """A kept credential; its secret is never shown, the key id only by its last four."""

    model_config = _examples(
        {"id": "cred_0a1b2c3d4e5f6a7b8c9d", "name": "datasets bucket", "kind": "s3",
         "access_key_hint": "…MPLE", "endpoint_url": "https://minio.example.com",
         "region": "us-east-1", "created_at": _NOW, "last_used_at": None}
    )  # fmt: skip

    id: str
    name: str
    kind: str
    access_key_hint: str
    endpoint_url: str | None = None
    region: str | None = None
    created_at: datetime
    last_used_at: datetime | None = None

    @classmethod
    def of(cls, row: Any) -> Credential:
        """The public view of a credential row."""
        return cls(
            id=row.id, name=row.name, kind=row.kind, access_key_hint="…" + row.access_key_id[-4:],
            endpoint_url=row.endpoint_url, region=row.region, created_at=row.created_at,
            last_used_at=row.last_used_at,
        )  # fmt: skip


class CredentialList(BaseModel):
    """The caller's credentials."""

    model_config = _examples({"data": []})

    data: list[Credential]


class Trial(BaseModel):
    """One trial of a sweep: the values it tried, how it went, and its job."""

    model_config = _examples(
        {"number": 0, "state": "complete", "params": {"hyperparameters.lr": 0.02},
         "value": 0.93, "job_id": "job_0a1b2c3d4e5f6a7b8c9d", "job_status": "succeeded",
         "error": None}
    )  # fmt: skip

    number: int
    state: str = Field(
        description="waiting (an initial point not begun), running, complete, pruned or fail"
    )
    params: dict[str, Any]
    value: float | None = Field(default=None, description="Its validation accuracy.")
    job_id: str | None = None
    job_status: str | None = None
    error: str | None = None


class Sweep(BaseModel):
    """A search over job specs; the best trial's model is promoted when it ends."""

    model_config = _examples(
        {"id": "swp_0a1b2c3d4e5f6a7b8c9d", "name": "digits search", "status": "succeeded",
         "created_at": _NOW, "finished_at": _NOW, "error": None,
         "best_job_id": "job_0a1b2c3d4e5f6a7b8c9d", "best_value": 0.93,
         "model_id": "mdl_0a1b2c3d4e5f6a7b8c9d", "test_accuracy": 0.91, "spec": {},
         "trials": []}
    )  # fmt: skip

    id: str
    name: str | None = None
    status: str = Field(description="running, paused, succeeded, failed or cancelled")
    created_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    best_job_id: str | None = None
    best_value: float | None = Field(default=None, description="The best validation accuracy.")
    model_id: str | None = Field(default=None, description="The best trial's model, promoted.")
    test_accuracy: float | None = Field(
        default=None, description="The promoted model's test accuracy: the only test figure."
    )
    spec: dict[str, Any]
    trials: list[Trial] = Field(default_factory=list, description="In order (on GET of one).")
