"""``monitor_fleet``: every model's due window in one flow run (one process per tick).

A ``modelwatch monitor <model>`` process pays the interpreter, the imports (Prefect,
pandas, scipy, then MLflow and Great Expectations on first use), the Prefect client
(or a temporary server) and the GX contexts for one window. A fleet run pays them once
per tick: each spec in the specs folder (or the ``models`` given) is monitored as a
``monitor-model`` subflow in this process, so each model keeps its own flow run, state,
artifacts and store rows, and one model's failure does not stop the others. Up to
``concurrency`` models (``MODELWATCH_FLEET_CONCURRENCY``, default 2) run at the same time,
each in a ``monitor-fleet-model`` task run (threads): while one waits on the Prefect API,
the store or the registry, another computes (measured: 20 models 99.9 -> 79.6 s against a
SQLite-backed Prefect server, no gain against a PostgreSQL-backed one on 2 cores, where
the client is CPU-bound under the GIL). Great Expectations validations are
serialized (the GX context is not thread-safe); everything else a monitor run touches is
per call (store and registry clients) or read-only (the spec, the champion's cached state).

Each model's window is its own (``schedule.window_hours``), ending at the last window
boundary before the fleet run's scheduled start (a deployment's run; else the wall
clock, taken once for the whole run), or at ``window_end``. Windows that already have a
run in the store are skipped (a re-run of a tick monitors only what failed or was
missed); on a scheduled run, up to ``schedule.catchup_max_windows`` earlier windows
without a run are monitored first, oldest first, as ``monitor-model`` does.

The run ends ``Completed`` (every model monitored, skipped or degraded — a degraded
model is its own run's business) or ``Failed`` when a model's spec could not be read
or its run failed otherwise; the message and the markdown artifact list each model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed
from pydantic import Field

from flows.common import (
    earlier_windows,
    scheduled_start,
    subflow_settings,
    window_bounds,
    window_label,
)
from flows.monitor import monitor_model
from modelwatch.settings import get_settings
from tasks import data, publish, store

__all__ = ["FleetSummary", "ModelOutcome", "fleet_run_name", "monitor_fleet"]

#: state names of a monitor run that are the model's condition, not a failure of the run
_NOT_A_FAILURE = frozenset({"Degraded"})


@dataclass(frozen=True)
class ModelOutcome:
    """What the fleet run did for one model."""

    model: str
    window: str  # the window's label (its start), "" when the spec could not be read
    state: str  # the monitor run's state name, "Skipped" or "SpecError"
    failed: bool
    message: str = ""

    def line(self) -> str:
        where = f" {self.window}" if self.window else ""
        text = f"{self.model}{where}: {self.state}"
        return f"{text} — {self.message}" if self.message else text


@dataclass(frozen=True)
class FleetSummary:
    """The fleet run's return value: one outcome per monitored (or skipped) window."""

    outcomes: tuple[ModelOutcome, ...]

    @property
    def failed(self) -> list[ModelOutcome]:
        return [o for o in self.outcomes if o.failed]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
        return counts

    def headline(self) -> str:
        models = len({o.model for o in self.outcomes})
        states = ", ".join(f"{n} {state}" for state, n in sorted(self.counts().items()))
        text = f"{models} model(s), {len(self.outcomes)} window(s): {states or 'nothing to do'}"
        if self.failed:
            text += "; failed: " + ", ".join(sorted({o.model for o in self.failed}))
        return text

    def markdown(self) -> str:
        rows = ["| model | window | state | message |", "|---|---|---|---|"]
        for o in self.outcomes:
            message = o.message.splitlines()[0] if o.message else ""
            message = message.replace("|", "\\|")
            rows.append(f"| {o.model} | {o.window or '-'} | {o.state} | {message} |")
        return f"# Fleet monitor\n\n{self.headline()}\n\n" + "\n".join(rows) + "\n"


def fleet_run_name() -> str:
    """``monitor-fleet-<window end or scheduled time, e.g. 2026-11-23T10>``."""
    from prefect.runtime import flow_run

    end = flow_run.parameters.get("window_end")
    if isinstance(end, str):
        end = datetime.fromisoformat(end)
    when = end or scheduled_start() or datetime.now(UTC)
    return f"monitor-fleet-{window_label(when)}"


