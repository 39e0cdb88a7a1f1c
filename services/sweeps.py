"""Sweeps: a search over job specs whose trials are ordinary jobs on the workers.

Sampling (TPE) and pruning (median or successive halving, fed by the trials' epoch events) are
Optuna's, on an RDB storage in the service's own database (its tables in a schema of their own
on Postgres; a file beside the embedded database on SQLite). The sweep row and its trial jobs
are the truth: `advance` reconciles the study with the jobs that ended, starts trials up to the
budget, and ends the sweep by promoting the best trial's model. It runs after any commit that
ends a trial (an after-commit hook, in whichever process made it) and in every recovery scan,
so a lost hook only delays it.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import timedelta
from functools import cache
from typing import Any

import optuna
from pydantic import ValidationError
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from config.logs import describe, log_event
from config.settings import Settings, get_settings
from db import jobs
from db.models import Job, Sweep, utcnow
from db.repository import OwnedRepository
from db.session import session_scope
from reprogram.statuses import ACTIVE, FINISHED, JobStatus
from services import jobs as job_service
from services.errors import Conflict, Invalid, ServiceError
from services.owned import owned
from services.specs import AutoMethodSpec, CategoricalParam, FloatParam, JobSpec, SweepSpec

log = logging.getLogger("reprogram.sweeps")
RUNNING, PAUSED = "running", "paused"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
PRUNED = "pruned by its sweep"  # how a pruned trial's job error begins
optuna.logging.set_verbosity(optuna.logging.WARNING)


@cache
def _storage(url: str, data_dir: str) -> optuna.storages.RDBStorage:
    """Optuna's storage in the service's database (a schema of its own on Postgres)."""
    if url.startswith("sqlite"):
        return optuna.storages.RDBStorage(f"sqlite:///{data_dir}/optuna.sqlite3")
    return optuna.storages.RDBStorage(
        url, engine_kwargs={"connect_args": {"options": "-csearch_path=optuna"}}
    )


def _sampler(spec: SweepSpec, *, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
    trials = min(10, max(2, spec.budget.trials // 3))
    return optuna.samplers.TPESampler(seed=spec.seed + seed_offset, n_startup_trials=trials)


def _pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    """The sweep's pruner, fed each trial's validation accuracy after every epoch."""
    # Programs start slower than probes: in bench/sweep_vs_hand.py a warm-up of one epoch pruned
    # the program at lr 0.011 after its first epochs, a setting that reaches 87.6 % at epoch 30
    # (docs/results.md), so the median pruner lets a quarter of the epochs pass (Optuna prunes
    # from step n_warmup_steps on; our steps are epochs counted from 1).
    warmup = max(1, spec.base.hyperparameters.epochs // 4) + 1
    return {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup),
        "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(),
        "none": lambda: optuna.pruners.NopPruner(),
    }[spec.pruner]()


def _study(settings: Settings, sweep_id: str, spec: SweepSpec) -> optuna.Study:
    storage = _storage(settings.sqlalchemy_url, str(settings.data_dir))
    return optuna.create_study(storage=storage, study_name=sweep_id, direction="maximize",
                               sampler=_sampler(spec), pruner=_pruner(spec),
                               load_if_exists=True)  # fmt: skip


def _distributions(spec: SweepSpec) -> dict[str, optuna.distributions.BaseDistribution]:
    """Optuna's distribution for each searched path (whole objects as JSON text)."""
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    for path, param in spec.space.items():
        if isinstance(param, CategoricalParam):
            out[path] = optuna.distributions.CategoricalDistribution(
                [_encoded(spec, path, c) for c in param.choices]
            )
        elif isinstance(param, FloatParam):
            out[path] = optuna.distributions.FloatDistribution(param.low, param.high, log=param.log)
        else:
            out[path] = optuna.distributions.IntDistribution(
                param.low, param.high, step=param.step, log=param.log
            )
    return out


def trial_spec(spec: SweepSpec, params: dict[str, Any]) -> dict[str, Any]:
    """The base spec with a trial's values put at their paths."""
    body = spec.base.model_dump(mode="json", exclude_none=True)
    for path, value in params.items():
        if isinstance(spec.space[path], CategoricalParam):
            value = json.loads(value)
        *parents, leaf = path.split(".")
        node = body
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise Invalid("invalid_request", f"'{path}' does not lead into an object",
                              field=f"space.{path}")  # fmt: skip
        node[leaf] = copy.deepcopy(value)
    if "name" in params or spec.name or spec.base.name:
        body["name"] = body.get("name") or spec.name
    return body


