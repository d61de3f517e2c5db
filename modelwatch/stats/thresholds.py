"""Drift thresholds calibrated on the reference itself (chunks against the rest).

Rule
----
The reference is split into ``n_chunks`` contiguous chunks of ``chunk_size``
rows (rows beyond ``n_chunks · chunk_size`` are left out of the chunks but stay
in every "rest"). For each chunk ``i`` the statistic of every column is
computed for *chunk i against the rest of the reference* (the reference minus
chunk ``i`` — never against a reference that contains the chunk, which would
shrink the statistic). The column's threshold is::

    threshold = mean_i(statistic_i) + k · std_i(statistic_i)      (std with ddof = 1)

and a window drifts on that column iff its statistic exceeds it
(:func:`modelwatch.stats.drift.detect_drift` with ``column_thresholds`` and
``methods`` from :class:`CalibratedThresholds`). The statistic's spread depends on
the sample sizes, so ``chunk_size`` should be the window size: the monitor
passes the window's row count (capped so that at least ``MIN_CHUNKS`` chunks
fit; smaller chunks make the thresholds looser, never tighter).

Fitted once per champion and window size: a monitor run does not recalibrate. The
calibration is keyed by :func:`threshold_chunk_size` (the window's row count rounded
*down* to two significant digits: 2 000 and 2 049 rows share the chunks of 2 000,
99 rows are exact), so an hourly model whose window size wanders by a few percent
needs a handful of calibrations, each stored (:meth:`CalibratedThresholds.to_dict`,
plain JSON) in the worker's cache of the champion's run. Rounding down makes the
chunks at most 10 % smaller than the window: the thresholds are then at most a
little looser, never tighter (the statistics' spread shrinks as the chunk grows).

Contiguous chunks keep the reference's own temporal variation in the spread
(``shuffle=True`` measures sampling noise alone). The method of each column is
resolved once (``"auto"`` from the chunk and rest sizes, as ``detect_drift``
would) and kept for every chunk and for the window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelwatch.errors import StatisticsError
from modelwatch.stats.drift import detect_drift, fit_reference_profile
from modelwatch.stats.params import Interval, check_param, param_error

__all__ = [
    "DEFAULT_K",
    "MIN_CHUNKS",
    "CalibratedThresholds",
    "ChunkThreshold",
    "calibrate_thresholds",
    "chunk_bounds",
    "threshold_chunk_size",
]

DEFAULT_K = 3.0
"""Standard deviations above the chunks' mean statistic."""

MIN_CHUNKS = 4
"""Fewest chunks a calibration uses (``chunk_size`` is capped to ``n_rows // MIN_CHUNKS``)."""

_FLOOR = 1e-12


@dataclass(frozen=True)
class ChunkThreshold:
    """The calibrated threshold of one column, with the chunk statistics behind it."""

    column: str
    method: str
    threshold: float
    mean: float
    std: float
    statistics: tuple[float, ...]


