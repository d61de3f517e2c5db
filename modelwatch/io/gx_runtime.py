"""Great Expectations runtime: run an expectation suite on a DataFrame, report what failed.

:func:`validate_frame` runs a suite (a JSON dict, see :mod:`modelwatch.io.suites`)
on a frame and returns a frozen :class:`ValidationReport` of
:class:`ExpectationOutcome` s (short human text, never PII values). The GX
contexts and what is cached in them belong to a :class:`GXRuntime`;
:func:`validate_frame` uses the process's default one (:func:`default_runtime`).

* Without ``data_docs_dir``: an ephemeral GX context, with a validation
  definition cached per suite content.
* With ``data_docs_dir``: the same in-memory validation, then the result is put
  on the Data Docs site of a GX file project rooted there
  (:func:`modelwatch.io.datadocs.publish_result`: PII values scrubbed, HTML-escaped)
  — every time (``rebuild_docs="always"``) or only when the result failed or
  changed since the last page built for the suite (``"changed"``, what the monitor
  uses; the rule is :mod:`modelwatch.io.datadocs`'s).

Labels: expectations with ``meta.frame == "labels"`` read the window's labeled
rows, passed to :func:`validate_frame` as ``labels``.

``great_expectations`` costs seconds to import: it is imported lazily
(:func:`import_gx`), on the first validation, never at module import.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np
import pandas as pd

from modelwatch.errors import SuiteError, ValidationFailed
from modelwatch.io import datadocs
from modelwatch.io.datadocs import PII_HIDDEN, page_url, use_safe_page_view
from modelwatch.io.suites import check_suite, expectation_columns, fmt_number, json_value
from modelwatch.stats.params import param_error

__all__ = [
    "ExpectationOutcome",
    "GXRuntime",
    "ValidationReport",
    "default_runtime",
    "import_gx",
    "validate_frame",
]

#: kwargs that say how to run an expectation, not what it expects.
_RUNTIME_KWARGS: Final = frozenset(
    {"column", "column_list", "column_A", "column_B", "batch_id", "result_format"}
    | {"catch_exceptions", "include_config", "row_condition", "condition_parser"}
)

#: expectations that read column names only, never values.
_NAME_ONLY_TYPES: Final = frozenset(
    {
        "expect_column_to_exist",
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_column_count_to_be_between",
        "expect_table_column_count_to_equal",
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
    }
)


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class ExpectationOutcome:
    """The result of one expectation, as short human text (never PII values)."""

    expectation_type: str
    column: str | None
    severity: str
    success: bool
    observed: str
    expected: str
    frame: str = "predictions"  # the data the expectation read: "predictions" (the log) or "labels"

    def line(self) -> str:
        """``column 'score': expect_... min 0 max 1 — 12 unexpected (e.g. 1.3)``.

        An expectation on the labels reads ``column 'defaulted' in labels: ...``.
        """
        where = f"column {self.column!r}" if self.column is not None else "table"
        if self.frame != "predictions":
            where += f" in {self.frame}"
        what = f"{self.expectation_type} {self.expected}".strip()
        return f"{where}: {what} — {self.observed}"


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of one suite on one frame; ``success`` means no critical failure."""

    suite_name: str
    n_rows: int
    outcomes: tuple[ExpectationOutcome, ...]
    data_docs_path: str | None = None  # the Data Docs site's index.html
    data_docs_url: str | None = None  # file:// URL of this validation's page (else the index)

    @property
    def success(self) -> bool:
        return not self.critical_failures

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    def summary(self) -> str:
        """Readable multi-line summary: critical failures, then warnings."""
        critical, warnings = self.critical_failures, self.warnings
        if critical:
            lines = [
                f"{len(critical)} critical expectation(s) failed on {self.n_rows} rows "
                f"(suite {self.suite_name!r}):"
            ]
            lines += [f" - {o.line()}" for o in critical]
        else:
            lines = [
                f"all critical expectations passed on {self.n_rows} rows "
                f"(suite {self.suite_name!r}, {len(self.outcomes)} expectations)"
                + (":" if warnings else ".")
            ]
        if warnings:
            lines.append(f"{len(warnings)} warning(s):")
            lines += [f" - {o.line()}" for o in warnings]
        if self.data_docs_path:
            lines.append(f"Data Docs: {self.data_docs_path}")
        return "\n".join(lines)

    def raise_for_critical(self, source: str = "the window") -> None:
        """Raise :class:`~modelwatch.errors.ValidationFailed` (with the summary) on a critical failure."""
        if not self.success:
            raise ValidationFailed(
                f"{source} failed {len(self.critical_failures)} critical expectation(s) of "
                f"suite {self.suite_name!r}:\n"
                + "\n".join(f" - {o.line()}" for o in self.critical_failures),
                summary=self.summary(),
            )


