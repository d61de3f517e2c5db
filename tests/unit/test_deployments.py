"""deployments/prefect.yaml stays in step with the flows' signatures."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENTS = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())["deployments"]


def _flow(entrypoint: str):  # type: ignore[no-untyped-def]
    path, name = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: f"{d['entrypoint']}:{d['name']}")
def test_every_parameters_block_validates_against_the_flow_signature(deployment: dict) -> None:
    flow = _flow(deployment["entrypoint"])
    params = dict(deployment.get("parameters") or {})
    for trigger in deployment.get("triggers") or []:
        for key in trigger.get("parameters", {}):
            assert key in flow.parameters.properties, f"trigger parameter {key!r} unknown"
    # the remaining required parameters would come from the run form; fill them for validation
    schema = flow.parameters
    for name in schema.required or []:
        params.setdefault(name, "2026-11-23T10:00:00+00:00" if "window" in name else "x")
    unknown = set(params) - set(schema.properties)
    assert not unknown, f"{deployment['name']}: unknown parameters {sorted(unknown)}"
    flow.validate_parameters(params)


def test_scheduled_monitor_runs_one_at_a_time() -> None:
    scheduled = [d for d in DEPLOYMENTS if d.get("schedules")]
    assert scheduled and all(d["concurrency_limit"] == 1 for d in scheduled)
    assert all(d["entrypoint"] == "flows/monitor.py:monitor_model" for d in scheduled)


def test_parameter_descriptions_reach_the_run_form() -> None:
    from flows.monitor import monitor_model

    props = monitor_model.parameters.properties
    assert "last complete window" in props["window_end"]["description"]
    assert props["window_hours"]["anyOf"][0]["exclusiveMinimum"] == 0
