"""The deployments of modelwatch, generated from the monitor specs (one source of truth).

``modelwatch serve`` serves :func:`runner_deployment` of each definition, with its flow
(:func:`flows.serve.served_pairs`); ``deployments/prefect.yaml``
is written by ``python -m flows.deployments`` from :func:`deployment_definitions`
(``--check`` fails when the file is stale; ``tests/unit/test_deployments.py`` too).

Per spec ``<model>``:

* ``<model>-scheduled`` — ``monitor-model`` on the spec's cron, concurrency limit 1
  (a late run never overlaps the next one);
* ``<model>-on-degraded`` — ``retrain-model`` triggered by ``modelwatch.model.degraded``
  about ``modelwatch.model.<model>``, with the event's degraded windows and episode;
  the trigger is enabled only when the spec says ``retraining.mode: event``;
  concurrency limit 1;
* ``<model>-relabel`` — ``relabel-model`` daily (:data:`RELABEL_CRON`): re-judges the
  recent windows whose delayed labels arrived, against the champion that served
  them (never retrains); concurrency limit 1.

Plus ``fleet-scheduled`` — ``monitor-fleet`` (:mod:`flows.fleet`: every model's due
window in one run, one process per tick) on the specs' common cron (hourly when they
differ), concurrency limit 1 — and one ``manual`` deployment per flow (run form
defaults: the first spec's model). One of the two monitor schedules is active: the
per-model ``<model>-scheduled`` ones by default, the fleet's with ``fleet=True``
(``modelwatch serve --fleet``); a generated ``prefect.yaml`` carries both, the fleet's
paused (switch it on and pause the per-model ones to move to fleet mode).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from modelwatch.outcomes import Alias, ModelEvent
from modelwatch.spec import MonitorSpec, load_spec

MONITOR = "flows/monitor.py:monitor_model"
RETRAIN = "flows/retrain.py:retrain_model"
RELABEL = "flows/relabel.py:relabel_model"
FLEET = "flows/fleet.py:monitor_fleet"
#: the fleet's schedule when the specs' crons differ (each tick monitors what is due)
FLEET_CRON = "0 * * * *"
#: the relabel deployment's schedule (daily, after the night's labels arrived)
RELABEL_CRON = "30 3 * * *"
DEGRADED_EVENT = ModelEvent.DEGRADED.prefect_event
WORK_POOL = {"name": "modelwatch", "work_queue_name": "default"}

HEADER = """\
# Prefect deployments of modelwatch. GENERATED from deployments/specs/*.yaml by
#   python -m flows.deployments            (do not edit; --check tells whether it is stale)
# `modelwatch serve` serves the same definitions (flows/deployments.py) without a work pool.
#
#   prefect work-pool create modelwatch --type process
#   prefect --no-prompt deploy --all --prefect-file deployments/prefect.yaml   # from the repo root
#   prefect worker start --pool modelwatch                                     # from the repo root
#
# Entry points are relative to the repo root (run deploy and the worker there).
"""


def load_specs(specs_dir: Path, models: Sequence[str] = ()) -> list[MonitorSpec]:
    specs = [load_spec(path) for path in sorted(specs_dir.glob("*.yaml"))]
    return [s for s in specs if not models or s.name in set(models)]


def model_deployments(spec: MonitorSpec, *, fleet: bool = False) -> list[dict[str, Any]]:
    """The scheduled monitor, the event-triggered retrain and the daily relabel of one model.

    ``fleet``: the monitor's schedule is paused (``monitor-fleet`` monitors the model).
    """
    name = spec.name
    event_mode = spec.retraining.mode == "event"
    return [
        {
            "name": f"{name}-scheduled",
            "description": (
                f"Monitor {name} every window ({spec.schedule.cron}, "
                f"{spec.schedule.window_hours:g} h; catch-up of up to "
                f"{spec.schedule.catchup_max_windows} missed windows)."
            ),
            "entrypoint": MONITOR,
            "tags": ["modelwatch", name],
            "parameters": {"model_name": name, "force_retrain": False, "dry_run": False},
            "schedules": [{"cron": spec.schedule.cron, "timezone": "UTC", "active": not fleet}],
            "concurrency_limit": 1,
        },
        {
            "name": f"{name}-on-degraded",
            "description": (
                f"Retrain {name} on the degraded windows of a {DEGRADED_EVENT} event "
                f"(trigger enabled: retraining.mode is {spec.retraining.mode})."
            ),
            "entrypoint": RETRAIN,
            "tags": ["modelwatch", name],
            "parameters": {"model_name": name},
            "concurrency_limit": 1,
            "triggers": [
                {
                    "type": "event",
                    "enabled": event_mode,
                    "match": {"prefect.resource.id": f"modelwatch.model.{name}"},
                    "expect": [DEGRADED_EVENT],
                    "parameters": {
                        "model_name": "{{ event.resource.model }}",
                        "reason": f"event {DEGRADED_EVENT}",
                        "windows": "{{ event.payload.windows }}",
                        "episode": "{{ event.payload.episode }}",
                        "triggered_by": "{{ event.payload.flow_run_id }}",
                    },
                }
            ],
        },
        {
            "name": f"{name}-relabel",
            "description": (
                f"Re-judge the recent windows of {name} whose delayed labels arrived "
                "(against the champion that served them; never retrains)."
            ),
            "entrypoint": RELABEL,
            "tags": ["modelwatch", name],
            "parameters": {"model_name": name},
            "schedules": [{"cron": RELABEL_CRON, "timezone": "UTC", "active": True}],
            "concurrency_limit": 1,
        },
    ]


def fleet_deployments(specs: Sequence[MonitorSpec], *, active: bool) -> list[dict[str, Any]]:
    """``fleet-scheduled`` (``monitor-fleet`` on the specs' common cron, else hourly) and
    its run-form deployment."""
    crons = {spec.schedule.cron for spec in specs}
    cron = crons.pop() if len(crons) == 1 else FLEET_CRON
    return [
        {
            "name": "fleet-scheduled",
            "description": (
                f"Monitor every model's due window in one run ({cron}; windows already "
                "in the store are skipped). Active instead of the <model>-scheduled "
                "deployments in fleet mode (modelwatch serve --fleet)."
            ),
            "entrypoint": FLEET,
            "tags": ["modelwatch", "fleet"],
            "parameters": {"dry_run": False},
            "schedules": [{"cron": cron, "timezone": "UTC", "active": active}],
            "concurrency_limit": 1,
        },
        {
            "name": "manual",
            "description": "Monitor every model's (or the listed models') window in one run.",
            "entrypoint": FLEET,
            "tags": ["modelwatch"],
            "parameters": {},
        },
    ]


def manual_deployments(model: str) -> list[dict[str, Any]]:
    """One run-form deployment per flow (``model`` is only the form's default)."""
    ab = {
        "model_name": model,
        "champion": str(Alias.CHAMPION),
        "challenger": str(Alias.CHALLENGER),
        "promote": False,
    }
    return [
        {
            "name": "manual",
            "description": "Monitor any model for any window (pick it in the run form).",
            "entrypoint": MONITOR,
            "tags": ["modelwatch"],
            "parameters": {"model_name": model},
        },
        {
            "name": "manual",
            "description": "Train a challenger, register it and A/B-compare it with the champion.",
            "entrypoint": RETRAIN,
            "tags": ["modelwatch"],
            "parameters": {"model_name": model, "reason": "manual"},
        },
        {
            "name": "manual",
            "description": "Compare two versions (or aliases) of a model on labeled rows.",
            "entrypoint": "flows/compare.py:compare_models",
            "tags": ["modelwatch"],
            "parameters": dict(ab),
        },
        {
            "name": "manual",
            "description": "Online A/B from the prediction log's variant column.",
            "entrypoint": "flows/compare.py:compare_online",
            "tags": ["modelwatch"],
            "parameters": dict(ab),
        },
        {
            "name": "manual",
            "description": "One-step rollback of the champion alias to the previous version.",
            "entrypoint": "flows/rollback.py:rollback_model",
            "tags": ["modelwatch"],
            "parameters": {"model_name": model, "reason": "manual rollback"},
        },
        {
            "name": "manual",
            "description": "Validate one window of a model with its Great Expectations suite.",
            "entrypoint": "flows/validate.py:validate_window",
            "tags": ["modelwatch"],
            "parameters": {"model_name": model},
        },
    ]


def deployment_definitions(
    specs: Sequence[MonitorSpec], *, fleet: bool = False
) -> list[dict[str, Any]]:
    """Every deployment, as ``prefect.yaml`` entries without the work pool.

    ``fleet``: ``fleet-scheduled`` is the active monitor schedule, the per-model ones paused.
    """
    definitions = [d for spec in specs for d in model_deployments(spec, fleet=fleet)]
    if specs:
        definitions += fleet_deployments(specs, active=fleet)
        definitions += manual_deployments(specs[0].name)
    return definitions


def prefect_yaml(specs: Sequence[MonitorSpec]) -> str:
    """The text of ``deployments/prefect.yaml``."""
    deployments = [{**d, "work_pool": dict(WORK_POOL)} for d in deployment_definitions(specs)]
    document = {
        "name": "modelwatch",
        "prefect-version": "3.8.8",
        "build": None,
        "push": None,
        "pull": None,
        "deployments": deployments,
    }
    return HEADER + "\n" + yaml.safe_dump(document, sort_keys=False, width=100)


def flow_of(entrypoint: str) -> Any:
    """The flow object of an entrypoint ``flows/<module>.py:<function>``."""
    path, name = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def runner_deployment(definition: dict[str, Any]) -> Any:
    """The ``flow.to_deployment(...)`` of one definition (what ``serve`` runs)."""
    from prefect.events import DeploymentEventTrigger

    triggers = [
        DeploymentEventTrigger(
            enabled=t["enabled"],
            match=t["match"],
            expect=set(t["expect"]),
            parameters=t["parameters"],
        )
        for t in definition.get("triggers", [])
    ]
    from prefect.schedules import Cron

    schedules = [
        Cron(s["cron"], timezone=s["timezone"], active=s["active"])
        for s in definition.get("schedules", [])
    ]
    return flow_of(definition["entrypoint"]).to_deployment(
        name=definition["name"],
        description=definition["description"],
        tags=definition["tags"],
        parameters=definition["parameters"],
        schedules=schedules or None,
        concurrency_limit=definition.get("concurrency_limit"),
        triggers=triggers or None,
    )


def runner_deployments(specs: Sequence[MonitorSpec], *, fleet: bool = False) -> list[Any]:
    return [runner_deployment(d) for d in deployment_definitions(specs, fleet=fleet)]


def main(argv: Sequence[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(prog="python -m flows.deployments", description=__doc__)
    parser.add_argument("--specs", type=Path, default=repo / "deployments" / "specs")
    parser.add_argument("--out", type=Path, default=repo / "deployments" / "prefect.yaml")
    parser.add_argument("--check", action="store_true", help="exit 1 if --out is stale")
    args = parser.parse_args(argv)
    text = prefect_yaml(load_specs(args.specs))
    current = args.out.read_text() if args.out.exists() else ""
    if args.check:
        stale = current != text
        print(f"{args.out}: {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
