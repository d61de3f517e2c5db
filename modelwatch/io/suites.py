"""Expectation suites of a model: build, merge, diff, load and write (no Great Expectations import).

A suite is a plain JSON dict in the shape of ``ExpectationSuite.to_json_dict()``::

    {"name": "credit", "expectations": [{"type": ..., "kwargs": {...},
      "severity": "critical" | "warning" | "info",
      "meta": {"severity": ..., "notes": "<sentence>", "generated_by": "modelwatch"}}, ...]}

* :func:`build_suite` derives the suite of a model's *prediction log* from its
  reference data and monitor spec;
  :func:`merge_suites` regenerates it while keeping hand-written expectations
  (those without ``meta.generated_by == "modelwatch"``); :func:`diff_suites`
  says what a regeneration changes; :func:`write_suite` / :func:`load_suite`
  store it as stable, pretty JSON under ``expectations/``.
* :func:`check_suite` is the shape check every reader of a suite runs first
  (errors are :class:`~modelwatch.errors.SuiteError` naming the source).

Severity: GX 1.x has a built-in ``severity`` per expectation (default
``critical``); an expectation that only carries ``meta.severity`` (hand-written
suites) gets that value. A critical failure means the window must be
quarantined; warnings are reported.

Labels: expectations with ``meta.frame == "labels"`` (the generated one: the
target's classes in the reference) read the window's labeled rows (see
:func:`modelwatch.io.gx_runtime.validate_frame`).

Suites are run by :mod:`modelwatch.io.gx_runtime`; Data Docs are in
:mod:`modelwatch.io.datadocs`.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from modelwatch.errors import SchemaError, SuiteError
from modelwatch.spec import MonitorSpec
from modelwatch.stats.data_quality import log_columns
from modelwatch.stats.params import Interval, check_params

__all__ = [
    "FRAMES",
    "GENERATED_BY",
    "NUMERIC_TYPES",
    "SEVERITIES",
    "SuiteDiff",
    "SuiteError",
    "build_suite",
    "check_suite",
    "diff_suites",
    "expectation_columns",
    "fmt_number",
    "json_value",
    "load_suite",
    "merge_suites",
    "write_suite",
]

GENERATED_BY: Final = "modelwatch"
_FLOAT_MAX: Final = sys.float_info.max  # finite bounds: ``between`` then rejects only ±inf
_SOME: Final = 1e-6  # ``mostly`` of "not entirely null": fails only when every value is missing
SEVERITIES: Final = ("critical", "warning", "info")
#: ``meta.frame`` of an expectation: the data it reads (absent: the prediction log).
FRAMES: Final = ("predictions", "labels")

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


def json_value(value: Any) -> Any:
    """A JSON-safe Python scalar from a numpy/pandas scalar."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def fmt_number(value: float) -> str:
    """A number as shown in notes and outcomes: six significant digits."""
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
      :func:`~modelwatch.io.gx_runtime.validate_frame`; score in [0, 1];
      prediction in the target classes of the reference (classification).
    * critical, on the labels (``meta.frame: "labels"``, see
      :func:`~modelwatch.io.gx_runtime.validate_frame`): the target takes one
      of its classes seen in the reference (classification; a third class in
      a binary target is a validation failure, not a metric error).
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
    A bad option raises :class:`~modelwatch.errors.StatisticsError` naming it.
    """
    check_params(
        "build_suite",
        {
            "range_margin": (range_margin, Interval(float, 0, None)),
            "null_margin": (null_margin, Interval(float, 0, 1, closed="left")),
            "mostly": (mostly, Interval(float, 0, 1, closed="right")),
            "typical_rows": (typical_rows, Interval(int, 1, None, allow_none=True)),
        },
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
            column_set=sorted(log_columns(spec)),
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
        classes = sorted(json_value(v) for v in pd.unique(target))
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
    classes = sorted(json_value(v) for v in pd.unique(reference[cols.target].dropna()))
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
                f"[{fmt_number(float(values.min()))}, {fmt_number(float(values.max()))}] "
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


def check_suite(suite: Any, *, source: str) -> None:
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
    check_suite(suite, source=f"suite to write to {path}")
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
    check_suite(suite, source=str(path))
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
    check_suite(existing, source="existing suite")
    check_suite(generated, source="generated suite")
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
        columns = expectation_columns(exp.get("kwargs") or {})
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
    check_suite(old, source="old suite")
    check_suite(new, source="new suite")
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


def expectation_columns(kwargs: Mapping[str, Any]) -> list[str]:
    """The columns an expectation's ``kwargs`` name (``column``, ``column_A/B``, ``column_list``)."""
    cols: list[str] = []
    for key in ("column", "column_A", "column_B"):
        if isinstance(kwargs.get(key), str):
            cols.append(kwargs[key])
    if isinstance(kwargs.get("column_list"), list | tuple):
        cols += [str(c) for c in kwargs["column_list"]]
    return cols
