"""Multivariate drift: a domain classifier and PCA reconstruction error (uses scikit-learn).

Lives outside :mod:`modelwatch.stats` because it fits scikit-learn models.

Domain classifier
-----------------
Label reference rows 0 and window rows 1 (each side subsampled to at most
``max_rows``, seeded), fit a gradient-boosted classifier
(``HistGradientBoostingClassifier``, native missing values and categories) in
``n_folds`` stratified folds and compute the ROC AUC of the out-of-fold
scores. Its confidence interval uses DeLong's variance. Drift iff the
interval's lower bound exceeds ``threshold`` (default 0.55: a classifier that
tells the sets apart a little better than chance on the evidence). The
separating features are ranked by permutation importance (AUC drop on the
last fold when the column is shuffled).

PCA reconstruction error
------------------------
Standardize the numeric features (reference median imputation, reference mean
and std) and one-hot encode the categorical ones (reference categories; unseen
→ all zeros), fit PCA on the reference keeping ``variance`` (65 %) of the
variance, and measure the mean Euclidean distance between each row and its
reconstruction. The threshold comes from reference chunks of the window's size
(contiguous, at least 4): ``mean ± k·std`` (k = 3) of the chunks' errors;
drift iff the window's error is outside.

Threads
-------
Both fits run under ``threadpoolctl.threadpool_limits(limits=MAX_THREADS)`` (1):
the monitor runs this beside the other analysis tasks in Prefect's thread pool, so
the process already has a thread per task; OpenMP (gradient boosting) and BLAS (PCA)
threads on top of that oversubscribe the cores. Measured on 2 cores with another
process burning both (``benchmarks/monitor_benchmark.py`` notes): the domain
classifier took 13.7 s with OpenMP threads and about 1-2 s with one thread, and one
thread costs nothing measurable when the machine is idle (<= 5k rows per side). The
OpenMP limit applies to the calling thread; OpenBLAS's is process-wide for as long as
the fit runs. scikit-learn and threadpoolctl are imported on first use.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from modelwatch.errors import StatisticsError
from modelwatch.stats.kernels import FloatArray, delong_covariance, roc_auc
from modelwatch.stats.params import Interval, check_param

if TYPE_CHECKING:
    from sklearn.decomposition import PCA

__all__ = [
    "MAX_THREADS",
    "MIN_ROWS",
    "DomainClassifierResult",
    "PCAReconstructionResult",
    "delong_auc_variance",
    "domain_classifier_drift",
    "pca_reconstruction_drift",
]

MIN_ROWS = 10
"""Fewest rows per side (reference and current) both methods accept."""

MAX_THREADS: int | None = 1
"""OpenMP / BLAS threads of a fit (see "Threads" in the module docstring); None: no limit."""


@contextmanager
def bounded_threads() -> Iterator[Any]:
    """``threadpool_limits(limits=MAX_THREADS)`` around a fit (OpenMP and BLAS pools)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=MAX_THREADS) as limits:
        yield limits


@dataclass(frozen=True)
class DomainClassifierResult:
    """Cross-validated ROC AUC of telling the window from the reference."""

    auc: float
    ci_low: float
    ci_high: float
    confidence: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    top_features: tuple[tuple[str, float], ...]
    """``(column, AUC drop when shuffled)``, largest first."""


@dataclass(frozen=True)
class PCAReconstructionResult:
    """Mean reconstruction error of the window against the reference's PCA."""

    error: float
    lower: float
    upper: float
    drifted: bool
    n_components: int
    chunk_mean: float
    chunk_std: float
    n_chunks: int
    n_current: int


