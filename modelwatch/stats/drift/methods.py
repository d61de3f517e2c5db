"""The drift methods: statistics on a column's profile and window, and their registry.

Each method agrees with its scipy reference (table in the package docstring);
:data:`DRIFT_METHODS` maps a key to a :class:`DriftMethod`.
:func:`population_stability_index` is PSI on two plain samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from modelwatch.errors import StatisticsError
from modelwatch.stats.drift._checks import FRACTION, N_BINS
from modelwatch.stats.drift._counting import counts_from_sorted, n_non_nan_sorted, quantile_edges
from modelwatch.stats.drift.profile import ColumnKind, NumericProfile, NumericSample
from modelwatch.stats.kernels import FloatArray, IntArray, midranks
from modelwatch.stats.params import check_param

DEFAULT_EPS = 1e-6
"""Floor applied to bin proportions by PSI and KL (empty bins would give infinities)."""


# --------------------------------------------------------------------------- method implementations


def _proportions(counts: IntArray) -> FloatArray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros(counts.shape, dtype=np.float64)


def _psi_counts(reference: IntArray, current: IntArray, eps: float = DEFAULT_EPS) -> float:
    p_ref = np.maximum(_proportions(reference), eps)
    p_cur = np.maximum(_proportions(current), eps)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def _kl_counts(reference: IntArray, current: IntArray, eps: float = DEFAULT_EPS) -> float:
    p_ref = np.maximum(_proportions(reference), eps)
    p_cur = np.maximum(_proportions(current), eps)
    p_ref, p_cur = p_ref / p_ref.sum(), p_cur / p_cur.sum()
    return float(max(np.sum(special.rel_entr(p_ref, p_cur)), 0.0))


def _js_counts(reference: IntArray, current: IntArray) -> float:
    p, q = _proportions(reference), _proportions(current)
    m = (p + q) / 2.0
    js = (np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))) / 2.0
    return float(math.sqrt(max(js / math.log(2.0), 0.0)))


def _hellinger_counts(reference: IntArray, current: IntArray) -> float:
    p, q = _proportions(reference), _proportions(current)
    return float(min(math.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) / 2.0), 1.0))


def _chi2_counts(reference: IntArray, current: IntArray) -> tuple[float, float]:
    """Chi-squared homogeneity test on the 2×K table, like ``chi2_contingency``."""
    observed = np.vstack([reference, current]).astype(np.float64)
    observed = observed[:, observed.sum(axis=0) > 0]
    rows = observed.sum(axis=1)
    if observed.shape[1] < 2 or np.any(rows == 0):
        return 0.0, 1.0
    expected = rows[:, None] * observed.sum(axis=0)[None, :] / observed.sum()
    dof = observed.shape[1] - 1
    if dof == 1:  # Yates' continuity correction, as chi2_contingency(correction=True)
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, dof))


def _z_counts(reference: IntArray, current: IntArray) -> tuple[float, float]:
    """Pooled two-proportion z-test; the column must have at most two categories."""
    present = (reference + current) > 0
    if int(present.sum()) > 2:
        raise StatisticsError(
            f"method 'z' needs a binary column; it has {int(present.sum())} categories"
        )
    if int(present.sum()) < 2:
        return 0.0, 1.0
    first = int(np.flatnonzero(present)[0])
    n1, n2 = float(reference.sum()), float(current.sum())
    p1, p2 = reference[first] / n1, current[first] / n2
    pooled = (reference[first] + current[first]) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        return 0.0, 1.0
    z = abs(float(p2 - p1)) / se
    return z, float(2.0 * stats.norm.sf(z))


def _ks(reference: NumericProfile, current: NumericSample) -> tuple[float, float]:
    """Two-sample KS: the ECDFs compared at every point, via searchsorted into the reference.

    Between two consecutive current values the current ECDF is flat, so the
    largest gaps are ``F_cur(c_j) - F_ref(c_j)`` and ``F_ref(c_j^-) - F_cur(c_{j-1})``:
    ``searchsorted`` of the sorted window into the sorted reference is enough
    (:meth:`NumericProfile.cdf`; on a compact profile, into its knots: the statistic
    is then within ``reference.ecdf_error`` of the exact one, the p-value uses the
    real ``n``).
    """
    cur = _sorted(current)
    n, m = reference.n_valid, cur.size
    j = np.arange(m, dtype=np.float64)
    right = reference.cdf(cur, side="right")
    left = reference.cdf(cur, side="left")
    d_cur_above = float(np.max((j + 1.0) / m - right))
    d_ref_above = float(np.max(left - j / m))
    d = min(max(d_cur_above, d_ref_above, 0.0), 1.0)
    big, small = max(float(n), float(m)), min(float(n), float(m))
    en = big * small / (big + small)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))
    return d, p


def _sorted(sample: NumericSample) -> FloatArray:
    if sample.sorted_values is None:  # pragma: no cover - guarded by needs_sorted
        raise StatisticsError(f"column {sample.column!r}: the method needs the sorted window")
    return sample.sorted_values


def _check_finite(reference: FloatArray, current: FloatArray, column: str, method: str) -> None:
    for side, values in (("reference", reference), ("current", current)):
        if values.size and not (np.isfinite(values[0]) and np.isfinite(values[-1])):
            raise StatisticsError(
                f"column {column!r} in the {side} data holds ±inf; "
                f"method {method!r} needs finite values"
            )


def _wasserstein(reference: NumericProfile, current: NumericSample) -> tuple[float, None]:
    ref, cur = reference.sorted_values, _sorted(current)
    _check_finite(ref, cur, current.column, "wasserstein")
    pooled = np.concatenate([ref, cur])
    pooled.sort(kind="stable")  # two ascending runs: a linear merge
    deltas = np.diff(pooled)
    u_cdf = np.searchsorted(ref, pooled[:-1], side="right") / ref.size
    v_cdf = np.searchsorted(cur, pooled[:-1], side="right") / cur.size
    distance = float(np.dot(np.abs(u_cdf - v_cdf), deltas))
    std = reference.std
    return (distance / std if std > 0.0 and math.isfinite(std) else distance), None


def _cdf_cvm_inf(x: float) -> float:
    """Limiting CDF of the Cramér–von Mises statistic (Csörgő & Faraway 1996), as scipy."""
    total, k = 0.0, 0
    while True:
        u = math.exp(special.gammaln(k + 0.5) - special.gammaln(k + 1)) / (
            math.pi**1.5 * math.sqrt(x)
        )
        y = 4 * k + 1
        q = y**2 / (16 * x)
        term = u * math.sqrt(y) * math.exp(-q) * float(special.kv(0.25, q))
        total += term
        k += 1
        if abs(term) < 1e-7:
            return total


def _cvm(reference: NumericProfile, current: NumericSample) -> tuple[float, float]:
    ref, cur = reference.sorted_values, _sorted(current)
    nx, ny = ref.size, cur.size
    if nx < 2 or ny < 2:
        raise StatisticsError(
            f"method 'cvm' needs at least 2 non-missing values on each side of column "
            f"{current.column!r}; got {nx} and {ny}"
        )
    pooled = np.concatenate([ref, cur])
    pooled.sort(kind="stable")
    rx = midranks(ref, among=pooled)
    ry = midranks(cur, among=pooled)
    u = nx * np.sum((rx - np.arange(1, nx + 1)) ** 2) + ny * np.sum(
        (ry - np.arange(1, ny + 1)) ** 2
    )
    k, big_n = float(nx) * float(ny), float(nx + ny)
    t = float(u / (k * big_n) - (4 * k - 1) / (6 * big_n))
    et = (1 + 1 / big_n) / 6
    vt = (big_n + 1) * (4 * k * big_n - 3 * (float(nx) ** 2 + float(ny) ** 2) - 2 * k)
    vt = vt / (45 * big_n**2 * 4 * k)
    tn = 1 / 6 + (t - et) / math.sqrt(45 * vt)
    p = max(1.0 - _cdf_cvm_inf(tn), 0.0) if tn >= 0.003 else 1.0
    return t, p


_AD_SIG = np.array([0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001])
_AD_B0 = np.array([0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085])
_AD_B1 = np.array([-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615])
_AD_B2 = np.array([-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154])


def _anderson(reference: NumericProfile, current: NumericSample) -> tuple[float, float]:
    """k-sample Anderson–Darling (k = 2, midrank variant, Scholz & Stephens 1987)."""
    samples = (reference.sorted_values, _sorted(current))
    pooled = np.concatenate(samples)
    pooled.sort(kind="stable")
    distinct = np.unique(pooled)
    if distinct.size < 2:
        return 0.0, 1.0
    k, big_n = 2, pooled.size
    sizes = np.array([s.size for s in samples], dtype=np.float64)
    left = pooled.searchsorted(distinct, "left")
    lj = pooled.searchsorted(distinct, "right") - left if big_n != distinct.size else 1.0
    bj = left + lj / 2.0
    a2 = 0.0
    for i, sample in enumerate(samples):
        right_i = sample.searchsorted(distinct, side="right")
        mij = right_i - (right_i - sample.searchsorted(distinct, "left")) / 2.0
        inner = (
            lj
            / float(big_n)
            * (big_n * mij - bj * sizes[i]) ** 2
            / (bj * (big_n - bj) - big_n * lj / 4.0)
        )
        a2 += inner.sum() / sizes[i]
    a2 *= (big_n - 1.0) / big_n
    h_big = float((1.0 / sizes).sum())
    hs_cs = (1.0 / np.arange(big_n - 1, 1, -1)).cumsum()
    h = hs_cs[-1] + 1
    g = (hs_cs / np.arange(2, big_n)).sum()
    a = (4 * g - 6) * (k - 1) + (10 - 6 * g) * h_big
    b = (2 * g - 4) * k**2 + 8 * h * k + (2 * g - 14 * h - 4) * h_big - 8 * h + 4 * g - 6
    c = (6 * h + 2 * g - 2) * k**2 + (4 * h - 4 * g + 6) * k + (2 * h - 6) * h_big + 4 * h
    d = (2 * h + 6) * k**2 - 4 * h * k
    n = float(big_n)
    sigmasq = (a * n**3 + b * n**2 + c * n + d) / ((n - 1.0) * (n - 2.0) * (n - 3.0))
    m = k - 1
    statistic = float((a2 - m) / math.sqrt(sigmasq))
    critical = _AD_B0 + _AD_B1 / math.sqrt(m) + _AD_B2 / m
    if statistic < critical.min():
        p = float(_AD_SIG.max())
    elif statistic > critical.max():
        p = float(_AD_SIG.min())
    else:
        fit = np.polyfit(critical, np.log(_AD_SIG), 2)
        p = float(math.exp(np.polyval(fit, statistic)))
    return statistic, p


# --------------------------------------------------------------------------- registry


NumericMethod: TypeAlias = Callable[[NumericProfile, NumericSample], tuple[float, float | None]]
CategoricalMethod: TypeAlias = Callable[[IntArray, IntArray], tuple[float, float | None]]


@dataclass(frozen=True)
class DriftMethod:
    """One entry of :data:`DRIFT_METHODS`.

    ``numeric`` receives the column's :class:`NumericProfile` and the window's
    :class:`NumericSample`; ``categorical`` receives reference and current counts
    aligned on the reference categories followed by the unseen ones. Both return
    ``(statistic, p_value)``, ``p_value`` being ``None`` for distances.
    """

    key: str
    description: str
    is_test: bool
    numeric: NumericMethod | None = None
    categorical: CategoricalMethod | None = None
    needs_sorted: bool = False
    """Numeric only: the window's sorted values are needed (else bin counts suffice)."""

    @property
    def kinds(self) -> tuple[ColumnKind, ...]:
        kinds: list[ColumnKind] = []
        if self.numeric is not None:
            kinds.append("numeric")
        if self.categorical is not None:
            kinds.append("categorical")
        return tuple(kinds)