def _check_space(spec: SweepSpec) -> None:
    """Refuse a space whose paths or values no job spec accepts (tried at each end)."""
    for pick in (0, -1):
        params: dict[str, Any] = {}
        for path, param in spec.space.items():
            if isinstance(param, CategoricalParam):
                params[path] = _encoded(spec, path, param.choices[pick])
            else:
                params[path] = param.low if pick == 0 else param.high
        try:
            JobSpec.model_validate(trial_spec(spec, params))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise Invalid("invalid_request", f"a trial of this space would be refused: {where}: "
                          f"{error['msg']}", field="space") from None  # fmt: skip


# What 'auto' searches: the thesis's probe and Elsayed's program with a learned or a Bayesian
# (BLM+) output mapping, each over a learning rate; the probe at its default goes first.
AUTO_SPACE: dict[str, Any] = {
    "method": {"type": "categorical", "choices": [
        {"kind": "linear_probe"},
        {"kind": "adversarial_program", "label_mapping": "learned"},
        {"kind": "adversarial_program", "label_mapping": "blm_plus"},
    ]},
    "hyperparameters.lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
}  # fmt: skip
AUTO_FIRST: dict[str, Any] = {"method": {"kind": "linear_probe"}, "hyperparameters.lr": 1e-3}


def auto_spec(spec: SweepSpec) -> SweepSpec:
    """A sweep whose base asks for method 'auto': the default space, with the user's own paths
    kept, and the budget the 'auto' method gives when the sweep gives none."""
    auto = spec.base.method
    if not isinstance(auto, AutoMethodSpec):
        return spec
    body = spec.model_dump(mode="json", exclude_unset=True)
    body["base"] = spec.base.model_dump(mode="json", exclude_none=True) | {
        "method": {"kind": "linear_probe"}  # a placeholder: every trial sets its method
    }
    body["space"] = AUTO_SPACE | body.get("space", {})
    body.setdefault("budget", {"trials": auto.trials, "parallelism": auto.parallelism})
    body.setdefault("initial", [AUTO_FIRST])
    body.setdefault("name", spec.base.name)
    return SweepSpec.model_validate(body)


def create(session: Session, *, settings: Settings, owner_id: str, spec: SweepSpec) -> Sweep:
    """Start a sweep: its study, and its first trials (sent after the commit)."""
    spec = auto_spec(spec)
    if spec.base.dataset.val_fraction == 0:
        raise Invalid("invalid_request", "a sweep maximises validation accuracy: give the base "
                      "dataset a val_fraction above 0", field="base.dataset.val_fraction")  # fmt: skip
    _check_space(spec)
    job_service.check_references(session, spec=spec.base, owner_id=owner_id)
    sweep = Sweep(owner_id=owner_id, name=spec.name, spec=spec.model_dump(mode="json"),
                  status=RUNNING)  # fmt: skip
    session.add(sweep)
    session.flush()
    study = _study(settings, sweep.id, spec)
    for point in spec.initial:
        study.enqueue_trial({path: _encoded(spec, path, value) for path, value in point.items()})
    _fill(session, settings=settings, sweep=sweep, spec=spec)
    return sweep


def _encoded(spec: SweepSpec, path: str, value: Any) -> Any:
    """A value as the study holds it (a categorical choice as its JSON text)."""
    if isinstance(spec.space[path], CategoricalParam):
        return json.dumps(value, sort_keys=True)
    return value


def get(session: Session, *, owner_id: str, sweep_id: str) -> Sweep:
    """One of the owner's sweeps."""
    return owned(session, Sweep, owner_id=owner_id, id=sweep_id)


def list_sweeps(
    session: Session, *, owner_id: str, limit: int, cursor: str | None
) -> tuple[list[Sweep], str | None]:
    """A page of the owner's sweeps, newest first."""
    return OwnedRepository(session, Sweep, owner_id=owner_id).page(limit=limit, cursor=cursor)


def trial_jobs(session: Session, *, sweep_id: str) -> list[Job]:
    """The sweep's trials, in order."""
    query = select(Job).where(Job.sweep_id == sweep_id).order_by(Job.trial, Job.created_at)
    return list(session.scalars(query))


def trials(settings: Settings, *, sweep: Sweep) -> list[dict[str, Any]]:
    """Every trial as the study sees it: number, state, values tried, objective."""
    spec = SweepSpec.model_validate(sweep.spec)
    study = _study(settings, sweep.id, spec)
    shown = []
    for trial in study.get_trials(deepcopy=False):
        # An initial point not yet begun holds its values as the study's fixed params.
        given = trial.params or trial.system_attrs.get("fixed_params", {})
        params = {
            path: json.loads(v) if isinstance(spec.space[path], CategoricalParam) else v
            for path, v in given.items()
            if path in spec.space
        }
        shown.append({"number": trial.number, "state": trial.state.name.lower(),
                      "params": params, "value": trial.value,
                      "error": trial.user_attrs.get("error")})  # fmt: skip
    return shown