@dataclass(frozen=True)
class CalibratedThresholds:
    """Per-column thresholds from reference chunks (see the module docstring)."""

    columns: tuple[ChunkThreshold, ...]
    k: float
    chunk_size: int
    n_chunks: int

    @property
    def thresholds(self) -> dict[str, float]:
        """``column -> threshold``: the ``column_thresholds`` argument of ``detect_drift``."""
        return {c.column: c.threshold for c in self.columns}

    @property
    def methods(self) -> dict[str, str]:
        """``column -> method key``: the ``methods`` argument of ``detect_drift``."""
        return {c.column: c.method for c in self.columns}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; :meth:`from_dict` restores an equal object."""
        return {
            "columns": [dataclasses.asdict(c) for c in self.columns],
            "k": self.k,
            "chunk_size": self.chunk_size,
            "n_chunks": self.n_chunks,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibratedThresholds:
        """The thresholds saved by :meth:`to_dict` (e.g. read back from JSON)."""
        try:
            columns = tuple(
                ChunkThreshold(
                    column=str(c["column"]),
                    method=str(c["method"]),
                    threshold=float(c["threshold"]),
                    mean=float(c["mean"]),
                    std=float(c["std"]),
                    statistics=tuple(float(v) for v in c["statistics"]),
                )
                for c in data["columns"]
            )
            return cls(
                columns=columns,
                k=float(data["k"]),
                chunk_size=int(data["chunk_size"]),
                n_chunks=int(data["n_chunks"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StatisticsError(f"not saved calibrated thresholds: {exc!r}") from exc

    def __getitem__(self, column: str) -> ChunkThreshold:
        for result in self.columns:
            if result.column == column:
                return result
        raise KeyError(column)


_WHERE = "calibrate_thresholds"
"""The function the parameter errors name (``chunk_bounds`` checks its parameters)."""


def threshold_chunk_size(window_rows: int) -> int:
    """The chunk size a window of ``window_rows`` rows is calibrated with (module docstring).

    ``window_rows`` rounded down to two significant digits: 1 234 -> 1 200,
    98 765 -> 98 000; below 100 rows the window size itself.
    """
    rows = check_param("threshold_chunk_size", "window_rows", window_rows, Interval(int, 1, None))
    if rows < 100:
        return rows
    step = 10 ** (len(str(rows)) - 2)  # integer digits: no float log10 at powers of ten
    return (rows // step) * step


def chunk_bounds(n_rows: int, *, chunk_size: int | None, n_chunks: int) -> list[tuple[int, int]]:
    """``[start, stop)`` row ranges of the chunks (see the module docstring)."""
    n_chunks = check_param(_WHERE, "n_chunks", n_chunks, Interval(int, 2, None))
    chunk_size = check_param(
        _WHERE, "chunk_size", chunk_size, Interval(int, 1, None, allow_none=True)
    )
    most = n_rows // MIN_CHUNKS
    if most < 1:
        raise StatisticsError(
            f"calibrate_thresholds needs at least {MIN_CHUNKS} reference rows; got {n_rows}"
        )
    size = max(min(chunk_size if chunk_size is not None else n_rows // n_chunks, most), 1)
    count = min(n_chunks, n_rows // size)
    return [(i * size, (i + 1) * size) for i in range(count)]


def calibrate_thresholds(
    reference: pd.DataFrame,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    method: str = "auto",
    methods: Mapping[str, str] | None = None,
    chunk_size: int | None = None,
    n_chunks: int = 10,
    k: float = DEFAULT_K,
    n_bins: int = 10,
    shuffle: bool = False,
    seed: int = 0,
) -> CalibratedThresholds:
    """Threshold per column = mean + ``k`` · std of its statistic over chunks vs the rest.

    ``chunk_size`` (default ``len(reference) // n_chunks``) should be the
    window size; up to ``n_chunks`` chunks of that size are used (at least
    ``MIN_CHUNKS``; the size is capped so they fit).
    """
    if not isinstance(reference, pd.DataFrame):
        raise param_error(_WHERE, "reference", "a pandas DataFrame", type(reference).__name__)
    k = check_param(_WHERE, "k", k, Interval(float, 0, None))
    numeric, categorical = list(numeric), list(categorical)
    bounds = chunk_bounds(len(reference), chunk_size=chunk_size, n_chunks=n_chunks)
    frame = reference
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(reference))
        frame = reference.iloc[order]
    frame = frame.reset_index(drop=True)
    chosen: dict[str, str] = dict(methods or {})
    statistics: dict[str, list[float]] = {c: [] for c in [*numeric, *categorical]}
    for start, stop in bounds:
        chunk = frame.iloc[start:stop]
        rest = pd.concat([frame.iloc[:start], frame.iloc[stop:]], ignore_index=True)
        profile = fit_reference_profile(
            rest, numeric=numeric, categorical=categorical, n_bins=n_bins
        )
        report = detect_drift(profile, chunk, method=method, methods=chosen)
        chosen = {r.column: r.method for r in report.columns}  # resolved once, then kept
        for result in report.columns:
            statistics[result.column].append(result.statistic)
    columns = []
    for column, values in statistics.items():
        array = np.asarray(values, dtype=np.float64)
        mean = float(array.mean())
        std = float(array.std(ddof=1)) if array.size > 1 else 0.0
        columns.append(
            ChunkThreshold(
                column=column,
                method=chosen[column],
                threshold=max(mean + float(k) * std, _FLOOR),
                mean=mean,
                std=std,
                statistics=tuple(float(v) for v in array),
            )
        )
    return CalibratedThresholds(
        columns=tuple(columns), k=float(k), chunk_size=bounds[0][1], n_chunks=len(bounds)
    )
