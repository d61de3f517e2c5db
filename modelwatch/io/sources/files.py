"""Parquet / CSV sources read through ``pyarrow.dataset``: only the window's files and rows.

Pruning, cheapest first:

1. **Partitions.** Folders named ``key=value`` (hive layout) on the way to a
   file are read as time partitions when the keys are ``date`` / ``dt``
   (``2026-11-29`` or ``20261129``), ``year``, ``month``, ``day``, ``hour``:
   ``date=2026-11-29/hour=10/`` holds rows of ``[2026-11-29T10:00, 11:00)`` UTC.
   A folder whose time range misses the window is never listed, so a window
   of a year of hourly partitions opens one folder per level, not 8,760 files.
   Other keys (``region=eu``) are walked but do not prune. Files outside any
   time partition (a flat folder, or files beside the partitions) are kept
   and pruned by step 2.
2. **Row groups.** For a Parquet file whose timestamp column is typed
   (timestamp, or numbers with ``columns.timestamp_unit``), the window's
   bounds are pushed into the scan: row groups whose min/max statistics miss
   the window are skipped. A text timestamp column cannot be compared in the
   file: the file's needed columns are read and filtered after parsing.
3. **Columns.** Only the requested columns are read (the streaming path asks for
   the spec's, :func:`~modelwatch.io.sources.log_columns`; labels: id, target,
   ``label_timestamp``).

Every row kept is then filtered exactly (``start <= timestamp < end`` in
UTC), so pruning only saves work; it never decides which rows count.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pandas as pd

from modelwatch.errors import SchemaError, SourceError
from modelwatch.io.sources._common import (
    LABEL_TIMESTAMP,
    NS_PER_UNIT,
    epoch_bounds,
    to_utc,
    window_rows,
)
from modelwatch.spec import FileSource, resolve_path

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.dataset as ds

Bounds = tuple[pd.Timestamp, pd.Timestamp]

_PARTITION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class Listing:
    """The files of a source a window may need: user-facing paths and how pyarrow opens them."""

    paths: tuple[str, ...]  # as shown in messages and provenance (URLs keep their protocol)
    fs_paths: tuple[str, ...]  # the same files as the filesystem names them
    fs: Any  # the fsspec filesystem
    _arrow_fs: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def arrow_filesystem(self) -> Any:
        """The pyarrow filesystem of these files (made once per listing)."""
        cached = self._arrow_fs.get("fs")
        if cached is None:
            import pyarrow.fs as pafs

            if _protocol(self.fs) in ("file", "local"):
                cached = pafs.LocalFileSystem()
            else:
                cached = pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))
            self._arrow_fs["fs"] = cached
        return cached


def _protocol(fs: Any) -> str:
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


def partition_range(keys: dict[str, str]) -> Bounds | None:
    """The UTC time range ``[lo, hi)`` of a folder from its hive keys; ``None``: not a time folder.

    ``date``/``dt`` (``YYYY-MM-DD`` or ``YYYYMMDD``) or ``year``[/``month``[/``day``]],
    then optionally ``hour``. Values that do not parse give ``None`` (no pruning).
    Plain ``datetime`` arithmetic: this runs for every folder listed.
    """
    try:
        day_text = keys.get("date", keys.get("dt"))
        if day_text is not None:
            fmt = "%Y%m%d" if day_text.isdigit() else "%Y-%m-%d"
            lo = datetime.strptime(day_text, fmt).replace(tzinfo=UTC)
            hi = lo + timedelta(days=1)
        elif "year" in keys:
            year = int(keys["year"])
            if "month" in keys:
                month = int(keys["month"])
                if "day" in keys:
                    lo = datetime(year, month, int(keys["day"]), tzinfo=UTC)
                    hi = lo + timedelta(days=1)
                else:
                    lo = datetime(year, month, 1, tzinfo=UTC)
                    hi = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            else:
                lo, hi = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
        else:
            return None
        if "hour" in keys and hi - lo == timedelta(days=1):
            hour = int(keys["hour"])
            if not 0 <= hour <= 23:
                return None
            lo = lo + timedelta(hours=hour)
            hi = lo + timedelta(hours=1)
        return pd.Timestamp(lo), pd.Timestamp(hi)
    except (ValueError, TypeError, OverflowError):
        return None


def _keeps(bounds: Bounds | None) -> Callable[[dict[str, str]], bool]:
    lo, hi = (bounds[0].to_pydatetime(), bounds[1].to_pydatetime()) if bounds else (None, None)

    def keep(keys: dict[str, str]) -> bool:
        if lo is None or hi is None:
            return True
        span = partition_range(keys)
        return span is None or (span[0] < hi and lo < span[1])

    return keep


def _path_keys(path: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for part in path.split("/")[:-1]:
        match = _PARTITION.match(part)
        if match:
            keys[match[1].lower()] = unquote(match[2])
    return keys


def _entries(fs: Any, folder: str) -> list[tuple[str, bool]]:
    """``(path, is_folder)`` of a folder's entries; local folders through ``os.scandir``."""
    if _protocol(fs) in ("file", "local"):
        with os.scandir(folder) as it:
            return [(entry.path, entry.is_dir()) for entry in it]
    return [
        (str(e["name"]).rstrip("/"), e["type"] == "directory") for e in fs.ls(folder, detail=True)
    ]


