"""Read windows of the prediction log and the label feed (Parquet or CSV, any fsspec path).

A window is ``[start, end)`` on the spec's timestamp column. Files are opened
read-only; nothing here ever writes, moves or deletes a source file. Each
window remembers which files contributed rows (with a SHA-256 checksum), so a
quarantine record can point at them and tests can prove they were untouched.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from modelwatch.errors import SchemaError, SourceError
from modelwatch.spec import FileSource, MonitorSpec, resolve_path

_log = logging.getLogger(__name__)

#: optional column of the label feed: when each label was given; orders conflicting labels
LABEL_TIMESTAMP = "label_timestamp"
#: at most this many example ids of conflicting labels are kept (ids only, never other values)
CONFLICT_EXAMPLES = 5


@dataclass(frozen=True)
class WindowData:
    """The rows of one window: predictions, joined labels (if any) and provenance."""

    start: datetime
    end: datetime
    predictions: pd.DataFrame
    labeled: pd.DataFrame  # predictions joined with labels (inner join); may be empty
    files: tuple[str, ...] = field(default=())
    #: label rows, in the label files that labeled this window, whose id matches none of its
    #: predictions (mistyped ids, labels of predictions never logged or of another window)
    unmatched_labels: int = 0
    #: ids of this window labeled more than once with different values (the latest label is
    #: used, see :func:`_join_labels`), and the first few of them (as text)
    conflicting_labels: int = 0
    conflicting_label_ids: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return len(self.predictions)

    @property
    def n_labeled(self) -> int:
        return len(self.labeled)


def file_checksum(path: str) -> str:
    """SHA-256 of a local file (or fsspec URL)."""
    import fsspec

    digest = hashlib.sha256()
    with fsspec.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _list_files(source: FileSource, home: Path) -> list[str]:
    import fsspec

    location = resolve_path(source.path, home)
    fs, _, paths = fsspec.get_fs_token_paths(location)
    root = paths[0] if paths else location
    suffix = "." + source.format
    if any(ch in location for ch in "*?["):
        files = sorted(paths)
    elif fs.isdir(root):
        files = sorted(p for p in fs.find(root) if p.endswith(suffix))
    elif fs.exists(root):
        files = [root]
    else:
        raise SourceError(f"source path {location!r} does not exist")
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return files
    return [f"{protocol}://{p}" for p in files]


def _read_file(path: str, fmt: str) -> pd.DataFrame:
    """Read one whole file; any failure is a SourceError naming the file (never retried)."""
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: not UTF-8 encoded CSV ({exc.reason} at byte {exc.start}); "
            "re-encode the file as UTF-8",
            path=path,
        ) from exc
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(
            f"{path}: cannot read as {fmt} ({type(exc).__name__}: {first}); "
            f"the file may be truncated or not a {fmt} file",
            path=path,
        ) from exc


def _to_utc(frame: pd.DataFrame, column: str, path: str, unit: str | None = None) -> pd.Series:
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


def read_source(source: FileSource, home: Path) -> pd.DataFrame:
    """Every row of a source (used for the reference, which is small)."""
    files = _list_files(source, home)
    if not files:
        raise SourceError(
            f"source {resolve_path(source.path, home)!r} holds no {source.format} files"
        )
    frames = [_read_file(p, source.format) for p in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def load_window(spec: MonitorSpec, start: datetime, end: datetime, home: Path) -> WindowData:
    """Predictions with ``start <= timestamp < end`` and their labels (joined on the id)."""
    cols = spec.columns
    ts_start, ts_end = pd.Timestamp(start), pd.Timestamp(end)
    ts_start = (
        ts_start.tz_localize("UTC") if ts_start.tzinfo is None else ts_start.tz_convert("UTC")
    )
    ts_end = ts_end.tz_localize("UTC") if ts_end.tzinfo is None else ts_end.tz_convert("UTC")
    parts: list[pd.DataFrame] = []
    used: list[str] = []
    try:
        files = _list_files(spec.sources.predictions, home)
    except SourceError:
        files = []
    for path in files:
        frame = _read_file(path, spec.sources.predictions.format)
        ts = _to_utc(frame, cols.timestamp, path, cols.timestamp_unit)
        mask = ((ts >= ts_start) & (ts < ts_end)).to_numpy()
        if mask.any():
            part = frame.loc[mask].copy()
            part[cols.timestamp] = ts[mask]
            parts.append(part)
            used.append(path)
    predictions = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    labeled, unmatched, conflicts = _join_labels(spec, predictions, home)
    if conflicts:
        _log.warning(
            "window %s of model %r: %d prediction id(s) have conflicting labels (the latest "
            "label is used), e.g. %s",
            ts_start.isoformat(),
            spec.name,
            len(conflicts),
            ", ".join(conflicts[:CONFLICT_EXAMPLES]),
        )
    return WindowData(
        start=ts_start.to_pydatetime(),
        end=ts_end.to_pydatetime(),
        predictions=predictions,
        labeled=labeled,
        files=tuple(used),
        unmatched_labels=unmatched,
        conflicting_labels=len(conflicts),
        conflicting_label_ids=tuple(conflicts[:CONFLICT_EXAMPLES]),
    )


def _join_labels(
    spec: MonitorSpec, predictions: pd.DataFrame, home: Path
) -> tuple[pd.DataFrame, int, list[str]]:
    """Predictions joined with their labels, the count of unmatched label rows, conflicting ids.

    Unmatched: rows of the label files that label at least one prediction of
    the window whose id matches none of the window's predictions.

    One label per id, the declared rule being *the latest label wins*
    (corrections arrive after the first label). "Latest" means: the greatest
    :data:`LABEL_TIMESTAMP` (``label_timestamp``) when the label feed has that
    column (parsed like the prediction timestamps, ``columns.timestamp_unit``
    included; rows without one rank before every row with one); ties, and label
    feeds without the column, fall back to file order: files sorted by path,
    rows in file order, the last one winning. Ids labeled more than once with
    different values (a missing value counts as a value) are returned as text,
    in order of first appearance.
    """
    cols = spec.columns
    empty = predictions.iloc[0:0].assign(**{cols.target: pd.Series(dtype="float64")})
    if spec.sources.labels is None or predictions.empty or cols.id not in predictions.columns:
        return empty, 0, []
    try:
        files = _list_files(spec.sources.labels, home)
    except SourceError:
        return empty, 0, []
    ids = set(predictions[cols.id].astype(str))
    order = "__modelwatch_label_time__"
    parts = []
    unmatched = 0
    for path in files:
        frame = _read_file(path, spec.sources.labels.format)
        for column in (cols.id, cols.target):
            if column not in frame.columns:
                raise SchemaError(f"{path}: label feed column {column!r} is missing", path=path)
        keep = frame[cols.id].astype(str).isin(ids).to_numpy()
        if keep.any():
            part = frame.loc[keep, [cols.id, cols.target]]
            if LABEL_TIMESTAMP in frame.columns:
                kept = frame.loc[keep]
                part = part.assign(
                    **{order: _to_utc(kept, LABEL_TIMESTAMP, path, cols.timestamp_unit)}
                )
            parts.append(part)
            unmatched += int((~keep).sum())
    if not parts:
        return empty, unmatched, []
    labels = pd.concat(parts, ignore_index=True)  # file order, then row order
    labels[cols.id] = labels[cols.id].astype(predictions[cols.id].dtype)
    values = labels.groupby(cols.id, sort=False)[cols.target].nunique(dropna=False)
    conflicts = [str(i)[:64] for i in values.index[values.to_numpy() > 1]]
    if order in labels.columns:
        labels = labels.sort_values(order, kind="stable", na_position="first")
        labels = labels.drop(columns=order)
    labels = labels.drop_duplicates(subset=[cols.id], keep="last")
    joined = predictions.merge(labels, on=cols.id, how="inner", validate="many_to_one")
    return joined, unmatched, conflicts
