"""What the file and SQL readers share: timestamps in UTC, the columns a window needs, bounds."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

from modelwatch.errors import SchemaError
from modelwatch.spec import MonitorSpec

#: optional column of the label feed: when each label was given; orders conflicting labels
LABEL_TIMESTAMP = "label_timestamp"

#: nanoseconds per unit of an epoch timestamp (``columns.timestamp_unit``)
NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def utc(value: datetime | pd.Timestamp) -> pd.Timestamp:
    """``value`` as a UTC timestamp (naive values are UTC by the data contract)."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def log_columns(spec: MonitorSpec) -> list[str]:
    """Every column of the prediction log a window reads (projection), in spec order.

    The spec's id, timestamp, features, segments, prediction, score(s), variant,
    latency, PII (so data-quality checks can report them) and target (a log may
    carry it); undeclared columns are not read.
    """
    cols = spec.columns
    names = [cols.id, cols.timestamp, *cols.features, *cols.segments, cols.prediction]
    names += [c for c in (cols.score, cols.variant, cols.latency_ms) if c is not None]
    names += list((cols.class_scores or {}).values())
    names += [*cols.pii, cols.target]
    return list(dict.fromkeys(names))


def label_columns(spec: MonitorSpec) -> list[str]:
    """The columns read from the label feed: id, target and ``label_timestamp`` when present."""
    return [spec.columns.id, spec.columns.target, LABEL_TIMESTAMP]


def epoch_bounds(lo: pd.Timestamp, hi: pd.Timestamp, unit: str) -> tuple[int, int]:
    """``[lo, hi]`` widened to whole epoch ``unit`` s (a superset: rows are filtered exactly later)."""
    per = NS_PER_UNIT[unit]
    return math.floor(lo.value / per), math.ceil(hi.value / per)


def to_utc(frame: pd.DataFrame, column: str, path: str, unit: str | None = None) -> pd.Series:
    """The timestamp column in UTC; naive values are taken as UTC (the data contract).

    Text timestamps may mix offsets and naive values (``2026-11-23T10:00+01:00``,
    ``2026-11-23 09:30:00``): each is parsed as ISO 8601 on its own. Numbers
    (epoch timestamps) need ``unit`` (the spec's ``columns.timestamp_unit``):
    without it they are refused, never read as nanoseconds (which put every row
    in January 1970 and left the window silently empty).
    """
    if column not in frame.columns:
        raise SchemaError(f"{path}: timestamp column {column!r} is missing", path=path)
    values = frame[column]
    dtype = values.dtype
    is_number = (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and bool(values.notna().any())  # an all-empty column is no epoch column
    )
    if is_number and unit is None:
        kind = "integers" if pd.api.types.is_integer_dtype(dtype) else "numbers"
        raise SchemaError(
            f"column {column!r} in {path} holds {kind}; declare columns.timestamp_unit "
            "(s, ms, us or ns) in the monitor spec",
            path=path,
        )
    is_text = not (
        pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)
    )
    try:
        if is_number:
            converted = pd.to_datetime(values, unit=unit, utc=True)
        elif is_text:
            converted = pd.to_datetime(values, utc=True, format="ISO8601")
        else:
            converted = pd.to_datetime(values, utc=True)
    except (ValueError, TypeError, OverflowError) as exc:
        first = str(exc).strip().splitlines()[0]
        how = f" with columns.timestamp_unit {unit!r}" if is_number else ""
        raise SchemaError(
            f"{path}: column {column!r} cannot be parsed as timestamps{how} ({first})", path=path
        ) from exc
    return converted


def window_rows(
    frame: pd.DataFrame,
    column: str,
    path: str,
    *,
    bounds: tuple[pd.Timestamp, pd.Timestamp],
    unit: str | None,
) -> pd.DataFrame:
    """Rows of ``frame`` with ``lo <= timestamp < hi``, the timestamp column converted to UTC."""
    ts = to_utc(frame, column, path, unit)
    mask = ((ts >= bounds[0]) & (ts < bounds[1])).to_numpy()
    if mask.all():
        return frame.assign(**{column: ts}).reset_index(drop=True)
    part = frame.loc[mask].copy()
    part[column] = ts[mask]
    return part.reset_index(drop=True)
