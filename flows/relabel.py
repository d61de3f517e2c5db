"""``relabel_model``: re-judge monitored windows whose labels arrived late (a daily job).

the last ``lookback_windows`` monitored windows (store) → labels available now per
window (load the window, count the joined labels) → windows whose coverage grew
(:func:`modelwatch.monitoring.windows_to_rejudge`) → each re-monitored, oldest
first, as a ``monitor-model`` subflow with ``rejudge=True`` against the champion
that served it: the realized metric replaces the estimate, the window's run is
replaced, its status (the decision acted on then) is kept, and nothing is emitted,
alerted or retrained.
"""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow
from prefect.states import Completed, Failed
from pydantic import Field

from flows.common import subflow_settings
from flows.monitor import monitor_model
from modelwatch.monitoring import rejudge_line, relabel_end, windows_to_rejudge
from modelwatch.outcomes import StateName
from tasks import data, store


@flow(name="relabel-model", flow_run_name="relabel-{model_name}", log_prints=True)
def relabel_model(
    model_name: str = "credit",
    lookback_windows: Annotated[int, Field(gt=0)] = 48,
    min_new_labels: Annotated[int, Field(ge=1)] = 1,
    min_new_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0,
) -> Any:
    """Re-judge the recent windows whose label coverage grew since they were monitored.

    Args:
        model_name: Monitored model (the name of deployments/specs/<model>.yaml and of the MLflow registered model).
        lookback_windows: How many of the most recently monitored windows to look at.
        min_new_labels: Re-judge a window when at least this many of its predictions got a label since it was judged.
        min_new_fraction: ... and at least this share of its predictions (0: any number of new labels).
    """
    spec = data.load_spec(model_name)
    judged = store.judged_windows(model_name, lookback_windows)
    labeled_now = [data.load_window(spec, w.start, w.end).n_labeled for w in judged]
    chosen = windows_to_rejudge(
        judged, labeled_now, min_new_labels=min_new_labels, min_new_fraction=min_new_fraction
    )
    done: list[str] = []
    failed: list[str] = []
    for item in chosen:
        window = item.window
        with subflow_settings():
            state: Any = monitor_model(
                model_name,
                window_end=window.end,
                window_hours=(window.end - window.start).total_seconds() / 3600,
                champion_version=window.champion_version,
                rejudge=True,
                return_state=True,
            )
        line = rejudge_line(item)
        print(f"re-judged {line}: {state.name}: {state.message}")
        (done if state.name == StateName.REJUDGED else failed).append(f"{line}: {state.name}")
    end = relabel_end(len(judged), done=done, failed=failed)
    return (Failed if end.failed else Completed)(name=end.name, message=end.message)
