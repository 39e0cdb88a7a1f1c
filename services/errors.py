"""What the service refuses, and why: each error carries the HTTP status the API answers with."""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal clients can read: a stable code, a message, and the offending field if any."""

    status = 400

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class NotFound(ServiceError):
    """No such resource for this owner (another owner's reads the same)."""

    status = 404

    def __init__(self, kind: str, id: str) -> None:
        super().__init__("not_found", f"no {kind} '{id}'")


class Conflict(ServiceError):
    """The request conflicts with the resource's state or an earlier request."""

    status = 409


class Invalid(ServiceError):
    """A well-formed request with a value the service cannot accept."""

    status = 422