def _fill(session: Session, *, settings: Settings, sweep: Sweep, spec: SweepSpec) -> None:
    """Start trials until `parallelism` run, the trial budget is spent, or time is up."""
    made = trial_jobs(session, sweep_id=sweep.id)
    active = sum(1 for job in made if job.status in ACTIVE)
    # Each call seeds the sampler anew, offset by the trials so far, so calls differ; initial
    # points not yet begun wait in the study and do not count.
    study = _study(settings, sweep.id, spec)
    begun = [t for t in study.get_trials(deepcopy=False)
             if t.state != optuna.trial.TrialState.WAITING]  # fmt: skip
    started = len(begun)
    study.sampler = _sampler(spec, seed_offset=started)
    deadline = spec.budget.max_seconds
    while active < spec.budget.parallelism and started < spec.budget.trials:
        if deadline and utcnow() > sweep.created_at + timedelta(seconds=deadline):
            break
        trial = study.ask(_distributions(spec))
        started += 1
        try:
            body = JobSpec.model_validate(trial_spec(spec, trial.params))
            job, _ = job_service.create(session, settings=settings, owner_id=sweep.owner_id,
                                        spec=body)  # fmt: skip
        except (ValidationError, ServiceError) as exc:
            message = describe(exc) if isinstance(exc, ValidationError) else exc.message
            trial.set_user_attr("error", message[:500])
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        job.sweep_id, job.trial = sweep.id, trial.number
        job.name = f"{spec.name or sweep.id} #{trial.number}"
        active += 1
    session.flush()


def _tell(study: Any, job: Job) -> None:
    """Tell the study how a trial's job ended."""
    if job.status == JobStatus.SUCCEEDED and (job.metrics or {}).get("val_accuracy") is not None:
        study.tell(job.trial, float(job.metrics["val_accuracy"]))  # type: ignore[index]
    elif job.status == JobStatus.CANCELLED and (job.error or "").startswith(PRUNED):
        study.tell(job.trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(job.trial, state=optuna.trial.TrialState.FAIL)


def advance(settings: Settings, *, sweep_id: str) -> None:
    """Bring a running sweep up to date: results told, new trials started, or its end."""
    with session_scope(settings.sqlalchemy_url) as session:
        sweep = session.scalar(
            select(Sweep).where(Sweep.id == sweep_id).with_for_update(skip_locked=True)
        )
        if sweep is None:
            return  # another process is advancing it now
        spec = SweepSpec.model_validate(sweep.spec)
        study = _study(settings, sweep.id, spec)
        waiting = {t.number for t in study.get_trials(deepcopy=False)
                   if t.state == optuna.trial.TrialState.RUNNING}  # fmt: skip
        made = trial_jobs(session, sweep_id=sweep.id)
        for job in made:
            if job.trial in waiting and job.status in FINISHED:
                _tell(study, job)
        if sweep.status != RUNNING:
            return  # paused, or ended: its trials' outcomes are told, no new ones begin
        _fill(session, settings=settings, sweep=sweep, spec=spec)
        if not any(job.status in ACTIVE for job in trial_jobs(session, sweep_id=sweep.id)):
            _finish(session, sweep=sweep, study=study)


def _finish(session: Session, *, sweep: Sweep, study: Any) -> None:
    """End the sweep: promote the best trial's model, or fail if no trial succeeded."""
    done = [t for t in study.get_trials(deepcopy=False)
            if t.state == optuna.trial.TrialState.COMPLETE]  # fmt: skip
    sweep.finished_at = utcnow()
    if not done:
        sweep.status, sweep.error = FAILED, "no trial succeeded"
        return
    best = max(done, key=lambda t: (t.value, -t.number))
    job = session.scalar(select(Job).where(Job.sweep_id == sweep.id, Job.trial == best.number))
    sweep.status, sweep.best_value = SUCCEEDED, best.value
    if job is not None:
        sweep.best_job_id, sweep.model_id = job.id, job.model_id
        sweep.test_accuracy = (job.metrics or {}).get("test_accuracy")
    log_event(log, "sweep finished", sweep_id=sweep.id, best_value=best.value,
              model_id=sweep.model_id)  # fmt: skip


def cancel(session: Session, *, owner_id: str, sweep_id: str) -> Sweep:
    """Stop a sweep: no new trials, and its running trials are cancelled."""
    sweep = get(session, owner_id=owner_id, sweep_id=sweep_id)
    if sweep.status not in (RUNNING, PAUSED):
        raise Conflict("already_finished", f"sweep '{sweep_id}' already {sweep.status}")
    sweep.status, sweep.finished_at = CANCELLED, utcnow()
    for job in trial_jobs(session, sweep_id=sweep.id):
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSED):
            job_service.cancel(session, owner_id=owner_id, job_id=job.id)
    session.flush()
    return sweep