def _subsample(frame: pd.DataFrame, max_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    index = np.sort(rng.choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[index].reset_index(drop=True)


def _check(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    function: str,
) -> None:
    if not numeric and not categorical:
        raise StatisticsError(f"{function} needs at least one numeric or categorical column")
    for side, frame in (("reference", reference), ("current", current)):
        missing = [c for c in [*numeric, *categorical] if c not in frame.columns]
        if missing:
            raise StatisticsError(f"columns {missing} are missing from the {side} data")
        if len(frame) < MIN_ROWS:
            raise StatisticsError(
                f"{function} needs at least {MIN_ROWS} {side} rows; got {len(frame)}"
            )


def _codes(
    reference: pd.DataFrame, current: pd.DataFrame, categorical: Sequence[str]
) -> tuple[FloatArray, FloatArray]:
    """Categories as integer codes of the pooled strings (NaN for missing)."""
    ref_out = np.empty((len(reference), len(categorical)), dtype=np.float64)
    cur_out = np.empty((len(current), len(categorical)), dtype=np.float64)
    for j, column in enumerate(categorical):
        pooled = pd.concat([reference[column], current[column]], ignore_index=True)
        missing = pooled.isna().to_numpy()
        codes, _ = pd.factorize(pooled.astype(str), use_na_sentinel=True)
        values = codes.astype(np.float64)
        values[missing] = np.nan
        ref_out[:, j], cur_out[:, j] = values[: len(reference)], values[len(reference) :]
    return ref_out, cur_out


def delong_auc_variance(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float]:
    """``(AUC, variance)`` of one ROC AUC by DeLong's method (midranks for ties)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise StatisticsError(f"DeLong's variance needs two rows of each class; got {m} and {n}")
    aucs, covariance = delong_covariance(y, s[None, :])
    return float(aucs[0]), float(covariance[0, 0])


def domain_classifier_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    max_rows: int = 5000,
    n_folds: int = 5,
    threshold: float = 0.55,
    confidence: float = 0.95,
    top: int = 5,
    seed: int = 0,
) -> DomainClassifierResult:
    """Cross-validated ROC AUC of a classifier telling ``current`` from ``reference``."""
    function = "domain_classifier_drift"
    _check(reference, current, numeric, categorical, function)
    check_param(function, "threshold", threshold, Interval(float, 0.5, 1))
    check_param(function, "confidence", confidence, Interval(float, 0, 1, closed="neither"))
    check_param(function, "n_folds", n_folds, Interval(int, 2, None))
    check_param(function, "max_rows", max_rows, Interval(int, MIN_ROWS, None))
    rng = np.random.default_rng(seed)
    ref = _subsample(reference, max_rows, rng)
    cur = _subsample(current, max_rows, rng)
    columns = [*numeric, *categorical]
    ref_num = ref[list(numeric)].to_numpy(dtype=np.float64, na_value=np.nan)
    cur_num = cur[list(numeric)].to_numpy(dtype=np.float64, na_value=np.nan)
    ref_cat, cur_cat = _codes(ref, cur, categorical)
    x = np.vstack([np.hstack([ref_num, ref_cat]), np.hstack([cur_num, cur_cat])])
    y = np.concatenate([np.zeros(len(ref), np.int64), np.ones(len(cur), np.int64)])
    is_categorical = np.array([False] * len(numeric) + [True] * len(categorical))
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    out_of_fold = np.empty(len(y), dtype=np.float64)
    model = None
    test_index = np.empty(0, dtype=np.int64)
    with bounded_threads():
        for train_index, test_index in folds.split(x, y):
            model = HistGradientBoostingClassifier(
                max_iter=60,
                learning_rate=0.1,
                max_leaf_nodes=15,
                categorical_features=is_categorical if is_categorical.any() else None,
                early_stopping=False,
                random_state=seed,
            )
            model.fit(x[train_index], y[train_index])
            out_of_fold[test_index] = model.predict_proba(x[test_index])[:, 1]
    auc, variance = delong_auc_variance(out_of_fold, y)
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    half = z * math.sqrt(max(variance, 0.0))
    low, high = max(auc - half, 0.0), min(auc + half, 1.0)

    assert model is not None
    x_test, positive = x[test_index], y[test_index] == 1

    def fold_auc(rows: FloatArray) -> float:
        return float(roc_auc(positive, model.predict_proba(rows)[:, 1])[0])

    drops = []
    with bounded_threads():
        base = fold_auc(x_test)
        for j, column in enumerate(columns):
            shuffled = x_test.copy()
            shuffled[:, j] = rng.permutation(shuffled[:, j])
            drops.append((column, base - fold_auc(shuffled)))
    drops.sort(key=lambda item: item[1], reverse=True)
    return DomainClassifierResult(
        auc=auc,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        threshold=threshold,
        drifted=low > threshold,
        n_reference=len(ref),
        n_current=len(cur),
        top_features=tuple((c, float(d)) for c, d in drops[:top]),
    )


class _Encoder:
    """Reference-fitted standardization of numeric and one-hot of categorical columns."""

    def __init__(
        self, reference: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
    ) -> None:
        self.numeric, self.categorical = list(numeric), list(categorical)
        values = reference[self.numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        self.median = np.nan_to_num(np.nanmedian(values, axis=0)) if self.numeric else values[0]
        filled = np.where(np.isnan(values), self.median, values)
        self.mean = filled.mean(axis=0)
        std = filled.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        self.levels = {
            c: pd.Index(reference[c].dropna().astype(str).value_counts().index[:20])
            for c in self.categorical
        }

    def transform(self, frame: pd.DataFrame) -> FloatArray:
        values = frame[self.numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        values = np.where(np.isnan(values), self.median, values)
        parts = [(values - self.mean) / self.std]
        for column in self.categorical:
            levels = self.levels[column]
            position = levels.get_indexer(frame[column].astype(str))
            onehot = np.zeros((len(frame), len(levels)), dtype=np.float64)
            seen = position >= 0
            onehot[np.flatnonzero(seen), position[seen]] = 1.0
            parts.append(onehot)
        return np.hstack(parts)


def _reconstruction_error(pca: PCA, x: FloatArray) -> float:
    restored = pca.inverse_transform(pca.transform(x))
    return float(np.mean(np.linalg.norm(x - restored, axis=1)))


def pca_reconstruction_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    variance: float = 0.65,
    chunk_size: int | None = None,
    n_chunks: int = 10,
    k: float = 3.0,
    max_rows: int = 5000,
    seed: int = 0,
) -> PCAReconstructionResult:
    """Window's PCA reconstruction error against ``mean ± k·std`` of reference chunks."""
    function = "pca_reconstruction_drift"
    _check(reference, current, numeric, categorical, function)
    check_param(function, "variance", variance, Interval(float, 0, 1, closed="neither"))
    check_param(function, "n_chunks", n_chunks, Interval(int, 2, None))
    check_param(function, "chunk_size", chunk_size, Interval(int, 1, None, allow_none=True))
    check_param(function, "k", k, Interval(float, 0, None, closed="neither"))
    check_param(function, "max_rows", max_rows, Interval(int, MIN_ROWS, None))
    rng = np.random.default_rng(seed)
    cur = _subsample(current, max_rows, rng)
    from sklearn.decomposition import PCA

    encoder = _Encoder(reference, numeric, categorical)
    x_ref = encoder.transform(reference)
    size = min(chunk_size or len(reference) // n_chunks, len(reference) // 4)
    count = min(n_chunks, len(reference) // size)
    with bounded_threads():
        pca = PCA(n_components=variance, svd_solver="full", random_state=seed).fit(x_ref)
        errors = np.array(
            [_reconstruction_error(pca, x_ref[i * size : (i + 1) * size]) for i in range(count)]
        )
        error = _reconstruction_error(pca, encoder.transform(cur))
    mean, std = float(errors.mean()), float(errors.std(ddof=1))
    lower, upper = mean - k * std, mean + k * std
    return PCAReconstructionResult(
        error=error,
        lower=lower,
        upper=upper,
        drifted=not lower <= error <= upper,
        n_components=int(pca.n_components_),
        chunk_mean=mean,
        chunk_std=std,
        n_chunks=count,
        n_current=len(cur),
    )
