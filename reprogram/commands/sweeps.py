"""`reprogram sweeps create | list | get | watch | pause | resume | cancel`: searches over job
specs whose trials are jobs.

There is no event stream of a sweep: `watch` polls it (through `client.sweeps.wait`) and prints
each trial as it ends, with the best validation accuracy so far; a paused sweep is waited on
until it is resumed (or cancelled).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from reprogram.client import Client
from reprogram.commands.exits import Exit
from reprogram.commands.formatting import duration, local_time, number
from reprogram.commands.jobs import read_spec
from reprogram.commands.output import (
    plain,
    print_fields,
    print_json,
    print_listing,
    print_one,
    print_table,
)
from reprogram.commands.running import fail
from reprogram.objects import Sweep, Trial

ENDED = ("complete", "pruned", "fail")  # the states a trial ends in
WAITING = "waiting"  # a trial of the spec's `initial` points, not yet begun (no job yet)
# Fixed widths, because `watch` prints rows as the trials end (the params come last).
_WATCH_COLUMNS = (("trial", 5), ("state", 8), ("val acc", 7), ("best so far", 11), ("job", 24))


def sweeps_create(client: Client, *, spec: str, watch: bool, as_json: bool) -> int:
    """Start a sweep from a spec file or stdin; with watch, follow it and exit by its outcome."""
    sweep = client.sweeps.create(read_spec(spec))
    if not watch:
        if as_json:
            print_json(plain(sweep))
        else:
            print_fields(_sweep_fields(sweep))
            print(f"\nfollow it with: reprogram sweeps watch {sweep.id}", file=sys.stderr)
        return Exit.OK
    return _follow(client, sweep, as_json=as_json)


def sweeps_list(client: Client, *, limit: int, as_json: bool) -> int:
    """Print your sweeps, newest first (at most `limit`; 0 for all)."""
    headers = ("ID", "NAME", "STATUS", "TRIALS", "BEST VAL ACC", "TEST ACC", "MODEL", "CREATED")

    def row(s: Sweep) -> tuple[Any, ...]:
        budget = s.spec.get("budget", {}).get("trials", "-")
        return (s.id, s.name or "-", s.status, str(budget), number(s.best_value),
                number(s.test_accuracy), s.model_id or "-", local_time(s.created_at))  # fmt: skip

    return print_listing(client.sweeps.list(), limit=limit, as_json=as_json, headers=headers,
                         row=row, empty="no sweeps")  # fmt: skip


def sweeps_get(client: Client, *, sweep_id: str, as_json: bool) -> int:
    """Print one sweep, then its trials as a table (the best marked *)."""
    sweep = client.sweeps.get(sweep_id)
    code = print_one(sweep, fields=_sweep_fields, as_json=as_json)
    if not as_json:
        print()
        _print_trials(sweep)
    return code


def sweeps_cancel(client: Client, *, sweep_id: str, as_json: bool) -> int:
    """Start no more trials and cancel the running ones."""
    sweep = client.sweeps.cancel(sweep_id)
    if as_json:
        print_json(plain(sweep))
        return Exit.OK
    stopping = sum(1 for t in sweep.trials if t.job_status == "cancelling")
    print(f"sweep {sweep.id} {sweep.status}"
          + (f" ({stopping} running trial{'s' * (stopping != 1)} stop within a training step)"
             if stopping else ""))  # fmt: skip
    return Exit.OK


def sweeps_pause(client: Client, *, sweep_id: str, as_json: bool) -> int:
    """Start no more trials and pause those queued or running; each keeps its checkpoint."""
    sweep = client.sweeps.pause(sweep_id)
    if as_json:
        print_json(plain(sweep))
        return Exit.OK
    stopping = sum(1 for t in sweep.trials if t.job_status == "pausing")
    print(f"sweep {sweep.id} {sweep.status}"
          + (f" ({stopping} running trial{'s' * (stopping != 1)} pausing at the next step)"
             if stopping else ""))  # fmt: skip
    print(f"go on with: reprogram sweeps resume {sweep.id}", file=sys.stderr)
    return Exit.OK


def sweeps_resume(client: Client, *, sweep_id: str, as_json: bool) -> int:
    """Go on with a paused sweep: its paused trials continue from their checkpoints, new ones
    start."""
    sweep = client.sweeps.resume(sweep_id)
    if as_json:
        print_json(plain(sweep))
    else:
        print(f"sweep {sweep.id} {sweep.status}")
    return Exit.OK


def sweeps_watch(client: Client, *, sweep_id: str, as_json: bool) -> int:
    """Follow a sweep until it ends; exit 0 if it succeeded, 1 if it failed, 3 if cancelled."""
    return _follow(client, client.sweeps.get(sweep_id), as_json=as_json)


def _follow(client: Client, sweep: Sweep, *, as_json: bool) -> int:
    """Print each trial as it starts (stderr) and ends (a row: the best so far), a pause and a
    resume (stderr, once each time); the outcome."""
    if not as_json:
        print(f"sweep {sweep.id} {sweep.status}" + (f" ({sweep.name})" if sweep.name else ""))
    started: set[int] = set()
    ended: set[int] = set()
    best: list[float] = []
    paused = [False]  # whether the sweep is paused now (said once per pause)

    def show(now: Sweep) -> None:
        if as_json:
            return
        if now.status == "paused" and not paused[0]:
            print(f"sweep {now.id} is paused: no trial runs until it is resumed "
                  f"(reprogram sweeps resume {now.id}); still watching", file=sys.stderr,
                  flush=True)  # fmt: skip
        elif now.status == "running" and paused[0]:
            print(f"sweep {now.id} resumed", file=sys.stderr, flush=True)
        paused[0] = now.status == "paused"
        for trial in sorted(now.trials, key=lambda t: t.number):
            if trial.number not in started and trial.state not in (*ENDED, WAITING):
                started.add(trial.number)
                print(f"trial {trial.number} started: {_params_text(trial.params)} "
                      f"(job {trial.job_id or '-'})", file=sys.stderr, flush=True)  # fmt: skip
            if trial.number in ended or trial.state not in ENDED:
                continue
            if not ended:
                print("  ".join(t.rjust(w) for t, w in _WATCH_COLUMNS) + "  params")
            ended.add(trial.number)
            if trial.state == "complete" and trial.value is not None:
                best[:] = [max([trial.value, *best])]
            values = (str(trial.number), trial.state, number(trial.value),
                      number(best[0] if best else None), trial.job_id or "-")  # fmt: skip
            row = "  ".join(v.rjust(w) for v, (_, w) in zip(values, _WATCH_COLUMNS, strict=True))
            print(f"{row}  {_params_text(trial.params)}", flush=True)

    try:
        done = client.sweeps.wait(sweep.id, on_update=show, raise_on_failure=False)
    except KeyboardInterrupt:
        print(f"\nstopped watching; the sweep keeps running (reprogram sweeps cancel {sweep.id})",
              file=sys.stderr)  # fmt: skip
        return Exit.INTERRUPTED
    return _outcome(done, as_json=as_json)


def _outcome(sweep: Sweep, *, as_json: bool) -> int:
    """Print how a followed sweep ended; its exit code (as `jobs watch`)."""
    if as_json:
        print_json(plain(sweep))
    elif sweep.status == "succeeded":
        best = sweep.best_trial
        trial = f"trial {best.number}, " if best else ""
        print(f"succeeded in {duration(sweep.created_at, sweep.finished_at) or '?'}: best val acc "
              f"{number(sweep.best_value)} ({trial}job {sweep.best_job_id}), test accuracy "
              f"{number(sweep.test_accuracy)}, model {sweep.model_id}")  # fmt: skip
    if sweep.status == "succeeded":
        return Exit.OK
    if sweep.status == "cancelled":
        print(f"sweep {sweep.id} was cancelled", file=sys.stderr)
        return Exit.JOB_CANCELLED
    if sweep.status == "failed":
        print(
            f"error: sweep {sweep.id} failed: {sweep.error or 'no reason given'}", file=sys.stderr
        )
        return Exit.JOB_FAILED
    return fail(
        Exit.SERVICE_ERROR, f"sweep {sweep.id} is {sweep.status}, neither running nor ended"
    )


def _print_trials(sweep: Sweep) -> None:
    """The trials as a table: number, state, value, the values tried, job; the best marked *."""
    paths = list(sweep.spec.get("space", {}))
    names = _short_names(paths)
    best = sweep.best_trial
    noted = any(t.error for t in sweep.trials)
    headers = ("", "TRIAL", "STATE", "VAL ACC", *names, "JOB", *(("NOTE",) if noted else ()))

    def row(t: Trial) -> tuple[Any, ...]:
        mark = "*" if best is not None and t.number == best.number else ""
        values = (_value_text(t.params[p]) if p in t.params else "-" for p in paths)
        note = ((t.error or "")[:60],) if noted else ()
        return (mark, str(t.number), _state_text(t), number(t.value), *values, t.job_id or "-",
                *note)  # fmt: skip

    print_table(headers, [row(t) for t in sorted(sweep.trials, key=lambda t: t.number)],
                empty="no trials yet")  # fmt: skip
    if best is not None:
        which = "promoted" if sweep.best_job_id else "so far"
        print(f"\n* the best trial ({which})", file=sys.stderr)


def _sweep_fields(sweep: Sweep) -> list[tuple[str, Any]]:
    """What `sweeps get` and `sweeps create` show above the trials."""
    spec, best = sweep.spec, sweep.best_trial
    budget = spec.get("budget", {})
    states = [t.state for t in sweep.trials]
    counts = ", ".join(f"{states.count(s)} {s}" for s in (WAITING, "running", *ENDED)
                       if s in states)  # fmt: skip
    return [
        ("id", sweep.id), ("name", sweep.name), ("status", sweep.status),
        ("objective", f"{spec.get('objective', 'val_accuracy')} (maximised)"),
        ("space", "; ".join(f"{p} {_param_text(v)}" for p, v in spec.get("space", {}).items())),
        ("budget", _budget_text(budget)), ("pruner", spec.get("pruner")),
        ("created", local_time(sweep.created_at)), ("finished", local_time(sweep.finished_at)),
        ("duration", duration(sweep.created_at, sweep.finished_at)),
        ("trials", f"{len(sweep.trials)} ({counts})" if sweep.trials else None),
        ("best val acc", number(sweep.best_value if sweep.best_value is not None
                                else best.value if best else None)
         + (f" (trial {best.number})" if best else "")),
        ("best job", sweep.best_job_id), ("model", sweep.model_id),
        ("test accuracy", number(sweep.test_accuracy)), ("error", sweep.error),
    ]  # fmt: skip


def _state_text(trial: Trial) -> str:
    """A trial's state; while the study still counts it running, its job's status says more."""
    if trial.state == "running" and trial.job_status:
        return trial.job_status
    return trial.state


def _budget_text(budget: dict[str, Any]) -> str | None:
    """'8 trials, 2 at once, at most 3600 s' (what the spec gives)."""
    parts = []
    if "trials" in budget:
        parts.append(f"{budget['trials']} trials")
    if "parallelism" in budget:
        parts.append(f"{budget['parallelism']} at once")
    if budget.get("max_seconds"):
        parts.append(f"at most {budget['max_seconds']} s")
    return ", ".join(parts) or None


def _param_text(param: dict[str, Any]) -> str:
    """A searched path's values in a few words: 'float 0.001..0.1 (log)', 'one of a, b'."""
    if param.get("type") == "categorical":
        return "one of " + ", ".join(_value_text(c) for c in param.get("choices", []))
    step = f" step {param['step']}" if param.get("step", 1) != 1 else ""
    scale = " (log)" if param.get("log") else ""
    return f"{param.get('type')} {param.get('low')}..{param.get('high')}{step}{scale}"


def _params_text(params: dict[str, Any]) -> str:
    """The values a trial tried, 'lr=0.0123 method={...}' (by each path's last part)."""
    names = _short_names(list(params))
    return " ".join(f"{n}={_value_text(v)}" for n, v in zip(names, params.values(), strict=True))


def _short_names(paths: list[str]) -> list[str]:
    """Each dotted path by its last part, or whole where two would read the same."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return [n if last.count(n) == 1 else p for n, p in zip(last, paths, strict=True)]


def _value_text(value: Any) -> str:
    """A tried value in a few characters (whole objects as compact JSON, cut short)."""
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    else:
        text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"
