"""The always-valid sequential test (mSPRT): closed forms, error rate under peeking, power.

The simulations are vectorized over runs: each run's per-window sufficient statistics
are drawn at once, cumulated along the looks axis and fed to the same kernels
:func:`~modelwatch.stats.sequential.update` uses (a test below checks that the two
paths agree run by run).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import integrate, stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from modelwatch.errors import StatisticsError
from modelwatch.stats.sequential import (
    SequentialState,
    confidence_radius,
    decide,
    mixture_log_likelihood_ratio,
    update,
)

ALPHA = 0.05
LOOKS = 24
RUNS = 4000
ROWS_A, ROWS_B = 400, 100  # a 20 % canary: 400 champion and 100 canary labeled rows per window


# --------------------------------------------------------------------------- simulation helpers


def _bernoulli_looks(
    rng: np.random.Generator, p_a: float, p_b: float, runs: int = RUNS
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative ``(difference b − a, V)`` per run and look for 0/1 rows (exact counts)."""
    out = []
    for p, rows in ((p_a, ROWS_A), (p_b, ROWS_B)):
        successes = rng.binomial(rows, p, size=(runs, LOOKS)).cumsum(axis=1).astype(float)
        n = rows * np.arange(1, LOOKS + 1, dtype=float)
        mean = successes / n
        var = (successes - successes**2 / n) / (n - 1)  # M2 / (n − 1) of 0/1 rows
        out.append((mean, var / n))
    (mean_a, v_a), (mean_b, v_b) = out
    return mean_b - mean_a, v_a + v_b


def _continuous_looks(
    rng: np.random.Generator, scale_a: float, scale_b: float, runs: int = RUNS
) -> tuple[np.ndarray, np.ndarray]:
    """The same for skewed continuous rows (exponential absolute errors), drawn row by row."""
    out = []
    for scale, rows in ((scale_a, ROWS_A), (scale_b, ROWS_B)):
        x = rng.exponential(scale, size=(runs, LOOKS, rows))
        total = x.sum(axis=2).cumsum(axis=1)
        squares = (x * x).sum(axis=2).cumsum(axis=1)
        n = rows * np.arange(1, LOOKS + 1, dtype=float)
        mean = total / n
        var = (squares - total * mean) / (n - 1)
        out.append((mean, var / n))
    (mean_a, v_a), (mean_b, v_b) = out
    return mean_b - mean_a, v_a + v_b


def _msprt_rejects(difference: np.ndarray, variance: np.ndarray, tau: float) -> np.ndarray:
    """Per run and look: has the always-valid p-value reached alpha by this look?"""
    log_lr = mixture_log_likelihood_ratio(difference, variance, tau=tau)
    return np.maximum.accumulate(log_lr >= math.log(1 / ALPHA), axis=1)