def _walk(fs: Any, root: str, suffix: str, keep: Callable[[dict[str, str]], bool]) -> list[str]:
    """Files under ``root`` ending in ``suffix``; time folders that ``keep`` refuses are skipped."""
    found: list[str] = []
    pending: list[tuple[str, dict[str, str]]] = [(root, {})]
    while pending:
        folder, keys = pending.pop()
        for name, is_folder in _entries(fs, folder):
            base = name.rsplit("/", 1)[-1]
            if is_folder:
                match = _PARTITION.match(base)
                sub = {**keys, match[1].lower(): unquote(match[2])} if match else keys
                if match and not keep(sub):
                    continue
                pending.append((name, sub))
            elif base.endswith(suffix):
                found.append(name)
    return sorted(found)


def list_files(source: FileSource, home: Path, *, between: Bounds | None = None) -> Listing:
    """The source's files, sorted by path; with ``between``, time partitions missing it are pruned.

    A path that does not exist is a :class:`SourceError` naming it.
    """
    import fsspec

    location = resolve_path(source.path, home)
    try:
        fs, _, paths = fsspec.get_fs_token_paths(location)
    except (ValueError, ImportError, OSError) as exc:
        raise SourceError(f"source path {location!r} cannot be opened ({exc})") from exc
    root = paths[0] if paths else location
    suffix = "." + source.format
    keep = _keeps(between)
    if any(ch in location for ch in "*?["):
        files = sorted(p for p in paths if keep(_path_keys(p)))
    elif fs.isdir(root):
        files = _walk(fs, root, suffix, keep)
    elif fs.exists(root):
        files = [root]
    else:
        raise SourceError(f"source path {location!r} does not exist")
    protocol = _protocol(fs)
    shown = files if protocol in ("file", "local") else [f"{protocol}://{p}" for p in files]
    return Listing(paths=tuple(shown), fs_paths=tuple(files), fs=fs)


# --------------------------------------------------------------------------- reading


def read_error(path: str, fmt: str, exc: BaseException) -> SourceError:
    """The one message of an unreadable file (never retried)."""
    if isinstance(exc, UnicodeDecodeError):
        return SourceError(
            f"{path}: not UTF-8 encoded CSV ({exc.reason} at byte {exc.start}); "
            "re-encode the file as UTF-8",
            path=path,
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SourceError(
        f"{path}: cannot read as {fmt} ({type(exc).__name__}: {first}); "
        f"the file may be truncated or not a {fmt} file",
        path=path,
    )


def read_file(path: str, fmt: str) -> pd.DataFrame:
    """Read one whole file; any failure is a SourceError naming the file (never retried)."""
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, encoding="utf-8")
    except Exception as exc:
        raise read_error(path, fmt, exc) from exc


