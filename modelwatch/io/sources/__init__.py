"""Read windows of the prediction log and the label feed: files (Parquet/CSV) or a SQL table.

A window is ``[start, end)`` on the spec's timestamp column, and its cost
depends on the window, not on the history: file sources list only the time
partitions that can hold the window and push the bounds into the Parquet scan
(:mod:`modelwatch.io.sources.files`); SQL sources query the window with bound
parameters (:mod:`modelwatch.io.sources.sql`). :func:`iter_window_batches` reads
only the spec's columns; :func:`load_window` reads every column of the window's
rows while :data:`PROJECT_WINDOW` is off (the suites warn about undeclared
columns). Labels are read only for the window's prediction ids (and only the id,
target and ``label_timestamp`` columns), and — with
``sources.labels.max_delay_hours`` — only within ``[start, end + max_delay)``.

Files are opened read-only; nothing here ever writes, moves or deletes a
source file. Each window remembers which files contributed rows (a SQL
window: ``sql:<schema.table>``), so a quarantine record can point at them and
tests can prove they were untouched.

:func:`iter_window_batches` and :func:`count_window_rows` serve the streaming
path: the window's rows in bounded batches, and their number, without
materializing the window.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from modelwatch.errors import SourceError
from modelwatch.io.sources import files as _files
from modelwatch.io.sources import sql as _sql
from modelwatch.io.sources._common import (
    LABEL_TIMESTAMP,
    label_columns,
    log_columns,
    to_utc,
    utc,
)
from modelwatch.spec import FileSource, MonitorSpec, SqlSource, resolve_path

_log = logging.getLogger(__name__)

#: at most this many example ids of conflicting labels are kept (ids only, never other values)
CONFLICT_EXAMPLES = 5

__all__ = [
    "CONFLICT_EXAMPLES",
    "LABEL_TIMESTAMP",
    "WindowData",
    "count_window_rows",
    "file_checksum",
    "is_table_entry",
    "iter_window_batches",
    "label_columns",
    "load_window",
    "log_columns",
    "read_source",
    "to_utc",
]


@dataclass(frozen=True)
class WindowData:
    """The rows of one window: predictions, joined labels (if any) and provenance."""

    start: datetime
    end: datetime
    predictions: pd.DataFrame
    labeled: pd.DataFrame  # predictions joined with labels (inner join); may be empty
    #: files that contributed rows, in read order; a SQL window: ``("sql:<schema.table>",)``
    #: (see :func:`is_table_entry`: no file to checksum, the rows stay in the table)
    files: tuple[str, ...] = field(default=())
    #: label rows, in the label files that labeled this window, whose id matches none of its
    #: predictions (mistyped ids, labels of predictions never logged or of another window)
    unmatched_labels: int | None = 0  # None: not known (a SQL label table)
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


def is_table_entry(entry: str) -> bool:
    """Whether a provenance entry of :attr:`WindowData.files` names a SQL table, not a file."""
    return _sql.is_table_entry(entry)


def read_source(source: FileSource, home: Path) -> pd.DataFrame:
    """Every row of a source (used for the reference, which is small)."""
    listing = _files.list_files(source, home)
    if not listing.paths:
        raise SourceError(
            f"source {resolve_path(source.path, home)!r} holds no {source.format} files"
        )
    frames = [_files.read_file(p, source.format) for p in listing.paths]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _bounds(start: datetime, end: datetime) -> tuple[pd.Timestamp, pd.Timestamp]:
    return utc(start), utc(end)


#: whether :func:`load_window` reads only the spec's columns. Off for now: the suites'
#: ``expect_table_columns_to_match_set`` warns about undeclared columns of the log, which
#: needs them in the frame (see the notes of issue 11); :func:`iter_window_batches` projects.
PROJECT_WINDOW = False


def _wanted(spec: MonitorSpec, columns: Sequence[str] | None) -> list[str]:
    """Projection: the spec's log columns (or ``columns``), always with id and timestamp."""
    names = list(columns) if columns is not None else log_columns(spec)
    return list(dict.fromkeys([spec.columns.id, spec.columns.timestamp, *names]))


