"""`reprogram serve | api | worker | db upgrade | keys create|list|revoke`: the service's processes."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

# Open requests (live event streams, above all) get this long to finish when the API stops.
GRACEFUL_S = 5


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the service commands."""
    serve = sub.add_parser("serve", help="all in one: API + worker on SQLite, no setup needed")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=serve_command)

    api = sub.add_parser("api", help="run the HTTP API (production role)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    api.set_defaults(handler=api_command)

    worker = sub.add_parser("worker", help="run a job worker (one per GPU)")
    worker.add_argument("--hostname", help="Celery node name, e.g. gpu0@%%h")
    worker.add_argument("--loglevel", help="default: $REPROGRAM_LOG_LEVEL or INFO")
    worker.add_argument(
        "--queues",
        help="the kinds of work to take, comma-separated: any, cpu, cuda, own (this machine's "
        "kind), webhooks (default: any,own; a kind its device lacks is refused; run one worker "
        "with 'webhooks' alone to deliver webhooks)",
    )
    worker.set_defaults(handler=worker_command)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_sub.add_parser("upgrade", help="apply migrations up to the latest")
    upgrade.set_defaults(handler=db_upgrade_command)

    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    create = keys_sub.add_parser("create", help="print a new API key for an owner")
    create.add_argument("name", help="owner name (created if new)")
    create.set_defaults(handler=keys_create_command)
    listing = keys_sub.add_parser("list", help="the keys (id, owner, prefix, created, revoked)")
    listing.add_argument("--owner", help="only this owner's keys")
    listing.set_defaults(handler=keys_list_command)
    revoke = keys_sub.add_parser(
        "revoke", help="revoke a key by its id or prefix (API processes drop it within seconds)"
    )
    revoke.add_argument("key", metavar="ID_OR_PREFIX", help="key id (key_...) or prefix (rp_...)")
    revoke.set_defaults(handler=keys_revoke_command)


def db_upgrade_command(args: argparse.Namespace) -> int:
    from db.migrate import upgrade

    upgrade()
    print("database is at the latest schema")
    return 0


def keys_create_command(args: argparse.Namespace) -> int:
    from db.owners import create_key
    from db.session import session_scope

    with session_scope() as session:
        owner, key = create_key(session, owner_name=args.name)
    print(key)
    print(f"(owner '{owner.name}'; the key is shown only once)", file=sys.stderr)
    return 0


def keys_list_command(args: argparse.Namespace) -> int:
    from db.owners import list_keys
    from db.session import session_scope
    from reprogram.commands.output import print_table

    with session_scope() as session:
        rows = [(k.id, o.name, k.prefix + "…", k.created_at.strftime("%Y-%m-%d %H:%M"),
                 "revoked" if k.revoked else "active")
                for k, o in list_keys(session, owner_name=args.owner)]  # fmt: skip
    print_table(("ID", "OWNER", "PREFIX", "CREATED (UTC)", "STATUS"), rows, empty="no keys")
    return 0


def keys_revoke_command(args: argparse.Namespace) -> int:
    from db.owners import KEY_TTL_S, find_keys
    from db.session import session_scope

    with session_scope() as session:
        found = find_keys(session, id_or_prefix=args.key)
        if len(found) != 1:
            problem = "no key matches" if not found else f"{len(found)} keys match"
            print(f"error: {problem} '{args.key}' (see 'reprogram keys list')", file=sys.stderr)
            return 1
        found[0].revoked = True
        print(f"revoked {found[0].id} ({found[0].prefix}…); "
              f"API processes refuse it within {KEY_TTL_S:g} s")  # fmt: skip
    return 0


def api_command(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        # Each process runs its own forward passes; with every process using every core their
        # OpenMP teams spin against each other (measured: 2 processes at a fifth of one's speed
        # on 2 cores). The worker processes inherit this share.
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // args.workers))
    uvicorn.run(
        "api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
        proxy_headers=True, timeout_graceful_shutdown=GRACEFUL_S,
    )  # fmt: skip
    return 0


def worker_command(args: argparse.Namespace) -> int:
    from worker.app import run_worker

    kinds = [k.strip() for k in (args.queues or "").split(",") if k.strip()]
    run_worker(hostname=args.hostname, loglevel=args.loglevel, kinds=kinds)
    return 0


def _embedded_key(data_dir: Path) -> str:
    """The embedded server's key: reused across restarts, kept in a file only its user reads."""
    from db.owners import create_key, owner_for_key
    from db.session import session_scope

    path = data_dir / "api-key"
    with session_scope() as session:
        if path.exists():
            key = path.read_text().strip()
            if owner_for_key(session, key=key) is not None:
                return key
        _, key = create_key(session, owner_name="default")
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def _die_with_parent() -> None:
    """In the embedded worker, before exec: Linux sends it SIGTERM if `serve` itself dies.

    `serve` stops its worker on the way out, but a `serve` that is killed outright (kill -9, an
    OOM kill) cannot, and an orphaned worker would go on polling the queue of a dead service.
    """
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def serve_command(args: argparse.Namespace) -> int:
    """API and one worker process on SQLite and a filesystem broker under the data directory."""
    import uvicorn

    from config.settings import get_settings
    from db.migrate import upgrade

    settings = get_settings()
    upgrade()
    key = _embedded_key(settings.data_dir)
    env = dict(os.environ, REPROGRAM_DATA_DIR=str(settings.data_dir))
    # One worker on one machine: its jobs' own pace and history give estimates soon enough, and
    # timing a network at startup would compete with the first job for the same cores.
    env.setdefault("REPROGRAM_CALIBRATE", "false")
    worker = subprocess.Popen(
        # One process for everything on one machine: webhooks are delivered between jobs.
        [
            sys.executable,
            "-m",
            "reprogram.cli",
            "worker",
            "--hostname",
            "embedded@%h",
            "--queues",
            "any,own,webhooks",
        ],
        env=env,
        preexec_fn=_die_with_parent,
    )
    url = f"http://{args.host}:{args.port}"
    print(
        f"\nReprogram is serving at {url}  (data in {settings.data_dir})\n"
        f"API key: {key}\n"
        f"Try:  curl -H 'Authorization: Bearer {key}' {url}/v1/backbones\n",
        flush=True,
    )
    # uvicorn re-raises the SIGTERM it stopped on; as an exception it lets `finally` stop the worker.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(
            "api.app:create_app", factory=True, host=args.host, port=args.port,
            timeout_graceful_shutdown=GRACEFUL_S,
        )  # fmt: skip
    finally:
        # The worker checkpoints its job at the next step, hands it back and exits; past its own
        # stop grace it exits anyway, so this wait is only a backstop.
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=settings.stop_grace_s + 15)
        except subprocess.TimeoutExpired:
            worker.kill()
    return 0
