"""``validate_window``: load one window and run the model's Great Expectations suite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from prefect import flow
from pydantic import Field

from flows.common import current_flow_run_id, window_bounds, window_label
from modelwatch.errors import ValidationFailed
from tasks import data, publish, quality, store

if TYPE_CHECKING:
    from modelwatch.io.quality import ValidationReport
    from modelwatch.io.sources import WindowData


@dataclass(frozen=True)
class ValidatedWindow:
    window: WindowData
    report: ValidationReport | None  # None when the window holds no rows


@flow(name="validate-window", flow_run_name="validate-{model_name}", log_prints=True)
def validate_window(
    model_name: str,
    window_end: datetime | None = None,
    window_hours: Annotated[float, Field(gt=0)] | None = None,
) -> ValidatedWindow:
    """Validate a window. A critical failure quarantines its files (never modified) and fails.

    Args:
        model_name: Monitored model (the name of deployments/specs/<model>.yaml).
        window_end: End of the window (UTC, exclusive); default: the last complete window.
        window_hours: Window length in hours; default: the spec's schedule.window_hours.
    """
    spec = data.load_spec(model_name)
    start, end = window_bounds(window_end, window_hours or spec.schedule.window_hours)
    window = data.load_window(spec, start, end)
    if window.n_rows == 0:
        return ValidatedWindow(window=window, report=None)
    report = quality.run_suite(
        spec, window.predictions, (start, end), f"{model_name}-{window_label(start)}"
    )
    if report.data_docs_path:
        publish.publish_link(
            f"{model_name}-data-docs",
            f"file://{report.data_docs_path}",
            "Great Expectations Data Docs",
            f"Validation of {model_name} window {window_label(start)}",
        )
    if not report.success:
        checksums = data.file_checksums(window.files)
        summary = report.summary()
        store.quarantine_window(model_name, start, end, checksums, summary, current_flow_run_id())
        publish.publish_markdown(
            f"{model_name}-validation",
            f"# Validation failed: {model_name} {window_label(start)}\n\n"
            f"Files quarantined (left untouched): {len(window.files)}\n\n```\n{summary}\n```\n",
            "Critical expectation failures",
        )
        raise ValidationFailed(
            f"window {window_label(start)} of model {model_name!r} failed validation; "
            f"{len(window.files)} file(s) quarantined, none modified.\n{summary}",
            summary=summary,
        )
    return ValidatedWindow(window=window, report=report)