def _file_listing(
    spec: MonitorSpec,
    source: FileSource,
    home: Path,
    between: tuple[pd.Timestamp, pd.Timestamp] | None,
) -> _files.Listing | None:
    """The source's files that may hold rows of ``between``; ``None`` when its folder is absent.

    A prediction log whose folder does not exist (yet) gives an empty window
    (``NoData``), as a log that has not been written to; anything else wrong
    with the location is a SourceError naming it.
    """
    try:
        return _files.list_files(source, home, between=between)
    except SourceError as exc:
        if str(exc).endswith("does not exist"):
            return None
        raise SourceError(f"model {spec.name!r}: {exc}") from exc


def _prediction_frames(
    spec: MonitorSpec,
    bounds: tuple[pd.Timestamp, pd.Timestamp],
    home: Path,
    *,
    wanted: list[str] | None,
    batch_rows: int | None,
) -> Iterator[tuple[str, pd.DataFrame]]:
    """``(provenance, rows)`` of the window, in file order (files) or timestamp order (SQL)."""
    cols = spec.columns
    source = spec.sources.predictions
    if isinstance(source, SqlSource):
        entry = _sql.SQL_PREFIX + source.qualified_name
        for frame in _sql.iter_prediction_frames(
            source,
            model=spec.name,
            wanted=wanted,
            column=cols.timestamp,
            bounds=bounds,
            unit=cols.timestamp_unit,
            batch_rows=batch_rows,
        ):
            yield entry, frame
        return
    listing = _file_listing(spec, source, home, bounds)
    if listing is None:
        return
    yield from _files.iter_prediction_frames(
        listing,
        source.format,
        wanted=wanted,
        column=cols.timestamp,
        bounds=bounds,
        unit=cols.timestamp_unit,
        batch_rows=batch_rows,
    )


