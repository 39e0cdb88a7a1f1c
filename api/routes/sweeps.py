"""Sweeps: a search over job specs whose trials are jobs; create, list, read, pause, resume,
cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from api import schemas
from api.deps import OwnerDep, SessionDep, SettingsDep
from api.errors import responses
from config.settings import Settings
from db.models import Sweep
from services import sweeps
from services.specs import SweepSpec

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], responses=responses(401, 422, 503))


@router.post("", status_code=201, response_model=schemas.Sweep, responses=responses(400, 413))
def create_sweep(
    body: SweepSpec, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> schemas.Sweep:
    """Start a search: its first trials are queued as jobs at once."""
    sweep = sweeps.create(session, settings=settings, owner_id=owner.id, spec=body)
    return schemas.Sweep.model_validate(sweep)


@router.get("", response_model=schemas.Page[schemas.Sweep])
def list_sweeps(
    owner: OwnerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: str | None = None,
) -> schemas.Page[schemas.Sweep]:
    """The caller's sweeps, newest first (without their trials)."""
    rows, next_cursor = sweeps.list_sweeps(session, owner_id=owner.id, limit=limit, cursor=cursor)
    return schemas.page_of(schemas.Sweep, rows, next_cursor)


@router.get("/{sweep_id}", response_model=schemas.Sweep, responses=responses(404))
def get_sweep(
    sweep_id: str, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> schemas.Sweep:
    """One sweep with every trial: the values tried, the outcome, and the trial's job."""
    sweep = sweeps.get(session, owner_id=owner.id, sweep_id=sweep_id)
    return _with_trials(session, settings, sweep)


@router.post("/{sweep_id}/cancel", response_model=schemas.Sweep, responses=responses(404, 409))
def cancel_sweep(
    sweep_id: str, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> schemas.Sweep:
    """Start no more trials and cancel those running."""
    sweep = sweeps.cancel(session, owner_id=owner.id, sweep_id=sweep_id)
    return _with_trials(session, settings, sweep)


@router.post("/{sweep_id}/pause", response_model=schemas.Sweep, responses=responses(404, 409))
def pause_sweep(
    sweep_id: str, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> schemas.Sweep:
    """Start no more trials and pause those queued or running."""
    sweep = sweeps.pause(session, owner_id=owner.id, sweep_id=sweep_id)
    return _with_trials(session, settings, sweep)


@router.post("/{sweep_id}/resume", response_model=schemas.Sweep, responses=responses(404, 409))
def resume_sweep(
    sweep_id: str, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> schemas.Sweep:
    """Go on: paused trials continue from their checkpoints, and new ones start."""
    sweep = sweeps.resume(session, settings=settings, owner_id=owner.id, sweep_id=sweep_id)
    return _with_trials(session, settings, sweep)


def _with_trials(session: Session, settings: Settings, sweep: Sweep) -> schemas.Sweep:
    """The sweep as shown, with its trials from the study joined to their jobs."""
    shown = schemas.Sweep.model_validate(sweep)
    by_trial = {job.trial: job for job in sweeps.trial_jobs(session, sweep_id=sweep.id)}
    for trial in sweeps.trials(settings, sweep=sweep):
        job = by_trial.get(trial["number"])
        shown.trials.append(schemas.Trial(
            **trial, job_id=job.id if job else None, job_status=job.status if job else None,
        ))  # fmt: skip
        if job is not None and job.error and not trial["error"]:
            shown.trials[-1].error = job.error
    return shown
