"""``modelwatch serve``: the deployments of ``deployments/prefect.yaml``, served locally.

No work pool needed: ``serve`` polls the Prefect API and runs the flows in this
process' subprocesses. Needs a Prefect server with a scheduler for cron runs
(``prefect server start``); the temporary local server has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import serve

from flows.compare import compare_models, compare_online
from flows.monitor import monitor_model
from flows.retrain import retrain_model
from flows.rollback import rollback_model
from flows.validate import validate_window
from modelwatch.settings import get_settings
from modelwatch.spec import load_spec


def build_deployments(models: Sequence[str] = ()) -> list[Any]:
    """One hourly/daily monitor deployment per spec, plus manual retrain/compare/rollback/validate."""
    specs_dir = get_settings().resolved_specs_dir
    specs = [load_spec(path) for path in sorted(specs_dir.glob("*.yaml"))]
    if models:
        specs = [s for s in specs if s.name in set(models)]
    deployments = [
        monitor_model.to_deployment(
            name=f"{spec.name}-scheduled",
            cron=spec.schedule.cron,
            parameters={"model_name": spec.name},
            tags=["modelwatch", spec.name],
            description=f"Monitor {spec.name} every window ({spec.schedule.cron}).",
        )
        for spec in specs
    ]
    deployments += [
        retrain_model.to_deployment(name="manual", tags=["modelwatch"]),
        compare_models.to_deployment(name="manual", tags=["modelwatch"]),
        compare_online.to_deployment(name="manual", tags=["modelwatch"]),
        rollback_model.to_deployment(name="manual", tags=["modelwatch"]),
        validate_window.to_deployment(name="manual", tags=["modelwatch"]),
        monitor_model.to_deployment(name="manual", tags=["modelwatch"]),
    ]
    return deployments


def serve_all(models: Sequence[str] = ()) -> None:
    serve(*build_deployments(models))  # pragma: no cover - blocks until interrupted