def _fmt_value(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return fmt_number(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fmt_kwarg(key: str, value: Any, *, hide_values: bool = False) -> str:
    label = {"min_value": "min", "max_value": "max", "value_set": "in"}.get(key, key)
    if isinstance(value, list | tuple | set | frozenset):
        if hide_values:
            return f"{label} {{{len(value)} values}}"
        items = [_fmt_value(v) for v in value]
        shown = ", ".join(items[:8]) + (f", … (+{len(items) - 8})" if len(items) > 8 else "")
        return f"{label} {{{shown}}}"
    return f"{label} {_fmt_value(value)}"


def _expected_text(kwargs: Mapping[str, Any], *, pii: bool = False) -> str:
    """``min 0 max 1 mostly 0.99``: what the expectation expects, ``mostly`` last.

    For a PII column, value lists (e.g. a hand-written set of blocked emails)
    are shown as their size only.
    """
    keys = sorted(
        (k for k, v in kwargs.items() if k not in _RUNTIME_KWARGS and v is not None),
        key=lambda k: k == "mostly",
    )
    return " ".join(_fmt_kwarg(k, kwargs[k], hide_values=pii) for k in keys)


def _is_missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _exception_message(info: Mapping[str, Any]) -> str | None:
    """The message of an exception GX caught, or None (GX nests it per metric)."""
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message") or "unknown error")
    return None


def _observed_text(
    type_: str,
    success: bool,
    result: Mapping[str, Any],
    exception: Mapping[str, Any],
    *,
    pii: bool,
) -> str:
    message = _exception_message(exception)
    if message is not None:
        if "does not exist" in message:
            return "column missing (cannot evaluate)"
        first = message.strip().splitlines()[0] if message.strip() else message
        return "error: " + (first if len(first) <= 200 else first[:197] + "...")
    if type_ == "expect_column_to_exist":
        return "column present" if success else "column missing"
    if "unexpected_count" in result:
        count = int(result.get("unexpected_count") or 0)
        percent = result.get("unexpected_percent")
        text = f"{count} unexpected"
        if count and isinstance(percent, int | float):
            text += f" ({percent:.3g}%)"
        missing = int(result.get("missing_count") or 0)
        if missing and type_ != "expect_column_values_to_not_be_null":
            text += f", {missing} missing"
        if count and pii:
            return f"{text} ({PII_HIDDEN})"
        examples: list[str] = []
        for value in result.get("partial_unexpected_list") or []:
            shown = _fmt_value(value)
            if not _is_missing(value) and shown not in examples:
                examples.append(shown)
            if len(examples) == 3:
                break
        if examples:
            text += f" (e.g. {', '.join(examples)})"
        return text
    mismatched = (result.get("details") or {}).get("mismatched")
    if isinstance(mismatched, Mapping) and mismatched:
        parts = [f"{kind} columns {sorted(map(str, cols))}" for kind, cols in mismatched.items()]
        return "; ".join(parts)
    if "observed_value" in result:
        if pii:
            return PII_HIDDEN
        observed = _fmt_value(result["observed_value"])
        return f"{observed} rows" if "row_count" in type_ else f"observed {observed}"
    return "passed" if success else "failed"


def _listed(values: Sequence[Any], *, more: bool = False) -> str:
    """``[2]``, ``['maybe', 'yes']``: values as a short list (numbers bare, text quoted)."""
    shown = [repr(_fmt_value(v)) if isinstance(v, str) else _fmt_value(v) for v in values[:8]]
    if more or len(values) > 8:
        shown.append("…")
    return "[" + ", ".join(shown) + "]"


def _sorted_values(values: Sequence[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types (e.g. 1 and "1"): by their text
        return sorted(values, key=str)


def _outside_set_text(
    result: Mapping[str, Any], kwargs: Mapping[str, Any], meta: Mapping[str, Any]
) -> str:
    """``values [2] outside the binary classes [0, 1] of the reference (15 of 1200 labels)``."""
    partial = list(result.get("partial_unexpected_list") or [])
    found: list[Any] = []
    for value in partial:
        value = json_value(value)
        if not _is_missing(value) and value not in found:
            found.append(value)
    count = int(result.get("unexpected_count") or 0)
    value_set = _sorted_values([json_value(v) for v in kwargs.get("value_set") or []])
    classes = meta.get("classes")
    if classes == "binary":
        name = f"the binary classes {_listed(value_set)} of the reference"
    elif classes == "multiclass":
        name = f"the {len(value_set)} classes {_listed(value_set)} of the reference"
    else:
        name = f"the set {_listed(value_set)}"
    total = result.get("element_count")
    rows = f"{count} of {total} labels" if isinstance(total, int) else f"{count} labels"
    listed = _listed(_sorted_values(found), more=count > len(partial))
    return f"values {listed} outside {name} ({rows})"


# --------------------------------------------------------------------------- running suites


@cache
def import_gx() -> Any:
    """Import great_expectations once, with analytics off (it costs 4-11 s)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def _quiet(context: Any) -> Any:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _normalized(suite: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``suite`` where every expectation has a top-level severity (meta's, else critical)."""
    out = copy.deepcopy(dict(suite))
    out.setdefault("meta", {})
    exps = []
    for exp in out["expectations"]:
        exp = dict(exp)
        exp.setdefault("kwargs", {})
        meta = exp.get("meta") or {}
        exp["meta"] = meta
        if exp.get("severity") is None:
            exp["severity"] = meta.get("severity") or "critical"
        exp.pop("rendered_content", None)
        exp.pop("id", None)  # GX assigns ids when the suite is added to a context
        exps.append(exp)
    out["expectations"] = exps
    return out


def _suite_hash(suite: Mapping[str, Any]) -> str:
    text = json.dumps(suite, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _gx_suite(suite: dict[str, Any], *, name: str) -> Any:
    """A GX ExpectationSuite from the dict; a bad expectation is named in a SuiteError.

    Each expectation is built here: ``ExpectationSuite(expectations=[...])``
    only logs an unknown expectation type and silently drops it.
    """
    gx = import_gx()
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    built = []
    for i, exp in enumerate(suite["expectations"]):
        try:
            built.append(ExpectationConfiguration(**exp).to_domain_obj())
        except Exception as exc:
            raise SuiteError(
                f"suite {suite['name']!r}: expectations[{i}] ({exp.get('type')}) is not a "
                f"valid Great Expectations expectation: {_first_line(exc)}"
            ) from exc
    fields = {k: v for k, v in suite.items() if k in ("meta", "notes")}
    try:
        return gx.ExpectationSuite(name=name, expectations=built, **fields)
    except Exception as exc:
        raise SuiteError(f"suite {suite['name']!r} is invalid: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _without_optional(
    frame: pd.DataFrame, suite: Mapping[str, Any], optional: Sequence[str]
) -> pd.DataFrame:
    """``frame`` without the ``optional`` columns that no expectation of ``suite`` names."""
    named: set[str] = set()
    for exp in suite["expectations"]:
        kwargs = exp.get("kwargs") or {}
        named.update(expectation_columns(kwargs))
        named.update(str(c) for c in kwargs.get("column_set") or ())
    drop = [c for c in optional if c in frame.columns and c not in named]
    return frame.drop(columns=drop) if drop else frame


def _slim_frame(frame: pd.DataFrame, suite: Mapping[str, Any]) -> pd.DataFrame:
    """``frame`` with the columns no expectation reads the values of replaced by int8 zeros.

    GX's pandas engine filters the whole frame (``df[df[col].notnull()]``) for
    every column expectation, so unread columns (PII, segments: long Arrow
    strings) cost time in each of them; their names stay for the column-set
    and row-count expectations. Suites with a row condition or a table-level
    expectation that could read values are validated on the frame as it is.
    """
    read: set[str] = set()
    for exp in suite["expectations"]:
        kwargs = exp.get("kwargs") or {}
        columns = expectation_columns(kwargs)
        if kwargs.get("row_condition") or (not columns and exp["type"] not in _NAME_ONLY_TYPES):
            return frame
        if exp["type"] not in _NAME_ONLY_TYPES:
            read.update(columns)
    unread = [c for c in frame.columns if c not in read]
    if not unread or len(frame) == 0:
        return frame
    zeros = np.zeros(len(frame), dtype=np.int8)
    slim = frame.copy(deep=False)
    for column in unread:
        slim[column] = zeros
    return slim


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise param_error(
            "validate_frame", name, "a timezone-aware datetime", f"{value.isoformat()} (naive)"
        )
    return value.astimezone(UTC)


def _suite_parameters(
    window: tuple[datetime, datetime] | None, now: datetime | None
) -> dict[str, datetime]:
    """Values of the suite parameters ``window_start``, ``window_end`` and ``now``."""
    now = _utc(now, "now") if now is not None else datetime.now(UTC)
    if window is None:
        return {
            "window_start": datetime(1970, 1, 1, tzinfo=UTC),
            "window_end": now + timedelta(days=1),  # the future check decides
            "now": now,
        }
    start, end = _utc(window[0], "window"), _utc(window[1], "window")
    if end <= start:
        raise param_error(
            "validate_frame",
            "window",
            "(start, end) with start < end",
            (start.isoformat(), end.isoformat()),
        )
    return {"window_start": start, "window_end": end, "now": now}


def _split_by_frame(suite: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the expectations on the prediction log, those on the labels) as two suites."""
    on_labels = [e for e in suite["expectations"] if (e.get("meta") or {}).get("frame") == "labels"]
    if not on_labels:
        return suite, {**suite, "name": f"{suite['name']}-labels", "expectations": []}
    log = [e for e in suite["expectations"] if (e.get("meta") or {}).get("frame") != "labels"]
    return (
        {**suite, "expectations": log},
        {**suite, "name": f"{suite['name']}-labels", "expectations": on_labels},
    )


def _in_suite_order(
    suite: Mapping[str, Any],
    on_log: tuple[ExpectationOutcome, ...],
    on_labels: tuple[ExpectationOutcome, ...],
) -> tuple[ExpectationOutcome, ...]:
    """The outcomes of both parts of a suite (each in its part's order) in the suite's order."""
    is_label = [(e.get("meta") or {}).get("frame") == "labels" for e in suite["expectations"]]
    if (len(on_log), len(on_labels)) != (is_label.count(False), is_label.count(True)):
        return on_log + on_labels  # not one outcome per expectation: keep both as they came
    log_iter, label_iter = iter(on_log), iter(on_labels)
    return tuple(next(label_iter) if label else next(log_iter) for label in is_label)


def _outcomes(
    suite_result: Any,
    order: Mapping[str, int],
    pii: set[str],
    *,
    present: set[str] | None = None,
    frame: str = "predictions",
) -> tuple[ExpectationOutcome, ...]:
    """One outcome per expectation, in the suite's order (``order``: expectation id -> index).

    An expectation on a column missing from the frame (``present``: the
    frame's columns) reads "column missing (cannot evaluate)" whatever GX raised.
    ``frame`` names the data the suite read (``"labels"``: value-set failures
    list the values outside the set, see :func:`_outside_set_text`).
    """
    rows: list[tuple[int, ExpectationOutcome]] = []
    for res in suite_result.results:
        config = res.expectation_config
        kwargs = {k: v for k, v in dict(config.kwargs).items() if v is not None}
        severity = str(getattr(config.severity, "value", config.severity) or "critical")
        type_ = str(config.type)
        columns = expectation_columns(kwargs)
        involves_pii = not pii.isdisjoint(columns)
        missing = (
            present is not None
            and type_ != "expect_column_to_exist"
            and any(c not in present for c in columns)
        )
        observed = (
            "column missing (cannot evaluate)"
            if missing and not res.success
            else _observed_text(
                type_,
                bool(res.success),
                res.result or {},
                res.exception_info or {},
                pii=involves_pii,
            )
        )
        if (
            frame != "predictions"
            and type_ == "expect_column_values_to_be_in_set"
            and not res.success
            and not missing
            and not involves_pii
            and _exception_message(res.exception_info or {}) is None
        ):
            observed = _outside_set_text(res.result or {}, kwargs, config.meta or {})
        outcome = ExpectationOutcome(
            expectation_type=type_,
            column=", ".join(columns) if columns else None,
            severity=severity,
            success=bool(res.success),
            observed=observed,
            expected=_expected_text(kwargs, pii=involves_pii),
            frame=frame,
        )
        rows.append((order.get(config.id, len(order)), outcome))
    rows.sort(key=lambda row: row[0])
    return tuple(outcome for _, outcome in rows)


class GXRuntime:
    """The Great Expectations contexts of a process and what is cached in them.

    * one ephemeral context (pandas data source ``modelwatch``, dataframe asset
      ``frame``, whole-dataframe batch ``whole``), created on first use, with a
      ValidationDefinition per suite content (hash) for the life of the runtime;
      its in-memory results store is emptied after each run. Every validation runs
      here, with or without Data Docs;
    * per Data Docs root, a file context (its sites render with
      :func:`~modelwatch.io.datadocs.safe_page_view`), opened on the first page to
      build; a suite is written into it only when its content differs from the one
      the last build recorded (:func:`~modelwatch.io.datadocs.last_build`).

    GX contexts are not thread-safe and Prefect may call from pool threads:
    every run holds one lock, shared by all runtimes of the process.
    """

    _lock: ClassVar[threading.RLock] = threading.RLock()

    def __init__(self) -> None:
        self._ephemeral: Any = None  # the ephemeral context
        self._batch: Any = None  # its whole-dataframe batch definition
        self._validations: dict[str, Any] = {}  # suite hash -> ValidationDefinition
        self._docs: dict[str, Any] = {}  # data docs root -> FileDataContext

    def validate(
        self,
        frame: pd.DataFrame,
        suite: Mapping[str, Any],
        *,
        pii: Sequence[str] = (),
        data_docs_dir: Path | None = None,
        run_name: str | None = None,
        window: tuple[datetime, datetime] | None = None,
        now: datetime | None = None,
        result_format: str = "BASIC",
        labels: pd.DataFrame | None = None,
        rebuild_docs: str = "always",
        optional_columns: Sequence[str] = (),
    ) -> ValidationReport:
        """Run ``suite`` on ``frame``; see :func:`validate_frame` for the parameters."""
        if rebuild_docs not in ("always", "changed"):
            raise param_error(
                "validate_frame", "rebuild_docs", "'always' or 'changed'", rebuild_docs
            )
        if not isinstance(frame, pd.DataFrame):
            raise param_error("validate_frame", "frame", "a pandas DataFrame", type(frame).__name__)
        check_suite(suite, source="suite")
        if labels is not None and not isinstance(labels, pd.DataFrame):
            raise param_error(
                "validate_frame", "labels", "a pandas DataFrame or None", type(labels).__name__
            )
        parameters = _suite_parameters(window, now)
        whole = _normalized(suite)
        normalized, label_suite = _split_by_frame(whole)
        digest = _suite_hash(normalized)
        pii_set = set(pii)
        frame = _without_optional(frame, whole, optional_columns)
        data = _slim_frame(frame, normalized)
        import_gx()
        from great_expectations.core.run_identifier import RunIdentifier

        run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
        docs_path: str | None = None
        docs_url: str | None = None
        with self._lock:
            validation = self._ephemeral_validation(normalized, digest)
            result = validation.run(
                batch_parameters={"dataframe": data},
                expectation_parameters=parameters,
                result_format=result_format,
                run_id=run_id,
            )
            self._clear_ephemeral_results()
            order = {e.id: i for i, e in enumerate(validation.suite.expectations) if e.id}
            outcomes = _outcomes(result, order, pii_set, present={str(c) for c in frame.columns})
            if data_docs_dir is not None:
                docs_path, docs_url = self._data_docs(
                    Path(data_docs_dir).resolve(),
                    result,
                    suite=normalized,
                    digest=digest,
                    run_id=run_id,
                    pii=pii_set,
                    result_format=result_format,
                    always=rebuild_docs == "always",
                    positions=order,
                )
            if labels is not None and label_suite["expectations"]:
                on_labels = self._label_outcomes(
                    labels, label_suite, parameters=parameters, run_id=run_id, pii=pii_set
                )
                outcomes = _in_suite_order(whole, outcomes, on_labels)
        return ValidationReport(
            suite_name=normalized["name"],
            n_rows=len(frame),
            outcomes=outcomes,
            data_docs_path=docs_path,
            data_docs_url=docs_url,
        )

    def _ephemeral_validation(self, suite: dict[str, Any], digest: str) -> Any:
        """The cached ValidationDefinition of ``suite`` (hash ``digest``) in the ephemeral context."""
        if digest in self._validations:
            return self._validations[digest]
        gx = import_gx()
        if self._ephemeral is None:
            # GX announces the temporary folder of the ephemeral context's docs site at INFO:
            # noise in every run's log (and the demo's table); nothing is ever built there
            logging.getLogger("great_expectations.data_context.types.base").setLevel(
                logging.WARNING
            )
            context = _quiet(gx.get_context(mode="ephemeral"))
            asset = context.data_sources.add_pandas("modelwatch").add_dataframe_asset("frame")
            self._ephemeral = context
            self._batch = asset.add_batch_definition_whole_dataframe("whole")
        key = f"{suite['name']}-{digest}"
        gx_suite = self._ephemeral.suites.add(_gx_suite(suite, name=key))
        validation = self._ephemeral.validation_definitions.add(
            gx.ValidationDefinition(name=key, data=self._batch, suite=gx_suite)
        )
        self._validations[digest] = validation
        return validation

    def _clear_ephemeral_results(self) -> None:
        """Empty the ephemeral context's in-memory results store (it would grow for ever)."""
        store = self._ephemeral.validation_results_store
        for key in store.list_keys():
            store.remove_key(key)

    def _docs_context(self, root: Path) -> Any:
        """The GX file project rooted at ``root`` (created on first use), with its pandas asset."""
        key = str(root)
        if key not in self._docs:
            root.mkdir(parents=True, exist_ok=True)
            context = _quiet(import_gx().get_context(mode="file", project_root_dir=key))
            use_safe_page_view(context)
            source = context.data_sources.add_or_update_pandas("modelwatch")
            if not any(a.name == "frame" for a in source.assets):
                source.add_dataframe_asset("frame")
            self._docs[key] = context
        return self._docs[key]

    def _data_docs(
        self,
        root: Path,
        result: Any,
        *,
        suite: dict[str, Any],
        digest: str,
        run_id: Any,
        pii: set[str],
        result_format: str,
        always: bool,
        positions: dict[Any, int],
    ) -> tuple[str | None, str | None]:
        """(index.html, this result's page URL) after putting ``result`` on the site under
        ``root`` — unless ``always`` is False and it passed like the last page built for
        the suite: then (index.html, that page's URL). Caller holds the runtime's lock."""
        name = suite["name"]
        index = root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
        shown = datadocs.result_digest(
            result,
            suite_digest=digest,
            pii=sorted(pii),
            result_format=result_format,
            positions=positions,
        )
        with datadocs.docs_lock(root):
            last = datadocs.last_build(root, name)
            if not always and result.success and last.get("result") == shown and index.exists():
                return str(index), str(last.get("url") or index.as_uri())
            context = self._docs_context(root)
            if last.get("suite") != digest or not self._has_suite(context, name):
                context.suites.add_or_update(_gx_suite(suite, name=name))
            key = datadocs.publish_result(context, result, suite_name=name, run_id=run_id, pii=pii)
            url = page_url(context, key, index)
            built = {"suite": digest, "result": shown, "url": url}
            datadocs.record_build(root, name, {**built, "at": datetime.now(UTC).isoformat()})
        return (str(index) if index.exists() else None), url

    @staticmethod
    def _has_suite(context: Any, name: str) -> bool:
        try:
            context.suites.get(name)
        except Exception:  # GX raises its own not-found error class per version
            return False
        return True

    def _label_outcomes(
        self,
        labels: pd.DataFrame,
        suite: dict[str, Any],
        *,
        parameters: Mapping[str, datetime],
        run_id: Any,
        pii: set[str],
    ) -> tuple[ExpectationOutcome, ...]:
        """Outcomes of the label expectations on ``labels`` (ephemeral context; caller holds the lock)."""
        validation = self._ephemeral_validation(suite, _suite_hash(suite))
        result = validation.run(
            batch_parameters={"dataframe": _slim_frame(labels, suite)},
            expectation_parameters=parameters,
            result_format="BASIC",
            run_id=run_id,
        )
        self._clear_ephemeral_results()
        order = {e.id: i for i, e in enumerate(validation.suite.expectations) if e.id}
        return _outcomes(
            result, order, pii, present={str(c) for c in labels.columns}, frame="labels"
        )


_DEFAULT_RUNTIME: Final = GXRuntime()


def default_runtime() -> GXRuntime:
    """The process's runtime, used by :func:`validate_frame` (its contexts live as long as it)."""
    return _DEFAULT_RUNTIME


def validate_frame(
    frame: pd.DataFrame,
    suite: Mapping[str, Any],
    *,
    pii: Sequence[str] = (),
    data_docs_dir: Path | None = None,
    run_name: str | None = None,
    window: tuple[datetime, datetime] | None = None,
    now: datetime | None = None,
    result_format: str = "BASIC",
    labels: pd.DataFrame | None = None,
    rebuild_docs: str = "always",
    optional_columns: Sequence[str] = (),
) -> ValidationReport:
    """Run ``suite`` on ``frame`` with Great Expectations; return what passed and failed.

    The suite runs in an in-memory (ephemeral) GX context, cached per suite
    content for the life of the process. With ``data_docs_dir``: the result is
    then put on the Data Docs site of a GX file project rooted there
    (``<data_docs_dir>/gx/``); ``data_docs_path`` is its ``index.html``,
    ``data_docs_url`` the result's page. ``rebuild_docs="changed"``: the site is
    rebuilt only when the result failed or differs from the last page built for
    the suite (:mod:`modelwatch.io.datadocs`), else the URL is that page's
    (``"always"``, the default: every result gets its page). Values of the ``pii``
    columns are never reported.

    Suite parameters: ``window_start`` / ``window_end`` (``window``, tz-aware;
    without it the window check only excludes the future) and ``now`` (default:
    the current UTC time). ``result_format`` is GX's: ``"BASIC"`` (unexpected
    counts and up to 20 examples) is 35-40 % faster than ``"SUMMARY"`` (which
    adds value counts of the unexpected values) on 100k rows; ``"BOOLEAN_ONLY"``
    is faster still but reports no counts or examples.

    Expectations with ``meta.frame == "labels"`` read ``labels`` (the window's
    predictions joined with their labels) instead of ``frame``, in the
    ephemeral context (they are not on the Data Docs page); their outcomes take
    their place in the suite's order and read ``column 'defaulted' in labels:
    ... values [2] outside the binary classes [0, 1] of the reference``.
    Without ``labels`` they are skipped.

    ``optional_columns``: columns the frame may carry beyond what the suite declares
    (a staged rollout's ``variant`` and ``shadow_<output>`` columns): those no
    expectation names are left out of the validated frame, so an exact column-set
    expectation does not report them as unexpected; any other extra column still is.
    The caller's frame is not modified.

    Runs in the process's :func:`default_runtime`.
    """
    return _DEFAULT_RUNTIME.validate(
        frame,
        suite,
        pii=pii,
        data_docs_dir=data_docs_dir,
        run_name=run_name,
        window=window,
        now=now,
        result_format=result_format,
        labels=labels,
        rebuild_docs=rebuild_docs,
        optional_columns=optional_columns,
    )
