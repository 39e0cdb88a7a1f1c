"""`reprogram jobs | models | datasets ...`: the service's client commands, built on the SDK.

Human output goes to stdout as aligned tables and key/value blocks; `--json` prints one JSON
document on stdout and nothing else. Progress and diagnostics go to stderr. Errors print one
`error: ...` line and exit with a code that says what happened (EXIT_CODES). Like the SDK,
this module never imports torch.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import functools
import inspect
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from reprogram.client import STATUSES, Client, Dataset, Event, Job, Model
from reprogram.errors import (
    ApiError,
    Conflict,
    ConnectionFailed,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)


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
  0    success (with --watch: the job succeeded)
  1    the watched job failed
  2    usage error: bad arguments, a missing file
  3    the watched job was cancelled
  4    request rejected: invalid spec or JSON, conflict, too large (400/409/413/422)
  5    not found (404): no such job, model or dataset for this key
  6    authentication failed (401): missing or wrong API key
  7    the service failed (5xx, or 429 after retries) or answered something unexpected
  8    could not connect to the service
  130  interrupted (Ctrl-C); a watched job keeps running"""


class UsageError(Exception):
    """A problem with the command's own input, found before any request (exit 2)."""


# ---------------------------------------------------------------------------------------------
# Parsers


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """--url, --api-key and --retries (on the top-level parser, and again after a subcommand)."""
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("service connection (client commands)")
    group.add_argument(
        "--url",
        default=default,
        help="service URL (default: $REPROGRAM_URL, else http://127.0.0.1:8000)",
    )
    group.add_argument(
        "--api-key", default=default, metavar="KEY", help="API key (default: $REPROGRAM_API_KEY)"
    )
    group.add_argument(
        "--retries",
        type=_non_negative,
        default=argparse.SUPPRESS if suppress else 4,
        metavar="N",
        help="retries of connection errors and 429/502/503/504 (default: 4)",
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `jobs`, `models` and `datasets` and their subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, suppress=True)
    common.add_argument("--json", dest="as_json", action="store_true", help="print JSON only")
    extra: dict[str, Any] = {
        "parents": [common],
        "epilog": EXIT_CODES,
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }

    def group(name: str, help: str) -> argparse._SubParsersAction:
        parser = sub.add_parser(name, help=help, epilog=EXIT_CODES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")

    def command(
        parent: argparse._SubParsersAction, name: str, function: Callable[..., int], help: str
    ) -> argparse.ArgumentParser:
        parser = parent.add_parser(name, help=help, description=help, **extra)
        parser.set_defaults(handler=functools.partial(run, function))
        return parser

    jobs = group("jobs", "jobs on the service: create, list, get, cancel, watch")
    create = command(jobs, "create", jobs_create, "queue a job from a spec file")
    create.add_argument("spec", metavar="SPEC", help="job spec JSON file ('-' reads stdin)")
    create.add_argument("--watch", "-w", action="store_true", help="follow it until it ends")
    create.add_argument("--idempotency-key", metavar="K", help="repeating K returns the same job")
    listing = command(jobs, "list", jobs_list, "your jobs, newest first")
    listing.add_argument("--status", action="append", choices=STATUSES,
                         help="only jobs with this status (repeat for several)")  # fmt: skip
    listing.add_argument("--limit", type=_non_negative, default=50, metavar="N",
                         help="at most N jobs (default 50; 0: all)")  # fmt: skip
    command(jobs, "get", jobs_get, "one job").add_argument("job_id", metavar="ID")
    command(jobs, "cancel", jobs_cancel, "cancel a job").add_argument("job_id", metavar="ID")
    watch = command(jobs, "watch", jobs_watch, "follow a job live: progress and epoch metrics")
    watch.add_argument("job_id", metavar="ID")

    models = group("models", "trained models: list, get, predict, export")
    command(models, "list", models_list, "your models, newest first").add_argument(
        "--limit", type=_non_negative, default=50, metavar="N",
        help="at most N models (default 50; 0: all)",
    )  # fmt: skip
    command(models, "get", models_get, "one model").add_argument("model_id", metavar="ID")
    predict = command(models, "predict", models_predict, "top-k labels of images, on the service")
    predict.add_argument("model_id", metavar="MODEL_ID")
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    predict.add_argument("--top-k", "-k", type=_positive, default=5, metavar="K")
    export = command(models, "export", models_export,
                     "save the whole model as one ONNX or TorchScript file")  # fmt: skip
    export.add_argument("model_id", metavar="MODEL_ID")
    export.add_argument("--format", "-f", choices=["onnx", "torchscript"], default="onnx")
    export.add_argument("--output", "-o", type=Path, metavar="FILE",
                        help="default: MODEL_ID.onnx or MODEL_ID.pt here")  # fmt: skip

    datasets = group("datasets", "uploaded image-folder datasets")
    upload = command(datasets, "upload", datasets_upload,
                     "upload a folder or a zip/tar.gz archive, one folder per class")  # fmt: skip
    upload.add_argument("path", type=Path, metavar="PATH")
    command(datasets, "get", datasets_get, "one uploaded dataset").add_argument(
        "dataset_id", metavar="ID"
    )

    catalog = group("catalog", "what the service can run: backbones, datasets, methods")
    for kind in ("backbones", "datasets", "methods"):
        command(catalog, kind, catalog_list, f"the {kind} the service knows").set_defaults(
            kind=kind
        )


def _non_negative(text: str) -> int:
    """An argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _positive(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


# ---------------------------------------------------------------------------------------------
# Running a command: a client, its keyword arguments, and errors turned into exit codes


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
        return _fail(Exit.USAGE, str(exc))
    except Unauthorized as exc:
        hint = "" if getattr(args, "api_key", None) or os.environ.get("REPROGRAM_API_KEY") else (
            " (pass --api-key or set REPROGRAM_API_KEY)"
        )  # fmt: skip
        return _fail(Exit.UNAUTHORIZED, _api_message(exc) + hint)
    except NotFound as exc:
        return _fail(Exit.NOT_FOUND, _api_message(exc))
    except (InvalidRequest, Conflict, PayloadTooLarge) as exc:
        return _fail(Exit.REJECTED, _api_message(exc))
    except ApiError as exc:
        code = Exit.REJECTED if 400 <= exc.status < 500 else Exit.SERVICE_ERROR
        return _fail(code, f"{_api_message(exc)} (HTTP {exc.status})")
    except ConnectionFailed as exc:
        return _fail(Exit.CONNECTION, f"cannot reach the service at {url}: {_cause(exc)}")
    except (ValueError, KeyError, TypeError) as exc:  # a body that is not the service's JSON
        return _fail(Exit.SERVICE_ERROR, f"unexpected answer from {url}: {exc!r}")
    except KeyboardInterrupt:
        return _fail(Exit.INTERRUPTED, "interrupted")
    except BrokenPipeError:  # `reprogram jobs list | head`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK


def _fail(code: Exit, message: str) -> int:
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


# ---------------------------------------------------------------------------------------------
# Jobs


def jobs_create(
    client: Client, *, spec: str, watch: bool, idempotency_key: str | None, as_json: bool
) -> int:
    """Queue a job from a spec file or stdin; with watch, follow it and exit by its outcome."""
    job = client.jobs.create(_read_spec(spec), idempotency_key=idempotency_key)
    if not watch:
        if as_json:
            _print_json(_plain(job))
        else:
            _print_fields(_job_fields(job))
            print(f"\nfollow it with: reprogram jobs watch {job.id}", file=sys.stderr)
        return Exit.OK
    if not as_json:
        print(f"job {job.id} {job.status}" + (f" ({job.name})" if job.name else ""))
    return _follow(client, job, as_json=as_json)


def jobs_list(client: Client, *, status: list[str] | None, limit: int, as_json: bool) -> int:
    """Print your jobs, newest first (at most `limit`; 0 for all)."""
    headers = ("ID", "STATUS", "BACKBONE", "DATASET", "METHOD", "BEST VAL ACC", "CREATED")

    def row(j: Job) -> tuple[Any, ...]:
        return (j.id, _status_text(j), _backbone_text(j.spec.get("backbone")),
                _dataset_text(j.spec.get("dataset")), j.spec.get("method", {}).get("kind", "-"),
                _number((j.metrics or {}).get("best_val_accuracy")), _time(j.created_at))  # fmt: skip

    return _print_listing(client.jobs.list(status=status), limit=limit, as_json=as_json,
                          headers=headers, row=row, empty="no jobs")  # fmt: skip


def jobs_get(client: Client, *, job_id: str, as_json: bool) -> int:
    """Print one job."""
    return _print_one(client.jobs.get(job_id), fields=_job_fields, as_json=as_json)


def jobs_cancel(client: Client, *, job_id: str, as_json: bool) -> int:
    """Cancel a queued job at once, or ask a running one to stop."""
    job = client.jobs.cancel(job_id)
    if as_json:
        _print_json(_plain(job))
    elif job.status == "cancelling":
        print(f"job {job.id} cancelling (it stops within a training step)")
    else:
        print(f"job {job.id} {job.status}")
    return Exit.OK


def jobs_watch(client: Client, *, job_id: str, as_json: bool) -> int:
    """Follow a job live until it ends; exit 0 if it succeeded, 1 if it failed, 3 if cancelled."""
    job = client.jobs.get(job_id)
    if not as_json:
        print(f"job {job.id} {job.status}" + (f" ({job.name})" if job.name else ""))
    return _follow(client, job, as_json=as_json)


def _read_spec(source: str) -> dict[str, Any]:
    """The job spec from a file or '-' (stdin), as a JSON object."""
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read spec {name}: {exc.strerror or exc}") from None
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(0, "invalid_json", f"spec {name} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise InvalidRequest(0, "invalid_json", f"spec {name} must be a JSON object")
    return spec


# Fixed widths, because rows are printed as the epochs arrive.
_EPOCH_COLUMNS = (("epoch", 7), ("train loss", 10), ("train acc", 9), ("val loss", 8),
                  ("val acc", 7), ("seconds", 7))  # fmt: skip


def _epoch_row(event: Event, total: int) -> str:
    """One row of the epoch table."""
    m = event.metrics or {}
    epoch = f"{event.epoch}/{total}" if total else str(event.epoch)
    values = (epoch, _number(m.get("train_loss")), _number(m.get("train_accuracy")),
              _number(m.get("val_loss")), _number(m.get("val_accuracy")),
              _number(m.get("epoch_s"), ".1f"))  # fmt: skip
    return "  ".join(v.rjust(w) for v, (_, w) in zip(values, _EPOCH_COLUMNS, strict=True))


class _Progress:
    """One self-redrawing progress line on stderr (only when stderr is a terminal)."""

    def __init__(self, job: Job, total: int, *, stream: TextIO) -> None:
        self.job_id, self.total, self.stream = job.id, total, stream
        self.status, self.epoch, self.val = job.status, 0, None  # the stream replays from the start
        self.live = stream.isatty()
        self.shown = False

    def update(self, *, status: str | None = None, event: Event | None = None) -> None:
        """Take a new status or epoch event and redraw."""
        if status:
            self.status = status
        if event is not None and event.epoch:
            self.epoch = event.epoch
            self.val = (event.metrics or {}).get("val_accuracy")
        self.draw()

    def draw(self) -> None:
        """Redraw the progress line."""
        if not self.live:
            return
        width = 24
        fraction = min(self.epoch / self.total, 1.0) if self.total else 0.0
        bar = "#" * int(fraction * width) + "-" * (width - int(fraction * width))
        line = f"{self.job_id}  {self.status:<10} [{bar}] {self.epoch}/{self.total or '?'} epochs"
        if self.val is not None:
            line += f"  val acc {self.val:.4f}"
        columns = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r" + line[: columns - 1] + "\033[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the progress line."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def say(self, text: str, stream: TextIO) -> None:
        """Print a line above the progress line."""
        self.clear()
        print(text, file=stream, flush=True)
        self.draw()


def _follow(client: Client, job: Job, *, as_json: bool) -> int:
    """Show a job's events as they come (a progress line, an epoch table); exit by its outcome."""
    total = int(job.spec.get("hyperparameters", {}).get("epochs") or 0)
    progress = _Progress(job, total, stream=sys.stderr)
    header = False
    progress.draw()
    try:
        for event in client.jobs.stream(job.id):
            if event.type == "epoch":
                total = int((event.metrics or {}).get("epochs") or total)
                progress.total = total
                progress.update(event=event)
                if not as_json:
                    if not header:
                        titles = (t.rjust(w) for t, w in _EPOCH_COLUMNS)
                        progress.say("  ".join(titles), sys.stdout)
                        header = True
                    progress.say(_epoch_row(event, total), sys.stdout)
            elif event.type == "status" and event.message:
                progress.update(status=event.message.split(":", 1)[0])
                if not as_json and not progress.live:
                    print(f"status: {event.message}", file=sys.stderr, flush=True)
            elif event.type == "log" and event.message and not as_json:
                progress.say(f"log: {event.message}", sys.stderr)
    except KeyboardInterrupt:
        progress.clear()
        print(f"\nstopped watching; the job keeps running (reprogram jobs cancel {job.id})",
              file=sys.stderr)  # fmt: skip
        return Exit.INTERRUPTED
    finally:
        progress.clear()
    job = client.jobs.get(job.id)
    if as_json:
        _print_json(_plain(job))
    elif job.status == "succeeded":
        metrics = job.metrics or {}
        print(f"succeeded in {_duration(job) or '?'}: test accuracy "
              f"{_number(metrics.get('test_accuracy'))}, model {job.model_id}")  # fmt: skip
    if job.status == "succeeded":
        return Exit.OK
    if job.status == "cancelled":
        print(f"job {job.id} was cancelled", file=sys.stderr)
        return Exit.JOB_CANCELLED
    if job.status == "failed":
        print(f"error: job {job.id} failed: {job.error or 'no reason given'}", file=sys.stderr)
        return Exit.JOB_FAILED
    # The stream ended but the job has not (it cannot, unless the service misbehaves).
    return _fail(Exit.SERVICE_ERROR, f"the event stream ended while job {job.id} is {job.status}")


# ---------------------------------------------------------------------------------------------
# Models and datasets


def models_list(client: Client, *, limit: int, as_json: bool) -> int:
    """Print your models, newest first (at most `limit`; 0 for all)."""
    headers = ("ID", "NAME", "METHOD", "BACKBONE", "LABELS", "TEST ACC", "JOB", "CREATED")

    def row(m: Model) -> tuple[Any, ...]:
        return (m.id, m.name or "-", m.method, _backbone_text(m.backbone), str(len(m.labels)),
                _number(m.metrics.get("test_accuracy")), m.job_id, _time(m.created_at))  # fmt: skip

    return _print_listing(client.models.list(), limit=limit, as_json=as_json, headers=headers,
                          row=row, empty="no models")  # fmt: skip


def models_get(client: Client, *, model_id: str, as_json: bool) -> int:
    """Print one model."""
    model = client.models.get(model_id)
    if as_json:
        _print_json(_plain(model))
        return Exit.OK
    shown = ", ".join(model.labels[:12]) + (", …" if len(model.labels) > 12 else "")
    metrics = model.metrics
    _print_fields([
        ("id", model.id), ("name", model.name), ("job", model.job_id), ("method", model.method),
        ("backbone", _backbone_text(model.backbone)),
        (f"labels ({len(model.labels)})", shown),
        ("test accuracy", _number(metrics.get("test_accuracy"))),
        ("best val acc", _number(metrics.get("best_val_accuracy"))),
        ("epochs", metrics.get("epochs")),
        ("artifact", _size(model.artifact_bytes)), ("created", _time(model.created_at)),
    ])  # fmt: skip
    return Exit.OK


def models_predict(
    client: Client, *, model_id: str, images: list[Path], top_k: int, as_json: bool
) -> int:
    """Print the top-k labels of each image, predicted by a model on the service."""
    missing = [str(p) for p in images if not p.is_file()]
    if missing:
        raise UsageError(f"no such image file: {', '.join(missing)}")
    results = client.models.predict(model_id, [str(p) for p in images], top_k=top_k)
    if as_json:
        _print_json({
            "model_id": model_id,
            "predictions": [
                {"image": str(path), "top_k": [{"label": p.label, "score": p.score} for p in preds]}
                for path, preds in zip(images, results, strict=True)
            ],
        })  # fmt: skip
        return Exit.OK
    for path, preds in zip(images, results, strict=True):
        print(path)
        for p in preds:
            print(f"  {p.score:7.2%}  {p.label}")
    return Exit.OK


def models_export(
    client: Client, *, model_id: str, format: str, output: Path | None, as_json: bool
) -> int:
    """Save a model on the service as one portable file; say where."""
    target = output or Path(f"{model_id}{'.onnx' if format == 'onnx' else '.pt'}")
    client.models.export(model_id, target, format=format)
    if as_json:
        _print_json({"model_id": model_id, "format": format, "path": str(target),
                     "bytes": target.stat().st_size})  # fmt: skip
    else:
        print(f"{format} model written to {target} ({_size(target.stat().st_size)})")
    return Exit.OK


def datasets_upload(client: Client, *, path: Path, as_json: bool) -> int:
    """Upload an image folder (zipped on the fly) or a zip/tar.gz archive."""
    if not path.exists():
        raise UsageError(f"no such file or folder: {path}")
    dataset = client.datasets.upload(path)
    if as_json:
        _print_json(_plain(dataset))
        return Exit.OK
    _print_fields(_dataset_fields(dataset))
    print(f'\nuse it in a job spec as  "dataset": {{"upload_id": "{dataset.id}"}}', file=sys.stderr)
    return Exit.OK


def datasets_get(client: Client, *, dataset_id: str, as_json: bool) -> int:
    """Print one uploaded dataset."""
    return _print_one(client.datasets.get(dataset_id), fields=_dataset_fields, as_json=as_json)


def _dataset_fields(dataset: Dataset) -> list[tuple[str, Any]]:
    """What `datasets get` and `datasets upload` show."""
    return [
        ("id", dataset.id), ("name", dataset.name),
        (f"classes ({len(dataset.classes)})", ", ".join(dataset.classes)),
        ("images", dataset.num_images), ("size", _size(dataset.size_bytes)),
        ("created", _time(dataset.created_at)),
    ]  # fmt: skip


def catalog_list(client: Client, *, kind: str, as_json: bool) -> int:
    """Print the backbones, datasets or methods the service knows, and whether each works offline."""
    entries = getattr(client.catalog, kind)()
    if as_json:
        _print_json({"data": [vars(e) for e in entries]})
        return Exit.OK
    rows = [
        (e.name, "yes" if e.available_offline else "no", str(e.input_size or "-"), e.description)
        for e in entries
    ]
    print_table(("NAME", "OFFLINE", "INPUT", "DESCRIPTION"), rows, empty=f"no {kind}")
    return Exit.OK


# ---------------------------------------------------------------------------------------------
# Formatting


def _plain(obj: Job | Model | Dataset) -> dict[str, Any]:
    """A dataclass from the SDK as JSON-ready data (its private fields left out)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj) if not f.name.startswith("_")}


def _print_listing(
    items: Iterable[Any],
    *,
    limit: int,
    as_json: bool,
    headers: Sequence[str],
    row: Callable[[Any], Sequence[Any]],
    empty: str,
) -> int:
    """The newest `limit` items (0: all) as {"data", "has_more"} JSON or as a table."""
    taken, more = _take(items, limit)
    if as_json:
        _print_json({"data": [_plain(i) for i in taken], "has_more": more})
        return Exit.OK
    print_table(headers, [row(i) for i in taken], empty=empty)
    if more:
        print(f"(showing the newest {limit}; --limit 0 lists all)", file=sys.stderr)
    return Exit.OK


def _print_one(
    obj: Any, *, fields: Callable[[Any], Iterable[tuple[str, Any]]], as_json: bool
) -> int:
    """One job, model or dataset as JSON or as aligned `key  value` lines."""
    if as_json:
        _print_json(_plain(obj))
    else:
        _print_fields(fields(obj))
    return Exit.OK


def _print_json(data: Any) -> None:
    """One JSON document on stdout."""
    print(json.dumps(data, indent=2, ensure_ascii=False), flush=True)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str) -> None:
    """An aligned table on stdout (a note on stderr when there are no rows)."""
    if not rows:
        print(f"({empty})", file=sys.stderr)
        return
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]
    for row in (headers, *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _print_fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """Aligned `key  value` lines, leaving out empty values."""
    shown = [(k, v) for k, v in pairs if v not in (None, "", "-")]
    width = max(len(k) for k, _ in shown)
    for key, value in shown:
        print(f"{key.ljust(width)}  {value}")


def _job_fields(job: Job) -> list[tuple[str, Any]]:
    """What `jobs get` shows."""
    spec, metrics = job.spec, job.metrics or {}
    hp = spec.get("hyperparameters", {})
    total = hp.get("epochs")
    hyper = ", ".join(f"{k} {v}" for k, v in hp.items() if k != "epochs")
    return [
        ("id", job.id), ("name", job.name), ("status", job.status),
        ("backbone", _backbone_text(spec.get("backbone"))),
        ("dataset", _dataset_text(spec.get("dataset"))),
        ("method", spec.get("method", {}).get("kind")),
        ("epoch", f"{job.epoch}/{total}" if total else job.epoch),
        ("hyperparameters", hyper), ("attempt", job.attempt),
        ("created", _time(job.created_at)), ("started", _time(job.started_at)),
        ("finished", _time(job.finished_at)), ("duration", _duration(job)),
        ("test accuracy", _number(metrics.get("test_accuracy"))),
        ("best val acc", _number(metrics.get("best_val_accuracy"))),
        ("model", job.model_id), ("error", job.error),
    ]  # fmt: skip


def _status_text(job: Job) -> str:
    """A job's status, with its epoch while it runs."""
    total = job.spec.get("hyperparameters", {}).get("epochs")
    if job.status == "running" and total:
        return f"running {job.epoch}/{total}"
    return job.status


def _backbone_text(backbone: dict[str, Any] | None) -> str:
    """A backbone reference in a few words."""
    if not backbone:
        return "-"
    if backbone.get("model_id"):
        return f"model {backbone['model_id']}"
    name = backbone.get("name") or backbone.get("artifact") or "-"
    weights = backbone.get("weights")
    return f"{name} ({weights})" if weights and weights != "imagenet" else str(name)


def _dataset_text(dataset: dict[str, Any] | None) -> str:
    """A dataset reference in a few words."""
    if not dataset:
        return "-"
    if dataset.get("upload_id"):
        return f"upload {dataset['upload_id']}"
    return str(dataset.get("name") or Path(str(dataset.get("path") or "-")).name)


def _number(value: Any, spec: str = ".4f") -> str:
    """A number formatted, or '-' for none."""
    return "-" if value is None else format(float(value), spec)


def _parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 timestamp (naive ones are UTC)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _time(text: str | None) -> str | None:
    """A timestamp in local time, to the second."""
    value = _parse_time(text)
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else text


def _duration(job: Job) -> str | None:
    """How long a finished job ran."""
    start, end = _parse_time(job.started_at), _parse_time(job.finished_at)
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _size(count: int) -> str:
    """A byte count in B, KB, MB or GB."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _take(items: Iterable[Any], limit: int) -> tuple[list[Any], bool]:
    """The first `limit` items (all for 0) and whether there were more."""
    if limit == 0:
        return list(items), False
    taken = list(islice(items, limit + 1))
    return taken[:limit], len(taken) > limit
