"""``demo``: the whole loop on generated data, in one flow run.

Bootstraps a champion, then for each hourly window: "serves" it as the registry
says (the champion; during a staged rollout also the shadow, or the canary for its
share of the requests — prediction log with the ``variant`` column, delayed labels,
written as files) and runs ``monitor_model`` on it, printing one line per window.
The ``rollout`` column shows the staged rollout after the window's run (``-> shadow
v2``, ``shadow -> canary v2 20%``, ``canary -> promoted v2``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from prefect import flow
from prefect.states import Completed
from pydantic import Field

from flows.common import window_label
from flows.monitor import monitor_model
from modelwatch.demo import rollout_label
from modelwatch.outcomes import WindowDecision
from modelwatch.spec import MonitorSpec
from modelwatch.summaries import MonitorSummary
from tasks.data import load_spec
from tasks.demo import bootstrap_champion, reset_demo, rollout_stage, serve_window

#: the two realized metrics printed per window, by task
SHOWN_METRICS: dict[str, tuple[str, str]] = {
    "binary": ("accuracy", "roc_auc"),
    "multiclass": ("accuracy", "f1_macro"),
    "regression": ("mae", "r2"),
}
#: the demo model of each task (``modelwatch demo --task``)
DEMO_MODELS: dict[str, str] = {"binary": "credit", "multiclass": "churn3", "regression": "house"}


#: width of the ``rollout`` column (``shadow -> canary v2 20%``)
ROLLOUT_WIDTH = 24


def header(shown: tuple[str, str] = SHOWN_METRICS["binary"]) -> str:
    return (
        f"{'window (UTC)':<16} {'rows':>5} {'labeled':>7}  {'validation':<22} {shown[0]:>8} "
        f"{shown[1]:>8} {'drifted':>7}  {'champion':>8}  {'rollout':<{ROLLOUT_WIDTH}} decision"
    )


HEADER = header()


def format_line(
    summary: MonitorSummary, shown: tuple[str, str] = SHOWN_METRICS["binary"], rollout: str = "-"
) -> str:
    first, second = (summary.metrics.get(name) for name in shown)
    drifted = f"{len(summary.drifted_features)}/{summary.n_features}"
    return (
        f"{window_label(summary.window_start):<16} {summary.n_rows:>5} {summary.n_labeled:>7}  "
        f"{summary.validation:<22} {'' if first is None else f'{first:.3f}':>8} "
        f"{'' if second is None else f'{second:.3f}':>8} {drifted:>7}  "
        f"{'v' + str(summary.champion_version):>8}  {rollout:<{ROLLOUT_WIDTH}} {summary.decision}"
    )


def rollout_intro(spec: MonitorSpec) -> str:
    """What the spec's staged rollout does (the demo's opening lines)."""
    ab = spec.ab
    if not ab.staged_rollout:
        return "an offline A/B win promotes the challenger at once (ab.staged_rollout: false)"
    return (
        f"an offline A/B win starts a staged rollout: shadow {ab.shadow_hours:g} h, then canary "
        f"({ab.canary_share:.0%} of requests) until the sequential test decides (at most "
        f"{ab.max_canary_hours:g} h)"
    )


@flow(name="demo", flow_run_name="demo-{model_name}", log_prints=False)
def demo(
    model_name: str = "credit",
    n_windows: Annotated[int, Field(ge=2)] = 14,
    rows_per_window: Annotated[int, Field(ge=200)] = 2000,
    drift_start: Annotated[int, Field(ge=0)] = 6,
    seed: int = 0,
) -> Any:
    """Monitor a generated model over several windows: drift, degradation, retraining, A/B, promotion.

    The spec's task picks the generated world: binary (credit), multiclass
    (churn3) or regression (house).

    Args:
        model_name: Demo model (its spec is deployments/specs/<model>.yaml; its task picks the generated world).
        n_windows: Number of hourly windows to serve and monitor.
        rows_per_window: Predictions per window.
        drift_start: Index of the first drifted window (covariate + concept drift).
        seed: Seed of the generated data and of training.
    """
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
        hours=n_windows
    )
    spec = load_spec(model_name)
    shown = SHOWN_METRICS[spec.task]
    reset_demo(model_name)
    version = bootstrap_champion(model_name, seed, rows_per_window)
    print(
        f"champion v{version} trained and registered; monitoring {n_windows} windows "
        f"(drift starts at window {drift_start});\n{rollout_intro(spec)}\n"
    )
    print(header(shown))
    summaries: list[MonitorSummary] = []
    rollouts = 0
    for index in range(n_windows):
        start = first + timedelta(hours=index)
        end = start + timedelta(hours=1)
        served: Any = serve_window(
            model_name,
            index,
            window=(start, end),
            rows=rows_per_window,
            seed=seed,
            drift_start=drift_start,
        )
        state: Any = monitor_model(model_name, window_end=end, window_hours=1.0, return_state=True)
        summary = state.result(raise_on_failure=False)
        if isinstance(summary, MonitorSummary):
            summaries.append(summary)
            champion, after = rollout_stage(model_name)
            label = rollout_label(served.rollout, after, champion)
            rollouts += "promoted" in label
            print(format_line(summary, shown, label), flush=True)
        else:
            print(
                f"{window_label(start):<16} monitor run {state.name}: {state.message}", flush=True
            )
    promoted = sum(s.decision == WindowDecision.RETRAINED_PROMOTED for s in summaries)
    return Completed(
        message=f"{len(summaries)} windows monitored, {promoted + rollouts} promotion(s) "
        f"({rollouts} after a staged rollout)",
        data=summaries,
    )
