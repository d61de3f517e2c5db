"""Always-valid sequential A/B test of two streams: peek after every window, keep the error rate.

A fixed-horizon test (z-test, Welch) looked at after every window and stopped at the
first ``p < alpha`` rejects a true null far more often than ``alpha`` (with 24 hourly
looks, about four to five times as often). This module is the test a monitor may look
at every window: the **mixture sequential probability ratio test** (mSPRT) with a
normal mixing distribution, and its **confidence sequence** for the difference of means.

Sources
-------
* R. Johari, P. Koomen, L. Pekelis, D. Walsh, "Always Valid Inference: Continuous
  Monitoring of A/B Tests", *Operations Research* 70(3), 2022 (the normal-mixture
  mSPRT for the difference of two streams, its always-valid p-value and confidence
  interval; section 4 and the two-stream Gaussian case).
* S. R. Howard, A. Ramdas, J. McAuliffe, J. Sekhon, "Time-uniform, nonparametric,
  nonasymptotic confidence sequences", *Annals of Statistics* 49(2), 2021 (the
  two-sided normal-mixture boundary, eq. (14) / Proposition 5, and why the running
  intersection of a confidence sequence is again one).
* H. Robbins, "Statistical methods related to the law of the iterated logarithm",
  *Annals of Mathematical Statistics* 41(5), 1970 (the normal mixture martingale).

The statistic
-------------
Arm ``a`` is the control (the champion), arm ``b`` the treatment (the canary). After a
look, ``d = mean_b − mean_a`` and ``V = s_a²/n_a + s_b²/n_b`` (plug-in variances,
``ddof=1``). With information ``I = 1/V`` the process ``Z = d·I`` is, under the null
``δ = 0``, a Brownian motion in information time; mixing the likelihood ratio
``exp(θZ − θ²I/2)`` over ``θ ~ N(0, τ²)`` gives the martingale::

    Λ = sqrt(V / (V + τ²)) · exp( τ² d² / (2 V (V + τ²)) )

(for equal arms of ``n`` rows with variance ``σ²`` each, ``V = 2σ²/n`` and this is
Johari et al.'s ``Λ_n``). By Ville's inequality ``P(sup Λ ≥ 1/α) ≤ α`` under the
null, so the **always-valid p-value** ``p = min(1, min over looks of 1/Λ)`` may be
checked after every look. Inverting the test at every ``θ₀`` gives the
**confidence sequence** ``d ± r`` with::

    r = sqrt( 2 V (V + τ²) / τ² · ( log(1/α) + ½ log((V + τ²)/V) ) )

which covers the true difference at all looks at once with probability ≥ ``1 − α``;
the state keeps the running intersection (also a confidence sequence).

Assumptions (say them when reporting a decision)
-----------------------------------------------
* Rows are independent, each arm's rows identically distributed over the test (a
  drifting population that moves both arms alike is fine: the difference is what is
  tested; a difference that itself moves breaks it — the intersection then may become
  empty, which :func:`decide` reports).
* The guarantee is exact for Gaussian rows with known variances; with plug-in
  variances it holds asymptotically (Johari et al., section 4.2). That is why looks
  before ``min_rows`` rows per arm do not count: the variance estimate of a handful of
  rows is not trusted. Bernoulli rows (accuracy: 1 correct / 0 wrong) and continuous
  per-row losses (absolute error) are both covered by the central limit theorem at
  these sizes; the simulations in ``tests/unit/test_sequential.py`` measure it.
* Looking only at window ends (not after every row) keeps the guarantee (a subsequence
  of looks) and makes it conservative.

``τ`` (``tau``, in the metric's units) is the prior spread of the effect: the test is
most powerful for differences near ``τ``; a ``τ`` far too small or too large only
costs time, never validity. Default: the smallest effect worth detecting
(``ab.minimum_detectable_effect``, 0.02 accuracy points). ``alpha`` and ``tau`` are
fixed when the test starts (they are in the state): changing them in the middle would
void the guarantee.

Sufficient statistics per arm are ``(n, mean, M2)`` merged with Chan et al.'s
parallel update (numerically stable where ``Σx²`` is not): a window's rows are one
vectorized batch, and the state is small, immutable and JSON-serializable
(:meth:`SequentialState.to_json`), so it can be stored with each window.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from modelwatch.errors import StatisticsError
from modelwatch.stats.kernels import CONFIDENCE
from modelwatch.stats.params import Interval, Options, check_param, param_error

__all__ = [
    "ArmStats",
    "DecisionKind",
    "SequentialDecision",
    "SequentialState",
    "confidence_radius",
    "decide",
    "mixture_log_likelihood_ratio",
    "update",
]

DecisionKind: TypeAlias = Literal["promote", "reject", "continue"]
Rule: TypeAlias = Literal["superiority", "non_inferiority"]

#: version of the JSON layout of :meth:`SequentialState.to_json`
STATE_SCHEMA = 1
#: smallest ``V`` used (a zero plug-in variance, e.g. every row correct in both arms)
_MIN_VARIANCE = 1e-300
#: ``log Λ`` is capped here (two constant arms that differ give an infinite ratio; the
#: p-value is 0 either way and the state stays JSON-serializable)
_MAX_LOG_LR = 1e6


# --------------------------------------------------------------------------- kernels


def mixture_log_likelihood_ratio(
    difference: npt.ArrayLike, variance: npt.ArrayLike, *, tau: float, null: float = 0.0
) -> np.ndarray:
    """``log Λ`` of the normal-mixture SPRT of ``δ = null`` (elementwise, broadcasting).

    ``difference``: observed ``mean_b − mean_a``; ``variance``: its variance ``V``
    (``s_a²/n_a + s_b²/n_b``); ``tau``: standard deviation of the normal mixing
    distribution, centred on ``null``. ``log Λ = ½ log(V/(V+τ²)) + τ²(d−null)²/(2V(V+τ²))``.
    """
    tau = check_param("mixture_log_likelihood_ratio", "tau", tau, _TAU)
    d = np.asarray(difference, dtype=float) - null
    v = np.maximum(np.asarray(variance, dtype=float), _MIN_VARIANCE)
    t2 = tau * tau
    with np.errstate(over="ignore"):  # a vanishing variance with a difference: +inf
        return np.asarray(0.5 * (np.log(v) - np.log(v + t2)) + t2 * d * d / (2.0 * v * (v + t2)))


def confidence_radius(variance: npt.ArrayLike, *, tau: float, alpha: float) -> np.ndarray:
    """Half-width ``r`` of the always-valid ``1 − alpha`` confidence interval ``d ± r``.

    The set of ``θ₀`` whose mSPRT (mixture centred on ``θ₀``) has not reached
    ``1/alpha``: ``r² = 2V(V+τ²)/τ² · (log(1/alpha) + ½ log((V+τ²)/V))``.
    """
    tau = check_param("confidence_radius", "tau", tau, _TAU)
    alpha = check_param("confidence_radius", "alpha", alpha, CONFIDENCE)
    v = np.maximum(np.asarray(variance, dtype=float), _MIN_VARIANCE)
    t2 = tau * tau
    return np.asarray(
        np.sqrt(2.0 * v * (v + t2) / t2 * (-math.log(alpha) + 0.5 * np.log1p(t2 / v)))
    )


_TAU = Interval(float, 0, None, closed="neither")
_RULE = Options(("superiority", "non_inferiority"))


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class ArmStats:
    """Rows of one arm so far: count, mean and ``M2`` (sum of squared deviations)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @property
    def variance(self) -> float:
        """Sample variance (``ddof=1``); NaN below 2 rows."""
        return self.m2 / (self.n - 1) if self.n > 1 else math.nan

    def merge(self, values: np.ndarray) -> ArmStats:
        """These rows plus ``values`` (Chan, Golub, LeVeque's pairwise update)."""
        k = int(values.size)
        if k == 0:
            return self
        mean_k = float(values.mean())
        m2_k = float(((values - mean_k) ** 2).sum())
        n = self.n + k
        delta = mean_k - self.mean
        return ArmStats(
            n=n,
            mean=self.mean + delta * k / n,
            m2=self.m2 + m2_k + delta * delta * self.n * k / n,
        )


