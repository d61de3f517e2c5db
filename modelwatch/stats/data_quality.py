"""Data-quality statistics of a window (pure pandas/numpy; no Great Expectations).

:func:`data_quality_stats` computes the numbers stored for every window besides
the expectation suite's verdict: missing share per column, duplicate rows and
ids, out-of-range share, new categories, type mismatches, non-finite values.
The suite (:mod:`modelwatch.io.suites`, run by :mod:`modelwatch.io.gx_runtime`)
decides pass/fail; these numbers are stored to follow trends.

PII columns get only their missing share and dtype: their values are never
read into a statistic or a category list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from modelwatch.stats.params import param_error

if TYPE_CHECKING:
    from modelwatch.spec import MonitorSpec

__all__ = ["ColumnQuality", "DataQualityStats", "data_quality_stats", "log_columns"]

_MAX_NEW_CATEGORIES: Final = 20


def log_columns(spec: MonitorSpec) -> list[str]:
    """Every column the prediction log of ``spec`` is declared to have."""
    cols = spec.columns
    declared = [cols.id, cols.timestamp, *cols.features, *cols.segments, cols.prediction]
    declared += [c for c in (cols.score, cols.variant, cols.latency_ms) if c is not None]
    declared += list((cols.class_scores or {}).values())
    return list(dict.fromkeys([*declared, *cols.pii]))


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

    def column_table(self) -> list[dict[str, Any]]:
        """One row per column for a table artifact: kind, dtype, shares rounded to 4 digits."""
        return [
            {
                "column": c.column,
                "kind": c.kind,
                "dtype": c.dtype,
                "missing": round(c.missing_share, 4),
                "type_mismatch": c.type_mismatch,
                "non_finite": None if c.non_finite_share is None else round(c.non_finite_share, 4),
                "out_of_range": None
                if c.out_of_range_share is None
                else round(c.out_of_range_share, 4),
                "new_categories": ", ".join(c.new_categories),
            }
            for c in self.columns
        ]

    def describe(self, subject: str) -> str:
        """``Data quality of <subject>: 1000 rows, 0 duplicate ids, ... No problems found.``"""
        problems = self.problems()
        return (
            f"Data quality of {subject}: {self.n_rows} rows, "
            f"{self.duplicate_ids} duplicate ids, {self.duplicate_rows} duplicate rows, "
            f"{self.unmatched_labels or 0} unmatched labels. "
            + ("; ".join(problems) if problems else "No problems found.")
        )

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
        raise param_error("data_quality_stats", "frame", "a pandas DataFrame", type(frame).__name__)
    kinds = _kinds(spec)
    cols = spec.columns
    declared = log_columns(spec)
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
