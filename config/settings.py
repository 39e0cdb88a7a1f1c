"""Service configuration, shared by the API and the worker: environment variables `REPROGRAM_*`."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; each is also an environment variable with the prefix."""

    model_config = SettingsConfigDict(env_prefix="REPROGRAM_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path.home() / ".cache" / "reprogram",
        description="Datasets, feature caches, uploads and the embedded database live here.",
    )
    database_url: str | None = Field(
        default=None,
        description="postgresql://... in production; default: SQLite under data_dir.",
    )
    broker_url: str | None = Field(
        default=None,
        description="redis://... in production; default: a no-server filesystem broker.",
    )
    storage_url: str | None = Field(
        default=None,
        description="s3://bucket/prefix: uploaded datasets (and, with artifact_store=s3, "
        "artifacts) go to this S3-compatible store (AWS_ENDPOINT_URL and AWS_* credentials as "
        "usual); default: the database.",
    )
    artifact_store: Literal["database", "directory", "s3"] = "database"
    artifact_dir: Path | None = Field(default=None, description="For artifact_store=directory.")
    calibrate: bool = Field(
        default=True,
        description="Each worker measures its speed at startup, for estimates of jobs unlike "
        "any that ran before.",
    )
    max_upload_bytes: int = 512 * 2**20
    max_remote_dataset_bytes: int = Field(
        default=4 * 2**30,
        description="A dataset named by uri (s3://...) larger than this is refused.",
    )
    max_predict_bytes: int = 32 * 2**20
    max_json_bytes: int = Field(default=2**20, description="JSON bodies (job specs) over it: 413.")
    max_predict_images: int = 64
    job_time_limit_s: int = 24 * 3600
    heartbeat_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="A running job whose worker is silent this long is resumed.",
    )
    requeue_after_s: float = Field(
        default=60.0,
        gt=0,
        description="A queued job no worker has claimed this long is sent to the broker again "
        "(then at doubling intervals, up to requeue_max_s); at once if the broker's queue is empty.",
    )
    requeue_max_s: float = Field(default=900.0, gt=0)
    stop_grace_s: float = Field(
        default=120.0,
        gt=0,
        description="After SIGTERM a worker checkpoints its job at the next step and hands it back; "
        "a step that takes longer than this is abandoned to the last checkpoint.",
    )
    db_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="Connecting to, or waiting for a connection of, the database.",
    )
    outage_tolerance_s: float = Field(
        default=900.0,
        gt=0,
        description="How long a worker waits out a lost database before giving up on a write.",
    )
    retry_after_s: int = Field(
        default=5, ge=1, description="Retry-After of a 503 when the database or broker is down."
    )
    stream_max_s: float = Field(
        default=900.0,
        gt=0,
        description="An event stream is closed after this long; clients reconnect with "
        "Last-Event-ID (so a proxy or a deploy never holds one forever).",
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    predict_max_batch: int = 64
    predict_max_wait_ms: float = 5.0
    model_cache_bytes: int = Field(
        default=2 * 2**30,
        ge=0,
        description="Memory for loaded models (their own tensors, plus each shared backbone "
        "once); the least recently used are evicted past it.",
    )
    model_recheck_s: float = Field(
        default=5.0,
        gt=0,
        description="A model deleted through another API process stops answering /predict here "
        "within this many seconds (each resident model's row is re-read at most this often).",
    )
    predict_precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="auto: bf16 on a GPU, or on a CPU with native bf16; fp32: answers exactly "
        "as an exported fp32 model gives them.",
    )
    predict_device: Literal["auto", "cpu", "cuda"] = "auto"
    predict_batching: Literal["backbone", "model"] = Field(
        default="backbone",
        description="backbone: requests for any models on one backbone share a forward pass; "
        "model: each model batches alone (the old behaviour, kept for comparison).",
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="One delivery attempt.")
    webhook_max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Attempts per delivery; between them the wait doubles from webhook_retry_base_s.",
    )
    webhook_retry_base_s: float = Field(default=5.0, gt=0)
    webhook_disable_after: int = Field(
        default=20,
        ge=1,
        description="An endpoint whose attempts fail this many times in a row is disabled.",
    )
    queue: str = "reprogram"

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in the form SQLAlchemy wants (psycopg 3 for a plain postgresql://)."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'reprogram.db'}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or "filesystem://localhost/"

    @property
    def embedded_broker_dir(self) -> Path:
        return self.data_dir / "broker"


@cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
