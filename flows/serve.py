"""``modelwatch serve``: the deployments generated from the specs, served locally.

The same definitions as ``deployments/prefect.yaml`` (:mod:`flows.deployments`):
per model a scheduled monitor (concurrency limit 1) and the ``on-degraded``
retrain (its event trigger enabled when the spec says ``retraining.mode: event``),
plus the manual deployments and the fleet (``--fleet``: its schedule instead of the
per-model ones). No work pool needed: ``serve`` polls the Prefect API
and runs the flows in this process' subprocesses — forks of a preloaded fork server
(:mod:`flows.warm`), so a run does not import everything again. Needs a Prefect server with a
scheduler for cron runs (``prefect server start``); the temporary local server has
none. The automations ``serve`` creates stay on the server when it stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flows.deployments import load_specs, runner_deployments
from modelwatch.settings import get_settings


def build_deployments(models: Sequence[str] = (), *, fleet: bool = False) -> list[Any]:
    """The runner deployments of the specs in the settings' specs folder (``models``: only these).

    ``fleet``: one ``monitor-fleet`` schedule monitors every model (one process per tick)
    instead of one ``monitor-model`` schedule per model.
    """
    specs = load_specs(get_settings().resolved_specs_dir, models)
    return runner_deployments(specs, fleet=fleet)


def serve_all(models: Sequence[str] = (), *, fleet: bool = False) -> None:
    from prefect import serve

    from flows.warm import use_warm_starts

    use_warm_starts()  # each run forks from a preloaded process (MODELWATCH_WARM_STARTS)
    serve(*build_deployments(models, fleet=fleet))  # pragma: no cover - blocks until interrupted
