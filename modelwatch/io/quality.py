"""Great Expectations 1.x adapter: build, store and run the expectation suite of a model.

A suite is a plain JSON dict in the shape of ``ExpectationSuite.to_json_dict()``::

    {"name": "credit", "expectations": [{"type": ..., "kwargs": {...},
      "severity": "critical" | "warning" | "info",
      "meta": {"severity": ..., "notes": "<sentence>", "generated_by": "modelwatch"}}, ...]}

* :func:`build_suite` derives the suite of a model's *prediction log* from its
  reference data and monitor spec (no Great Expectations import needed);
  :func:`merge_suites` regenerates it while keeping hand-written expectations
  (those without ``meta.generated_by == "modelwatch"``); :func:`write_suite` /
  :func:`load_suite` store it as stable, pretty JSON under ``expectations/``.
* :func:`validate_frame` runs a suite on a DataFrame with an ephemeral GX
  context (cached per suite content) and returns a frozen
  :class:`ValidationReport`. With ``data_docs_dir`` it runs a GX Checkpoint in a
  file context rooted there and updates the local Data Docs site.
* :func:`data_quality_stats` computes, with pandas, the numbers stored for every
  window besides the suite's verdict: missing share per column, duplicate rows
  and ids, out-of-range share, new categories, type mismatches.

Severity: GX 1.x has a built-in ``severity`` per expectation (default
``critical``); an expectation that only carries ``meta.severity`` (hand-written
suites) gets that value. A critical failure means the window must be
quarantined; warnings are reported.

PII: values of PII columns never appear in outcomes, summaries or Data Docs
(unexpected-value examples and observed values of those columns are dropped
before anything is rendered or stored).

HTML: the Data Docs site renders HTML-escaped copies of the validation results
and escapes column names in section titles (:func:`_html_safe_result`,
:func:`_safe_page_view`): a window value or column name like ``<script>`` is
shown as text, never run. Outcomes and summaries keep the raw text.

Labels: expectations with ``meta.frame == "labels"`` (the generated one: the
target's classes in the reference) read the window's labeled rows, passed to
:func:`validate_frame` as ``labels``.

``great_expectations`` costs seconds to import: it is imported lazily, on the
first validation, never at module import.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import math
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from modelwatch.errors import SchemaError, SuiteError, ValidationFailed
from modelwatch.spec import MonitorSpec

__all__ = [
    "FRAMES",
    "GENERATED_BY",
    "NUMERIC_TYPES",
    "SEVERITIES",
    "ColumnQuality",
    "DataQualityStats",
    "ExpectationOutcome",
    "SuiteDiff",
    "SuiteError",
    "ValidationReport",
    "build_suite",
    "data_quality_stats",
    "diff_suites",
    "load_suite",
    "merge_suites",
    "validate_frame",
    "write_suite",
]

GENERATED_BY: Final = "modelwatch"
_FLOAT_MAX: Final = sys.float_info.max  # finite bounds: ``between`` then rejects only ±inf
_SOME: Final = 1e-6  # ``mostly`` of "not entirely null": fails only when every value is missing
SEVERITIES: Final = ("critical", "warning", "info")
#: ``meta.frame`` of an expectation: the data it reads (absent: the prediction log).
FRAMES: Final = ("predictions", "labels")

#: kwargs that say how to run an expectation, not what it expects.
_RUNTIME_KWARGS: Final = frozenset(
    {"column", "column_list", "column_A", "column_B", "batch_id", "result_format"}
    | {"catch_exceptions", "include_config", "row_condition", "condition_parser"}
)
#: result keys that may hold data values (dropped for PII columns).
_VALUE_KEYS: Final = (
    "partial_unexpected_list",
    "partial_unexpected_counts",
    "unexpected_list",
    "unexpected_rows",
    "observed_value",
    "details",
)
_PII_HIDDEN: Final = "values hidden: PII column"
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
#: dtypes accepted for numeric features (GX names; ``*Dtype``: pandas nullable dtypes).
NUMERIC_TYPES: Final = (
    "float64",
    "float32",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint64",
    "uint32",
    "uint16",
    "uint8",
    "Float64Dtype",
    "Float32Dtype",
    "Int64Dtype",
    "Int32Dtype",
    "Int16Dtype",
    "Int8Dtype",
    "UInt64Dtype",
    "UInt32Dtype",
    "UInt16Dtype",
    "UInt8Dtype",
)


# --------------------------------------------------------------------------- building suites


def _json_value(value: Any) -> Any:
    """A JSON-safe Python scalar from a numpy/pandas scalar."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _fmt_number(value: float) -> str:
    return f"{value:.6g}"


def _expectation(type_: str, severity: str, notes: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "kwargs": kwargs,
        "meta": {"severity": severity, "notes": notes, "generated_by": GENERATED_BY},
        "severity": severity,
    }


def _check_reference(reference: pd.DataFrame, spec: MonitorSpec) -> None:
    cols = spec.columns
    declared = [(c, "numeric") for c in cols.numeric]
    declared += [(c, "categorical") for c in cols.categorical]
    declared.append((cols.target, "the target"))
    for column, kind in declared:
        if column not in reference.columns:
            raise SchemaError(
                f"column {column!r} is missing from the reference data of model {spec.name!r}; "
                f"the spec declares it {kind}"
            )
    for column in cols.numeric:
        dtype = reference[column].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
            raise SchemaError(
                f"column {column!r} in the reference data of model {spec.name!r} has dtype "
                f"{dtype}; the spec declares it numeric"
            )
    if len(reference) == 0:
        raise SchemaError(f"the reference data of model {spec.name!r} has no rows")


def _not_null_mostly(null_share: float, *, margin: float, typical_rows: int | None) -> float:
    """Lowest acceptable non-null share: observed share minus a margin (binomial 3 sigma)."""
    if typical_rows:
        p = max(null_share, 1.0 / typical_rows)
        margin = max(margin, 3.0 * math.sqrt(p * (1.0 - p) / typical_rows))
    return max(0.0, round(1.0 - null_share - margin, 4))


