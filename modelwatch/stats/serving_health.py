"""Serving health of a window: throughput, latency percentiles, null and erroring predictions.

All values are :class:`~modelwatch.stats.performance.MetricValue` rows of kind
``serving`` (stored with the window's other metrics, drawn in the report, the
dashboard and Prometheus):

* ``rows_per_hour`` — predictions logged per hour of the window;
* ``latency_p50_ms`` / ``latency_p95_ms`` / ``latency_p99_ms`` — percentiles of the
  spec's ``columns.latency_ms`` (numpy's default linear interpolation, the same
  value as ``np.percentile``), each with a **distribution-free confidence interval**
  from order statistics: with ``n`` latencies, the number below the true
  ``q``-quantile is Binomial(n, q), so the sorted values at ranks
  ``binom.ppf(a/2, n, q)`` and ``binom.ppf(1 - a/2, n, q) + 1`` bracket it with
  probability ≥ 1 - a (Conover, *Practical Nonparametric Statistics*, 3rd ed., §3.2;
  equal to ``scipy.stats.quantile_test``'s interval); a bound is missing when ``n`` is
  too small for it;
* ``null_prediction_share`` — rows whose prediction (or, for classifiers, score) is
  missing;
* ``error_share`` — rows the spec's ``columns.error`` marks as failed (any value
  that is not missing, ``False``, ``0`` or empty text).

Latency values that are missing or not finite are left out of the percentiles and
counted in ``latency_missing_share``. Vectorized: one sort of the latency column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from modelwatch.stats.performance import MetricValue

__all__ = ["LATENCY_PERCENTILES", "breaches", "quantile_ci", "serving_health"]

#: metric -> (spec.serving field, "max" | "min")
LIMITS: dict[str, tuple[str, str]] = {
    "latency_p95_ms": ("max_latency_p95_ms", "max"),
    "latency_p99_ms": ("max_latency_p99_ms", "max"),
    "error_share": ("max_error_share", "max"),
    "null_prediction_share": ("max_null_share", "max"),
    "rows_per_hour": ("min_rows_per_hour", "min"),
}

#: percentile -> metric name
LATENCY_PERCENTILES: dict[float, str] = {
    50.0: "latency_p50_ms",
    95.0: "latency_p95_ms",
    99.0: "latency_p99_ms",
}


def quantile_ci(
    sorted_values: np.ndarray, q: float, *, confidence: float = 0.95
) -> tuple[float | None, float | None]:
    """Distribution-free CI of the ``q``-quantile (0 < q < 1) from sorted values.

    The same interval as ``scipy.stats.quantile_test(...).confidence_interval()``; a
    bound is None when ``n`` is too small for it at this confidence (its order
    statistic falls outside the sample, e.g. the upper bound of p99 below ~300 rows).
    """
    n = int(sorted_values.size)
    if n == 0:
        return None, None
    alpha = 1.0 - confidence
    lower_rank = int(stats.binom.ppf(alpha / 2, n, q))  # 1-based rank of the lower bound
    upper_rank = int(stats.binom.ppf(1 - alpha / 2, n, q)) + 1
    low = float(sorted_values[lower_rank - 1]) if lower_rank >= 1 else None
    high = float(sorted_values[upper_rank - 1]) if upper_rank <= n else None
    return low, high


def _failed(values: pd.Series) -> np.ndarray:
    """True where an error column marks a failed request (not missing/False/0/empty)."""
    present = values.notna().to_numpy()
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.astype("Float64") if pd.api.types.is_bool_dtype(values.dtype) else values
        filled = numbers.to_numpy(dtype="float64", na_value=0.0)
        return present & (filled != 0)
    text = values.astype("string").fillna("").str.strip().str.lower()
    return present & ~text.isin(["", "0", "false", "none", "ok"]).to_numpy()


def _value(name: str, value: float, n: int, ci: tuple[float | None, float | None] = (None, None),
           confidence: float | None = None) -> MetricValue:  # fmt: skip
    return MetricValue(name, value, ci[0], ci[1], n, kind="serving", confidence=confidence)


def serving_health(
    frame: pd.DataFrame,
    *,
    hours: float,
    prediction: str,
    scores: Sequence[str] = (),
    latency: str | None = None,
    error: str | None = None,
    confidence: float = 0.95,
) -> list[MetricValue]:
    """The window's serving-health values (see the module docstring)."""
    n = len(frame)
    out = [_value("rows_per_hour", n / hours if hours > 0 else float("nan"), n)]
    if n == 0:
        return out
    outputs = [c for c in (prediction, *scores) if c in frame.columns]
    if outputs:
        missing = frame[outputs].isna().to_numpy().any(axis=1)
        out.append(_value("null_prediction_share", float(missing.mean()), n))
    if error is not None and error in frame.columns:
        out.append(_value("error_share", float(_failed(frame[error]).mean()), n))
    if latency is not None and latency in frame.columns:
        values = pd.to_numeric(frame[latency], errors="coerce").to_numpy(dtype="float64")
        finite = np.sort(values[np.isfinite(values)])
        out.append(_value("latency_missing_share", 1.0 - finite.size / n, n))
        if finite.size:
            points = np.percentile(finite, list(LATENCY_PERCENTILES))
            for (pct, name), value in zip(LATENCY_PERCENTILES.items(), points, strict=True):
                ci = quantile_ci(finite, pct / 100.0, confidence=confidence)
                level = None if ci == (None, None) else confidence
                out.append(_value(name, float(value), int(finite.size), ci, level))
    return out


def breaches(values: Sequence[MetricValue], limits: object) -> list[str]:
    """The serving limits the window breaks, as text (``limits``: the spec's ``serving``)."""
    out = []
    for value in values:
        field, side = LIMITS.get(value.name, (None, None))
        limit = getattr(limits, field, None) if field else None
        if limit is None or not np.isfinite(value.value):
            continue
        if (side == "max" and value.value > limit) or (side == "min" and value.value < limit):
            word = "above" if side == "max" else "below"
            out.append(f"{value.name} {value.value:.4g} {word} serving.{field} {limit:g}")
    return out
