"""The client commands' arguments: `jobs`, `sweeps`, `models`, `datasets`, `catalog`,
`webhooks`, `credentials`, `usage` and `workers`, and the options every one of them takes."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reprogram.commands import (
    catalog,
    credentials,
    datasets,
    jobs,
    models,
    sweeps,
    usage,
    webhooks,
    workers,
)
from reprogram.commands.exits import EXIT_CODES
from reprogram.commands.running import run
from reprogram.statuses import JobStatus


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
    """Register `jobs`, `sweeps`, `models`, `datasets`, `catalog`, `webhooks`, `credentials`
    and their subcommands, and `usage` and `workers`."""
    _add_jobs(_group(sub, "jobs", "jobs on the service: create, list, get, cancel, pause, "
                                  "resume, delete, watch"))  # fmt: skip
    _add_sweeps(_group(sub, "sweeps", "searches over job specs whose trials are jobs: create, "
                                      "list, get, watch, pause, resume, cancel"))  # fmt: skip
    _add_models(_group(sub, "models", "trained models: list, get, predict, export, delete"))
    _add_datasets(_group(sub, "datasets", "uploaded image-folder datasets"))
    _add_catalog(_group(sub, "catalog", "what the service can run: backbones, datasets, methods"))
    _add_webhooks(_group(sub, "webhooks", "signed messages to your URLs when a job changes status"))
    _add_credentials(_group(sub, "credentials",
                            "keys to your S3-compatible stores, for datasets named by uri"))  # fmt: skip
    _command(sub, "usage", usage.usage_show, "what you store: datasets and models, and their size")
    _command(sub, "workers", workers.workers_list,
             "the live workers: device, queues, current job, throughput")  # fmt: skip


def _add_jobs(group: argparse._SubParsersAction) -> None:
    """`jobs create | list | get | cancel | pause | resume | delete | watch`."""
    create = _command(group, "create", jobs.jobs_create, "queue a job from a spec file")
    create.add_argument("spec", metavar="SPEC", help="job spec JSON file ('-' reads stdin)")
    create.add_argument("--watch", "-w", action="store_true", help="follow it until it ends")
    create.add_argument("--idempotency-key", metavar="K", help="repeating K returns the same job")
    listing = _command(group, "list", jobs.jobs_list, "your jobs, newest first")
    # Plain strings: argparse shows the choices with repr() when one is wrong.
    listing.add_argument("--status", action="append", choices=[s.value for s in JobStatus],
                         help="only jobs with this status (repeat for several)")  # fmt: skip
    listing.add_argument("--limit", type=_non_negative, default=50, metavar="N",
                         help="at most N jobs (default 50; 0: all)")  # fmt: skip
    _command(group, "get", jobs.jobs_get, "one job").add_argument("job_id", metavar="ID")
    _command(group, "cancel", jobs.jobs_cancel, "cancel a job").add_argument("job_id", metavar="ID")
    pause = _command(group, "pause", jobs.jobs_pause,
                     "pause: a queued job at once, a running one at its next step")  # fmt: skip
    pause.add_argument("job_id", metavar="ID")
    resume = _command(group, "resume", jobs.jobs_resume,
                      "queue a paused job again; it continues from its checkpoint")  # fmt: skip
    resume.add_argument("job_id", metavar="ID")
    delete = _command(group, "delete", jobs.jobs_delete,
                      "delete a finished job and its events (its model first)")  # fmt: skip
    delete.add_argument("job_id", metavar="ID")
    watch = _command(group, "watch", jobs.jobs_watch,
                     "follow a job live: progress and epoch metrics")  # fmt: skip
    watch.add_argument("job_id", metavar="ID")


def _add_sweeps(group: argparse._SubParsersAction) -> None:
    """`sweeps create | list | get | watch | pause | resume | cancel`."""
    create = _command(group, "create", sweeps.sweeps_create,
                      "start a sweep from a spec file (base, space, budget, pruner, initial)")  # fmt: skip
    create.add_argument("spec", metavar="SPEC", help="sweep spec JSON file ('-' reads stdin)")
    create.add_argument("--watch", "-w", action="store_true", help="follow it until it ends")
    _command(group, "list", sweeps.sweeps_list, "your sweeps, newest first").add_argument(
        "--limit", type=_non_negative, default=50, metavar="N",
        help="at most N sweeps (default 50; 0: all)",
    )  # fmt: skip
    for name, function, help in (
        ("get", sweeps.sweeps_get, "one sweep and its trials (the best marked *)"),
        ("watch", sweeps.sweeps_watch,
         "follow a sweep: each trial as it ends and the best so far, until the sweep ends"),
        ("pause", sweeps.sweeps_pause,
         "start no more trials and pause those queued or running (they keep their checkpoints)"),
        ("resume", sweeps.sweeps_resume,
         "go on with a paused sweep: its trials continue from their checkpoints, new ones start"),
        ("cancel", sweeps.sweeps_cancel, "start no more trials and cancel the running ones"),
    ):  # fmt: skip
        _command(group, name, function, help).add_argument("sweep_id", metavar="ID")


def _add_models(group: argparse._SubParsersAction) -> None:
    """`models list | get | predict | export | delete`."""
    _command(group, "list", models.models_list, "your models, newest first").add_argument(
        "--limit", type=_non_negative, default=50, metavar="N",
        help="at most N models (default 50; 0: all)",
    )  # fmt: skip
    _command(group, "get", models.models_get, "one model").add_argument("model_id", metavar="ID")
    predict = _command(group, "predict", models.models_predict,
                       "top-k labels of images, on the service")  # fmt: skip
    predict.add_argument("model_id", metavar="MODEL_ID")
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    predict.add_argument("--top-k", "-k", type=_positive, default=5, metavar="K")
    export = _command(group, "export", models.models_export,
                      "save the whole model as one ONNX or TorchScript file")  # fmt: skip
    export.add_argument("model_id", metavar="MODEL_ID")
    export.add_argument("--format", "-f", choices=["onnx", "torchscript"], default="onnx")
    export.add_argument("--output", "-o", type=Path, metavar="FILE",
                        help="default: MODEL_ID.onnx or MODEL_ID.pt here")  # fmt: skip
    delete = _command(group, "delete", models.models_delete,
                      "delete a model and its artifact (not while something uses it)")  # fmt: skip
    delete.add_argument("model_id", metavar="ID")


def _add_datasets(group: argparse._SubParsersAction) -> None:
    """`datasets upload | get | delete`."""
    upload = _command(group, "upload", datasets.datasets_upload,
                      "upload a folder or a zip/tar.gz archive, one folder per class")  # fmt: skip
    upload.add_argument("path", type=Path, metavar="PATH")
    _command(group, "get", datasets.datasets_get, "one uploaded dataset").add_argument(
        "dataset_id", metavar="ID"
    )
    delete = _command(group, "delete", datasets.datasets_delete,
                      "delete an upload (not while a queued or running job uses it)")  # fmt: skip
    delete.add_argument("dataset_id", metavar="ID")


def _add_catalog(group: argparse._SubParsersAction) -> None:
    """`catalog backbones | datasets | methods`."""
    for kind in ("backbones", "datasets", "methods"):
        _command(group, kind, catalog.catalog_list, f"the {kind} the service knows").set_defaults(
            kind=kind
        )


def _add_webhooks(group: argparse._SubParsersAction) -> None:
    """`webhooks create | list | get | enable | delete | deliveries`."""
    create = _command(group, "create", webhooks.webhooks_create,
                      "send job status changes to a URL, signed (secret shown once)")  # fmt: skip
    create.add_argument("webhook_url", metavar="URL")  # not "url": that is --url, the service
    create.add_argument("--description", "-d", metavar="TEXT", help="a note for yourself")
    _command(group, "list", webhooks.webhooks_list, "your webhook endpoints")
    for name, function, help in (
        ("get", webhooks.webhooks_get, "one endpoint: enabled or why not"),
        ("enable", webhooks.webhooks_enable, "turn a disabled endpoint back on"),
        ("delete", webhooks.webhooks_delete, "stop sending to an endpoint and drop its log"),
    ):
        _command(group, name, function, help).add_argument("webhook_id", metavar="ID")
    deliveries = _command(group, "deliveries", webhooks.webhooks_deliveries,
                          "an endpoint's log, newest first")  # fmt: skip
    deliveries.add_argument("webhook_id", metavar="ID")
    deliveries.add_argument("--limit", type=_positive, default=100, metavar="N",
                            help="at most N deliveries (default 100, at most 500)")  # fmt: skip


def _add_credentials(group: argparse._SubParsersAction) -> None:
    """`credentials create | list | get | delete`."""
    create = _command(group, "create", credentials.credentials_create,
                      "keep keys to an S3-compatible store (the secret is never shown again)")  # fmt: skip
    create.add_argument("name", metavar="NAME", help="a name for yourself")
    create.add_argument("--access-key-id", required=True, metavar="ID",
                        help="the store's access key id (only its last four are shown back)")  # fmt: skip
    create.add_argument(
        "--secret-stdin", action="store_true",
        help=f"read the secret access key from stdin (else ${credentials.SECRET_ENV}, else a "
        "prompt on a terminal; never an argument, which would land in the shell's history)",
    )  # fmt: skip
    create.add_argument("--endpoint-url", metavar="URL",
                        help="an S3-compatible endpoint (MinIO, R2, ...); default: AWS's")  # fmt: skip
    create.add_argument(
        "--region", metavar="REGION", help="the store's region (default: us-east-1)"
    )
    _command(group, "list", credentials.credentials_list, "your credentials (no secrets)")
    for name, function, help in (
        ("get", credentials.credentials_get, "one credential: its store and when a job last used it"),
        ("delete", credentials.credentials_delete,
         "forget a credential (not while a queued or running job needs it)"),
    ):  # fmt: skip
        _command(group, name, function, help).add_argument("credential_id", metavar="ID")


def _group(sub: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """A command group (`jobs`, `models`, ...) whose subcommands are added to what it returns."""
    parser = sub.add_parser(name, help=help, epilog=EXIT_CODES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def _command(
    group: argparse._SubParsersAction, name: str, function: Callable[..., int], help: str
) -> argparse.ArgumentParser:
    """A subcommand that runs `function` with a Client; it takes the global options and --json."""
    parser = group.add_parser(name, help=help, description=help, parents=[_common_options()],
                              epilog=EXIT_CODES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.set_defaults(handler=functools.partial(run, function))
    return parser


def _common_options() -> argparse.ArgumentParser:
    """The options every subcommand takes, as a parent parser."""
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, suppress=True)
    common.add_argument("--json", dest="as_json", action="store_true", help="print JSON only")
    return common


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
