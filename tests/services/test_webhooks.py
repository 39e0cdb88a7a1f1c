"""Signed webhooks delivered for real: verified with the standardwebhooks library, retried after
a 500, and an endpoint that keeps failing is disabled with a note in its log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from standardwebhooks.webhooks import Webhook
from support.client import small_job
from support.http import Scripted, serving
from support.services import Service


@contextmanager
def receiver(answer: Callable[[str, int], int]) -> Iterator[tuple[str, list[tuple[dict, bytes]]]]:
    """A local HTTP endpoint; answer(message id, nth time seen) gives each request's status."""
    received: list[tuple[dict, bytes]] = []
    seen: dict[str, int] = {}

    class Receiver(Scripted):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            msg = self.headers.get("webhook-id", "")
            seen[msg] = seen.get(msg, 0) + 1
            self.answer(answer(msg, seen[msg]))

    with serving(Receiver) as url:
        yield f"{url}/hook", received


def _until(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_deliveries_are_signed_retried_and_a_failing_endpoint_is_disabled(  # type: ignore[no-untyped-def]
    alice, service, tmp_path: Path
) -> None:
    # The senders join the shared deployment (its queue): every worker's recovery scan re-sends due
    # deliveries to its own deployment's webhook queue, so a sender on a queue of its own would
    # see a retry only when one of its own deployment's scans happened to lease it.
    env = service.env | {
        "REPROGRAM_WEBHOOK_RETRY_BASE_S": "0.2", "REPROGRAM_WEBHOOK_MAX_ATTEMPTS": "3",
        "REPROGRAM_WEBHOOK_DISABLE_AFTER": "4",
    }  # fmt: skip
    senders = Service(env=env, data_dir=tmp_path)
    headers = {"Authorization": alice.headers["Authorization"]}
    flaky = lambda msg, nth: 500 if nth == 1 else 200  # noqa: E731
    with receiver(flaky) as (good_url, good), receiver(lambda msg, nth: 500) as (bad_url, bad):
        try:
            senders.start_worker("--queues", "webhooks")
            with httpx.Client(base_url=service.api_url, headers=headers, timeout=60) as client:
                made = client.post("/v1/webhooks", json={"url": good_url, "description": "ci"})
                assert made.status_code == 201, made.text
                endpoint, secret = made.json(), made.json()["secret"]
                assert secret.startswith("whsec_")
                assert "secret" not in client.get(f"/v1/webhooks/{endpoint['id']}").json()
                failing = client.post("/v1/webhooks", json={"url": bad_url}).json()
                bad_field = client.post("/v1/webhooks", json={"url": "ftp://x"}).json()["error"]
                assert bad_field["field"] == "url"

                job = client.post("/v1/jobs", json=small_job(name="hooked")).json()
                assert alice.wait(job["id"])["status"] == "succeeded"

                def succeeded_delivered() -> bool:
                    log = client.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["data"]
                    return any(d["type"] == "job.succeeded" and d["status"] == "delivered"
                               for d in log)  # fmt: skip

                _until(succeeded_delivered, "job.succeeded to be delivered")
                verifier = Webhook(secret)
                types = set()
                for request_headers, body in good:
                    message = verifier.verify(body, request_headers)  # raises if forged
                    assert message["data"]["job_id"] == job["id"]
                    types.add(message["type"])
                assert {"job.queued", "job.running", "job.succeeded"} <= types
                log = client.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["data"]
                done = [d for d in log if d["status"] == "delivered"]
                assert done and all(d["attempts"] == 2 and d["last_status"] == 200 for d in done)

                def disabled() -> bool:
                    return client.get(f"/v1/webhooks/{failing['id']}").json()["enabled"] is False

                _until(disabled, "the failing endpoint to be disabled")
                shown = client.get(f"/v1/webhooks/{failing['id']}").json()
                assert "failed attempts in a row" in shown["disabled_reason"]
                log = client.get(f"/v1/webhooks/{failing['id']}/deliveries").json()["data"]
                assert any(d["type"] == "endpoint.disabled" for d in log)
                assert all(d["status"] in ("failed", "event") for d in log), log
                assert len(bad) >= 4
                assert client.post(f"/v1/webhooks/{failing['id']}/enable").json()["enabled"]
                assert client.delete(f"/v1/webhooks/{failing['id']}").status_code == 204
                assert client.delete(f"/v1/webhooks/{endpoint['id']}").status_code == 204
        finally:
            senders.stop()
