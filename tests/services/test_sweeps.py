"""Sweeps for real: trials are jobs on the worker, sampled by an Optuna study in the service's
database; the best trial's model is promoted and its test accuracy reported once."""

from __future__ import annotations

import time
from typing import Any

from support.client import small_job
from support.services import Service


def _until_ended(api: Any, sweep_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        sweep = api.get(f"/v1/sweeps/{sweep_id}").json()
        if sweep["status"] != "running":
            return sweep
        assert time.monotonic() < deadline, f"sweep still running: {sweep}"
        time.sleep(1)


def test_a_sweep_runs_its_trials_as_jobs_and_promotes_the_best(alice, bob) -> None:  # type: ignore[no-untyped-def]
    base = small_job(name="sweep-base", hyperparameters={"epochs": 2, "batch_size": 32})
    space = {
        "hyperparameters.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
        "method": {"type": "categorical", "choices": [
            {"kind": "linear_probe", "input_size": 32}, {"kind": "linear_probe", "input_size": 40}]},
    }  # fmt: skip
    body = {"name": "digits search", "base": base, "space": space,
            "budget": {"trials": 3, "parallelism": 2}, "seed": 1}  # fmt: skip
    made = alice.post("/v1/sweeps", json=body)
    assert made.status_code == 201, made.text
    started = made.json()
    assert started["status"] == "running"
    assert bob.get(f"/v1/sweeps/{started['id']}").status_code == 404

    sweep = _until_ended(alice, started["id"])
    assert sweep["status"] == "succeeded", sweep
    trials = sweep["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert all(t["job_id"] and t["state"] == "complete" for t in trials), trials
    for trial in trials:
        job = alice.get(f"/v1/jobs/{trial['job_id']}").json()
        assert job["spec"]["hyperparameters"]["lr"] == trial["params"]["hyperparameters.lr"]
        assert job["spec"]["method"] == trial["params"]["method"]
        assert job["metrics"]["val_accuracy"] == trial["value"]
    best = max(trials, key=lambda t: t["value"])
    assert sweep["best_value"] == best["value"] and sweep["best_job_id"] == best["job_id"]
    best_job = alice.get(f"/v1/jobs/{best['job_id']}").json()
    assert sweep["model_id"] == best_job["model_id"]
    assert sweep["test_accuracy"] == best_job["metrics"]["test_accuracy"]
    listed = alice.get("/v1/sweeps").json()["data"]
    assert started["id"] in [s["id"] for s in listed]


def test_a_sweep_refuses_a_space_no_job_accepts_and_can_be_cancelled(alice) -> None:  # type: ignore[no-untyped-def]
    # A program: it cannot finish before the cancel reaches it, as a probe on cached features can.
    base = small_job(name="sweep-cancel", method={"kind": "adversarial_program", "canvas_size": 32},
                     hyperparameters={"epochs": 30, "batch_size": 32})  # fmt: skip
    typo = {"base": base, "space": {"hyperparameters.learning_rate": {
        "type": "float", "low": 0.01, "high": 0.1}}}  # fmt: skip
    refused = alice.post("/v1/sweeps", json=typo)
    assert refused.status_code == 422 and "learning_rate" in refused.text, refused.text
    blind = {
        "base": small_job(dataset={"name": "digits", "val_fraction": 0.0}),
        "space": {"hyperparameters.lr": {"type": "float", "low": 0.01, "high": 0.1}},
    }
    refused = alice.post("/v1/sweeps", json=blind)
    assert refused.json()["error"]["field"] == "base.dataset.val_fraction", refused.text
    bad_range = {"base": base, "space": {"hyperparameters.lr": {"type": "float", "low": 1,
                                                                "high": 0.1}}}  # fmt: skip
    assert alice.post("/v1/sweeps", json=bad_range).status_code == 422

    body = {"base": base, "space": {"hyperparameters.lr": {"type": "float", "low": 0.01,
                                                           "high": 0.1}},
            "budget": {"trials": 5, "parallelism": 2}}  # fmt: skip
    sweep = alice.post("/v1/sweeps", json=body).json()
    cancelled = alice.post(f"/v1/sweeps/{sweep['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    for trial in cancelled.json()["trials"]:
        job = alice.wait(trial["job_id"])
        assert job["status"] == "cancelled"
    assert alice.post(f"/v1/sweeps/{sweep['id']}/cancel").status_code == 409
    assert len(alice.get(f"/v1/sweeps/{sweep['id']}").json()["trials"]) == 2  # no more began


def test_a_trial_falling_behind_is_pruned_and_a_sweep_pauses_and_resumes(alice) -> None:  # type: ignore[no-untyped-def]
    # Two good settings first, then one that cannot learn (lr 1e-9): the median pruner, fed by
    # the epoch events, stops the third once it has epochs to compare.
    base = small_job(name="sweep-prune", hyperparameters={"epochs": 4, "batch_size": 32})
    good, bad = {"hyperparameters.lr": 0.05}, {"hyperparameters.lr": 1e-9}
    body = {"base": base, "pruner": "median", "initial": [good, good, bad],
            "space": {"hyperparameters.lr": {"type": "float", "low": 1e-9, "high": 0.1}},
            "budget": {"trials": 3, "parallelism": 1}}  # fmt: skip
    bad_initial = body | {"initial": [{"hyperparameters.lr": 5.0}]}
    assert alice.post("/v1/sweeps", json=bad_initial).status_code == 422
    sweep = alice.post("/v1/sweeps", json=body).json()

    paused = alice.post(f"/v1/sweeps/{sweep['id']}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    [first] = [t for t in paused.json()["trials"] if t["job_id"]]  # the others wait their turn
    waiting = [t for t in paused.json()["trials"] if t["state"] == "waiting"]
    assert [t["params"] for t in waiting] == [good, bad]
    # Paused at its next step, or already done if it finished first; either way, no trial
    # begins while the sweep is paused.
    settled = alice.wait(first["job_id"], until=("paused", "succeeded"))
    assert settled["status"] in ("paused", "succeeded")
    assert [t["number"] for t in alice.get(f"/v1/sweeps/{sweep['id']}").json()["trials"]
            if t["job_id"]] == [0]  # fmt: skip
    assert alice.post(f"/v1/sweeps/{sweep['id']}/pause").status_code == 409
    resumed = alice.post(f"/v1/sweeps/{sweep['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"

    ended = _until_ended(alice, sweep["id"])
    assert ended["status"] == "succeeded", ended
    states = [t["state"] for t in ended["trials"]]
    assert states == ["complete", "complete", "pruned"], ended["trials"]
    pruned = alice.get(f"/v1/jobs/{ended['trials'][2]['job_id']}").json()
    assert pruned["status"] == "cancelled" and pruned["error"].startswith("pruned by its sweep")
    assert pruned["sweep_id"] == sweep["id"] and pruned["trial"] == 2
    assert ended["best_job_id"] in (ended["trials"][0]["job_id"], ended["trials"][1]["job_id"])


def test_a_sweep_on_two_workers_survives_a_worker_kill(alice, service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Three equal good settings, then one that cannot learn, two at a time on two workers; the
    # second worker is killed (SIGKILL) in the middle of a trial.
    before = {w["id"] for w in alice.get("/v1/workers").json()["data"]}
    second = Service(env=service.env, data_dir=tmp_path)
    second.start_worker()
    try:
        deadline = time.monotonic() + 60
        while not (ids := {w["id"] for w in alice.get("/v1/workers").json()["data"]} - before):
            assert time.monotonic() < deadline, "the second worker never reported"
            time.sleep(0.2)
        [second_id] = ids
        base = small_job(name="sweep-kill", method={"kind": "adversarial_program",
                         "canvas_size": 32}, hyperparameters={"epochs": 4, "batch_size": 16})  # fmt: skip
        good, bad = {"hyperparameters.lr": 0.05}, {"hyperparameters.lr": 1e-9}
        body = {"base": base, "pruner": "median", "initial": [good, good, good, bad],
                "space": {"hyperparameters.lr": {"type": "float", "low": 1e-9, "high": 0.1}},
                "budget": {"trials": 4, "parallelism": 2}}  # fmt: skip
        sweep = alice.post("/v1/sweeps", json=body).json()

        deadline = time.monotonic() + 300
        while True:  # until the second worker runs one of the trials
            trials = alice.get(f"/v1/sweeps/{sweep['id']}").json()["trials"]
            running = {w["id"]: w["job_id"] for w in alice.get("/v1/workers").json()["data"]}
            killed = running.get(second_id)
            if killed is not None and killed in {t["job_id"] for t in trials}:
                break
            assert time.monotonic() < deadline, f"the second worker never ran a trial: {trials}"
            time.sleep(0.1)
        second.kill_worker()

        ended = _until_ended(alice, sweep["id"])
        assert ended["status"] == "succeeded", ended
        job = alice.get(f"/v1/jobs/{killed}").json()
        assert job["attempt"] == 2 and job["status"] in ("succeeded", "cancelled"), job
        trials = ended["trials"]
        assert len(trials) == 4 and trials[3]["state"] == "pruned", trials
        complete = [t for t in trials if t["state"] == "complete"]
        best = max(complete, key=lambda t: t["value"])
        assert ended["best_value"] == best["value"] and ended["model_id"]
        assert ended["best_job_id"] in {
            t["job_id"] for t in complete if t["value"] == best["value"]
        }
    finally:
        second.stop()


def test_method_auto_on_a_job_starts_the_default_sweep(alice) -> None:  # type: ignore[no-untyped-def]
    body = small_job(name="auto-digits", method={"kind": "auto", "trials": 2, "parallelism": 2},
                     hyperparameters={"epochs": 2, "batch_size": 32})  # fmt: skip
    keyed = alice.post("/v1/jobs", json=body, headers={"Idempotency-Key": "auto-once"})
    assert keyed.status_code == 422 and "/v1/sweeps" in keyed.text  # a sweep takes no key
    made = alice.post("/v1/jobs", json=body)
    assert made.status_code == 202, made.text
    sweep = made.json()
    assert made.headers["location"] == f"/v1/sweeps/{sweep['id']}"
    assert sweep["name"] == "auto-digits" and sweep["spec"]["budget"]["trials"] == 2
    assert set(sweep["spec"]["space"]) == {"method", "hyperparameters.lr"}
    ended = _until_ended(alice, sweep["id"])
    assert ended["status"] == "succeeded", ended
    first = ended["trials"][0]  # the thesis's probe at its default goes first
    assert first["params"] == {"method": {"kind": "linear_probe"}, "hyperparameters.lr": 0.001}
    assert ended["model_id"] and ended["test_accuracy"] is not None
    # 'auto' is only a shorthand for a sweep: a space that names no method still searches one.
    also = alice.post("/v1/sweeps", json={"base": body | {"method": {"kind": "auto",
                                                                     "trials": 1}}})  # fmt: skip
    assert also.status_code == 201 and also.json()["spec"]["budget"]["trials"] == 1
    assert alice.post(f"/v1/sweeps/{also.json()['id']}/cancel").status_code == 200
    no_space = alice.post("/v1/sweeps", json={"base": small_job()})
    assert no_space.status_code == 422 and "space" in no_space.text


def test_the_median_pruner_waits_a_quarter_of_the_epochs() -> None:
    # Two finished trials at 0.9 every epoch; a third far below them is left alone for the
    # first quarter of its 8 epochs (a slow starter, like a program beside a probe), then pruned.
    import optuna

    from services.specs import SweepSpec
    from services.sweeps import _pruner

    base = small_job(hyperparameters={"epochs": 8})
    lr = {"type": "float", "low": 0.001, "high": 0.1}
    spec = SweepSpec.model_validate({"base": base, "space": {"hyperparameters.lr": lr}})
    study = optuna.create_study(direction="maximize", pruner=_pruner(spec))
    for _ in range(2):
        done = study.ask()
        for epoch in range(1, 9):
            done.report(0.9, step=epoch)
        study.tell(done, 0.9)
    slow = study.ask()
    verdicts = []
    for epoch in range(1, 4):
        slow.report(0.1, step=epoch)
        verdicts.append(slow.should_prune())
    assert verdicts == [False, False, True]