def build_suite(
    reference: pd.DataFrame,
    spec: MonitorSpec,
    *,
    typical_rows: int | None = None,
    range_margin: float = 0.1,
    null_margin: float = 0.01,
    mostly: float = 0.99,
) -> dict[str, Any]:
    """The GX suite (JSON dict) of the prediction log of ``spec``'s model, derived from ``reference``.

    The prediction log holds the id, timestamp, features, prediction, score,
    latency and PII columns (no target); ``reference`` holds the features and
    the target. Generated expectations:

    * critical: at least one row; the id, timestamp, feature, prediction and
      score (and variant) columns exist; numeric features have a numeric
      dtype; id unique and not null; timestamp, prediction and score not
      null; timestamps inside the window (suite parameters ``window_start``,
      ``window_end``) and not in the future (``now``), see
      :func:`validate_frame`; score in [0, 1]; prediction in the target
      classes of the reference (classification).
    * critical, on the labels (``meta.frame: "labels"``, see :func:`validate_frame`):
      the target takes one of its classes seen in the reference (classification;
      a third class in a binary target is a validation failure, not a metric error).
    * warning: no columns besides the declared ones; the latency column exists
      and is >= 0; features not null with ``mostly`` = 1 - reference null
      share - ``null_margin``; numeric features within the reference range
      widened by ``range_margin`` x its span (``mostly``); categorical features
      in the reference categories (``mostly``); regression predictions within
      the widened target range.

    ``typical_rows`` (rows of a normal window), when given, widens the
    null-share margin to the binomial 3-sigma noise at that size and adds a
    warning when a window has fewer than a tenth or more than ten times as
    many rows. PII columns get no value expectations (their values are never read).
    """
    if range_margin < 0:
        raise ValueError(
            f"The 'range_margin' parameter of build_suite must be >= 0. Got {range_margin} instead."
        )
    if not 0 <= null_margin < 1:
        raise ValueError(
            "The 'null_margin' parameter of build_suite must be in [0, 1). "
            f"Got {null_margin} instead."
        )
    if not 0 < mostly <= 1:
        raise ValueError(
            f"The 'mostly' parameter of build_suite must be in (0, 1]. Got {mostly} instead."
        )
    if typical_rows is not None and typical_rows < 1:
        raise ValueError(
            "The 'typical_rows' parameter of build_suite must be an int >= 1 or None. "
            f"Got {typical_rows} instead."
        )
    _check_reference(reference, spec)
    expectations = [
        *_table_expectations(spec, typical_rows=typical_rows),
        *_output_expectations(reference, spec, range_margin=range_margin, mostly=mostly),
        *_label_expectations(reference, spec),
        *_feature_expectations(
            reference,
            spec,
            typical_rows=typical_rows,
            range_margin=range_margin,
            null_margin=null_margin,
            mostly=mostly,
        ),
    ]
    return {
        "name": spec.name,
        "id": None,
        "expectations": expectations,
        "meta": {
            "generated_by": GENERATED_BY,
            "great_expectations_version": _gx_version(),
            "reference_rows": len(reference),
        },
        "notes": f"Prediction log of model {spec.name!r}; generated by modelwatch from the "
        "reference data. Hand-written expectations (without meta.generated_by) are kept "
        "when the suite is regenerated.",
    }


def _log_columns(spec: MonitorSpec) -> list[str]:
    """Every column the prediction log of ``spec`` is declared to have."""
    cols = spec.columns
    declared = [cols.id, cols.timestamp, *cols.features, *cols.segments, cols.prediction]
    declared += [c for c in (cols.score, cols.variant, cols.latency_ms) if c is not None]
    declared += list((cols.class_scores or {}).values())
    return list(dict.fromkeys([*declared, *cols.pii]))


def _table_expectations(spec: MonitorSpec, *, typical_rows: int | None) -> list[dict[str, Any]]:
    cols = spec.columns
    exps = [
        _expectation(
            "expect_table_row_count_to_be_between",
            "critical",
            "The window has at least one prediction.",
            min_value=1,
        )
    ]
    if typical_rows is not None:
        low, high = max(1, math.ceil(typical_rows / 10)), typical_rows * 10
        exps.append(
            _expectation(
                "expect_table_row_count_to_be_between",
                "warning",
                f"A normal window has about {typical_rows} rows; fewer than {low} or more "
                f"than {high} means traffic or logging changed.",
                min_value=low,
                max_value=high,
            )
        )
    exps.append(
        _expectation(
            "expect_table_columns_to_match_set",
            "warning",
            "The prediction log has exactly the columns the spec declares "
            "(an extra column may be a schema change upstream).",
            column_set=sorted(_log_columns(spec)),
            exact_match=True,
        )
    )
    required = [cols.id, cols.timestamp, *cols.features, cols.prediction]
    required += [c for c in (cols.score, cols.variant) if c is not None]
    required += list((cols.class_scores or {}).values())
    for column in dict.fromkeys(required):
        exps.append(
            _expectation(
                "expect_column_to_exist",
                "critical",
                f"Column {column!r} is required to monitor model {spec.name!r}.",
                column=column,
            )
        )
    if cols.latency_ms is not None:
        exps.append(
            _expectation(
                "expect_column_to_exist",
                "warning",
                f"Column {cols.latency_ms!r} is needed for latency monitoring.",
                column=cols.latency_ms,
            )
        )
    exps.append(
        _expectation(
            "expect_column_values_to_not_be_null",
            "critical",
            "Every prediction has an id (labels are joined on it).",
            column=cols.id,
        )
    )
    exps.append(
        _expectation(
            "expect_column_values_to_be_unique",
            "critical",
            "Prediction ids are unique (a duplicate would double-count a prediction "
            "and break the label join).",
            column=cols.id,
        )
    )
    exps.append(
        _expectation(
            "expect_column_values_to_not_be_null",
            "critical",
            "Every prediction has a timestamp (windows are cut on it).",
            column=cols.timestamp,
        )
    )
    exps.append(
        _expectation(
            "expect_column_values_to_be_between",
            "critical",
            "Every timestamp lies inside the validated window [window_start, window_end) "
            "(UTC); rows of another window would be counted twice.",
            column=cols.timestamp,
            min_value={"$PARAMETER": "window_start"},
            max_value={"$PARAMETER": "window_end"},
            strict_max=True,
        )
    )
    exps.append(
        _expectation(
            "expect_column_values_to_be_between",
            "critical",
            "No timestamp is in the future (a clock or time-zone error upstream).",
            column=cols.timestamp,
            max_value={"$PARAMETER": "now"},
        )
    )
    return exps