def iter_window_batches(
    spec: MonitorSpec,
    start: datetime,
    end: datetime,
    home: Path,
    *,
    batch_rows: int = 500_000,
    columns: Sequence[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """The window's prediction rows in batches of at most ``batch_rows`` (none empty).

    Timestamps are UTC and in ``[start, end)``. ``columns``: the columns to read
    (default: the spec's, see :func:`log_columns`); the id and the timestamp are
    always included. Files are scanned record batch by record batch (Parquet)
    or chunk by chunk (CSV); SQL through a server-side cursor. The window is
    never materialized whole. Same errors as :func:`load_window`.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1; got {batch_rows}")
    wanted = _wanted(spec, columns)
    bounds = _bounds(start, end)
    for _, frame in _prediction_frames(spec, bounds, home, wanted=wanted, batch_rows=batch_rows):
        for offset in range(0, len(frame), batch_rows):
            yield frame.iloc[offset : offset + batch_rows].reset_index(drop=True)


def count_window_rows(spec: MonitorSpec, start: datetime, end: datetime, home: Path) -> int:
    """How many prediction rows the window has, as cheaply as the source allows.

    SQL: ``COUNT(*)`` with the window's bounds. Parquet with a typed timestamp:
    row-group metadata where a group lies inside the window, the timestamp
    column only where it straddles a bound. Otherwise (CSV, text timestamps):
    the timestamp column is read in batches and counted.
    """
    cols = spec.columns
    bounds = _bounds(start, end)
    source = spec.sources.predictions
    if isinstance(source, SqlSource):
        return _sql.count_rows(
            source, model=spec.name, column=cols.timestamp, bounds=bounds, unit=cols.timestamp_unit
        )
    listing = _file_listing(spec, source, home, bounds)
    if listing is None:
        return 0
    if source.format == "parquet":
        counted = _files.count_prediction_rows(
            listing,
            wanted=[cols.timestamp],
            column=cols.timestamp,
            bounds=bounds,
            unit=cols.timestamp_unit,
        )
        if counted is not None:
            return counted
    frames = _prediction_frames(spec, bounds, home, wanted=[cols.timestamp], batch_rows=1_000_000)
    return sum(len(frame) for _, frame in frames)


def load_window(spec: MonitorSpec, start: datetime, end: datetime, home: Path) -> WindowData:
    """Predictions with ``start <= timestamp < end`` and their labels (joined on the id)."""
    ts_start, ts_end = _bounds(start, end)
    parts: list[pd.DataFrame] = []
    used: list[str] = []
    frames = _prediction_frames(
        spec,
        (ts_start, ts_end),
        home,
        wanted=_wanted(spec, None) if PROJECT_WINDOW else None,
        batch_rows=None,
    )
    for entry, frame in frames:
        if not frame.empty:
            parts.append(frame)
            if entry not in used:
                used.append(entry)
    predictions = (
        pd.concat(parts, ignore_index=True)
        if len(parts) > 1
        else (parts[0] if parts else pd.DataFrame())
    )
    labeled, unmatched, conflicts = _join_labels(spec, predictions, home, (ts_start, ts_end))
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


_ORDER = "__modelwatch_label_time__"


def _label_rows(
    spec: MonitorSpec,
    predictions: pd.DataFrame,
    home: Path,
    window: tuple[pd.Timestamp, pd.Timestamp],
) -> tuple[list[pd.DataFrame], int | None]:
    """Label rows of the window's ids (in "latest last" order) and the unmatched count."""
    cols = spec.columns
    source = spec.sources.labels
    assert source is not None
    within = None
    if source.max_delay_hours is not None:
        within = (window[0], window[1] + timedelta(hours=source.max_delay_hours))
    if isinstance(source, SqlSource):
        labels = _sql.read_labels(
            source,
            model=spec.name,
            id_column=cols.id,
            target=cols.target,
            ids=predictions[cols.id],
            unit=cols.timestamp_unit,
            within=within,
            order=_ORDER,
        )
        # a table holds every window's labels: "unmatched in the same file" has no meaning
        return ([labels] if not labels.empty else []), None
    listing = _file_listing(spec, source, home, within)
    if listing is None:
        return [], 0
    ids = set(predictions[cols.id].astype(str))
    parts, unmatched = [], 0
    for part in _files.iter_label_parts(
        listing,
        source.format,
        id_column=cols.id,
        target=cols.target,
        ids=ids,
        unit=cols.timestamp_unit,
        within=within,
        order=_ORDER,
    ):
        parts.append(part.rows)
        unmatched += part.unmatched
    return parts, unmatched


def _join_labels(
    spec: MonitorSpec,
    predictions: pd.DataFrame,
    home: Path,
    window: tuple[pd.Timestamp, pd.Timestamp],
) -> tuple[pd.DataFrame, int | None, list[str]]:
    """Predictions joined with their labels, the count of unmatched label rows, conflicting ids.

    Unmatched: rows of the label files that label at least one prediction of
    the window whose id matches none of the window's predictions (files only:
    ``None`` for a SQL label table, which holds every window's labels). With
    ``max_delay_hours``, only label rows in scope count (see :func:`load_window`).

    One label per id, the declared rule being *the latest label wins*
    (corrections arrive after the first label). "Latest" means: the greatest
    :data:`LABEL_TIMESTAMP` (``label_timestamp``) when the label feed has that
    column (parsed like the prediction timestamps, ``columns.timestamp_unit``
    included; rows without one rank before every row with one); ties, and label
    feeds without the column, fall back to file order: files sorted by path,
    rows in file order, the last one winning (a SQL table without the column
    has no order: give it a ``label_timestamp``). Ids labeled more than once with
    different values (a missing value counts as a value) are returned as text,
    in order of first appearance.
    """
    cols = spec.columns
    empty = predictions.iloc[0:0].assign(**{cols.target: pd.Series(dtype="float64")})
    if spec.sources.labels is None or predictions.empty or cols.id not in predictions.columns:
        return empty, 0, []
    parts, unmatched = _label_rows(spec, predictions, home, window)
    if not parts:
        return empty, unmatched, []
    labels = pd.concat(parts, ignore_index=True)  # file order, then row order
    labels[cols.id] = labels[cols.id].astype(predictions[cols.id].dtype)
    values = labels.groupby(cols.id, sort=False)[cols.target].nunique(dropna=False)
    conflicts = [str(i)[:64] for i in values.index[values.to_numpy() > 1]]
    if _ORDER in labels.columns:
        labels = labels.sort_values(_ORDER, kind="stable", na_position="first")
        labels = labels.drop(columns=_ORDER)
    labels = labels.drop_duplicates(subset=[cols.id], keep="last")
    joined = predictions.merge(labels, on=cols.id, how="inner", validate="many_to_one")
    return joined, unmatched, conflicts