def _spec_names(models: list[str] | None) -> list[str]:
    """The models to monitor: ``models``, else every ``*.yaml`` of the specs folder."""
    if models:
        return list(dict.fromkeys(models))
    return sorted(p.stem for p in get_settings().resolved_specs_dir.glob("*.yaml"))


def _monitor_one(
    name: str, end: datetime | None, now: datetime, *, scheduled: bool, dry_run: bool
) -> list[ModelOutcome]:
    """The model's due window (and, on a scheduled run, its missed ones) as subflows."""
    spec_state: Any = data.load_spec(name, return_state=True)
    if spec_state.is_failed():
        message = str(spec_state.message or "")
        return [ModelOutcome(name, "", "SpecError", True, message)]
    spec = spec_state.result()
    hours = spec.schedule.window_hours
    start, stop = window_bounds(end, hours, now=now)
    due = [(start, stop)]
    if scheduled and spec.schedule.catchup_max_windows:
        due = earlier_windows(start, hours, spec.schedule.catchup_max_windows) + due
    todo = due if dry_run else store.unmonitored_windows(name, due)
    if not todo:
        return [ModelOutcome(name, window_label(start), "Skipped", False, "already monitored")]
    outcomes = []
    for window_start, window_end in todo:
        with subflow_settings():
            state: Any = monitor_model(
                name, window_end=window_end, window_hours=hours, dry_run=dry_run, return_state=True
            )
        failed = state.is_failed() and state.name not in _NOT_A_FAILURE
        failed = failed or state.is_crashed() or state.is_cancelled()
        outcomes.append(
            ModelOutcome(name, window_label(window_start), state.name, failed, state.message or "")
        )
    return outcomes


@task(name="monitor-fleet-model", task_run_name="fleet-{name}", cache_policy=NO_CACHE)
def monitor_fleet_model(
    name: str,
    end: datetime | None,
    now: datetime,
    *,
    scheduled: bool,
    dry_run: bool,
    gate: threading.BoundedSemaphore,
) -> list[ModelOutcome]:
    """One model of the fleet (its ``monitor-model`` subflows run inside this task run).

    A subflow called from a task gets a parent task run with a unique key, so models
    monitored at the same time never share one; ``gate`` bounds how many run at once.
    """
    with gate:
        return _monitor_one(name, end, now, scheduled=scheduled, dry_run=dry_run)


@flow(name="monitor-fleet", flow_run_name=fleet_run_name, log_prints=True)
def monitor_fleet(
    models: list[str] | None = None,
    window_end: datetime | None = None,
    dry_run: bool = False,
    concurrency: Annotated[int, Field(ge=1, le=32)] | None = None,
) -> Any:
    """Monitor every model's due window in this one run (one monitor-model subflow per window).

    Args:
        models: Models to monitor (names of deployments/specs/<model>.yaml); default: every spec.
        window_end: End of every model's window (UTC, exclusive); default: each model's last complete window before the run's scheduled start (a deployment's run, which also catches up to schedule.catchup_max_windows missed windows), else before now.
        dry_run: Monitor without changing anything (see monitor-model); windows already monitored are not skipped.
        concurrency: Models monitored at the same time (threads of this process); default: MODELWATCH_FLEET_CONCURRENCY (2).
    """
    scheduled = scheduled_start() if window_end is None else None
    now = scheduled or datetime.now(UTC)
    names = _spec_names(models)
    width = concurrency or get_settings().fleet_concurrency
    gate = threading.BoundedSemaphore(width)
    # the models' runs overlap: each waits on the API, the store or the registry while
    # another computes (measured in benchmarks/monitor_benchmark.py, fleet section)
    futures = [
        monitor_fleet_model.submit(
            name, window_end, now, scheduled=scheduled is not None, dry_run=dry_run, gate=gate
        )
        for name in names
    ]
    outcomes: list[ModelOutcome] = []
    for name, future in zip(names, futures, strict=True):
        future.wait()
        state: Any = future.state
        if state.is_completed():
            found = list(future.result())
        else:  # the model's own code failed outside its monitor run (store, spec)
            found = [ModelOutcome(name, "", state.name, True, str(state.message or ""))]
        outcomes += found
        for outcome in found:
            print(outcome.line())
    summary = FleetSummary(tuple(outcomes))
    publish.publish_markdown("monitor-fleet-summary", summary.markdown(), summary.headline())
    final = Failed if summary.failed else Completed
    return final(message=summary.headline(), data=summary)
