"""What a client command's exit code says happened, and the error for bad input of its own."""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    """The exit codes of the client commands."""

    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    JOB_CANCELLED = 3
    REJECTED = 4
    NOT_FOUND = 5
    UNAUTHORIZED = 6
    SERVICE_ERROR = 7
    CONNECTION = 8
    INTERRUPTED = 130


EXIT_CODES = """\
exit codes (client commands):
  0    success (with --watch: the job or sweep succeeded)
  1    the watched job or sweep failed
  2    usage error: bad arguments, a missing file
  3    the watched job or sweep was cancelled
  4    request rejected: invalid spec or JSON, conflict, too large (400/409/413/422)
  5    not found (404): no such job, sweep, model or dataset for this key
  6    authentication failed (401): missing or wrong API key
  7    the service failed (5xx, or 429 after retries) or answered something unexpected
  8    could not connect to the service
  130  interrupted (Ctrl-C); a watched job or sweep keeps running"""


class UsageError(Exception):
    """A problem with the command's own input, found before any request (exit 2)."""
