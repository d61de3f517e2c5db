"""Great Expectations validation tasks and the window's data-quality statistics.

Thin wrappers: suites are read by :mod:`modelwatch.io.suites`, run by
:mod:`modelwatch.io.gx_runtime` (Data Docs: :mod:`modelwatch.io.datadocs`);
the statistics are :mod:`modelwatch.stats.data_quality`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_table_artifact

from modelwatch.errors import DataError
from modelwatch.io import sources
from modelwatch.io.gx_runtime import ValidationReport, validate_frame
from modelwatch.io.suites import load_suite
from modelwatch.serving import rollout_columns
from modelwatch.settings import get_settings
from modelwatch.spec import MonitorSpec
from modelwatch.stats.data_quality import DataQualityStats, data_quality_stats
from tasks import IO_TASK, TASK_DEFAULTS
from tasks.publish import artifact_key
from tasks.store import open_store


@task(name="run-expectation-suite", task_run_name="gx-{spec.name}", **TASK_DEFAULTS)
def run_suite(
    spec: MonitorSpec,
    frame: pd.DataFrame,
    window: tuple[datetime, datetime],
    run_name: str,
    *,
    labels: pd.DataFrame | None = None,
    dry_run: bool = False,
) -> ValidationReport:
    """The suite on the window's log (``labels``: its labeled rows, for the label expectations).

    A dry run validates in memory: the Data Docs site is not touched. The site is
    rebuilt only when the result failed or changed since its last page
    (:mod:`modelwatch.io.datadocs`); otherwise the link is that page's. The columns a
    staged rollout adds (``variant``, ``shadow_<output>``) are not reported as
    undeclared (:func:`modelwatch.serving.rollout_columns`).
    """
    settings = get_settings()
    suite = load_suite(settings.resolved_expectations_dir / f"{spec.name}.json")
    return validate_frame(
        frame,
        suite,
        pii=spec.columns.pii,
        data_docs_dir=None if dry_run else settings.data_docs_dir,
        run_name=run_name,
        window=window,
        labels=labels,
        rebuild_docs="changed",
        # a staged rollout's variant / shadow_ columns are expected extras, not a schema change
        optional_columns=rollout_columns(spec),
    )


@task(name="data-quality-stats", task_run_name="data-quality-{spec.name}", **TASK_DEFAULTS)
def data_quality(spec: MonitorSpec, window: sources.WindowData) -> DataQualityStats:
    """Statistics of the window against the spec's reference (without it if unreadable)."""
    try:
        reference: pd.DataFrame | None = sources.read_source(
            spec.sources.reference, get_settings().home_dir
        )
    except DataError:
        reference = None
    return data_quality_stats(
        window.predictions, spec, reference, unmatched_labels=window.unmatched_labels
    )


@task(name="save-data-quality", **IO_TASK)
def save_data_quality(
    model: str,
    window: tuple[datetime, datetime],
    stats: DataQualityStats,
    flow_run_id: str | None,
) -> int:
    """Append the window's statistics to the store as long-format rows; returns how many."""
    with open_store() as store:
        return store.save_data_quality(
            model,
            window_start=window[0],
            window_end=window[1],
            rows=stats.to_rows(),
            flow_run_id=flow_run_id,
        )


@task(name="publish-data-quality", **TASK_DEFAULTS)
def publish_data_quality(model: str, label: str, stats: DataQualityStats) -> None:
    """Table artifact: one row per column (window-level counts in the description)."""
    create_table_artifact(
        table=stats.column_table(),
        key=artifact_key(model, "data-quality"),
        description=stats.describe(f"{model} {label}"),
    )


@task(name="quarantined-files", **IO_TASK)
def quarantined_files(model: str, window_start: datetime) -> list[dict[str, Any]]:
    """Unreleased quarantine rows of one window (empty: the window may be validated)."""
    with open_store() as store:
        return store.quarantined(model, window_start=window_start)
