"""Running a client command: a client, its keyword arguments, and errors turned into exit codes."""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import sys
from collections.abc import Callable

from reprogram.client import Client
from reprogram.commands.exits import Exit, UsageError
from reprogram.errors import (
    ApiError,
    Conflict,
    ConnectionFailed,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)


def run(command: Callable[..., int], args: argparse.Namespace) -> int:
    """Call a command with a Client and its keyword arguments; map errors to exit codes."""
    names = [p.name for p in inspect.signature(command).parameters.values()
             if p.kind is inspect.Parameter.KEYWORD_ONLY]  # fmt: skip
    kwargs = {name: getattr(args, name) for name in names}
    url = getattr(args, "url", None)
    try:
        with Client(url, getattr(args, "api_key", None),
                    max_retries=getattr(args, "retries", 4)) as client:  # fmt: skip
            url = client.base_url
            return int(command(client, **kwargs))
    except UsageError as exc:
        return fail(Exit.USAGE, str(exc))
    except Unauthorized as exc:
        hint = "" if getattr(args, "api_key", None) or os.environ.get("REPROGRAM_API_KEY") else (
            " (pass --api-key or set REPROGRAM_API_KEY)"
        )  # fmt: skip
        return fail(Exit.UNAUTHORIZED, _api_message(exc) + hint)
    except NotFound as exc:
        return fail(Exit.NOT_FOUND, _api_message(exc))
    except (InvalidRequest, Conflict, PayloadTooLarge) as exc:
        return fail(Exit.REJECTED, _api_message(exc))
    except ApiError as exc:
        code = Exit.REJECTED if 400 <= exc.status < 500 else Exit.SERVICE_ERROR
        return fail(code, f"{_api_message(exc)} (HTTP {exc.status})")
    except ConnectionFailed as exc:
        return fail(Exit.CONNECTION, f"cannot reach the service at {url}: {_cause(exc)}")
    except (ValueError, KeyError, TypeError) as exc:  # a body that is not the service's JSON
        return fail(Exit.SERVICE_ERROR, f"unexpected answer from {url}: {exc!r}")
    except KeyboardInterrupt:
        return fail(Exit.INTERRUPTED, "interrupted")
    except BrokenPipeError:  # `reprogram jobs list | head`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK


def fail(code: Exit, message: str) -> int:
    """Print one `error: ...` line on stderr; return the exit code."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return int(code)


def _api_message(exc: ApiError) -> str:
    """The service's message, with the field it names if the message does not."""
    message = exc.message
    if exc.field and exc.field not in message:
        message += f" (field: {exc.field})"
    return message


def _cause(exc: BaseException) -> str:
    """The underlying reason of an SDK error (e.g. 'Connection refused')."""
    cause = exc.__cause__
    return str(cause) if cause is not None and str(cause) else str(exc)