def _csv_chunks(
    path: str, wanted: list[str] | None, batch_rows: int | None
) -> Iterator[pd.DataFrame]:
    keep = set(wanted) if wanted is not None else None
    usecols = (lambda c: c in keep) if keep is not None else None
    try:
        if batch_rows is None:
            yield pd.read_csv(path, encoding="utf-8", usecols=usecols)
            return
        with pd.read_csv(path, encoding="utf-8", usecols=usecols, chunksize=batch_rows) as reader:
            yield from reader
    except Exception as exc:
        raise read_error(path, "csv", exc) from exc


def _time_expression(
    field_type: pa.DataType, column: str, bounds: Bounds, unit: str | None
) -> ds.Expression | None:
    """``lo <= column <= hi`` in the column's own type (a superset of the window), or ``None``.

    ``None`` when the column's values cannot be compared in the file (text, or
    numbers without a unit): the caller reads and filters after parsing.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    col = ds.field(column)
    lo, hi = bounds
    if pa.types.is_timestamp(field_type):
        ts_unit = field_type.unit
        lo_t, hi_t = lo.floor(ts_unit), hi.ceil(ts_unit)
        if field_type.tz is None:  # naive: UTC by contract
            lo_t, hi_t = lo_t.tz_convert(None), hi_t.tz_convert(None)
        return (col >= pa.scalar(lo_t, type=field_type)) & (col <= pa.scalar(hi_t, type=field_type))
    if unit is not None and (pa.types.is_integer(field_type) or pa.types.is_floating(field_type)):
        lo_n, hi_n = epoch_bounds(lo, hi, unit)
        return (col >= lo_n) & (col <= hi_n)
    return None


def _check_epoch_statistics(fragment: Any, column: str, path: str, unit: str) -> bool:
    """Whether every row group has min/max of ``column``; out-of-range values raise now.

    The window filter runs in the file, so values a unit cannot represent (epoch
    nanoseconds declared as seconds) would silently match nothing: their
    statistics are parsed like the rows would be, giving the same SchemaError.
    """
    metadata = fragment.metadata
    extremes: list[Any] = []
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        for j in range(group.num_columns):
            chunk = group.column(j)
            if chunk.path_in_schema != column:
                continue
            stats = chunk.statistics
            if stats is None or not stats.has_min_max:
                return False
            extremes += [stats.min, stats.max]
    if extremes:
        to_utc(pd.DataFrame({column: extremes}), column, path, unit)
    return True


@dataclass(frozen=True)
class _ParquetScan:
    """One Parquet file opened for a window: its fragment, projected columns and filter."""

    fragment: Any
    columns: list[str]
    expression: Any


def _open_parquet(listing: Listing, index: int) -> tuple[Any, Any]:
    import pyarrow.dataset as ds

    path = listing.paths[index]
    try:
        fragment = ds.ParquetFileFormat().make_fragment(
            listing.fs_paths[index], filesystem=listing.arrow_filesystem()
        )
        schema = fragment.physical_schema
    except Exception as exc:
        raise read_error(path, "parquet", exc) from exc
    return fragment, schema


def _prediction_scan(
    listing: Listing,
    index: int,
    *,
    wanted: list[str] | None,
    column: str,
    bounds: Bounds,
    unit: str | None,
) -> _ParquetScan:
    path = listing.paths[index]
    fragment, schema = _open_parquet(listing, index)
    if column not in schema.names:
        raise SchemaError(f"{path}: timestamp column {column!r} is missing", path=path)
    columns = list(schema.names) if wanted is None else [c for c in schema.names if c in wanted]
    field_type = schema.field(column).type
    expression = _time_expression(field_type, column, bounds, unit)
    if expression is not None and not _is_timestamp(field_type):
        assert unit is not None
        if not _check_epoch_statistics(fragment, column, path, unit):
            expression = None  # no statistics: read, then parse every value
    return _ParquetScan(fragment, columns, expression)


def _is_timestamp(field_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_timestamp(field_type))


def iter_prediction_frames(
    listing: Listing,
    fmt: str,
    *,
    wanted: list[str] | None,
    column: str,
    bounds: Bounds,
    unit: str | None,
    batch_rows: int | None = None,
) -> Iterator[tuple[str, pd.DataFrame]]:
    """``(path, rows)`` of each file in path order: the window's rows, timestamp in UTC.

    ``batch_rows=None``: one frame per file; else frames of at most that many rows.
    Frames may be empty (a file with no row in the window).
    """
    for index, path in enumerate(listing.paths):
        if fmt == "csv":
            for chunk in _csv_chunks(path, wanted, batch_rows):
                yield path, window_rows(chunk, column, path, bounds=bounds, unit=unit)
            continue
        scan = _prediction_scan(
            listing, index, wanted=wanted, column=column, bounds=bounds, unit=unit
        )
        try:
            if batch_rows is None:
                tables = [scan.fragment.to_table(columns=scan.columns, filter=scan.expression)]
            else:
                tables = scan.fragment.to_batches(
                    columns=scan.columns, filter=scan.expression, batch_size=batch_rows
                )
            for table in tables:
                if table.num_rows == 0 and scan.expression is not None:
                    continue  # nothing of the window here (pruned by statistics)
                frame = table.to_pandas()
                yield path, window_rows(frame, column, path, bounds=bounds, unit=unit)
        except (SchemaError, SourceError):
            raise
        except Exception as exc:
            raise read_error(path, "parquet", exc) from exc


def count_prediction_rows(
    listing: Listing, *, wanted: list[str], column: str, bounds: Bounds, unit: str | None
) -> int | None:
    """Rows of Parquet files in the window, from statistics where they decide; ``None``: unknown.

    A row group entirely inside the window counts from its metadata; one that
    straddles a bound has its timestamp column read. ``None`` for text timestamps.
    """
    total = 0
    for index in range(len(listing.paths)):
        scan = _prediction_scan(
            listing, index, wanted=wanted, column=column, bounds=bounds, unit=unit
        )
        if scan.expression is None:
            return None
        total += int(scan.fragment.count_rows(filter=_exact(scan, column, bounds, unit)))
    return total


def _exact(scan: _ParquetScan, column: str, bounds: Bounds, unit: str | None) -> Any:
    """``lo <= column < hi`` exactly, in the column's type (timestamps) or epoch numbers."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    field_type = scan.fragment.physical_schema.field(column).type
    lo, hi = bounds
    col = ds.field(column)
    if pa.types.is_timestamp(field_type):
        lo_t, hi_t = lo.ceil(field_type.unit), hi.ceil(field_type.unit)
        if field_type.tz is None:
            lo_t, hi_t = lo_t.tz_convert(None), hi_t.tz_convert(None)
        return (col >= pa.scalar(lo_t, type=field_type)) & (col < pa.scalar(hi_t, type=field_type))
    assert unit is not None
    per = NS_PER_UNIT[unit]
    if pa.types.is_integer(field_type):
        lo_n, hi_n = -(-lo.value // per), -(-hi.value // per)  # ceil: integers >= lo, < hi
        return (col >= lo_n) & (col < hi_n)
    return (col >= lo.value / per) & (col < hi.value / per)


# --------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class LabelPart:
    """Label rows of one file matching the window's ids, and how many rows in scope did not."""

    path: str
    rows: pd.DataFrame  # id, target and, when the file has it, the label time in UTC
    unmatched: int


def iter_label_parts(
    listing: Listing,
    fmt: str,
    *,
    id_column: str,
    target: str,
    ids: set[str],
    unit: str | None,
    within: Bounds | None,
    order: str,
) -> Iterator[LabelPart]:
    """Per label file (path order): rows whose id (as text) is in ``ids``.

    ``within``: only rows whose ``label_timestamp`` lies in ``[lo, hi)`` (rows
    without a label time are kept: nothing says they are late); files without
    the column are kept whole (their partition was already checked).
    ``unmatched``: rows in scope whose id is not in ``ids``.
    """
    wanted = [id_column, target, LABEL_TIMESTAMP]
    for index, path in enumerate(listing.paths):
        if fmt == "csv":
            frames: list[pd.DataFrame] = list(_csv_chunks(path, wanted, None))
            frame, in_scope = _label_frame(frames[0], path, id_column, target, unit, within, ids)
        else:
            frame, in_scope = _parquet_labels(
                listing,
                index,
                id_column=id_column,
                target=target,
                ids=ids,
                unit=unit,
                within=within,
            )
        if frame.empty:
            continue
        part = frame[[id_column, target]]
        if LABEL_TIMESTAMP in frame.columns:
            part = part.assign(**{order: to_utc(frame, LABEL_TIMESTAMP, path, unit)})
        yield LabelPart(path, part, in_scope - len(part))


def _label_frame(
    frame: pd.DataFrame,
    path: str,
    id_column: str,
    target: str,
    unit: str | None,
    within: Bounds | None,
    ids: set[str],
) -> tuple[pd.DataFrame, int]:
    """Rows of a read label frame in scope (time) and matching ``ids``; and the in-scope count."""
    for column in (id_column, target):
        if column not in frame.columns:
            raise SchemaError(f"{path}: label feed column {column!r} is missing", path=path)
    if within is not None and LABEL_TIMESTAMP in frame.columns:
        when = to_utc(frame, LABEL_TIMESTAMP, path, unit)
        frame = frame.loc[(when.isna() | ((when >= within[0]) & (when < within[1]))).to_numpy()]
    keep = frame[id_column].astype(str).isin(ids).to_numpy()
    return frame.loc[keep], len(frame)


def _parquet_labels(
    listing: Listing,
    index: int,
    *,
    id_column: str,
    target: str,
    ids: set[str],
    unit: str | None,
    within: Bounds | None,
) -> tuple[pd.DataFrame, int]:
    import pyarrow as pa
    import pyarrow.dataset as ds

    path = listing.paths[index]
    fragment, schema = _open_parquet(listing, index)
    for column in (id_column, target):
        if column not in schema.names:
            raise SchemaError(f"{path}: label feed column {column!r} is missing", path=path)
    columns = [c for c in schema.names if c in (id_column, target, LABEL_TIMESTAMP)]
    scope = None
    if within is not None and LABEL_TIMESTAMP in schema.names:
        when = _time_expression(schema.field(LABEL_TIMESTAMP).type, LABEL_TIMESTAMP, within, unit)
        if when is None:  # text label times: read and filter after parsing
            table = _to_table(fragment, path, columns, None)
            return _label_frame(table.to_pandas(), path, id_column, target, unit, within, ids)
        scope = ds.field(LABEL_TIMESTAMP).is_null() | when
    id_type = schema.field(id_column).type
    if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type)):
        table = _to_table(fragment, path, columns, scope)  # ids compared as text after reading
        return _label_frame(table.to_pandas(), path, id_column, target, unit, within, ids)
    match = ds.field(id_column).isin(pa.array(sorted(ids), type=id_type))
    table = _to_table(fragment, path, columns, match if scope is None else scope & match)
    try:
        in_scope = int(fragment.count_rows(filter=scope))
    except Exception as exc:
        raise read_error(path, "parquet", exc) from exc
    frame = table.to_pandas()
    if within is not None and LABEL_TIMESTAMP in frame.columns:  # exact bounds (scope is wider)
        exact, n = _label_frame(frame, path, id_column, target, unit, within, ids)
        return exact, in_scope - (len(frame) - n)
    return frame, in_scope


def _to_table(fragment: Any, path: str, columns: list[str], expression: Any) -> Any:
    try:
        return fragment.to_table(columns=columns, filter=expression)
    except Exception as exc:
        raise read_error(path, "parquet", exc) from exc
