"""``validate_window``: load one window and run the model's Great Expectations suite.

quarantine gate → load the window (unreadable file: quarantine it, fail) → GX
suite → data-quality statistics (stored, published) → Data Docs link and
validation summary → critical failure: quarantine the window's files, fail.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from prefect import flow
from pydantic import Field

from flows.common import current_flow_run_id, window_bounds, window_label
from modelwatch import assessment as gate
from modelwatch.assessment import GateFailure
from modelwatch.errors import DataError, ValidationFailed
from tasks import data, publish, quality, store

if TYPE_CHECKING:
    from modelwatch.io.gx_runtime import ValidationReport
    from modelwatch.io.sources import WindowData
    from modelwatch.spec import MonitorSpec
    from modelwatch.stats.data_quality import DataQualityStats


@dataclass(frozen=True)
class ValidatedWindow:
    window: WindowData
    report: ValidationReport | None  # None when the window holds no rows
    quality: DataQualityStats | None = None  # None when the window holds no rows


@dataclass(frozen=True)
class ValidatedSlices:
    """A streamed window validated slice by slice (``execution.batch_rows`` rows each)."""

    start: datetime
    end: datetime
    n_rows: int
    n_slices: int
    report: ValidationReport  # the slices' reports merged (modelwatch.execution)


def _refuse(
    spec: MonitorSpec,
    window: tuple[datetime, datetime],
    files: list[tuple[str, str]],
    failure: GateFailure,
    *,
    dry_run: bool,
    reason: str,
) -> None:
    """Quarantine the files, publish why, alert (a dry run only publishes)."""
    if not dry_run:
        store.quarantine_window(
            spec.name, window, files, reason=reason, flow_run_id=current_flow_run_id()
        )
    publish.publish_markdown(f"{spec.name}-validation", failure.markdown, failure.description)
    if not dry_run:
        publish.send_alert(spec, failure.alert)


@flow(name="validate-window", flow_run_name="validate-{model_name}", log_prints=True)
def validate_window(
    model_name: str,
    window_end: datetime | None = None,
    window_hours: Annotated[float, Field(gt=0)] | None = None,
    dry_run: bool = False,
) -> ValidatedWindow:
    """Validate a window. A critical failure quarantines its files (never modified) and fails.

    Args:
        model_name: Monitored model (the name of deployments/specs/<model>.yaml).
        window_end: End of the window (UTC, exclusive); default: the last complete window.
        window_hours: Window length in hours; default: the spec's schedule.window_hours.
        dry_run: Validate and publish artifacts, but change nothing: no store rows, no quarantine, no Data Docs, no alerts.
    """
    spec = data.load_spec(model_name)
    store.check_schema()  # never a half-written run on a store of another revision
    start, end = window_bounds(window_end, window_hours or spec.schedule.window_hours)
    return validate_window_steps(spec, start, end, dry_run=dry_run)


def validate_window_steps(
    spec: MonitorSpec, start: datetime, end: datetime, *, dry_run: bool = False
) -> ValidatedWindow:
    """The steps of ``validate-window`` as tasks of the calling flow run.

    ``monitor-model`` calls this instead of the subflow: a Prefect subflow costs a
    parent task run, a flow run and its state changes through the API plus the join of
    its heartbeat thread (about 2-3 s per call on this kind of machine), a task costs
    events only. The caller has loaded the spec and checked the store's schema.
    """
    model_name = spec.name
    label = window_label(start)
    held = quality.quarantined_files(model_name, start)
    if held:
        raise ValidationFailed(
            gate.quarantined_message(model_name, label=label, start=start, held=held)
        )
    try:
        window = data.load_window(spec, start, end)
    except DataError as exc:
        files = data.file_checksums((exc.path,) if exc.path else ())
        failure = gate.unreadable_window(
            model_name, label=label, error=str(exc), n_files=len(files)
        )
        _refuse(spec, (start, end), files, failure, dry_run=dry_run, reason=str(exc))
        raise ValidationFailed(failure.message, summary=str(exc)) from exc
    if window.n_rows == 0:
        return ValidatedWindow(window=window, report=None)
    report = quality.run_suite(
        spec,
        window.predictions,
        (start, end),
        f"{model_name}-{label}",
        labels=window.labeled,
        dry_run=dry_run,
    )
    stats = quality.data_quality(spec, window)
    # the source reader resolved these (latest label wins); report them beside the others
    stats = replace(
        stats,
        conflicting_labels=window.conflicting_labels,
        conflicting_label_ids=window.conflicting_label_ids,
    )
    if not dry_run:
        quality.save_data_quality(model_name, (start, end), stats, current_flow_run_id())
    quality.publish_data_quality(model_name, label, stats)
    if report.data_docs_url:
        publish.publish_link(
            f"{model_name}-data-docs",
            publish.data_docs_link(report.data_docs_url),
            "Great Expectations Data Docs",
            f"Validation of {model_name} window {label}",
        )
    summary = report.summary()
    if not report.success:
        checksums = data.file_checksums(window.files)
        failure = gate.failed_validation(
            model_name, label=label, summary=summary, n_files=len(window.files)
        )
        _refuse(spec, (start, end), checksums, failure, dry_run=dry_run, reason=summary)
        raise ValidationFailed(failure.message, summary=summary)
    publish.publish_markdown(
        f"{model_name}-validation",
        gate.passed_validation_markdown(model_name, label=label, report=report),
        "Expectation results (warnings are listed)",
    )
    return ValidatedWindow(window=window, report=report, quality=stats)


@flow(
    name="validate-streamed-window",
    flow_run_name="validate-streamed-{model_name}",
    log_prints=True,
)
def validate_streamed_window(
    model_name: str, window_end: datetime, window_hours: float, n_rows: int, dry_run: bool = False
) -> ValidatedSlices:
    """Validate a window too large for one frame, one time slice in memory at a time.

    Every row meets the row-level expectations (their unexpected counts add up over
    the slices); aggregate expectations (a mean, a row count) are judged per slice. A
    critical failure in any slice quarantines that slice's files and fails the run.
    Data-quality statistics are not computed for a streamed window.

    Args:
        model_name: Monitored model (the name of deployments/specs/<model>.yaml).
        window_end: End of the window (UTC, exclusive).
        window_hours: Window length in hours.
        n_rows: The window's rows (from the source's metadata), which sets the slices.
        dry_run: Validate and publish artifacts, but change nothing: no quarantine, no alerts.
    """
    spec = data.load_spec(model_name)
    store.check_schema()
    start, end = window_bounds(window_end, window_hours)
    return validate_streamed_steps(spec, start, end, n_rows, dry_run=dry_run)


def validate_streamed_steps(
    spec: MonitorSpec, start: datetime, end: datetime, n_rows: int, *, dry_run: bool = False
) -> ValidatedSlices:
    """The steps of ``validate-streamed-window`` as tasks of the calling flow run (see
    :func:`validate_window_steps`)."""
    model_name = spec.name
    label = window_label(start)
    held = quality.quarantined_files(model_name, start)
    if held:
        raise ValidationFailed(
            gate.quarantined_message(model_name, label=label, start=start, held=held)
        )
    reports: list[tuple[str, Any]] = []
    failing_files: list[str] = []
    bounds: Any = data.slice_bounds(spec, start, end, n_rows)
    for lo, hi in bounds:
        window: Any = data.load_window(spec, lo, hi)
        if window.n_rows == 0:
            continue
        report: Any = quality.run_suite(
            spec, window.predictions, (lo, hi), f"{model_name}-{label}-{lo:%H%M%S}",
            labels=window.labeled, dry_run=dry_run,
        )  # fmt: skip
        reports.append((f"{lo:%H:%M:%S}", report))
        if not report.success:
            failing_files.extend(window.files)
    merged: Any = data.merge_slice_reports(reports)
    summary = f"{merged.summary()} (validated in {len(reports)} slices)"
    if not merged.success:
        failure = gate.failed_validation(
            model_name, label=label, summary=summary, n_files=len(failing_files)
        )
        checksums = data.file_checksums(tuple(dict.fromkeys(failing_files)))
        _refuse(spec, (start, end), checksums, failure, dry_run=dry_run, reason=summary)
        raise ValidationFailed(failure.message, summary=summary)
    publish.publish_markdown(
        f"{model_name}-validation",
        gate.passed_validation_markdown(model_name, label=label, report=merged),
        f"Expectation results over {len(reports)} slices (warnings are listed)",
    )
    return ValidatedSlices(start, end, merged.n_rows, len(reports), merged)