def _on_counts(
    key: str, description: str, distance: Callable[[IntArray, IntArray], float]
) -> DriftMethod:
    """A distance between counts: the reference bins (numeric) or the categories (categorical)."""

    def numeric(reference: NumericProfile, current: NumericSample) -> tuple[float, None]:
        return distance(reference.bin_counts, current.bin_counts), None

    def categorical(reference: IntArray, current: IntArray) -> tuple[float, None]:
        return distance(reference, current), None

    return DriftMethod(key, description, False, numeric, categorical)


DRIFT_METHODS: dict[str, DriftMethod] = {
    "ks": DriftMethod("ks", "two-sample Kolmogorov–Smirnov test", True, _ks, None, True),
    "chi2": DriftMethod("chi2", "chi-squared homogeneity test", True, None, _chi2_counts),
    "z": DriftMethod("z", "two-proportion z-test (binary)", True, None, _z_counts),
    "anderson": DriftMethod(
        "anderson", "k-sample Anderson–Darling test", True, _anderson, None, True
    ),
    "cvm": DriftMethod("cvm", "two-sample Cramér–von Mises test", True, _cvm, None, True),
    "psi": _on_counts("psi", "population stability index", _psi_counts),
    "jensenshannon": _on_counts("jensenshannon", "Jensen–Shannon distance (base 2)", _js_counts),
    "hellinger": _on_counts("hellinger", "Hellinger distance", _hellinger_counts),
    "kl": _on_counts("kl", "Kullback–Leibler divergence", _kl_counts),
    "wasserstein": DriftMethod(
        "wasserstein", "Wasserstein distance / std(reference)", False, _wasserstein, None, True
    ),
}
"""Registry of drift methods: key -> :class:`DriftMethod`."""


