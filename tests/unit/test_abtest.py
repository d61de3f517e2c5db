"""A/B comparison: McNemar vs statsmodels, DeLong vs a direct implementation, bootstrap, decisions."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm
from statsmodels.stats.contingency_tables import mcnemar

from modelwatch.errors import StatisticsError
from modelwatch.stats.abtest import (
    ABDecision,
    compare_models,
    delong_test,
    mcnemar_test,
    paired_bootstrap_difference,
)


def two_models(n: int, seed: int, *, gap: float = 0.3, rounding: int | None = None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    shared = rng.normal(size=n)
    champion = shared + rng.normal(size=n) + 1.0 * y
    challenger = shared + rng.normal(size=n) + (1.0 + gap) * y
    if rounding is not None:
        champion, challenger = np.round(champion, rounding), np.round(challenger, rounding)
    return y, champion, challenger


def table_of(y, a, b):
    a_right, b_right = a == y, b == y
    return np.array(
        [
            [np.sum(a_right & b_right), np.sum(a_right & ~b_right)],
            [np.sum(~a_right & b_right), np.sum(~a_right & ~b_right)],
        ]
    )


# --------------------------------------------------------------------------- McNemar


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("exact", [True, False])
def test_mcnemar_equals_statsmodels(seed, exact):
    y, s1, s2 = two_models(150 + 50 * seed, seed)
    a, b = (s1 > 0.5).astype(int), (s2 > 0.5).astype(int)
    statistic, p_value = mcnemar_test(y, a, b, exact=exact)
    expected = mcnemar(table_of(y, a, b), exact=exact, correction=True)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-12)


def test_mcnemar_auto_uses_exact_below_25_discordant_rows():
    y = np.zeros(40, dtype=int)
    a = np.zeros(40, dtype=int)
    b = a.copy()
    b[:10] = 1  # 10 discordant rows, all favour A
    assert mcnemar_test(y, a, b) == pytest.approx(
        (mcnemar([[30, 10], [0, 0]], exact=True).statistic, mcnemar([[30, 10], [0, 0]]).pvalue)
    )
    y, a, b = np.zeros(100, dtype=int), np.zeros(100, dtype=int), np.zeros(100, dtype=int)
    b[:30] = 1
    statistic, _ = mcnemar_test(y, a, b)
    assert statistic == pytest.approx((30 - 1) ** 2 / 30)


def test_mcnemar_without_disagreement_is_not_significant():
    y = np.array([0, 1, 1, 0])
    assert mcnemar_test(y, y, y, exact=False) == (0.0, 1.0)
    assert mcnemar_test(y, y, y, exact=True) == (0.0, 1.0)


# --------------------------------------------------------------------------- DeLong


def delong_by_definition(y, score_a, score_b):
    """DeLong et al. (1988) directly: placement values by pairwise comparison."""
    y = np.asarray(y).astype(bool)
    components = []
    aucs = []
    for score in (score_a, score_b):
        x, z = score[y], score[~y]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        components.append((psi.mean(axis=1), psi.mean(axis=0)))
    m, n = y.sum(), (~y).sum()
    s10 = np.cov(np.vstack([components[0][0], components[1][0]]))
    s01 = np.cov(np.vstack([components[0][1], components[1][1]]))
    s = s10 / m + s01 / n
    variance = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    z = (aucs[0] - aucs[1]) / math.sqrt(variance)
    return aucs[0] - aucs[1], z, 2 * stats.norm.sf(abs(z))


@pytest.mark.parametrize(("n", "seed", "rounding"), [(60, 0, None), (300, 1, 1), (800, 2, 0)])
def test_delong_equals_the_definition(n, seed, rounding):
    y, a, b = two_models(n, seed, rounding=rounding)
    difference, z, p_value = delong_test(y, a, b)
    expected = delong_by_definition(y, a, b)
    assert difference == pytest.approx(expected[0], rel=1e-10)
    assert difference == pytest.approx(skm.roc_auc_score(y, a) - skm.roc_auc_score(y, b))
    assert z == pytest.approx(expected[1], rel=1e-9)
    assert p_value == pytest.approx(expected[2], rel=1e-9)


def test_delong_of_a_model_against_itself():
    y, a, _ = two_models(100, 3)
    assert delong_test(y, a, a) == (0.0, 0.0, 1.0)
    # a monotone transform has the same ranks, hence the same AUC
    assert delong_test(y, a, np.exp(a))[2] == 1.0


def test_delong_needs_both_classes():
    with pytest.raises(
        StatisticsError, match="at least 2 positive and 2 negative rows; got 3 and 0"
    ):
        delong_test([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


# --------------------------------------------------------------------------- paired bootstrap


def test_paired_bootstrap_equals_a_loop_over_the_same_resamples():
    y, s1, s2 = two_models(250, 4, rounding=1)
    index = np.random.default_rng(9).integers(0, 250, size=(40, 250))
    diff, low, high = paired_bootstrap_difference(
        y, s1, s2, metric="roc_auc", n_bootstrap=40, seed=9, confidence=0.8
    )
    assert diff == pytest.approx(skm.roc_auc_score(y, s2) - skm.roc_auc_score(y, s1), abs=1e-12)
    loop = [skm.roc_auc_score(y[r], s2[r]) - skm.roc_auc_score(y[r], s1[r]) for r in index]
    assert (low, high) == pytest.approx(tuple(np.quantile(loop, [0.1, 0.9])), abs=1e-12)

    a, b = (s1 > 0.5).astype(int), (s2 > 0.5).astype(int)
    diff, low, high = paired_bootstrap_difference(y, a, b, metric="f1", n_bootstrap=40, seed=9)
    loop = [skm.f1_score(y[r], b[r]) - skm.f1_score(y[r], a[r]) for r in index]
    assert diff == pytest.approx(skm.f1_score(y, b) - skm.f1_score(y, a), abs=1e-12)
    assert (low, high) == pytest.approx(tuple(np.quantile(loop, [0.025, 0.975])), abs=1e-12)


def test_paired_interval_covers_the_true_accuracy_difference_at_about_the_nominal_rate():
    """Champion correct w.p. 0.75, challenger 0.80, correlated: true difference 0.05."""
    n, repetitions, covered = 400, 150, 0
    for seed in range(repetitions):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n)
        u = rng.random(n)
        champion_right = u < 0.75
        challenger_right = (u < 0.70) | ((u >= 0.75) & (u < 0.85))  # P = 0.70 + 0.10
        champion = np.where(champion_right, y, 1 - y)
        challenger = np.where(challenger_right, y, 1 - y)
        _, low, high = paired_bootstrap_difference(
            y, champion, challenger, metric="accuracy", n_bootstrap=400, seed=seed
        )
        covered += low <= 0.05 <= high
    assert 0.89 <= covered / repetitions <= 0.99


# --------------------------------------------------------------------------- decisions


def test_a_better_challenger_is_promoted_with_evidence():
    y, s1, s2 = two_models(3000, 5, gap=0.6)
    decision = compare_models(
        y,
        champion_pred=(s1 > 0.5).astype(int),
        challenger_pred=(s2 > 0.5).astype(int),
        champion_score=s1,
        challenger_score=s2,
        n_bootstrap=500,
    )
    assert isinstance(decision, ABDecision)
    assert decision.should_promote
    assert decision.ci_low > 0 and decision.ci_low <= decision.difference <= decision.ci_high
    assert decision.challenger_value == pytest.approx(skm.roc_auc_score(y, s2))
    assert decision.difference == pytest.approx(decision.challenger_value - decision.champion_value)
    assert decision.test == "delong" and decision.p_value is not None and decision.p_value < 0.01
    assert decision.test_statistic is not None and decision.test_statistic > 0
    assert decision.reason.startswith("Promote the challenger: roc_auc")
    assert f"{decision.ci_low:+.4f}" in decision.reason
    assert (decision.n, decision.n_bootstrap, decision.rule) == (3000, 500, "superiority")


def test_an_equal_challenger_is_kept_under_superiority_and_promoted_under_non_inferiority():
    y, s1, _ = two_models(2000, 6)
    rng = np.random.default_rng(6)
    s2 = s1 + rng.normal(scale=0.05, size=s1.size)  # same model up to noise
    a, b = (s1 > 0.5).astype(int), (s2 > 0.5).astype(int)
    kwargs = {"champion_pred": a, "challenger_pred": b, "metric": "accuracy", "n_bootstrap": 500}
    keep = compare_models(y, **kwargs)
    assert not keep.should_promote
    assert keep.reason.startswith("Keep the champion")
    assert keep.test == "mcnemar"
    table = table_of(y, a, b)
    exact = table[0, 1] + table[1, 0] < 25
    assert keep.p_value == pytest.approx(mcnemar(table, exact=exact).pvalue, rel=1e-12)
    promote = compare_models(y, **kwargs, rule="non_inferiority", margin=0.02)
    assert promote.should_promote and promote.margin == 0.02
    assert "non-inferiority bound -0.0200" in promote.reason


def test_precision_comparison_has_no_paired_test():
    y, s1, s2 = two_models(500, 7)
    decision = compare_models(
        y,
        champion_pred=(s1 > 0.5).astype(int),
        challenger_pred=(s2 > 0.5).astype(int),
        metric="precision",
        n_bootstrap=200,
    )
    assert decision.test is None and decision.p_value is None
    assert decision.champion_value == pytest.approx(skm.precision_score(y, (s1 > 0.5).astype(int)))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "mcc"}, "The 'metric' parameter of compare_models must be one of ['accuracy', 'f1', 'precision', 'recall', 'roc_auc']. Got 'mcc' instead."),
        ({"rule": "better"}, "The 'rule' parameter of compare_models must be 'superiority' or 'non_inferiority'. Got 'better' instead."),
        ({"margin": -0.1}, "The 'margin' parameter of compare_models must be a finite float >= 0. Got -0.1 instead."),
        ({"n_bootstrap": 0, "metric": "accuracy"}, "The 'n_bootstrap' parameter of compare_models must be an int >= 1. Got 0 instead."),
        ({"confidence": 95, "metric": "accuracy"}, "The 'confidence' parameter of compare_models must be a float in (0, 1). Got 95 instead."),
        ({}, "compare_models with metric='roc_auc' needs 'champion_score' and 'challenger_score'."),
    ],
)  # fmt: skip
def test_compare_models_errors(kwargs, message):
    y = np.array([0, 1, 0, 1])
    with pytest.raises(StatisticsError, match=re.escape(message)):
        compare_models(y, champion_pred=y, challenger_pred=y, **kwargs)


def test_bootstrap_and_mcnemar_input_errors():
    with pytest.raises(StatisticsError, match="roc_auc needs both classes"):
        paired_bootstrap_difference([1, 1], [0.1, 0.2], [0.2, 0.1], metric="roc_auc")
    with pytest.raises(StatisticsError, match="different lengths"):
        mcnemar_test([0, 1], [0, 1, 1], [0, 1])
    with pytest.raises(StatisticsError, match="The 'exact' parameter of mcnemar_test"):
        mcnemar_test([0, 1], [0, 1], [0, 1], exact="yes")  # type: ignore[arg-type]
