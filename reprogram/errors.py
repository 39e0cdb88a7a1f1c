"""Typed errors the SDK raises, carrying the server's code, message and field."""

from __future__ import annotations

from typing import Any


class ReprogramError(Exception):
    """Base of every SDK error."""


class ConnectionFailed(ReprogramError):
    """The service could not be reached (after retries)."""


class ApiError(ReprogramError):
    """The service answered with an error."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (field: {field})" if field else ""))
        self.status, self.code, self.message, self.field = status, code, message, field


class InvalidRequest(ApiError):
    """422 (or 400): the request was invalid; `field` names what."""


class Unauthorized(ApiError):
    """401: missing, unknown or revoked API key."""


class NotFound(ApiError):
    """404: no such resource for this key's owner."""


class Conflict(ApiError):
    """409: e.g. cancelling a finished job, an Idempotency-Key reused with another spec, or
    deleting what something still uses (`code` model_in_use, dataset_in_use, credential_in_use,
    job_active, job_has_model; `message` names what)."""


class PayloadTooLarge(ApiError):
    """413: an upload or a predict request over the service's limit."""


class ServiceUnavailable(ApiError):
    """429 or 5xx that persisted through the retries."""


class JobFailed(ReprogramError):
    """job.wait() saw the job end as failed or cancelled."""

    def __init__(self, job: Any) -> None:
        super().__init__(f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
        self.job = job


class SweepFailed(ReprogramError):
    """sweeps.wait() saw the sweep end as failed (no trial succeeded) or cancelled."""

    def __init__(self, sweep: Any) -> None:
        super().__init__(f"sweep {sweep.id} {sweep.status}" + (f": {sweep.error}" if sweep.error
                                                                else ""))  # fmt: skip
        self.sweep = sweep


_BY_STATUS = {400: InvalidRequest, 401: Unauthorized, 404: NotFound, 409: Conflict,
              413: PayloadTooLarge, 422: InvalidRequest}  # fmt: skip


def from_response(status: int, body: Any) -> ApiError:
    """The typed error for an error response (the service's {"error": {...}} shape)."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    code = str(error.get("code", "http_error"))
    message = str(error.get("message", body if isinstance(body, str) else "request failed"))
    cls = _BY_STATUS.get(status, ServiceUnavailable if status >= 429 else ApiError)
    return cls(status, code, message, error.get("field"))
