"""Tasks that read the spec and the window's data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.exceptions import MissingContextError

from modelwatch.io import sources
from modelwatch.settings import get_settings
from modelwatch.spec import MonitorSpec, find_spec
from tasks import IO_TASK, TASK_DEFAULTS


@task(name="load-spec", **TASK_DEFAULTS)
def load_spec(model_name: str) -> MonitorSpec:
    return find_spec(model_name, get_settings().resolved_specs_dir)


@task(name="load-window", task_run_name="load-window-{spec.name}", **IO_TASK)
def load_window(spec: MonitorSpec, start: datetime, end: datetime) -> sources.WindowData:
    window = sources.load_window(spec, start, end, get_settings().home_dir)
    if window.conflicting_labels:
        try:
            logger = get_run_logger()
        except MissingContextError:  # called as .fn: modelwatch.io.sources logged it
            return window
        logger.warning(
            "%d prediction id(s) of this window have conflicting labels; the latest label is "
            "used (label_timestamp, else file order). E.g. ids: %s",
            window.conflicting_labels,
            ", ".join(window.conflicting_label_ids),
        )
    return window


@task(name="load-labeled-rows", **IO_TASK)
def load_labeled_rows(spec: MonitorSpec, start: datetime, end: datetime) -> pd.DataFrame:
    """Labeled rows with ``start <= timestamp < end`` (any number of windows)."""
    window = sources.load_window(spec, start, end, get_settings().home_dir)
    return window.labeled.sort_values(spec.columns.timestamp, kind="stable").reset_index(drop=True)


@task(name="file-checksums", **TASK_DEFAULTS)
def file_checksums(files: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(path, sha256)`` per file; a SQL table entry (``sql:<table>``) has no file digest: ''."""
    return [(p, "" if sources.is_table_entry(p) else sources.file_checksum(p)) for p in files]


@task(name="slice-bounds", **TASK_DEFAULTS)
def slice_bounds(
    spec: MonitorSpec, start: datetime, end: datetime, n_rows: int
) -> list[tuple[datetime, datetime]]:
    """The time slices of a streamed window (``execution.batch_rows`` rows each, about)."""
    from modelwatch.execution import window_partitions

    parts = window_partitions(spec, start, end, get_settings().home_dir, n_rows=n_rows)
    return [(p.start, p.end) for p in parts]


@task(name="merge-slice-reports", **TASK_DEFAULTS)
def merge_slice_reports(reports: list[tuple[str, Any]]) -> Any:
    """One validation report of a window validated slice by slice."""
    from modelwatch.execution import merge_slice_reports as merge

    return merge(reports)
