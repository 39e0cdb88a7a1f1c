"""`reprogram keys create | list | revoke` against the running service's database."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx


def keys(service, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "reprogram.cli", "keys", *args],
        env=service.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_revoked_key_stops_working(service) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("revokee")
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(service.api_url + "/v1/jobs", headers=headers).status_code == 200

    listed = keys(service, "list", "--owner", "revokee")
    assert listed.returncode == 0, listed.stderr
    [row] = listed.stdout.splitlines()[1:]
    key_id, owner, prefix, *_, status = row.split()
    assert owner == "revokee" and key.startswith(prefix.rstrip("…")) and status == "active"
    assert key not in listed.stdout  # only a prefix is ever shown

    revoked = keys(service, "revoke", prefix.rstrip("…"))
    assert revoked.returncode == 0 and key_id in revoked.stdout, revoked.stderr
    deadline = time.monotonic() + 30  # the API caches a key's owner for 10 s
    while httpx.get(service.api_url + "/v1/jobs", headers=headers).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works after 30 s"
        time.sleep(0.5)
    assert keys(service, "list", "--owner", "revokee").stdout.split()[-1] == "revoked"

    unknown = keys(service, "revoke", "key_nope")
    assert unknown.returncode == 1 and "no key matches" in unknown.stderr
    service.create_key("bystander")
    partial = keys(service, "revoke", "rp_")  # every key starts so: only a whole prefix counts
    assert partial.returncode == 1 and "no key matches" in partial.stderr
    assert keys(service, "list", "--owner", "bystander").stdout.split()[-1] == "active"
