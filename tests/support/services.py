"""Real Postgres, Redis, Celery worker and API processes for the service tests.

Each is used when it is already running (the URLs in REPROGRAM_TEST_DATABASE_URL and
REPROGRAM_TEST_REDIS_URL, or the local defaults) and started from the installed binaries when
it is not. When neither works the tests fail with a message naming what to install.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_DEFAULT = "redis://127.0.0.1:6379"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_ok(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _redis_ok(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A URL of a Postgres server: the configured or local one, else a throwaway one."""
    url = os.environ.get("REPROGRAM_TEST_DATABASE_URL", PG_DEFAULT)
    if _pg_ok(url):
        yield url
        return
    if shutil.which("pg_ctlcluster") and os.geteuid() == 0:
        versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
        for version in versions:
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                capture_output=True,
            )
        if _pg_ok(url):
            yield url
            return
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or (
        [shutil.which("initdb")] if shutil.which("initdb") else []
    )
    if not binaries:
        raise RuntimeError(
            f"no Postgres at {url} and no initdb to start one: install PostgreSQL "
            "(Debian: apt-get install postgresql) or set REPROGRAM_TEST_DATABASE_URL"
        )
    bindir = Path(binaries[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="reprogram-pg-"))
    port = free_port()
    user = ["-U", "postgres"]
    run_as: list[str] = []
    if os.geteuid() == 0:  # Postgres refuses to run as root
        shutil.chown(root, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust",
                    *user], check=True, capture_output=True)  # fmt: skip
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-w", "-o",
                    f"-p {port} -k {root} -h 127.0.0.1", "-l", str(root / "log"), "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "fast",
                        "stop"], capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A URL of a Redis server: the configured or local one, else a throwaway one."""
    url = os.environ.get("REPROGRAM_TEST_REDIS_URL", REDIS_DEFAULT)
    if _redis_ok(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            f"no Redis at {url} and no redis-server to start one: install Redis "
            "(Debian: apt-get install redis-server) or set REPROGRAM_TEST_REDIS_URL"
        )
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    local = f"redis://127.0.0.1:{port}"
    for _ in range(50):
        if _redis_ok(local):
            break
        time.sleep(0.1)
    try:
        yield local
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server, migrated to the latest schema, dropped afterwards."""
    import psycopg

    name = f"reprogram_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server_url.rsplit("/", 1)[0] + f"/{name}"
    from config.settings import Settings
    from db.migrate import upgrade

    upgrade(Settings(database_url=url).sqlalchemy_url)
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service_env(
    *, data_dir: Path, database_url: str, broker_url: str, queue: str, **settings: object
) -> dict[str, str]:
    """A deployment's environment: its servers, a queue of its own and REPROGRAM_* settings.

    The queue is `queue` plus a random suffix; settings are given by name in lower case
    (heartbeat_timeout_s=4 becomes REPROGRAM_HEARTBEAT_TIMEOUT_S=4).
    """
    env = dict(
        os.environ,
        REPROGRAM_DATA_DIR=str(data_dir),
        REPROGRAM_DATABASE_URL=database_url,
        REPROGRAM_BROKER_URL=broker_url,
        REPROGRAM_QUEUE=f"{queue}-{uuid.uuid4().hex[:8]}",
        # Each worker would time a network at startup; the test of estimates turns it on.
        REPROGRAM_CALIBRATE="false",
    )
    return env | {f"REPROGRAM_{name.upper()}": str(value) for name, value in settings.items()}


@dataclass
class Service:
    """Environment of one service deployment under test, and its processes."""

    env: dict[str, str]
    data_dir: Path
    api_url: str = ""
    api: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    logs: list[Path] = field(default_factory=list)

    def _spawn(self, *args: str, log_name: str) -> subprocess.Popen:
        log = self.data_dir / f"{log_name}-{len(self.logs)}.log"
        self.logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "reprogram.cli", *args],
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_api(self, *args: str) -> None:
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        self.api = self._spawn("api", "--port", str(port), *args, log_name="api")
        wait_http(self.api_url + "/healthz", process=self.api, log=self.logs[-1])

    def start_worker(self, *args: str) -> None:
        self.worker = self._spawn(
            "worker", "--hostname", f"test-{uuid.uuid4().hex[:6]}@%h", *args, log_name="worker"
        )
        deadline = time.monotonic() + 120
        log = self.logs[-1]
        while b"worker ready" not in log.read_bytes():
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop_worker(self) -> int:
        """SIGTERM, as in a deploy: wait for the worker to exit; its exit code."""
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGTERM)
        return self.worker.wait(60)

    def kill_worker(self) -> None:
        """SIGKILL, as when a machine dies: no cleanup, no acknowledgement."""
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)

    def stop(self) -> None:
        for process in (self.api, self.worker):
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)

    def create_key(self, name: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "reprogram.cli", "keys", "create", name],
            env=self.env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.strip()


def wait_http(url: str, *, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-3000:]}")
