"""Sweeps through `Client`, `AsyncClient` and `reprogram sweeps`, against the real service.

One sweep trains: two trials of a small job, started from a file and watched to the end by the
real command. The others never run a step (their trials ask for more memory than any worker
has) and are cancelled.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest
from support.client import small_job
from support.proxy import proxy_for

from reprogram import AsyncClient, Client, Sweep, Trial
from reprogram.cli import main
from reprogram.commands.exits import Exit
from reprogram.errors import Conflict, ConnectionFailed, InvalidRequest, NotFound, SweepFailed

REPROGRAM = str(Path(sys.executable).with_name("reprogram"))  # the installed entry point
SPACE = {"hyperparameters.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}
TRAINS = {"name": "cli sweep", "space": SPACE, "budget": {"trials": 2, "parallelism": 2},
          "base": small_job(name="sweep-cli", hyperparameters={"epochs": 2, "batch_size": 32}),
          "seed": 3}  # fmt: skip
WAITS = small_job(name="sweep-waits", resources={"min_memory_gb": 100000})  # no worker takes it


@pytest.fixture(scope="module")
def key(service) -> str:  # type: ignore[no-untyped-def]
    return service.create_key("sweeper")


@pytest.fixture
def cli(service, key: str, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `reprogram --url ... --api-key ... ARGS` in this process: (exit code, stdout, stderr)."""

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        capsys.readouterr()
        saved, sys.stdin = sys.stdin, io.StringIO(stdin)
        try:
            code = main(["--url", service.api_url, "--api-key", key, *args])
        finally:
            sys.stdin = saved
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(scope="module")
def watched(service, key: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The training sweep, created from a file and watched to its end by the real command, URL
    and key from the environment: (the sweep as created, the watch's process)."""
    spec = tmp_path_factory.mktemp("sweep") / "sweep.json"
    spec.write_text(json.dumps(TRAINS))
    env = dict(os.environ, REPROGRAM_URL=service.api_url, REPROGRAM_API_KEY=key)
    run: Any = {"capture_output": True, "text": True, "timeout": 300, "env": env}
    made = subprocess.run([REPROGRAM, "sweeps", "create", str(spec), "--json"], **run)
    assert made.returncode == 0, made.stderr
    sweep = json.loads(made.stdout)
    watch = subprocess.run([REPROGRAM, "sweeps", "watch", sweep["id"]], **run)
    return sweep, watch


@pytest.fixture(scope="module")
def sdk(service, key: str):  # type: ignore[no-untyped-def]
    with Client(service.api_url, key) as client:
        yield client


def test_watch_prints_each_trial_and_the_best_so_far(watched, sdk: Client) -> None:  # type: ignore[no-untyped-def]
    made, watch = watched
    assert made["status"] == "running" and made["name"] == "cli sweep"
    assert watch.returncode == Exit.OK, watch.stderr
    assert "Traceback" not in watch.stderr
    lines = watch.stdout.splitlines()
    assert lines[0].startswith(f"sweep {made['id']} ") and lines[0].endswith("(cli sweep)")
    header = next(i for i, line in enumerate(lines) if "best so far" in line)
    assert lines[header].split() == ["trial", "state", "val", "acc", "best", "so", "far", "job",
                                     "params"]  # fmt: skip
    rows = [line.split() for line in lines[header + 1 : -1]]
    sweep = sdk.sweeps.get(made["id"])
    by_number = {t.number: t for t in sweep.trials}
    assert sorted(int(r[0]) for r in rows) == [0, 1]
    for number, state, value, _best, job_id, params in rows:
        trial = by_number[int(number)]
        assert (state, job_id, value) == ("complete", trial.job_id, f"{trial.value:.4f}")
        assert params == f"lr={trial.params['hyperparameters.lr']:.4g}"
    bests = [float(r[3]) for r in rows]
    assert bests == sorted(bests) and bests[-1] == pytest.approx(sweep.best_value, abs=1e-4)
    assert lines[-1].startswith("succeeded in ") and f"model {sweep.model_id}" in lines[-1]
    assert f"job {sweep.best_job_id}" in lines[-1] and "test accuracy" in lines[-1]


def test_the_sdk_reads_a_finished_sweep(watched, sdk: Client) -> None:  # type: ignore[no-untyped-def]
    sweep = sdk.sweeps.get(watched[0]["id"])
    assert isinstance(sweep, Sweep) and sweep.done and sweep.status == "succeeded"
    assert all(isinstance(t, Trial) and t.state == "complete" for t in sweep.trials)
    assert [t.number for t in sweep.trials] == [0, 1]
    best = max(sweep.trials, key=lambda t: (t.value or 0, -t.number))
    assert sweep.best_trial == best and best.job_id == sweep.best_job_id
    assert sweep.best_value == best.value and sweep.model_id and sweep.test_accuracy is not None
    job = sdk.jobs.get(best.job_id or "")
    assert job.model_id == sweep.model_id and job.spec["hyperparameters"]["lr"] == best.params[
        "hyperparameters.lr"]  # fmt: skip
    seen: list[Sweep] = []
    assert sdk.sweeps.wait(sweep.id, on_update=seen.append) == sweep  # ended: one look
    assert seen == [sweep]
    listed = next(s for s in sdk.sweeps.list() if s.id == sweep.id)
    assert listed.trials == [] and listed.model_id == sweep.model_id


def test_the_sdk_starts_waits_for_and_cancels_a_sweep(sdk: Client, service) -> None:  # type: ignore[no-untyped-def]
    sweep = sdk.sweeps.create(base=WAITS, space=SPACE, name="sdk waits",
                              budget={"trials": 3, "parallelism": 1}, pruner="none")  # fmt: skip
    assert sweep.status == "running" and not sweep.done and sweep.spec["pruner"] == "none"
    [trial] = sdk.sweeps.get(sweep.id).trials
    assert trial.state == "running" and trial.job_status == "queued" and trial.job_id
    with pytest.raises(TimeoutError):
        sdk.sweeps.wait(sweep.id, timeout=0)
    ids = [s.id for s in sdk.sweeps.list(page_size=1)]  # a page at a time, newest first
    assert ids[0] == sweep.id and len(ids) == len(set(ids)) >= 2

    cancelled = sdk.sweeps.cancel(sweep.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at
    assert [t.job_status for t in cancelled.trials] == ["cancelled"]
    with pytest.raises(SweepFailed) as failed:
        sdk.sweeps.wait(sweep.id)
    assert failed.value.sweep.status == "cancelled"
    assert sdk.sweeps.wait(sweep.id, raise_on_failure=False).status == "cancelled"
    with pytest.raises(Conflict) as info:
        sdk.sweeps.cancel(sweep.id)
    assert info.value.code == "already_finished"

    with pytest.raises(InvalidRequest) as invalid:
        sdk.sweeps.create({"base": WAITS, "space": {"hyperparameters.learning_rate": {
            "type": "float", "low": 0.01, "high": 0.1}}})  # fmt: skip
    assert invalid.value.field == "space" and "learning_rate" in invalid.value.message
    with Client(service.api_url, service.create_key("sweep-stranger")) as stranger:
        with pytest.raises(NotFound):
            stranger.sweeps.get(sweep.id)
        assert list(stranger.sweeps.list()) == []


def test_the_sdk_pauses_and_resumes_a_sweep(sdk: Client, service, key: str) -> None:  # type: ignore[no-untyped-def]
    first, second = {"hyperparameters.lr": 0.01}, {"hyperparameters.lr": 0.02}
    sweep = sdk.sweeps.create(base=WAITS, space=SPACE, name="sdk pauses", initial=[first, second],
                              budget={"trials": 3, "parallelism": 1})  # fmt: skip
    assert sweep.status == "running" and sweep.spec["initial"] == [first, second]
    trials = sdk.sweeps.get(sweep.id).trials
    # The first initial point runs; the second waits its turn (no job, no values shown yet).
    assert [(t.number, t.state) for t in trials] == [(0, "running"), (1, "waiting")]
    assert trials[0].params == first
    assert trials[0].job_id and trials[0].job_status == "queued" and trials[1].job_id is None
    job = sdk.jobs.get(trials[0].job_id)
    assert (job.sweep_id, job.trial) == (sweep.id, 0)
    assert job.spec["hyperparameters"]["lr"] == first["hyperparameters.lr"]

    paused = sdk.sweeps.pause(sweep.id)
    assert paused.status == "paused" and not paused.done and paused.finished_at is None
    assert [(t.state, t.job_status) for t in paused.trials] == [("running", "paused"),
                                                                 ("waiting", None)]  # fmt: skip
    with pytest.raises(Conflict) as info:
        sdk.sweeps.pause(sweep.id)
    assert info.value.code == "not_running" and "paused" in str(info.value)
    with pytest.raises(TimeoutError):  # a paused sweep has not ended: it is waited on
        sdk.sweeps.wait(sweep.id, timeout=0)

    resumed = sdk.sweeps.resume(sweep.id)
    assert resumed.status == "running"
    assert [(t.state, t.job_status) for t in resumed.trials] == [("running", "queued"),
                                                                  ("waiting", None)]  # fmt: skip
    with pytest.raises(Conflict) as info:
        sdk.sweeps.resume(sweep.id)
    assert info.value.code == "not_paused"

    # The service pauses (then resumes) the sweep but its answer is lost; the resend's 409
    # finds the sweep where the lost attempt put it, and that is the answer.
    with proxy_for(service.api_url) as proxy, Client(proxy.url, key, backoff=0.05) as lossy:
        proxy.swallow(1)
        assert lossy.sweeps.pause(sweep.id).status == "paused"
        assert proxy.connections >= 2
        proxy.swallow(1)
        assert lossy.sweeps.resume(sweep.id).status == "running"
        with pytest.raises(Conflict):  # a 409 to a first attempt is still an error
            lossy.sweeps.resume(sweep.id)
    assert sdk.sweeps.get(sweep.id).status == "running"
    assert sdk.sweeps.cancel(sweep.id).status == "cancelled"
    with pytest.raises(Conflict) as info:
        sdk.sweeps.pause(sweep.id)
    assert info.value.code == "not_running"


def test_a_sweep_whose_answer_was_lost_is_not_resent(service, key: str) -> None:  # type: ignore[no-untyped-def]
    with proxy_for(service.api_url) as proxy, Client(proxy.url, key, backoff=0.05) as sdk:
        proxy.swallow(1)  # the service starts the sweep, but its answer never arrives
        with pytest.raises(ConnectionFailed):
            sdk.sweeps.create({"base": WAITS, "space": SPACE, "name": "sdk lost"})
        assert proxy.connections == 1
        [lost] = [s for s in sdk.sweeps.list() if s.name == "sdk lost"]
        assert sdk.sweeps.cancel(lost.id).status == "cancelled"


def test_the_async_client(service, key: str, watched) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with AsyncClient(service.api_url, key) as client:
            seen: list[Sweep] = []

            async def remember(sweep: Sweep) -> None:
                seen.append(sweep)

            done = await client.sweeps.wait(watched[0]["id"], on_update=remember, timeout=300)
            assert done.status == "succeeded" and done.model_id and seen == [done]
            assert (await client.sweeps.get(done.id)) == done

            sweep = await client.sweeps.create({"base": WAITS, "space": SPACE, "name": "async"},
                                               budget={"trials": 2, "parallelism": 2})  # fmt: skip
            assert isinstance(sweep, Sweep) and sweep.name == "async"
            assert sweep.id in [s.id async for s in client.sweeps.list(page_size=1)]
            with pytest.raises(TimeoutError):
                await client.sweeps.wait(sweep.id, timeout=0)
            paused = await client.sweeps.pause(sweep.id)
            assert paused.status == "paused"
            assert [t.job_status for t in paused.trials] == ["paused", "paused"]
            with pytest.raises(Conflict):
                await client.sweeps.pause(sweep.id)
            assert (await client.sweeps.resume(sweep.id)).status == "running"
            with pytest.raises(Conflict):
                await client.sweeps.resume(sweep.id)
            cancelled = await client.sweeps.cancel(sweep.id)
            assert cancelled.status == "cancelled" and len(cancelled.trials) == 2
            with pytest.raises(SweepFailed):
                await client.sweeps.wait(sweep.id)
            with pytest.raises(NotFound):
                await client.sweeps.get("swp_nope")

    asyncio.run(scenario())


def test_cli_get_and_list(cli, watched, sdk: Client) -> None:  # type: ignore[no-untyped-def]
    sweep = sdk.sweeps.get(watched[0]["id"])
    code, out, err = cli("sweeps", "get", sweep.id)
    assert code == Exit.OK, err
    head, table = out.split("\n\n")
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in head.splitlines())
    assert fields["status"] == "succeeded" and fields["model"] == sweep.model_id
    assert fields["best val acc"] == f"{sweep.best_value:.4f} (trial {sweep.best_trial.number})"
    assert "hyperparameters.lr float 0.001..0.1 (log)" in head and "2 trials, 2 at once" in head
    lines = table.splitlines()
    assert lines[0].split() == ["TRIAL", "STATE", "VAL", "ACC", "lr", "JOB"]
    best = sweep.best_trial
    assert best is not None and "* the best trial (promoted)" in err
    for trial in sweep.trials:
        row = next(line for line in lines[1:] if trial.job_id and line.endswith(trial.job_id))
        marked = row.startswith("*")
        assert marked == (trial.number == best.number)
        assert row.split()[int(marked) :][:3] == [str(trial.number), "complete",
                                                   f"{trial.value:.4f}"]  # fmt: skip
    code, out, _ = cli("sweeps", "get", sweep.id, "--json")
    shown = json.loads(out)
    assert code == Exit.OK and shown["id"] == sweep.id
    assert [t["job_id"] for t in shown["trials"]] == [t.job_id for t in sweep.trials]

    code, out, _ = cli("sweeps", "list")
    lines = out.splitlines()
    assert code == Exit.OK and lines[0].split()[:3] == ["ID", "NAME", "STATUS"]
    row = next(line for line in lines if line.startswith(sweep.id))
    assert "cli sweep" in row and "succeeded" in row and sweep.model_id in row
    code, out, _ = cli("sweeps", "list", "--limit", "1", "--json")
    listed = json.loads(out)
    assert code == Exit.OK and len(listed["data"]) == 1 and listed["data"][0]["trials"] == []


def test_cli_cancel_watch_and_errors(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"base": WAITS, "space": SPACE, "name": "cli waits"})
    code, out, err = cli("sweeps", "create", "-", stdin=body)
    assert code == Exit.OK, err
    fields = dict(line.split(None, 1) for line in out.splitlines() if line.startswith(("id", "st")))
    assert fields["status"] == "running" and "reprogram sweeps watch" in err
    sweep_id = fields["id"]
    code, out, _ = cli("sweeps", "get", sweep_id)
    assert code == Exit.OK and "queued" in out and "* the best" not in out

    code, out, _ = cli("sweeps", "cancel", sweep_id)
    assert (code, out) == (Exit.OK, f"sweep {sweep_id} cancelled\n")
    code, out, err = cli("sweeps", "cancel", sweep_id)
    assert (code, out) == (Exit.REJECTED, "") and "already cancelled" in err
    code, out, err = cli("sweeps", "watch", sweep_id, "--json")
    assert code == Exit.JOB_CANCELLED == 3 and json.loads(out)["status"] == "cancelled"
    assert f"sweep {sweep_id} was cancelled" in err

    code, out, err = cli("sweeps", "get", "swp_nope")
    assert (code, out) == (Exit.NOT_FOUND, "") and "swp_nope" in err
    code, _, err = cli("sweeps", "create", str(tmp_path / "missing.json"))
    assert code == Exit.USAGE and "missing.json" in err
    typo = {"base": WAITS, "space": {"hyperparameters.learning_rate": SPACE["hyperparameters.lr"]}}
    code, out, err = cli("sweeps", "create", "-", stdin=json.dumps(typo))
    assert (code, out) == (Exit.REJECTED, "") and "learning_rate" in err


def _lines_until(stream: IO[str], found: Callable[[str], bool], seen: list[str]) -> str:
    """Read a running command's output into `seen` up to the first line `found` accepts."""
    while line := stream.readline():
        seen.append(line)
        if found(line):
            return line
    raise AssertionError(f"the output ended first: {''.join(seen)}")


def test_cli_pause_resume_and_a_watch_that_waits_while_paused(
    cli, service, key: str, sdk: Client
) -> None:  # type: ignore[no-untyped-def]
    body = {"base": WAITS, "space": SPACE, "name": "cli pauses", "initial": [
        {"hyperparameters.lr": 0.01}, {"hyperparameters.lr": 0.02}],
        "budget": {"trials": 3, "parallelism": 1}}  # fmt: skip
    code, out, err = cli("sweeps", "create", "-", "--json", stdin=json.dumps(body))
    assert code == Exit.OK, err
    sweep_id = json.loads(out)["id"]
    code, out, err = cli("sweeps", "pause", sweep_id)
    assert (code, out) == (Exit.OK, f"sweep {sweep_id} paused\n")
    assert f"reprogram sweeps resume {sweep_id}" in err
    code, out, err = cli("sweeps", "pause", sweep_id)
    assert (code, out) == (Exit.REJECTED, "") and "not running" in err
    code, out, _ = cli("sweeps", "get", sweep_id)
    head, table = out.split("\n\n")
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in head.splitlines())
    assert fields["status"] == "paused" and fields["trials"] == "2 (1 waiting, 1 running)"
    rows = [line.split() for line in table.splitlines()[1:]]
    assert [r[:2] for r in rows] == [["0", "paused"], ["1", "waiting"]] and rows[1][-1] == "-"
    job_id = rows[0][-1]
    code, out, _ = cli("jobs", "get", job_id)
    assert code == Exit.OK and re.search(rf"^sweep\s+{sweep_id} \(trial 0\)$", out, re.M), out

    # The real command watches the paused sweep: it says so once and keeps waiting, through a
    # change while paused (its trial's job is cancelled), until the sweep is resumed.
    env = dict(os.environ, REPROGRAM_URL=service.api_url, REPROGRAM_API_KEY=key)
    watch = subprocess.Popen([REPROGRAM, "sweeps", "watch", sweep_id], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert watch.stdout is not None and watch.stderr is not None
    out_lines: list[str] = []
    err_lines: list[str] = []
    try:
        _lines_until(watch.stderr, lambda line: "is paused" in line, err_lines)
        sdk.jobs.cancel(job_id)
        ended = _lines_until(watch.stdout, lambda line: line.split()[:1] == ["0"], out_lines)
        assert ended.split()[1] == "fail" and job_id in ended
        assert watch.poll() is None  # still watching

        code, out, _ = cli("sweeps", "resume", sweep_id)
        assert (code, out) == (Exit.OK, f"sweep {sweep_id} running\n")
        code, out, err = cli("sweeps", "resume", sweep_id)
        assert (code, out) == (Exit.REJECTED, "") and "not paused" in err
        _lines_until(watch.stderr, lambda line: "trial 1 started" in line, err_lines)
        assert cli("sweeps", "cancel", sweep_id)[0] == Exit.OK
        rest, errors = watch.communicate()
    finally:
        watch.kill()
    out_lines.append(rest)
    err_lines.append(errors)
    assert watch.returncode == Exit.JOB_CANCELLED, errors
    stdout, stderr = "".join(out_lines), "".join(err_lines)
    assert stdout.startswith(f"sweep {sweep_id} paused (cli pauses)\n")
    assert stderr.count("is paused") == 1 and stderr.count(f"sweep {sweep_id} resumed") == 1
    assert f"(reprogram sweeps resume {sweep_id}); still watching" in stderr
    assert "trial 1 started: lr=0.02" in stderr and "Traceback" not in stderr


def test_method_auto_goes_to_sweeps_not_jobs(sdk: Client) -> None:
    """The SDK names where 'auto' belongs rather than reading a sweep as a job."""
    spec = small_job(method={"kind": "auto", "trials": 1},
                     resources={"min_memory_gb": 100000})  # fmt: skip
    with pytest.raises(ValueError, match=r"client\.sweeps\.create\(base=spec\)"):
        sdk.jobs.create(spec)
    sweep = sdk.sweeps.create(base=spec)
    assert sweep.status == "running" and "method" in sweep.spec["space"]
    assert sdk.sweeps.cancel(sweep.id).status == "cancelled"
