"""Tasks of the streamed data plane (:mod:`modelwatch.execution`): a window too large for
one in-memory frame, or any window with ``execution.engine: dask``."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from prefect import get_run_logger, task

from modelwatch import execution
from modelwatch.champion_state import ChampionState
from modelwatch.errors import DataError
from modelwatch.execution import StreamedWindow
from modelwatch.io import sources
from modelwatch.settings import get_settings
from modelwatch.spec import MonitorSpec
from tasks import IO_TASK, TASK_DEFAULTS

__all__ = ["count_window_rows", "streamed_assessment"]


@task(name="count-window-rows", task_run_name="count-window-rows-{spec.name}", **IO_TASK)
def count_window_rows(spec: MonitorSpec, start: datetime, end: datetime) -> int | None:
    """The window's prediction rows, from metadata where the source allows (no rows read).

    None when the source cannot be counted as data (a truncated file, a table without
    its timestamp column): the in-memory path then reads the window and reports the
    bad input as it always does (quarantine, the file named)."""
    try:
        return sources.count_window_rows(spec, start, end, get_settings().home_dir)
    except DataError as exc:
        get_run_logger().info("window not counted (%s); read as one frame", exc)
        return None


@task(name="streamed-assessment", task_run_name="streamed-assessment-{spec.name}", **TASK_DEFAULTS)
def streamed_assessment(
    spec: MonitorSpec,
    state: ChampionState,
    reference: pd.DataFrame,
    *,
    window: tuple[datetime, datetime],
    n_rows: int,
) -> StreamedWindow:
    """Feature / prediction / target drift and realized metrics of a streamed window.

    The window is cut into time slices of about ``execution.batch_rows`` rows, each
    read by the sources package and folded into mergeable aggregates, here or on
    the Dask cluster (``execution.engine``); the result equals the in-memory
    ``window_drift`` + ``realized_metrics``. ``StreamedWindow.sample`` (a seeded
    sample of ~5,000 rows) feeds multivariate drift and CBPE.
    """
    outputs = (state.predictions, state.scores)
    ref = execution.reference_state(
        spec, reference=reference, reference_outputs=outputs, profile=state.profile
    )
    home = get_settings().home_dir
    partitions = execution.window_partitions(spec, *window, home, n_rows=n_rows)
    return execution.streamed_window(spec, partitions, ref, expected_rows=n_rows)
