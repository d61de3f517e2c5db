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

import sys
from collections.abc import Sequence
from typing import Any

from flows.deployments import deployment_definitions, flow_of, load_specs, runner_deployment
from modelwatch.settings import get_settings


def served_pairs(models: Sequence[str] = (), *, fleet: bool = False) -> list[tuple[Any, Any]]:
    """(flow, runner deployment) of each definition of the specs in the settings' specs
    folder (``models``: only these).

    ``fleet``: one ``monitor-fleet`` schedule monitors every model (one process per tick)
    instead of one ``monitor-model`` schedule per model.
    """
    specs = load_specs(get_settings().resolved_specs_dir, models)
    return [
        (flow_of(definition["entrypoint"]), runner_deployment(definition))
        for definition in deployment_definitions(specs, fleet=fleet)
    ]


def pickle_by_reference(flow: Any) -> None:
    """Make cloudpickle send ``flow``'s function as a reference to its module.

    The runner cloudpickles the flow for the run's process. The module's attribute
    ``monitor_model`` is the Flow, not its function, so cloudpickle does not find the
    function there and pickles it *by value*, with only the globals its code names: the
    names used only in annotations (``from __future__ import annotations``) are missing,
    and Prefect's parameter validation fails ("`Monitor_ModelModel` is not fully defined;
    you should define `datetime`"); module state it touches would be a copy. Its
    qualified name ``<attribute>.fn`` is where the module holds it: pickled by reference,
    the run's process imports the module and takes the function from its flow."""
    module = sys.modules.get(getattr(flow.fn, "__module__", ""))
    for name, value in vars(module).items() if module else ():
        if value is flow:
            flow.fn.__qualname__ = f"{name}.fn"
            return


def add_served(runner: Any, flow: Any, deployment: Any) -> Any:
    """Register ``deployment`` with ``runner`` *and* the flow it runs.

    ``prefect.serve(*deployments)`` registers deployments only: its runner then starts
    every run as ``python -m prefect.engine``, a new interpreter that loads the flow from
    its entrypoint. A runner that knows a deployment's flow (as ``flow.serve()`` does)
    starts the run with ``prefect.flow_engine.run_flow_in_subprocess`` — which warm
    starts (:mod:`flows.warm`) make a fork of the preloaded fork server."""
    deployment_id = runner.add_deployment(deployment)
    pickle_by_reference(flow)
    registry = getattr(runner, "_deployment_registry", None)
    if registry is None or not callable(getattr(registry, "register_flow", None)):
        raise RuntimeError(
            "prefect.runner.Runner has no deployment registry with register_flow: "
            "this Prefect version needs a new way to give the runner its flows"
        )
    registry.register_flow(deployment_id, flow)
    return deployment_id


def serve_all(models: Sequence[str] = (), *, fleet: bool = False) -> None:  # pragma: no cover
    """What ``prefect.serve`` does (a :class:`prefect.runner.Runner`, deployments paused on
    shutdown), with each deployment's flow registered (:func:`add_served`); blocks until
    interrupted."""
    import asyncio

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    from flows.warm import use_warm_starts

    warm = use_warm_starts()  # each run forks from a preloaded process (MODELWATCH_WARM_STARTS)
    pairs = served_pairs(models, fleet=fleet)
    runner = Runner(pause_on_shutdown=True)
    for flow, deployment in pairs:
        add_served(runner, flow, deployment)
    names = ", ".join(f"{d.flow_name}/{d.name}" for _, d in pairs)
    print(
        f"Serving {len(pairs)} deployment(s) ({'warm' if warm else 'spawned'} runs): {names}",
        flush=True,
    )
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal) as exc:
        print(f"Received {type(exc).__name__}, shutting down...", flush=True)