def pause(session: Session, *, owner_id: str, sweep_id: str) -> Sweep:
    """Start no more trials and pause those queued or running (each keeps its checkpoint)."""
    sweep = get(session, owner_id=owner_id, sweep_id=sweep_id)
    if sweep.status != RUNNING:
        raise Conflict("not_running", f"sweep '{sweep_id}' is {sweep.status}, not running")
    sweep.status = PAUSED
    for job in trial_jobs(session, sweep_id=sweep.id):
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            job_service.pause(session, owner_id=owner_id, job_id=job.id)
    session.flush()
    return sweep


def resume(session: Session, *, settings: Settings, owner_id: str, sweep_id: str) -> Sweep:
    """Go on: paused trials continue from their checkpoints, and new ones start."""
    sweep = get(session, owner_id=owner_id, sweep_id=sweep_id)
    if sweep.status != PAUSED:
        raise Conflict("not_paused", f"sweep '{sweep_id}' is {sweep.status}, not paused")
    sweep.status = RUNNING
    for job in trial_jobs(session, sweep_id=sweep.id):
        if job.status == JobStatus.PAUSED:
            job_service.resume(session, settings=settings, owner_id=owner_id, job_id=job.id)
    spec = SweepSpec.model_validate(sweep.spec)
    _fill(session, settings=settings, sweep=sweep, spec=spec)
    if not any(job.status in ACTIVE for job in trial_jobs(session, sweep_id=sweep.id)):
        _finish(session, sweep=sweep, study=_study(settings, sweep.id, spec))
    session.flush()
    return sweep


def report_epoch(
    settings: Settings, *, sweep_id: str, trial: int, epoch: int, value: float
) -> bool:
    """Record a trial's validation accuracy after an epoch; whether the pruner stops it."""
    with session_scope(settings.sqlalchemy_url) as session:
        sweep = session.get(Sweep, sweep_id)
        if sweep is None or sweep.status != RUNNING:
            return False
        spec = SweepSpec.model_validate(sweep.spec)
    study = _study(settings, sweep_id, spec)
    storage = _storage(settings.sqlalchemy_url, str(settings.data_dir))
    study_id = storage.get_study_id_from_name(sweep_id)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial)
    handle = optuna.trial.Trial(study, trial_id)
    handle.report(value, step=epoch)
    return bool(handle.should_prune())


def advance_running(settings: Settings) -> None:
    """Advance every running sweep (the recovery scan's share)."""
    with session_scope(settings.sqlalchemy_url) as session:
        ids = list(session.scalars(select(Sweep.id).where(Sweep.status == RUNNING)))
    for sweep_id in ids:
        try:
            advance(settings, sweep_id=sweep_id)
        except Exception as exc:  # one broken sweep must not stop the scan of the others
            log_event(log, "sweep could not advance", level=logging.WARNING, sweep_id=sweep_id,
                      error=describe(exc))  # fmt: skip


@event.listens_for(Session, "after_commit")
def _advance_after_commit(session: Session) -> None:
    """Jobs that ended in the committed transaction move their sweeps on (db.jobs.ENDED)."""
    ended = session.info.pop(jobs.ENDED, None)
    if not ended:
        return
    try:  # a commit has happened: nothing here may undo or fail it
        with Session(session.get_bind()) as lookup:  # the database that committed, not a default
            query = select(Job.sweep_id).where(Job.id.in_(ended), Job.sweep_id.is_not(None))
            sweep_ids = {sweep_id for sweep_id in lookup.scalars(query) if sweep_id}
        settings = get_settings() if sweep_ids else None
        for sweep_id in sweep_ids:
            assert settings is not None
            advance(settings, sweep_id=sweep_id)
    except Exception as exc:  # the next recovery scan advances it
        log_event(log, "sweep could not advance", level=logging.WARNING, jobs=len(ended),
                  error=describe(exc))  # fmt: skip


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(jobs.ENDED, None)