@dataclass(frozen=True, kw_only=True)
class SequentialState:
    """The running always-valid comparison of arm ``a`` (champion) and ``b`` (canary).

    ``alpha``, ``tau``, ``higher_is_better`` and ``min_rows`` are fixed at
    :meth:`start`. ``looks`` counts the updates at which both arms had at least
    ``min_rows`` rows (only those move ``p_value`` and the interval). ``p_value`` is the
    always-valid p-value of "no difference" (running minimum of ``1/Λ``); ``ci_low`` /
    ``ci_high`` the running intersection of the always-valid ``1 − alpha`` intervals of
    the **improvement** (``mean_b − mean_a`` when higher is better, ``mean_a − mean_b``
    for a loss: positive favours ``b``); ``log_lr`` is ``log Λ`` at the last look.
    """

    alpha: float
    tau: float
    higher_is_better: bool = True
    min_rows: int = 100
    a: ArmStats = ArmStats()
    b: ArmStats = ArmStats()
    looks: int = 0
    p_value: float = 1.0
    ci_low: float = -math.inf
    ci_high: float = math.inf
    log_lr: float = 0.0

    @classmethod
    def start(
        cls,
        *,
        alpha: float = 0.05,
        tau: float = 0.02,
        higher_is_better: bool = True,
        min_rows: int = 100,
    ) -> SequentialState:
        """A new test: ``alpha`` (error rate over all looks), ``tau`` (mixing sd, metric
        units), ``higher_is_better`` (accuracy: True; a per-row loss: False),
        ``min_rows`` (rows per arm before a look counts, >= 2)."""
        where = "SequentialState.start"
        return cls(
            alpha=check_param(where, "alpha", alpha, Interval(float, 0, 0.5, closed="neither")),
            tau=check_param(where, "tau", tau, _TAU),
            higher_is_better=check_param(
                where, "higher_is_better", higher_is_better, Options((True, False))
            ),
            min_rows=check_param(where, "min_rows", min_rows, Interval(int, 2, None)),
        )

    @property
    def sign(self) -> float:
        """+1 when higher values are better, −1 for losses (the improvement's orientation)."""
        return 1.0 if self.higher_is_better else -1.0

    def to_json(self) -> str:
        """Compact JSON (infinite bounds as ``null``); :meth:`from_json` reads it back."""
        data: dict[str, Any] = {"schema": STATE_SCHEMA, **asdict(self)}
        for key in ("ci_low", "ci_high"):
            if not math.isfinite(data[key]):
                data[key] = None
        return json.dumps(data, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> SequentialState:
        """The state written by :meth:`to_json`; a :class:`StatisticsError` naming the problem."""
        try:
            data = json.loads(text)
            schema = data.pop("schema")
            if schema != STATE_SCHEMA:
                raise StatisticsError(
                    f"sequential test state has schema {schema!r}; this code reads {STATE_SCHEMA}"
                )
            data["a"] = ArmStats(**data["a"])
            data["b"] = ArmStats(**data["b"])
            data["ci_low"] = -math.inf if data["ci_low"] is None else float(data["ci_low"])
            data["ci_high"] = math.inf if data["ci_high"] is None else float(data["ci_high"])
            return cls(**data)
        except StatisticsError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StatisticsError(
                f"sequential test state is not readable ({type(exc).__name__}: {exc}): "
                f"{text[:200]!r}"
            ) from exc


def _values(values: npt.ArrayLike, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise param_error("update", name, "an array of numbers", values) from exc
    if array.ndim != 1:
        raise param_error("update", name, "1-D", f"an array of shape {array.shape}")
    if not np.isfinite(array).all():
        bad = array[~np.isfinite(array)][:3].tolist()
        raise param_error("update", name, "finite (no NaN or inf)", f"values such as {bad}")
    return array


def update(
    state: SequentialState, a_values: npt.ArrayLike, b_values: npt.ArrayLike
) -> SequentialState:
    """The state after one look: this window's per-row values of each arm added.

    Per-row values: 1.0 / 0.0 (correct or not) for accuracy, the per-row loss (absolute
    error, squared error) otherwise. Either batch may be empty (no labeled rows of that
    arm in the window). The look counts — the p-value and the interval move — once
    both arms have ``min_rows`` rows.
    """
    a = state.a.merge(_values(a_values, "a_values"))
    b = state.b.merge(_values(b_values, "b_values"))
    if min(a.n, b.n) < state.min_rows:
        return replace(state, a=a, b=b)
    variance = a.variance / a.n + b.variance / b.n
    difference = b.mean - a.mean
    log_lr = min(
        float(mixture_log_likelihood_ratio(difference, variance, tau=state.tau)), _MAX_LOG_LR
    )
    radius = float(confidence_radius(variance, tau=state.tau, alpha=state.alpha))
    improvement = state.sign * difference
    return replace(
        state,
        a=a,
        b=b,
        looks=state.looks + 1,
        p_value=min(state.p_value, math.exp(-log_lr) if log_lr < 700 else 0.0),
        ci_low=max(state.ci_low, improvement - radius),
        ci_high=min(state.ci_high, improvement + radius),
        log_lr=log_lr,
    )


# --------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class SequentialDecision:
    """What the test says now.

    ``kind``: ``promote`` (``b`` is better: the interval of the improvement lies above
    the rule's bound), ``reject`` (``b`` can no longer show that: the interval lies at or
    below the bound — significantly worse, or an improvement smaller than
    ``min_improvement`` — or the interval is empty), ``continue`` otherwise.
    ``difference``, ``ci_low``, ``ci_high``: the improvement (positive favours ``b``).
    """

    kind: DecisionKind
    p_value: float
    ci_low: float
    ci_high: float
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    difference: float
    looks: int
    alpha: float
    reason: str


def decide(
    state: SequentialState,
    *,
    rule: Rule = "superiority",
    margin: float = 0.0,
    min_improvement: float | None = None,
) -> SequentialDecision:
    """Promote, reject or continue, from the running always-valid interval of the improvement.

    The bound is ``+margin`` (superiority) or ``−margin`` (non-inferiority), as in the
    offline rule. Promote iff ``ci_low > bound``; reject iff ``ci_high <= bound`` (from
    then on the interval, which only shrinks, can never clear the bound), or
    ``ci_high < min_improvement`` (futility: even the best improvement the data still
    allow is smaller than the smallest one worth a promotion; ``None``: no futility
    stop). Under the assumptions of the module, a ``b`` that is no better than the
    bound is promoted with probability at most ``alpha`` however often this is called,
    and a ``b`` whose true improvement is at least ``min_improvement`` is rejected for
    futility with probability at most ``alpha``. ``alpha`` is the state's (fixed at
    :meth:`SequentialState.start`, since the interval depends on it).
    """
    where = "decide"
    check_param(where, "rule", rule, _RULE)
    margin = check_param(where, "margin", margin, Interval(float, 0, None))
    if min_improvement is not None:
        min_improvement = check_param(
            where, "min_improvement", min_improvement, Interval(float, None, None)
        )
    bound = margin if rule == "superiority" else -margin
    a, b, s = state.a, state.b, state
    difference = s.sign * (b.mean - a.mean) if a.n and b.n else math.nan
    numbers = (
        f"{'b' if s.higher_is_better else 'loss b'} {b.mean:.4f} (n={b.n}) vs "
        f"{a.mean:.4f} (n={a.n}); improvement {difference:+.4f}, always-valid "
        f"{1 - s.alpha:.0%} CI [{s.ci_low:+.4f}, {s.ci_high:+.4f}], p = {s.p_value:.4g} "
        f"after {s.looks} look(s) (mSPRT, tau {s.tau:g})"
    )
    kind: DecisionKind
    if s.looks == 0:
        kind = "continue"
        reason = f"continue: {a.n} and {b.n} rows; the test starts at {s.min_rows} rows per arm"
    elif s.ci_low > s.ci_high:
        kind = "reject"
        reason = (
            f"reject: the confidence sequence is empty — the difference moved during the "
            f"test (not stationary), nothing can be concluded safely; {numbers}"
        )
    elif s.ci_low > bound:
        kind = "promote"
        reason = f"promote: improvement above the {rule} bound {bound:+.4f}; {numbers}"
    elif s.ci_high <= bound:
        kind = "reject"
        reason = f"reject: improvement cannot exceed the {rule} bound {bound:+.4f}; {numbers}"
    elif min_improvement is not None and s.ci_high < min_improvement:
        kind = "reject"
        reason = (
            f"reject (futility): improvement below the smallest one worth promoting "
            f"({min_improvement:+.4f}); {numbers}"
        )
    else:
        kind = "continue"
        reason = f"continue: the interval still contains the bound {bound:+.4f}; {numbers}"
    return SequentialDecision(
        kind=kind,
        p_value=s.p_value,
        ci_low=s.ci_low,
        ci_high=s.ci_high,
        n_a=a.n,
        n_b=b.n,
        mean_a=a.mean,
        mean_b=b.mean,
        difference=difference,
        looks=s.looks,
        alpha=s.alpha,
        reason=reason,
    )