def _peeked_z_rejects(difference: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Per run: did a fixed-horizon two-sided z-test at alpha reject at any look?"""
    z = np.abs(difference) / np.sqrt(variance)
    return np.asarray((z > stats.norm.isf(ALPHA / 2)).any(axis=1))


def _tolerance(p: float, runs: int = RUNS) -> float:
    return 3 * math.sqrt(p * (1 - p) / runs)


# --------------------------------------------------------------------------- error rate


@pytest.mark.parametrize("kind", ["bernoulli", "continuous"])
def test_peeking_every_window_keeps_the_false_positive_rate_below_alpha(kind: str) -> None:
    """A/A, 4,000 seeded runs, 24 looks each: the mSPRT rejects at most alpha (+3 SE) of
    them, while a fixed-horizon z-test peeked at the same looks rejects more than 2 alpha."""
    rng = np.random.default_rng(20261201)
    if kind == "bernoulli":
        difference, variance = _bernoulli_looks(rng, 0.8, 0.8)
        tau = 0.02
    else:
        difference, variance = _continuous_looks(rng, 1.0, 1.0)
        tau = 0.05
    msprt = _msprt_rejects(difference, variance, tau)[:, -1].mean()
    peeked = _peeked_z_rejects(difference, variance).mean()
    once = (np.abs(difference[:, -1]) / np.sqrt(variance[:, -1]) > stats.norm.isf(ALPHA / 2)).mean()
    assert msprt <= ALPHA + _tolerance(ALPHA)
    assert peeked > 4 * ALPHA  # measured 0.26 with 24 looks (mSPRT: 0.009 / 0.011)
    assert abs(once - ALPHA) <= _tolerance(ALPHA)  # the z-test itself is right when looked at once


def test_the_confidence_sequence_covers_the_true_difference_at_every_look() -> None:
    """With a true effect, the running intersection misses it at some look in <= alpha of runs."""
    rng = np.random.default_rng(7)
    difference, variance = _bernoulli_looks(rng, 0.80, 0.83)
    radius = confidence_radius(variance, tau=0.02, alpha=ALPHA)
    low = np.maximum.accumulate(difference - radius, axis=1)
    high = np.minimum.accumulate(difference + radius, axis=1)
    missed = ((low > 0.03) | (high < 0.03)).any(axis=1).mean()
    assert missed <= ALPHA + _tolerance(ALPHA)


# --------------------------------------------------------------------------- power


@pytest.mark.parametrize(
    ("kind", "effect", "mean_windows", "q90_windows"),
    [("bernoulli", 0.05, 8.0, 13), ("continuous", -0.12, 8.5, 14)],
)
def test_a_true_effect_is_promoted_within_a_bounded_number_of_windows(
    kind: str, effect: float, mean_windows: float, q90_windows: int
) -> None:
    """Accuracy 0.80 -> 0.85, or mean absolute error 1.0 -> 0.88 (lower is better): the
    test promotes in >= 97 % of 2,000 runs (measured: 99.9 % / 99.8 %, mean window
    6.7 / 7.3, 90th percentile 12 / 13) within 24 windows; mean and 90th percentile of
    the deciding window are bounded; it never rejects the better arm."""
    rng = np.random.default_rng(11)
    if kind == "bernoulli":
        difference, variance = _bernoulli_looks(rng, 0.80, 0.80 + effect, runs=2000)
        tau, improvement = 0.05, difference
    else:
        difference, variance = _continuous_looks(rng, 1.0, 1.0 + effect, runs=2000)
        tau, improvement = 0.1, -difference  # a loss: the improvement is a − b
    rejected = _msprt_rejects(difference, variance, tau)
    radius = confidence_radius(variance, tau=tau, alpha=ALPHA)
    promoted = np.maximum.accumulate(improvement - radius > 0, axis=1)
    assert (promoted == rejected).all()  # margin 0: promote <=> p <= alpha on the right side
    decided = promoted[:, -1]
    windows = np.where(decided, promoted.argmax(axis=1) + 1, LOOKS + 1)
    assert decided.mean() >= 0.97
    assert windows.mean() <= mean_windows
    assert np.quantile(windows, 0.9) <= q90_windows
    assert not (np.minimum.accumulate(improvement + radius, axis=1) <= 0).any()


# --------------------------------------------------------------------------- closed forms


def test_one_look_matches_the_mixture_integral_and_its_closed_form() -> None:
    """Λ = ∫ N(d; θ, V) / N(d; 0, V) N(θ; 0, τ²) dθ, by quadrature and by the closed form."""
    rng = np.random.default_rng(3)
    a = rng.normal(1.0, 1.0, 500)
    b = rng.normal(1.12, 1.3, 150)
    state = update(SequentialState.start(alpha=ALPHA, tau=0.1, min_rows=10), a, b)
    d = b.mean() - a.mean()
    v = a.var(ddof=1) / a.size + b.var(ddof=1) / b.size
    tau = 0.1

    def integrand(theta: float) -> float:
        ratio = stats.norm.pdf(d, theta, math.sqrt(v)) / stats.norm.pdf(d, 0.0, math.sqrt(v))
        return float(ratio * stats.norm.pdf(theta, 0.0, tau))

    quad, _ = integrate.quad(integrand, -1.0, 1.0, points=[0.0, d], limit=200)
    closed = math.sqrt(v / (v + tau**2)) * math.exp(tau**2 * d**2 / (2 * v * (v + tau**2)))
    assert math.exp(state.log_lr) == pytest.approx(quad, rel=1e-7)
    assert math.exp(state.log_lr) == pytest.approx(closed, rel=1e-12)
    assert state.p_value == pytest.approx(min(1.0, 1 / closed), rel=1e-12)
    # the interval's ends are where the mixture centred there reaches 1/alpha
    for end in (state.ci_low, state.ci_high):
        at_end = mixture_log_likelihood_ratio(d, v, tau=tau, null=end)
        assert float(at_end) == pytest.approx(math.log(1 / ALPHA), rel=1e-10)
    # equal arms: Johari et al.'s Λ_n with V = 2σ²/n
    n, sigma2 = 1000, 0.25
    v_eq = 2 * sigma2 / n
    johari = math.sqrt(2 * sigma2 / (2 * sigma2 + n * tau**2)) * math.exp(
        n**2 * tau**2 * 0.03**2 / (4 * sigma2 * (2 * sigma2 + n * tau**2))
    )
    assert float(mixture_log_likelihood_ratio(0.03, v_eq, tau=tau)) == pytest.approx(
        math.log(johari), rel=1e-12
    )


def test_the_fixed_horizon_z_test_of_the_simulation_agrees_with_statsmodels() -> None:
    rng = np.random.default_rng(5)
    a = rng.exponential(1.0, 400)
    b = rng.exponential(0.9, 100)
    z_sm, p_sm = CompareMeans(DescrStatsW(b), DescrStatsW(a)).ztest_ind(usevar="unequal")
    state = update(SequentialState.start(min_rows=2), a, b)
    d = state.b.mean - state.a.mean
    v = state.a.variance / state.a.n + state.b.variance / state.b.n
    diff, var = _one_look(a, b)
    assert (d, v) == pytest.approx((diff, var), rel=1e-12)
    assert d / math.sqrt(v) == pytest.approx(z_sm, rel=1e-10)
    assert 2 * stats.norm.sf(abs(d / math.sqrt(v))) == pytest.approx(p_sm, rel=1e-10)


def _one_look(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    return float(b.mean() - a.mean()), float(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)


# --------------------------------------------------------------------------- the state


def test_update_run_by_run_equals_the_vectorized_simulation() -> None:
    """Windows fed to update() one by one give the p-value and interval of the kernels."""
    rng = np.random.default_rng(9)
    windows = [(rng.exponential(1.0, 40), rng.exponential(0.8, 10)) for _ in range(12)]
    state = SequentialState.start(alpha=0.1, tau=0.2, higher_is_better=False, min_rows=30)
    log_lrs, lows, highs = [], [], []
    for k, (a, b) in enumerate(windows, start=1):
        state = update(state, a, b)
        if k >= 3:  # 30 canary rows: the first look that counts
            d, v = _one_look(
                np.concatenate([w[0] for w in windows[:k]]),
                np.concatenate([w[1] for w in windows[:k]]),
            )
            log_lrs.append(float(mixture_log_likelihood_ratio(d, v, tau=0.2)))
            r = float(confidence_radius(v, tau=0.2, alpha=0.1))
            lows.append(-d - r)
            highs.append(-d + r)
    assert state.looks == 10 and state.a.n == 480 and state.b.n == 120
    assert state.log_lr == pytest.approx(log_lrs[-1], rel=1e-9)
    assert state.p_value == pytest.approx(min(1.0, math.exp(-max(log_lrs))), rel=1e-9)
    assert state.ci_low == pytest.approx(max(lows), rel=1e-9)
    assert state.ci_high == pytest.approx(min(highs), rel=1e-9)
    assert state.b.variance == pytest.approx(
        np.concatenate([w[1] for w in windows]).var(ddof=1), rel=1e-12
    )


def test_the_state_round_trips_through_json() -> None:
    fresh = SequentialState.start(alpha=0.05, tau=0.03, higher_is_better=False, min_rows=5)
    assert SequentialState.from_json(fresh.to_json()) == fresh  # infinite bounds as null
    assert '"ci_low":null' in fresh.to_json()
    rng = np.random.default_rng(1)
    state = update(fresh, rng.random(50), rng.random(20))
    assert SequentialState.from_json(state.to_json()) == state
    constant = update(fresh, np.zeros(10), np.full(10, 1e9))  # two constant arms that differ
    assert constant.p_value == 0.0 and SequentialState.from_json(constant.to_json()) == constant
    with pytest.raises(StatisticsError, match="schema 99"):
        SequentialState.from_json(state.to_json().replace('"schema":1', '"schema":99'))
    with pytest.raises(StatisticsError, match="not readable"):
        SequentialState.from_json('{"schema":1,"alpha":0.05}')


def test_decisions_follow_the_interval_and_the_metric_direction() -> None:
    start = SequentialState.start(alpha=0.05, tau=0.05, min_rows=20)
    ones, zeros = np.ones(600), np.zeros(600)
    a = np.r_[ones[:420], zeros[:180]]  # accuracy 0.70
    better = np.r_[ones[:540], zeros[:60]]  # 0.90
    assert decide(start).kind == "continue" and "starts at 20 rows" in decide(start).reason
    promoted = decide(update(start, a, better))
    assert promoted.kind == "promote" and promoted.ci_low > 0
    assert promoted.difference == pytest.approx(0.2) and promoted.n_b == 600
    assert decide(update(start, better, a)).kind == "reject"
    # the same numbers as losses: lower is better, so b with the higher mean is worse
    loss = SequentialState.start(alpha=0.05, tau=0.05, min_rows=20, higher_is_better=False)
    worse = decide(update(loss, a, better))
    assert worse.kind == "reject" and worse.difference == pytest.approx(-0.2)
    # superiority by a margin larger than the effect: can never be shown -> reject
    assert decide(update(start, a, better), margin=0.5).kind == "reject"
    # non-inferiority: a slightly worse b within the margin is promoted
    b = np.r_[ones[:410], zeros[:190]]
    state = update(start, np.tile(a, 20), np.tile(b, 20))
    assert decide(state).kind == "continue"
    assert decide(state, rule="non_inferiority", margin=0.05).kind == "promote"
    assert decide(state, min_improvement=0.05).kind == "reject"  # futility
    assert "futility" in decide(state, min_improvement=0.05).reason


def test_an_empty_interval_rejects() -> None:
    """Intervals of two looks that do not overlap: the difference moved; keep the champion."""
    rng = np.random.default_rng(2)
    state = update(SequentialState.start(min_rows=20), rng.random(100), rng.random(100))
    decision = decide(replace(state, ci_low=0.1, ci_high=0.05))
    assert decision.kind == "reject" and "not stationary" in decision.reason


def test_bad_input_is_refused_with_the_parameter_named() -> None:
    state = SequentialState.start()
    with pytest.raises(StatisticsError, match="'a_values' parameter of update must be finite"):
        update(state, [1.0, math.nan], [1.0])
    with pytest.raises(StatisticsError, match="'b_values' parameter of update must be 1-D"):
        update(state, [1.0], [[1.0]])
    with pytest.raises(StatisticsError, match=r"'tau' parameter of SequentialState\.start"):
        SequentialState.start(tau=0)
    with pytest.raises(StatisticsError, match=r"'alpha' parameter of SequentialState\.start"):
        SequentialState.start(alpha=0.7)
    with pytest.raises(StatisticsError, match="'rule' parameter of decide"):
        decide(state, rule="better")  # type: ignore[arg-type]
    assert update(state, [], []) == state  # an empty window changes nothing
