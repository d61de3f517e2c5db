"""deployments/prefect.yaml stays in step with the flows' signatures (imports Prefect: a flows test)."""

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
    assert {d["entrypoint"] for d in scheduled} == {
        "flows/monitor.py:monitor_model",
        "flows/relabel.py:relabel_model",
        "flows/fleet.py:monitor_fleet",
    }


def test_one_monitor_schedule_is_active_per_model_or_for_the_fleet() -> None:
    """By default the per-model monitor schedules run and the fleet's is paused; fleet mode
    (``modelwatch serve --fleet``) swaps them. Relabel schedules stay on either way."""
    from flows.deployments import FLEET, MONITOR, deployment_definitions

    specs = _specs()
    for fleet in (False, True):
        definitions = deployment_definitions(specs, fleet=fleet)
        active = {
            (d["entrypoint"], d["name"])
            for d in definitions
            if any(s["active"] for s in d.get("schedules", []))
        }
        monitors = {(MONITOR, f"{s.name}-scheduled") for s in specs}
        relabels = {("flows/relabel.py:relabel_model", f"{s.name}-relabel") for s in specs}
        fleet_schedule = {(FLEET, "fleet-scheduled")}
        assert active == (fleet_schedule if fleet else monitors) | relabels
        (fleet_deployment,) = [d for d in definitions if d["name"] == "fleet-scheduled"]
        assert fleet_deployment["concurrency_limit"] == 1
        assert fleet_deployment["schedules"][0]["cron"] == "0 * * * *"


def test_the_fleet_deployment_serves_with_its_schedule_paused_unless_fleet_mode() -> None:
    from flows.deployments import deployment_definitions, runner_deployment

    (definition,) = [d for d in deployment_definitions(_specs()) if d["name"] == "fleet-scheduled"]
    deployment = runner_deployment(definition)
    assert deployment.name == "fleet-scheduled"
    assert [s.active for s in deployment.schedules] == [False]
    assert deployment.concurrency_limit == 1


def test_each_spec_gets_a_daily_relabel_that_runs_one_at_a_time() -> None:
    from flows.deployments import deployment_definitions

    specs = _specs()
    relabels = [d for d in deployment_definitions(specs) if d["name"].endswith("-relabel")]
    assert [d["name"] for d in relabels] == [f"{s.name}-relabel" for s in specs]
    for spec, deployment in zip(specs, relabels, strict=True):
        assert deployment["entrypoint"] == "flows/relabel.py:relabel_model"
        assert deployment["parameters"] == {"model_name": spec.name}
        assert deployment["schedules"] == [
            {"cron": "30 3 * * *", "timezone": "UTC", "active": True}
        ]
        assert deployment["concurrency_limit"] == 1


def test_parameter_descriptions_reach_the_run_form() -> None:
    from flows.monitor import monitor_model

    props = monitor_model.parameters.properties
    assert "last complete window" in props["window_end"]["description"]
    assert props["window_hours"]["anyOf"][0]["exclusiveMinimum"] == 0


def _specs(**retraining: str):  # type: ignore[no-untyped-def]
    from flows.deployments import load_specs

    specs = load_specs(REPO / "deployments" / "specs")
    if retraining:
        specs = [
            s.model_copy(update={"retraining": s.retraining.model_copy(update=retraining)})
            for s in specs
        ]
    return specs


def test_prefect_yaml_is_what_the_generator_writes_from_the_specs() -> None:
    from flows.deployments import main, prefect_yaml

    text = (REPO / "deployments" / "prefect.yaml").read_text()
    assert text == prefect_yaml(_specs()), "stale: run python -m flows.deployments"
    assert main(["--check"]) == 0


def test_each_spec_gets_a_scheduled_monitor_and_an_on_degraded_retrain() -> None:
    from flows.deployments import deployment_definitions

    names = [(d["entrypoint"], d["name"]) for d in deployment_definitions(_specs())]
    assert ("flows/monitor.py:monitor_model", "credit-scheduled") in names
    assert ("flows/retrain.py:retrain_model", "credit-on-degraded") in names
    assert ("flows/relabel.py:relabel_model", "credit-relabel") in names
    assert len(names) == len(set(names))
    yaml_names = [(d["entrypoint"], d["name"]) for d in DEPLOYMENTS]
    assert yaml_names == names


@pytest.mark.parametrize(("mode", "enabled"), [("inline", False), ("event", True), ("off", False)])
def test_the_on_degraded_trigger_is_enabled_only_in_event_mode(mode: str, enabled: bool) -> None:
    from flows.deployments import deployment_definitions

    (on_degraded,) = [
        d for d in deployment_definitions(_specs(mode=mode)) if d["name"] == "credit-on-degraded"
    ]
    (trigger,) = on_degraded["triggers"]
    assert trigger["enabled"] is enabled
    assert trigger["expect"] == ["modelwatch.model.degraded"]
    assert trigger["match"] == {"prefect.resource.id": "modelwatch.model.credit"}
    assert trigger["parameters"]["windows"] == "{{ event.payload.windows }}"
    assert trigger["parameters"]["episode"] == "{{ event.payload.episode }}"


def test_serve_runs_the_same_definitions_with_the_same_limits_and_triggers() -> None:
    from flows.deployments import deployment_definitions, runner_deployments

    specs = _specs(mode="event")
    definitions = deployment_definitions(specs)
    served = runner_deployments(specs)
    assert [d.name for d in served] == [d["name"] for d in definitions]
    by_name = {(d.flow_name, d.name): d for d in served}
    scheduled = by_name[("monitor-model", "credit-scheduled")]
    assert scheduled.concurrency_limit == 1
    assert [s.schedule.cron for s in scheduled.schedules] == ["0 * * * *"]
    assert scheduled.parameters == {
        "model_name": "credit",
        "force_retrain": False,
        "dry_run": False,
    }
    retrain = by_name[("retrain-model", "credit-on-degraded")]
    assert retrain.concurrency_limit == 1
    (trigger,) = retrain.triggers
    assert trigger.enabled is True
    assert trigger.expect == {"modelwatch.model.degraded"}
    assert trigger.parameters["windows"] == "{{ event.payload.windows }}"
    relabel = by_name[("relabel-model", "credit-relabel")]
    assert relabel.concurrency_limit == 1
    assert [s.schedule.cron for s in relabel.schedules] == ["30 3 * * *"]
    assert relabel.parameters == {"model_name": "credit"}
    assert by_name[("monitor-model", "manual")].concurrency_limit is None


def test_a_worker_importing_a_flow_gets_the_command_line_environment(tmp_path: Path) -> None:
    """`prefect worker` imports the flow's module: the flows package runs the same bootstrap."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELWATCH_"))}
    env.update(MODELWATCH_HOME=str(tmp_path / "home"), MLFLOW_HTTP_REQUEST_TIMEOUT="5")
    env.pop("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", None)
    code = (
        "import os, flows.monitor; "
        "print(os.environ['MLFLOW_HTTP_REQUEST_MAX_RETRIES'], os.environ['MLFLOW_HTTP_REQUEST_TIMEOUT'], "
        "os.environ.get('PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS', '-'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    # the default where unset, the user's value kept; Prefect's own settings left to the worker
    assert out.stdout.split() == ["1", "5", "-"]
    assert not (tmp_path / "home").exists()  # importing creates no folder