@dataclass(frozen=True)
class MethodKey:
    """Parameter constraint (:mod:`modelwatch.stats.params`): a :data:`DRIFT_METHODS` key.

    The registry is read when a value is checked, so methods registered later
    count; ``auto=True`` also accepts ``"auto"`` (the rule picks per column).
    """

    auto: bool = False

    def accepts(self, value: object) -> bool:
        return isinstance(value, str) and (
            value in DRIFT_METHODS or (self.auto and value == "auto")
        )

    def convert(self, value: Any) -> str:
        return str(value)

    def describe(self) -> str:
        keys = f"one of {sorted(DRIFT_METHODS)}"
        return f"'auto' or {keys}" if self.auto else keys


def get_method(function: str, name: str, key: object) -> DriftMethod:
    return DRIFT_METHODS[check_param(function, name, key, MethodKey())]


# --------------------------------------------------------------------------- single-column PSI


def population_stability_index(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, n_bins: int = 10, eps: float = 1e-6
) -> float:
    """PSI of a numeric sample against a reference, on quantile bins of the reference.

    Inner edges are the reference quantiles ``1/n_bins, …, (n_bins-1)/n_bins``
    (linear interpolation, deduplicated so ties make fewer bins); bin ``i`` is
    ``[edge_{i-1}, edge_i)`` with open outer bins. Proportions are floored at
    ``eps``: ``PSI = Σ (p_cur − p_ref) · ln(p_cur / p_ref)``. NaNs are dropped.
    """
    function = "population_stability_index"
    n_bins = check_param(function, "n_bins", n_bins, N_BINS)
    eps = check_param(function, "eps", eps, FRACTION)
    ref = _nonmissing_sorted(reference, "reference", function)
    cur = _nonmissing_sorted(current, "current", function)
    edges = quantile_edges(ref, n_bins)
    return _psi_counts(counts_from_sorted(ref, edges), counts_from_sorted(cur, edges), eps)


def _nonmissing_sorted(values: npt.ArrayLike, name: str, function: str) -> FloatArray:
    array = np.sort(_as_1d_float(values, name, function))
    array = array[: n_non_nan_sorted(array)]
    if array.size == 0:
        raise StatisticsError(f"The {name!r} argument of {function} has no non-missing values.")
    return array


def _as_1d_float(values: object, name: str, function: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(
            f"The {name!r} argument of {function} must be numeric. Got {exc}"
        ) from exc
    if array.ndim != 1:
        raise StatisticsError(
            f"The {name!r} argument of {function} must be 1-D. Got shape {array.shape} instead."
        )
    return array