def _output_expectations(
    reference: pd.DataFrame, spec: MonitorSpec, *, range_margin: float, mostly: float
) -> list[dict[str, Any]]:
    cols = spec.columns
    exps = [
        _expectation(
            "expect_column_values_to_not_be_null",
            "critical",
            "Every row has a prediction.",
            column=cols.prediction,
        )
    ]
    for score in cols.score_columns:  # binary: score; multiclass: one per class_scores entry
        exps.append(
            _expectation(
                "expect_column_values_to_not_be_null",
                "critical",
                "Every row has a score.",
                column=score,
            )
        )
        exps.append(
            _expectation(
                "expect_column_values_to_be_between",
                "critical",
                "The score is a probability, in [0, 1].",
                column=score,
                min_value=0,
                max_value=1,
            )
        )
    target = reference[cols.target].dropna()
    if spec.task in ("binary", "multiclass"):
        classes = sorted(_json_value(v) for v in pd.unique(target))
        exps.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                "critical",
                f"The model predicts one of the {len(classes)} classes of the target "
                f"{cols.target!r} seen in the reference.",
                column=cols.prediction,
                value_set=classes,
            )
        )
    elif len(target):
        lo, hi = _widened_range(target, range_margin)
        exps.append(
            _expectation(
                "expect_column_values_to_be_between",
                "warning",
                f"Predictions stay within the reference range of {cols.target!r} "
                f"widened by {range_margin:.0%} of its span.",
                column=cols.prediction,
                min_value=lo,
                max_value=hi,
                mostly=mostly,
            )
        )
    if cols.latency_ms is not None:
        exps.append(
            _expectation(
                "expect_column_values_to_be_between",
                "warning",
                "Serving latency is not negative.",
                column=cols.latency_ms,
                min_value=0,
            )
        )
    return exps


def _label_expectations(reference: pd.DataFrame, spec: MonitorSpec) -> list[dict[str, Any]]:
    """Expectations on the labels joined to a window (``meta.frame == "labels"``)."""
    cols = spec.columns
    if spec.task not in ("binary", "multiclass"):
        return []
    classes = sorted(_json_value(v) for v in pd.unique(reference[cols.target].dropna()))
    exp = _expectation(
        "expect_column_values_to_be_in_set",
        "critical",
        f"Every label of the target {cols.target!r} is one of the {len(classes)} classes seen "
        "in the reference (another class breaks the performance metrics and retraining).",
        column=cols.target,
        value_set=classes,
    )
    exp["meta"].update(frame="labels", classes=spec.task)
    return [exp]


def _feature_expectations(
    reference: pd.DataFrame,
    spec: MonitorSpec,
    *,
    typical_rows: int | None,
    range_margin: float,
    null_margin: float,
    mostly: float,
) -> list[dict[str, Any]]:
    cols = spec.columns
    exps = []
    for column in cols.numeric:
        exps.append(
            _expectation(
                "expect_column_values_to_be_in_type_list",
                "critical",
                f"Feature {column!r} is numeric, as the spec declares (strings or objects "
                "here break drift and performance statistics).",
                column=column,
                type_list=list(NUMERIC_TYPES),
            )
        )
    for column in cols.numeric:
        exps.append(
            _expectation(
                "expect_column_values_to_be_between",
                "critical",
                f"Feature {column!r} is finite (±inf means an overflow or a division by zero "
                "upstream; it breaks drift and performance statistics).",
                column=column,
                min_value=-_FLOAT_MAX,
                max_value=_FLOAT_MAX,
            )
        )
    for column in cols.features:
        null_share = float(reference[column].isna().mean())
        if null_share < 1:
            exps.append(
                _expectation(
                    "expect_column_values_to_not_be_null",
                    "critical",
                    f"Feature {column!r} is not missing in every row (an all-missing column is "
                    "a missing column in disguise); mostly=1e-6: one value in a million suffices.",
                    column=column,
                    mostly=_SOME,
                )
            )
        floor = _not_null_mostly(null_share, margin=null_margin, typical_rows=typical_rows)
        if floor > 0:
            exps.append(
                _expectation(
                    "expect_column_values_to_not_be_null",
                    "warning",
                    f"Feature {column!r} is missing in {null_share:.2%} of the reference; "
                    f"at most {1 - floor:.2%} missing is expected.",
                    column=column,
                    mostly=floor,
                )
            )
    for column in cols.numeric:
        values = reference[column].dropna()
        values = values[np.isfinite(values.to_numpy(dtype="float64"))]
        if not len(values):
            continue
        lo, hi = _widened_range(values, range_margin)
        exps.append(
            _expectation(
                "expect_column_values_to_be_between",
                "warning",
                f"Feature {column!r} stays within its reference range "
                f"[{_fmt_number(float(values.min()))}, {_fmt_number(float(values.max()))}] "
                f"widened by {range_margin:.0%} of its span.",
                column=column,
                min_value=lo,
                max_value=hi,
                mostly=mostly,
            )
        )
    for column in cols.categorical:
        categories = sorted(str(v) for v in pd.unique(reference[column].dropna()))
        exps.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                "warning",
                f"Feature {column!r} takes one of the {len(categories)} categories "
                "seen in the reference.",
                column=column,
                value_set=categories,
                mostly=mostly,
            )
        )
    return exps


def _widened_range(values: pd.Series, margin: float) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo
    pad = margin * span if span > 0 else margin * max(abs(lo), 1.0)
    low = lo - pad
    if lo >= 0 > low:  # a column never negative in the reference stays non-negative
        low = 0.0
    return low, hi + pad


def _gx_version() -> str:
    try:
        return metadata.version("great_expectations")
    except metadata.PackageNotFoundError:  # pragma: no cover - GX is a dependency
        return "unknown"


# --------------------------------------------------------------------------- suite files


def _check_suite(suite: Any, *, source: str) -> None:
    """Raise SuiteError unless ``suite`` has the to_json_dict() shape."""
    if not isinstance(suite, Mapping):
        raise SuiteError(
            f"{source}: an expectation suite must be a JSON object, got {type(suite).__name__}"
        )
    name = suite.get("name")
    if not isinstance(name, str) or not name:
        raise SuiteError(f"{source}: the suite has no 'name' (got {name!r})")
    expectations = suite.get("expectations")
    if not isinstance(expectations, list):
        raise SuiteError(
            f"{source}: 'expectations' must be a list, got {type(expectations).__name__}"
        )
    for i, exp in enumerate(expectations):
        where = f"{source}: expectations[{i}]"
        if not isinstance(exp, Mapping):
            raise SuiteError(f"{where} must be an object, got {type(exp).__name__}")
        if not isinstance(exp.get("type"), str):
            raise SuiteError(f"{where} has no 'type' (got {exp.get('type')!r})")
        if not isinstance(exp.get("kwargs", {}), Mapping):
            raise SuiteError(f"{where} ({exp['type']}): 'kwargs' must be an object")
        meta = exp.get("meta") or {}
        if not isinstance(meta, Mapping):
            raise SuiteError(f"{where} ({exp['type']}): 'meta' must be an object")
        if meta.get("frame") is not None and meta.get("frame") not in FRAMES:
            raise SuiteError(
                f"{where} ({exp['type']}): meta.frame must be one of {list(FRAMES)}; "
                f"got {meta.get('frame')!r}"
            )
        for severity in (exp.get("severity"), meta.get("severity")):
            if severity is not None and severity not in SEVERITIES:
                raise SuiteError(
                    f"{where} ({exp['type']}): severity must be one of {list(SEVERITIES)}; "
                    f"got {severity!r}"
                )


