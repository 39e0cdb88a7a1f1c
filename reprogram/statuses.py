"""The statuses of a job, as the service reports them; shared by the SDK, the CLI and the server.
Also a sweep's statuses.

Standard library only, so the server can import it without the SDK's HTTP client.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """Where a job is in its life; each member equals the lowercase string the API uses."""

    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSING = "pausing"
    PAUSED = "paused"

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        # Read by pydantic where the server documents the enum (its OpenAPI component shows an
        # example, as every component does); the SDK itself never imports pydantic for it.
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema["examples"] = [cls.RUNNING.value]
        return dict(schema)


FINISHED: frozenset[JobStatus] = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
)
# Not finished: the job still holds (or will need) its dataset, its backbone and a worker.
ACTIVE: frozenset[JobStatus] = frozenset(
    {JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING, JobStatus.PAUSING,
     JobStatus.PAUSED}
)  # fmt: skip

# A sweep is `running` (or `paused`: no trial starts or runs until it is resumed) until it ends
# as one of these (plain strings, as the API gives them).
SWEEP_ACTIVE: frozenset[str] = frozenset({"running", "paused"})
SWEEP_FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
