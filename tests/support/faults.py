"""Throwaway Postgres and Redis servers that a test may stop, kill and restart.

Fault tests never touch the shared servers: each starts its own from the installed binaries
(`initdb` + `pg_ctl` on a free port under a temp dir, run as the `postgres` user when root;
`redis-server` on a free port with nothing kept on disk) and removes it afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from support.services import free_port


class PrivatePostgres:
    """A Postgres cluster of the test's own; stop() and start() keep its data and port."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if initdb is None:
            raise RuntimeError("no initdb: install PostgreSQL (Debian: apt-get install postgresql)")
        self.bindir = Path(initdb).parent
        self.root = Path(tempfile.mkdtemp(prefix="reprogram-faults-pg-"))
        self.port = free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:  # Postgres refuses to run as root
            shutil.chown(self.root, "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.run_as, str(self.bindir / tool), *args], check=True,
                       capture_output=True)  # fmt: skip

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.root / "log"), "-o",
                  f"-p {self.port} -k {self.root} -h 127.0.0.1", "start")  # fmt: skip

    def stop(self) -> None:
        """Stop at once: open connections are cut, new ones refused."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    def create_database(self, name: str) -> str:
        """A new database on this server, migrated to the latest schema; its plain URL."""
        from config.settings import Settings
        from db.migrate import upgrade

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.url.rsplit("/", 1)[0] + f"/{name}"
        upgrade(Settings(database_url=url).sqlalchemy_url)
        return url

    def close(self) -> None:
        subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "stop"], capture_output=True)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A redis-server of the test's own, keeping nothing on disk (a restart loses every message)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "no redis-server: install Redis (Debian: apt-get install redis-server)"
            )
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=1).ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: every queued message and every connection is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def close(self) -> None:
        self.kill()