def write_suite(suite: Mapping[str, Any], path: Path) -> None:
    """Write ``suite`` as pretty JSON with sorted keys and a final newline (atomically)."""
    path = Path(path)
    _check_suite(suite, source=f"suite to write to {path}")
    try:
        text = json.dumps(suite, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise SuiteError(f"{path}: the suite is not JSON-serializable: {exc}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_suite(path: Path) -> dict[str, Any]:
    """Read a suite JSON file; errors name the file and what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SuiteError(f"{path}: expectation suite file not found") from exc
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read the expectation suite: {exc}") from exc
    try:
        suite = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuiteError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    _check_suite(suite, source=str(path))
    return dict(suite)


def _is_generated(expectation: Mapping[str, Any]) -> bool:
    meta = expectation.get("meta") or {}
    return isinstance(meta, Mapping) and meta.get("generated_by") == GENERATED_BY


def merge_suites(existing: Mapping[str, Any], generated: Mapping[str, Any]) -> dict[str, Any]:
    """Regenerate a suite: ``generated``'s expectations replace the modelwatch-generated ones.

    Hand-written expectations of ``existing`` (no ``meta.generated_by ==
    "modelwatch"``) are kept untouched, after the generated ones, in their
    order. Suite-level ``meta`` is ``existing``'s updated with ``generated``'s.
    Neither input is modified.
    """
    _check_suite(existing, source="existing suite")
    _check_suite(generated, source="generated suite")
    merged = copy.deepcopy(dict(existing))
    merged["name"] = generated["name"]
    merged["meta"] = {**(existing.get("meta") or {}), **copy.deepcopy(generated.get("meta") or {})}
    if not merged.get("notes"):
        merged["notes"] = generated.get("notes")
    kept = [copy.deepcopy(e) for e in existing["expectations"] if not _is_generated(e)]
    merged["expectations"] = copy.deepcopy(list(generated["expectations"])) + kept
    return merged


@dataclass(frozen=True)
class SuiteDiff:
    """What regenerating a suite changes, by expectation ``type column`` (``#n``: n-th twin).

    ``kept``: hand-written expectations carried over unchanged.
    """

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        out = [f"+ {k}" for k in self.added]
        out += [f"- {k}" for k in self.removed]
        out += [f"~ {k}" for k in self.changed]
        return out


def _keyed(suite: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    keyed: dict[str, Mapping[str, Any]] = {}
    for exp in suite["expectations"]:
        columns = _columns_of(exp.get("kwargs") or {})
        base = f"{exp['type']} {', '.join(columns)}".strip() if columns else str(exp["type"])
        key, n = base, 1
        while key in keyed:
            n += 1
            key = f"{base} #{n}"
        keyed[key] = exp
    return keyed


def _comparable(exp: Mapping[str, Any]) -> str:
    severity = exp.get("severity") or (exp.get("meta") or {}).get("severity") or "critical"
    kwargs = {k: v for k, v in (exp.get("kwargs") or {}).items() if v is not None}
    return json.dumps({"kwargs": kwargs, "severity": severity}, sort_keys=True, default=str)


def diff_suites(old: Mapping[str, Any], new: Mapping[str, Any]) -> SuiteDiff:
    """Added, removed and changed (kwargs or severity) expectations from ``old`` to ``new``."""
    _check_suite(old, source="old suite")
    _check_suite(new, source="new suite")
    before, after = _keyed(old), _keyed(new)
    changed = [k for k in after if k in before and _comparable(after[k]) != _comparable(before[k])]
    kept = [
        k
        for k, e in after.items()
        if not _is_generated(e) and k in before and _comparable(e) == _comparable(before[k])
    ]
    return SuiteDiff(
        added=tuple(k for k in after if k not in before),
        removed=tuple(k for k in before if k not in after),
        changed=tuple(changed),
        kept=tuple(kept),
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
        return _fmt_number(value)
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


def _columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    cols: list[str] = []
    for key in ("column", "column_A", "column_B"):
        if isinstance(kwargs.get(key), str):
            cols.append(kwargs[key])
    if isinstance(kwargs.get("column_list"), list | tuple):
        cols += [str(c) for c in kwargs["column_list"]]
    return cols


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
            return f"{text} ({_PII_HIDDEN})"
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
            return _PII_HIDDEN
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
        value = _json_value(value)
        if not _is_missing(value) and value not in found:
            found.append(value)
    count = int(result.get("unexpected_count") or 0)
    value_set = _sorted_values([_json_value(v) for v in kwargs.get("value_set") or []])
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


# --------------------------------------------------------------------------- validation

_LOCK = threading.RLock()  # GX contexts are not thread-safe; Prefect may call from pool threads
_EPHEMERAL: dict[str, Any] = {}  # "context", "batch": the process's ephemeral context
_VALIDATIONS: dict[str, Any] = {}  # suite hash -> ValidationDefinition (ephemeral context)
_DOCS: dict[str, Any] = {}  # data docs root -> FileDataContext
_CHECKPOINTS: dict[tuple[str, str], tuple[Any, Any]] = {}  # (root, name) -> (key, checkpoint)


@cache
def _gx() -> Any:
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
    gx = _gx()
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


def _ephemeral_validation(suite: dict[str, Any], digest: str) -> Any:
    if digest in _VALIDATIONS:
        return _VALIDATIONS[digest]
    gx = _gx()
    if "context" not in _EPHEMERAL:
        context = _quiet(gx.get_context(mode="ephemeral"))
        asset = context.data_sources.add_pandas("modelwatch").add_dataframe_asset("frame")
        _EPHEMERAL["context"] = context
        _EPHEMERAL["batch"] = asset.add_batch_definition_whole_dataframe("whole")
    context = _EPHEMERAL["context"]
    key = f"{suite['name']}-{digest}"
    gx_suite = context.suites.add(_gx_suite(suite, name=key))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=key, data=_EPHEMERAL["batch"], suite=gx_suite)
    )
    _VALIDATIONS[digest] = validation
    return validation


@cache
def _pii_safe_docs_action() -> type:
    """UpdateDataDocsAction that stores PII-free, HTML-escaped validation results, then renders."""
    _gx()
    from great_expectations.checkpoint.actions import UpdateDataDocsAction

    class PiiSafeUpdateDataDocsAction(UpdateDataDocsAction):
        """Drop PII values from each validation result, re-store an HTML-escaped copy of it
        (the one the Data Docs site renders), then update the docs."""

        type: Literal["modelwatch_update_data_docs"] = "modelwatch_update_data_docs"  # type: ignore[assignment]
        pii_columns: tuple[str, ...] = ()

        def run(self, checkpoint_result: Any, action_context: Any = None) -> Any:
            store = self._resolve_context().context.validation_results_store
            for key, result in checkpoint_result.run_results.items():
                _scrub_result(result, set(self.pii_columns))
                store.set(key, _html_safe_result(result))
            return super().run(checkpoint_result=checkpoint_result, action_context=action_context)

    return PiiSafeUpdateDataDocsAction


def _scrub_result(suite_result: Any, pii: set[str]) -> bool:
    """Drop data values of PII columns from a GX suite validation result, in place."""
    changed = False
    for res in suite_result.results:
        if pii.isdisjoint(_columns_of(res.expectation_config.kwargs)):
            continue
        for key in _VALUE_KEYS:
            if key in res.result:
                res.result[key] = _PII_HIDDEN if key == "observed_value" else []
                changed = True
    return changed


#: exception_info keys the Data Docs renderer writes as raw HTML (the message is a template
#: parameter, which GX escapes itself: escaping it here would show ``&lt;`` on the page).
_RAW_HTML_EXCEPTION_KEYS: Final = frozenset({"exception_traceback"})


def _html_escaped(value: Any) -> Any:
    """``value`` with every string in it (nested lists, tuples and dict keys/values) HTML-escaped."""
    if isinstance(value, str):
        return html.escape(value, quote=True)
    if isinstance(value, Mapping):
        return {_html_escaped(k): _html_escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_html_escaped(v) for v in value]
    return value


def _html_safe_exception(info: Mapping[str, Any]) -> dict[str, Any]:
    """exception_info with its tracebacks escaped (GX nests them per metric)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, Mapping):
            out[key] = _html_safe_exception(value)
        elif key in _RAW_HTML_EXCEPTION_KEYS and isinstance(value, str):
            out[key] = html.escape(value, quote=True)
        else:
            out[key] = value
    return out


def _html_safe_result(suite_result: Any) -> Any:
    """A copy of a GX suite validation result that the Data Docs renderer can inline safely.

    GX 1.24 escapes the parameters of its string templates (expectation kwargs
    such as value sets, exception messages) but writes the unexpected-value
    tables, observed values (e.g. a window's column names), result details and
    exception tracebacks into the page as raw HTML: a window value like
    ``<img src=x onerror=...>`` would run in the browser. Every string under
    ``result`` and every traceback is HTML-escaped here; column names shown as
    section titles are escaped by the site's page view (:func:`_safe_page_view`).
    ``suite_result`` itself is not modified (outcomes keep the raw text).
    """
    safe = copy.deepcopy(suite_result)
    for res in safe.results:
        if res.result:
            res.result = _html_escaped(dict(res.result))
        if res.exception_info:
            res.exception_info = _html_safe_exception(res.exception_info)
    return safe


@cache
def _safe_page_view() -> type:
    """DefaultJinjaPageView that escapes column names where GX writes them as raw HTML.

    GX 1.24 puts a column's name raw into its section's title and into the
    table of contents (the name is the template, not a parameter). The Data
    Docs site of :func:`_docs_context` renders its expectation and validation
    pages with this view; GX finds it as ``modelwatch.io.quality.SafeDataDocsPageView``
    (module ``__getattr__``: GX is imported only when a page is rendered).
    """
    _gx()
    from great_expectations.render.renderer.column_section_renderer import (
        convert_to_string_and_escape,
    )
    from great_expectations.render.view.view import DefaultJinjaPageView

    class SafeDataDocsPageView(DefaultJinjaPageView):
        def render(self, document: Any, template: Any = None, **kwargs: Any) -> Any:
            document = copy.deepcopy(document)
            for section in getattr(document, "sections", None) or []:
                name = getattr(section, "section_name", None)
                if not isinstance(name, str):
                    continue
                raw_title = convert_to_string_and_escape(name)  # type: ignore[no-untyped-call]
                for block in section.content_blocks or []:
                    header = getattr(block, "header", None)
                    string_template = getattr(header, "string_template", None)
                    if (
                        isinstance(string_template, dict)
                        and string_template.get("template") == raw_title
                    ):
                        string_template["template"] = html.escape(raw_title, quote=True)
                section.section_name = html.escape(name, quote=True)
            return super().render(document, template, **kwargs)  # type: ignore[no-untyped-call]

    SafeDataDocsPageView.__module__ = __name__
    return SafeDataDocsPageView


def __getattr__(name: str) -> Any:
    """``SafeDataDocsPageView``, built on first access (GX loads it by module and class name)."""
    if name == "SafeDataDocsPageView":
        return _safe_page_view()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _use_safe_page_view(context: Any) -> None:
    """Point the expectation and validation pages of every Data Docs site at the safe view."""
    view = {"module_name": __name__, "class_name": "SafeDataDocsPageView"}
    for site_name, site in dict(context.variables.data_docs_sites or {}).items():
        config = copy.deepcopy(dict(site))
        builders = config.setdefault("site_section_builders", {})
        for section in ("expectations", "validations"):
            builders.setdefault(section, {})
            if isinstance(builders[section], dict):
                builders[section]["view"] = dict(view)
        if config != site:
            context.update_data_docs_site(site_name, config)


def _docs_context(root: Path) -> Any:
    """The GX file project rooted at ``root`` (created on first use), with its pandas asset."""
    key = str(root)
    if key not in _DOCS:
        root.mkdir(parents=True, exist_ok=True)
        context = _quiet(_gx().get_context(mode="file", project_root_dir=key))
        _use_safe_page_view(context)
        source = context.data_sources.add_or_update_pandas("modelwatch")
        if not any(a.name == "frame" for a in source.assets):
            source.add_dataframe_asset("frame")
        _DOCS[key] = context
    return _DOCS[key]


def _docs_checkpoint(
    suite: dict[str, Any], digest: str, root: Path, pii: tuple[str, ...], result_format: str
) -> Any:
    """Checkpoint (validation definition + PII-safe Data Docs action) of ``suite`` in ``root``."""
    context = _docs_context(root)
    name = suite["name"]
    cached = _CHECKPOINTS.get((str(root), name))
    if (
        cached is not None
        and cached[0] == (digest, pii, result_format)
        and cached[1].is_fresh().success
    ):
        return cached[1]
    gx = _gx()
    asset = context.data_sources.get("modelwatch").get_asset("frame")
    batch = next((b for b in asset.batch_definitions if b.name == "whole"), None)
    if batch is None:
        batch = asset.add_batch_definition_whole_dataframe("whole")
    gx_suite = context.suites.add_or_update(_gx_suite(suite, name=name))
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch, suite=gx_suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name,
            validation_definitions=[validation],
            actions=[_pii_safe_docs_action()(name="data_docs", pii_columns=pii)],
            result_format=result_format,
        )
    )
    _CHECKPOINTS[(str(root), name)] = ((digest, pii, result_format), checkpoint)
    return checkpoint


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
        columns = _columns_of(kwargs)
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
        raise ValueError(
            f"The {name!r} parameter of validate_frame must be a timezone-aware datetime. "
            f"Got {value.isoformat()} (naive) instead."
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
        raise ValueError(
            "The 'window' parameter of validate_frame must have start < end. "
            f"Got ({start.isoformat()}, {end.isoformat()}) instead."
        )
    return {"window_start": start, "window_end": end, "now": now}


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
) -> ValidationReport:
    """Run ``suite`` on ``frame`` with Great Expectations; return what passed and failed.

    Without ``data_docs_dir``: an in-memory (ephemeral) GX context, cached per
    suite content for the life of the process. With ``data_docs_dir``: a GX
    file project rooted there (``<data_docs_dir>/gx/``) runs a Checkpoint whose
    action updates the local Data Docs site; ``data_docs_path`` is its
    ``index.html``. Values of the ``pii`` columns are never reported.

    Suite parameters: ``window_start`` / ``window_end`` (``window``, tz-aware;
    without it the window check only excludes the future) and ``now`` (default:
    the current UTC time). ``result_format`` is GX's: ``"BASIC"`` (unexpected
    counts and up to 20 examples) is 35-40 % faster than ``"SUMMARY"`` (which
    adds value counts of the unexpected values) on 100k rows; ``"BOOLEAN_ONLY"``
    is faster still but reports no counts or examples.

    Expectations with ``meta.frame == "labels"`` read ``labels`` (the window's
    predictions joined with their labels) instead of ``frame``, in the
    ephemeral context (they are not on the Data Docs page); their outcomes come
    last and read ``column 'defaulted' in labels: ... values [2] outside the
    binary classes [0, 1] of the reference``. Without ``labels`` they are skipped.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            "The 'frame' parameter of validate_frame must be a pandas DataFrame. "
            f"Got {type(frame).__name__} instead."
        )
    _check_suite(suite, source="suite")
    if labels is not None and not isinstance(labels, pd.DataFrame):
        raise TypeError(
            "The 'labels' parameter of validate_frame must be a pandas DataFrame or None. "
            f"Got {type(labels).__name__} instead."
        )
    parameters = _suite_parameters(window, now)
    whole = _normalized(suite)
    normalized, label_suite = _split_by_frame(whole)
    digest = _suite_hash(normalized)
    pii_set = set(pii)
    data = _slim_frame(frame, normalized)
    _gx()
    from great_expectations.core.run_identifier import RunIdentifier

    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    docs_path: str | None = None
    docs_url: str | None = None
    with _LOCK:
        if data_docs_dir is None:
            validation = _ephemeral_validation(normalized, digest)
            result = validation.run(
                batch_parameters={"dataframe": data},
                expectation_parameters=parameters,
                result_format=result_format,
                run_id=run_id,
            )
            store = _EPHEMERAL["context"].validation_results_store
            for key in store.list_keys():  # in-memory store: do not grow for ever
                store.remove_key(key)
        else:
            root = Path(data_docs_dir).resolve()
            checkpoint = _docs_checkpoint(
                normalized, digest, root, tuple(sorted(pii_set)), result_format
            )
            checkpoint_result = checkpoint.run(
                batch_parameters={"dataframe": data},
                expectation_parameters=parameters,
                run_id=run_id,
            )
            validation = checkpoint.validation_definitions[0]
            result_key, result = next(iter(checkpoint_result.run_results.items()))
            index = root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
            docs_path = str(index) if index.exists() else None
            docs_url = _page_url(_docs_context(root), result_key, index)
        order = {e.id: i for i, e in enumerate(validation.suite.expectations) if e.id}
        outcomes = _outcomes(result, order, pii_set, present={str(c) for c in frame.columns})
        if labels is not None and label_suite["expectations"]:
            on_labels = _label_outcomes(labels, label_suite, parameters, run_id, pii_set)
            outcomes = _in_suite_order(whole, outcomes, on_labels)
    return ValidationReport(
        suite_name=normalized["name"],
        n_rows=len(frame),
        outcomes=outcomes,
        data_docs_path=docs_path,
        data_docs_url=docs_url,
    )


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


def _label_outcomes(
    labels: pd.DataFrame,
    suite: dict[str, Any],
    parameters: Mapping[str, datetime],
    run_id: Any,
    pii: set[str],
) -> tuple[ExpectationOutcome, ...]:
    """Outcomes of the label expectations on ``labels`` (ephemeral context; caller holds _LOCK)."""
    validation = _ephemeral_validation(suite, _suite_hash(suite))
    result = validation.run(
        batch_parameters={"dataframe": _slim_frame(labels, suite)},
        expectation_parameters=parameters,
        result_format="BASIC",
        run_id=run_id,
    )
    store = _EPHEMERAL["context"].validation_results_store
    for key in store.list_keys():
        store.remove_key(key)
    order = {e.id: i for i, e in enumerate(validation.suite.expectations) if e.id}
    return _outcomes(result, order, pii, present={str(c) for c in labels.columns}, frame="labels")


def _page_url(context: Any, result_key: Any, index: Path) -> str | None:
    """file:// URL of the Data Docs page of one validation result; the site index if GX has none."""
    try:
        sites = context.get_docs_sites_urls(resource_identifier=result_key, only_if_exists=True)
    except Exception:  # an older/other site layout: fall back to the index
        sites = []
    for site in sites:
        url = site.get("site_url")
        if url:
            return str(url)
    return index.resolve().as_uri() if index.exists() else None


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
        columns = _columns_of(kwargs)
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


