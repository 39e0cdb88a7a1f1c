"""ORM models: owners and keys, jobs and their events, datasets, models and artifact blobs."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from reprogram.statuses import JobStatus

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_id(value: str) -> bool:
    """Whether value has the shape of an id; nothing else can name a row (or is safe to query)."""
    return _ID.fullmatch(value) is not None


def new_id(prefix: str) -> str:
    """A readable random id such as job_3f9c…"""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite drops the zone on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# SQLite only auto-increments INTEGER PRIMARY KEY; Postgres gets a BIGINT identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Owner(Base):
    __tablename__ = "owners"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("own"))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("key"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    # Only a SHA-256 of the key is stored; the key itself is shown once, when it is made.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("owner_id", "idempotency_key", name="uq_jobs_owner_idempotency"),
        Index("ix_jobs_owner_created", "owner_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("job"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    # A JobStatus; stored as its plain string, so the column and its migration stay VARCHAR.
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_id: Mapped[str | None] = mapped_column(String(40))
    # The broker only wakes workers: these say where and when the job was last sent, and when
    # recovery sends it again if nobody has claimed it by then (services.recovery).
    queue: Mapped[str | None] = mapped_column(String(200))
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatches: Mapped[int] = mapped_column(Integer, default=0)
    redispatch_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Time estimates: similar past jobs (same `shape`, else same `family`) give seconds per
    # epoch; a running job's own pace replaces that at every epoch (services.estimates).
    shape: Mapped[str | None] = mapped_column(String(64), index=True)
    family: Mapped[str | None] = mapped_column(String(64), index=True)
    estimated_seconds: Mapped[float | None] = mapped_column(Float)
    estimated_finish_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    seconds_per_epoch: Mapped[float | None] = mapped_column(Float)
    # A sweep's trial: which sweep, and the trial's number in its Optuna study.
    sweep_id: Mapped[str | None] = mapped_column(
        ForeignKey("sweeps.id", ondelete="CASCADE"), index=True
    )
    trial: Mapped[int | None] = mapped_column(Integer)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_job_id_id", "job_id", "id"),
        # An epoch is recorded once, however often a job is resumed or a write is retried.
        Index(
            "uq_events_job_epoch",
            "job_id",
            "epoch",
            unique=True,
            postgresql_where=text("type = 'epoch'"),
            sqlite_where=text("type = 'epoch'"),
        ),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    epoch: Mapped[int | None] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ds"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Where the archive is: a stored object (any machine fetches it), or, for uploads made
    # before objects existed, a path on the API machine's disk.
    object_key: Mapped[str | None] = mapped_column(ForeignKey("objects.key"), index=True)
    path: Mapped[str | None] = mapped_column(Text)
    classes: Mapped[list[Any]] = mapped_column(JSON)
    num_images: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (Index("ix_models_owner_created", "owner_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mdl"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(40))
    labels: Mapped[list[Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    backbone: Mapped[dict[str, Any]] = mapped_column(JSON)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    artifact_store: Mapped[str] = mapped_column(String(20))
    artifact_location: Mapped[str] = mapped_column(Text)
    artifact_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StoredObject(Base):
    """A content-addressed file (an uploaded archive), kept once however often it is uploaded."""

    __tablename__ = "objects"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)  # sha256/<hex digest>
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    chunks: Mapped[int] = mapped_column(Integer)  # in the database; 0 in an object store
    store: Mapped[str] = mapped_column(String(20), default="database")  # or s3
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ObjectChunk(Base):
    """One piece of a stored object, so no archive is ever held whole in memory."""

    __tablename__ = "object_chunks"

    key: Mapped[str] = mapped_column(
        ForeignKey("objects.key", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Worker(Base):
    """A worker process, as it last reported itself (its heartbeat keeps last_seen fresh)."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # node name/pid
    kind: Mapped[str] = mapped_column(String(10))  # cpu or cuda
    device: Mapped[str] = mapped_column(String(200))
    memory_gb: Mapped[float] = mapped_column(Float)
    queues: Mapped[list[Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    job_id: Mapped[str | None] = mapped_column(String(40))
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    busy_s: Mapped[float] = mapped_column(Float, default=0.0)
    # Seconds per image of the reference backbone, measured at startup (services.estimates).
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WebhookEndpoint(Base):
    """Where an owner wants job state changes sent, signed with the endpoint's secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("wh"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # failed attempts in a row
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(Base):
    """One message to one endpoint, and how its delivery went (the endpoint's log)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("msg"))
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Blob(Base):
    """Files kept in the database: model artifacts and job checkpoints."""

    __tablename__ = "blobs"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Credential(Base):
    """An owner's keys to an S3-compatible store, used only for that owner's datasets by uri."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("cred"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="s3")
    access_key_id: Mapped[str] = mapped_column(String(200))
    secret_access_key: Mapped[str] = mapped_column(Text)
    endpoint_url: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Sweep(Base):
    """A search over job specs: trials are jobs, sampled and pruned by an Optuna study."""

    __tablename__ = "sweeps"
    __table_args__ = (Index("ix_sweeps_owner_created", "owner_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("swp"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # base, space, objective, budget, pruner
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    best_job_id: Mapped[str | None] = mapped_column(String(40))
    best_value: Mapped[float | None] = mapped_column(Float)
    model_id: Mapped[str | None] = mapped_column(String(40))  # the best trial's, promoted
    test_accuracy: Mapped[float | None] = mapped_column(Float)