# --------------------------------------------------------------------------- data-quality stats

_MAX_NEW_CATEGORIES: Final = 20


@dataclass(frozen=True)
class ColumnQuality:
    """Data-quality statistics of one column of a window (never its PII values).

    ``kind`` is what the spec declares (``numeric``, ``categorical``, ``id``,
    ``timestamp``, ``prediction``, ``score``, ``latency``, ``pii``) or
    ``undeclared``. Shares are of all rows (``missing_share``) or of the
    non-missing values (the others); ``None`` when not applicable.
    """

    column: str
    kind: str
    dtype: str
    missing_share: float
    type_mismatch: bool
    type_mismatch_share: float | None = None
    non_finite_share: float | None = None
    out_of_range_share: float | None = None
    new_category_share: float | None = None
    new_categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataQualityStats:
    """Data-quality statistics of a window, besides (not instead of) the GX suite.

    ``duplicate_rows``: rows identical to an earlier row in every column;
    ``duplicate_feature_rows``: rows whose features repeat an earlier row's
    (the same input served twice); ``duplicate_ids``: rows whose id repeats an
    earlier id (extra occurrences, so 2 rows with one id count 1).
    Out-of-range and new categories are relative to the reference (raw
    min/max and category set, no margin).
    """

    n_rows: int
    n_columns: int
    duplicate_rows: int
    duplicate_feature_rows: int
    duplicate_ids: int
    missing_columns: tuple[str, ...]
    unexpected_columns: tuple[str, ...]
    columns: tuple[ColumnQuality, ...]
    unmatched_labels: int | None = None  # label rows matching no prediction (None: not known)
    conflicting_labels: int | None = None  # ids labeled twice with different values (None: n/a)
    conflicting_label_ids: tuple[str, ...] = ()  # a few of those ids (ids only: no PII)

    @property
    def type_mismatches(self) -> list[str]:
        return [c.column for c in self.columns if c.type_mismatch]

    def column(self, name: str) -> ColumnQuality:
        for col in self.columns:
            if col.column == name:
                return col
        raise KeyError(f"no column {name!r} in the data-quality stats; got {self.column_names}")

    @property
    def column_names(self) -> list[str]:
        return [c.column for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (for the store and the run's artifacts)."""
        return {
            "n_rows": self.n_rows,
            "n_columns": self.n_columns,
            "duplicate_rows": self.duplicate_rows,
            "duplicate_feature_rows": self.duplicate_feature_rows,
            "duplicate_ids": self.duplicate_ids,
            "missing_columns": list(self.missing_columns),
            "unexpected_columns": list(self.unexpected_columns),
            "columns": [
                {**asdict(c), "new_categories": list(c.new_categories)} for c in self.columns
            ],
            "unmatched_labels": self.unmatched_labels,
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """Long-format rows ``{column_name, stat, value, detail}`` (store, table artifact).

        Window-level statistics have ``column_name`` None; per-column ones are
        ``missing_share``, ``type_mismatch``, ``type_mismatch_share``,
        ``non_finite_share``, ``out_of_range_share``, ``new_category_share``
        (``detail``: the dtype, or the new categories).
        """
        rows: list[dict[str, Any]] = [
            {"column_name": None, "stat": name, "value": float(value), "detail": None}
            for name, value in (
                ("n_rows", self.n_rows),
                ("n_columns", self.n_columns),
                ("duplicate_rows", self.duplicate_rows),
                ("duplicate_feature_rows", self.duplicate_feature_rows),
                ("duplicate_ids", self.duplicate_ids),
                ("missing_columns", len(self.missing_columns)),
                ("unexpected_columns", len(self.unexpected_columns)),
            )
        ]
        rows[5]["detail"] = ",".join(self.missing_columns) or None
        rows[6]["detail"] = ",".join(self.unexpected_columns) or None
        if self.unmatched_labels is not None:
            rows.append(
                {
                    "column_name": None,
                    "stat": "unmatched_labels",
                    "value": float(self.unmatched_labels),
                    "detail": None,
                }
            )
        if self.conflicting_labels is not None:
            rows.append(
                {
                    "column_name": None,
                    "stat": "conflicting_labels",
                    "value": float(self.conflicting_labels),
                    "detail": ",".join(self.conflicting_label_ids) or None,
                }
            )
        for col in self.columns:
            stats: list[tuple[str, float | None, str | None]] = [
                ("missing_share", col.missing_share, col.dtype),
                ("type_mismatch", float(col.type_mismatch), col.kind),
                ("type_mismatch_share", col.type_mismatch_share, None),
                ("non_finite_share", col.non_finite_share, None),
                ("out_of_range_share", col.out_of_range_share, None),
                ("new_category_share", col.new_category_share, ",".join(col.new_categories)),
            ]
            rows += [
                {"column_name": col.column, "stat": stat, "value": value, "detail": detail or None}
                for stat, value, detail in stats
                if value is not None
            ]
        return rows

    def problems(self) -> list[str]:
        """One line per notable problem (for the run's artifacts); empty when all is clean."""
        lines = []
        if self.missing_columns:
            lines.append(f"missing columns: {', '.join(self.missing_columns)}")
        if self.unexpected_columns:
            lines.append(f"unexpected columns: {', '.join(self.unexpected_columns)}")
        if self.duplicate_ids:
            lines.append(f"{self.duplicate_ids} duplicate id(s)")
        if self.duplicate_rows:
            lines.append(f"{self.duplicate_rows} duplicate row(s)")
        if self.unmatched_labels:
            lines.append(f"{self.unmatched_labels} label(s) match no prediction of the window")
        if self.conflicting_labels:
            lines.append(f"{self.conflicting_labels} id(s) with conflicting labels (latest used)")
        for c in self.columns:
            where = f"column {c.column!r}"
            if c.missing_share >= 0.5:
                lines.append(f"{where}: {c.missing_share:.0%} missing")
            if c.type_mismatch:
                lines.append(f"{where}: dtype {c.dtype} does not match its kind ({c.kind})")
            if c.non_finite_share:
                lines.append(f"{where}: {c.non_finite_share:.2%} ±inf")
            if c.out_of_range_share and c.out_of_range_share >= 0.01:
                lines.append(f"{where}: {c.out_of_range_share:.2%} out of range")
            if c.new_categories:
                shown = ", ".join(c.new_categories[:5])
                lines.append(f"{where}: {c.new_category_share:.2%} new categories ({shown})")
        return lines


def _kinds(spec: MonitorSpec) -> dict[str, str]:
    cols = spec.columns
    kinds = {c: "numeric" for c in cols.numeric}
    kinds.update({c: "categorical" for c in cols.categorical})
    extra = {
        cols.id: "id",
        cols.timestamp: "timestamp",
        cols.prediction: "prediction",
        cols.score: "score",
        cols.latency_ms: "latency",
        cols.variant: "variant",
    }
    kinds.update({c: k for c, k in extra.items() if c is not None and c not in kinds})
    kinds.update({c: "score" for c in (cols.class_scores or {}).values() if c not in kinds})
    kinds.update({c: "segment" for c in cols.segments if c not in kinds})
    kinds.update({c: "pii" for c in cols.pii})
    return kinds


def _is_number_dtype(dtype: Any) -> bool:
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _is_utc_timestamp(dtype: Any) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"


def _numeric_quality(
    name: str, kind: str, values: pd.Series, reference: pd.DataFrame | None
) -> ColumnQuality:
    present = values.dropna()
    n_present = len(present)
    missing_share = float(values.isna().mean()) if len(values) else 0.0
    if _is_number_dtype(values.dtype):
        numbers = present.to_numpy(dtype="float64")
        mismatch, mismatch_share = False, 0.0
    else:  # strings/objects: how many values are not numbers at all
        coerced = pd.to_numeric(present, errors="coerce")
        numbers = coerced.dropna().to_numpy(dtype="float64")
        mismatch = True
        mismatch_share = float(1 - len(numbers) / n_present) if n_present else 0.0
    finite = np.isfinite(numbers)
    non_finite_share = float(1 - finite.mean()) if len(numbers) else 0.0
    out_of_range: float | None = None
    if kind == "score":  # a probability: the range is known without a reference
        out_of_range = float(((numbers < 0) | (numbers > 1)).mean()) if len(numbers) else 0.0
    elif reference is not None and name in reference.columns:
        ref = reference[name].dropna()
        ref_numbers = ref.to_numpy(dtype="float64") if _is_number_dtype(ref.dtype) else None
        if ref_numbers is not None and np.isfinite(ref_numbers).any():
            ref_numbers = ref_numbers[np.isfinite(ref_numbers)]
            lo, hi = ref_numbers.min(), ref_numbers.max()
            outside = (numbers < lo) | (numbers > hi)  # ±inf are outside too
            out_of_range = float(outside.mean()) if len(numbers) else 0.0
    return ColumnQuality(
        column=name,
        kind=kind,
        dtype=str(values.dtype),
        missing_share=missing_share,
        type_mismatch=mismatch,
        type_mismatch_share=mismatch_share,
        non_finite_share=non_finite_share,
        out_of_range_share=out_of_range,
    )


def _categorical_quality(
    name: str, values: pd.Series, reference: pd.DataFrame | None
) -> ColumnQuality:
    present = values.dropna()
    missing_share = float(values.isna().mean()) if len(values) else 0.0
    new_share: float | None = None
    new: tuple[str, ...] = ()
    mismatch = False
    if reference is not None and name in reference.columns:
        ref = reference[name].dropna()
        mismatch = _is_number_dtype(ref.dtype) != _is_number_dtype(values.dtype)
        known = set(ref.astype(str).unique())
        as_text = present.astype(str)
        is_new = ~as_text.isin(known)
        new_share = float(is_new.mean()) if len(as_text) else 0.0
        if new_share:
            counts = as_text[is_new].value_counts()
            new = tuple(str(v) for v in counts.index[:_MAX_NEW_CATEGORIES])
    return ColumnQuality(
        column=name,
        kind="categorical",
        dtype=str(values.dtype),
        missing_share=missing_share,
        type_mismatch=mismatch,
        new_category_share=new_share,
        new_categories=new,
    )


def _duplicate_count(frame: pd.DataFrame) -> int:
    """Rows equal to an earlier row in every column (exact; 64-bit row hashes narrow the search)."""
    if frame.shape[1] == 0 or len(frame) < 2:
        return 0
    try:
        hashes = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # unhashable objects (lists, dicts) in a column
        return int(frame.duplicated().sum())
    candidates = hashes.duplicated(keep=False).to_numpy()
    return int(frame[candidates].duplicated().sum()) if candidates.any() else 0


def data_quality_stats(
    frame: pd.DataFrame,
    spec: MonitorSpec,
    reference: pd.DataFrame | None = None,
    *,
    unmatched_labels: int | None = None,
) -> DataQualityStats:
    """Missing share per column, duplicates, out-of-range share, new categories, type mismatches.

    Computed with pandas/numpy on every window beside the GX suite (the suite
    decides pass/fail; these numbers are stored to follow trends). Without
    ``reference`` the out-of-range shares and new categories are ``None``.
    ``unmatched_labels`` (label rows whose id matches no prediction, counted
    by the source reader) is carried as it is.
    PII columns get only their missing share and dtype; new categories are
    listed by frequency (at most 20) and never for PII columns.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            "The 'frame' parameter of data_quality_stats must be a pandas DataFrame. "
            f"Got {type(frame).__name__} instead."
        )
    kinds = _kinds(spec)
    cols = spec.columns
    declared = _log_columns(spec)
    columns: list[ColumnQuality] = []
    for name in frame.columns:
        name = str(name)
        values = frame[name]
        kind = kinds.get(name, "undeclared")
        if kind in ("numeric", "score", "latency"):
            columns.append(_numeric_quality(name, kind, values, reference))
        elif kind == "categorical":
            columns.append(_categorical_quality(name, values, reference))
        else:
            if kind == "timestamp":
                mismatch = not _is_utc_timestamp(values.dtype)
            elif kind == "prediction" and reference is not None and cols.target in reference:
                mismatch = _is_number_dtype(reference[cols.target].dtype) != _is_number_dtype(
                    values.dtype
                )
            else:
                mismatch = False
            columns.append(
                ColumnQuality(
                    column=name,
                    kind=kind,
                    dtype=str(values.dtype),
                    missing_share=float(values.isna().mean()) if len(values) else 0.0,
                    type_mismatch=mismatch,
                )
            )
    features = [c for c in cols.features if c in frame.columns]
    if cols.id in frame:
        id_repeats = frame[cols.id].duplicated(keep=False).to_numpy()
        duplicate_ids = int(frame[cols.id].duplicated().sum())
        # a row repeating another in every column repeats its id: only those can be
        duplicate_rows = _duplicate_count(frame[id_repeats]) if duplicate_ids else 0
    else:
        duplicate_ids, duplicate_rows = 0, _duplicate_count(frame)
    return DataQualityStats(
        n_rows=len(frame),
        n_columns=frame.shape[1],
        duplicate_rows=duplicate_rows,
        duplicate_feature_rows=_duplicate_count(frame[features]) if features else 0,
        duplicate_ids=duplicate_ids,
        missing_columns=tuple(c for c in declared if c not in frame.columns and c not in cols.pii),
        unexpected_columns=tuple(str(c) for c in frame.columns if str(c) not in kinds),
        columns=tuple(columns),
        unmatched_labels=unmatched_labels,
    )
