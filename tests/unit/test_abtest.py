"""A/B comparison: McNemar vs statsmodels, DeLong vs a direct implementation, bootstrap,
decisions, guardrails, the regression test and the online A/B tests vs statsmodels/scipy."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest

from modelwatch.errors import StatisticsError
from modelwatch.stats.abtest import (
    ABDecision,
    GuardrailResult,
    absolute_error_test,
    apply_guardrails,
    calibration_guardrail,
    compare_models,
    compare_regression_models,
    delong_test,
    fairness_guardrails,
    guardrail_markdown,
    latency_guardrail,
    mcnemar_test,
    normal_power,
    online_ab_decision,
    paired_bootstrap_difference,
    required_sample_size,
    two_proportion_ztest,
    welch_ttest,
)
from modelwatch.stats.performance import classification_metrics, fairness_gaps


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


# --------------------------------------------------------------------------- guardrails


def probabilities(n: int, seed: int, *, sharpen: float = 1.0):
    """Labels, calibrated probabilities and a sharpened (overconfident) version of them."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 2, n)
    y = (rng.random(n) < p).astype(int)
    logit = np.log(p / (1 - p)) * sharpen
    return y, p, 1 / (1 + np.exp(-logit))


def test_calibration_guardrail_values_equal_classification_metrics_ece():
    y, p, sharp = probabilities(1500, 0, sharpen=4.0)
    result = calibration_guardrail(y, p, sharp, max_increase=0.02, n_bootstrap=300)
    ece = [
        classification_metrics(y, (s > 0.5).astype(int), s, n_bootstrap=0, metrics=["ece"])[
            "ece"
        ].value
        for s in (p, sharp)
    ]
    assert (result.champion_value, result.challenger_value) == pytest.approx(ece, abs=1e-12)
    assert result.limit == pytest.approx(ece[0] + 0.02)
    assert not result.passed and result.ci_low is not None and result.ci_low > 0
    assert "ece" in result.detail and "above the limit" in result.detail


def test_calibration_guardrail_does_not_fail_on_noise():
    """Two equally calibrated models: the increase is noise, the guardrail holds at margin 0."""
    y, p, _ = probabilities(800, 1)
    rng = np.random.default_rng(1)
    other = np.clip(p + rng.normal(scale=0.02, size=p.size), 0, 1)
    result = calibration_guardrail(y, p, other, max_increase=0.0, n_bootstrap=300)
    assert result.passed
    assert result.ci_low is not None and result.ci_low <= 0 <= (result.ci_high or 0)


@pytest.mark.parametrize(
    "metric", ["demographic_parity_difference", "equal_opportunity_difference"]
)
def test_fairness_guardrail_values_equal_fairness_gaps(metric):
    rng = np.random.default_rng(2)
    n = 1200
    segments = pd.DataFrame(
        {
            "region": rng.choice(list("abcd"), n),
            "tiny": rng.choice(["x", "y", "z"], n, p=[0.49, 0.49, 0.02]),
        }
    )
    y = rng.integers(0, 2, n)
    fair = np.where(rng.random(n) < 0.8, y, 1 - y)
    # the challenger is much worse for region 'a': it predicts negative there
    unfair = np.where(segments["region"].to_numpy() == "a", 0, fair)
    results = fairness_guardrails(
        y, fair, unfair, segments, metric=metric, max_increase=0.05, n_bootstrap=300
    )
    expected = {
        (m.segment, which): m.value
        for which, pred in (("a", fair), ("b", unfair))
        for m in fairness_gaps(y, pred, segments)
        if m.name == metric
    }
    assert [r.name for r in results] == [f"{metric}[region]", f"{metric}[tiny]"]
    for r, column in zip(results, ["region", "tiny"], strict=True):
        assert r.champion_value == pytest.approx(expected[(column, "a")], abs=1e-12)
        assert r.challenger_value == pytest.approx(expected[(column, "b")], abs=1e-12)
    assert not results[0].passed  # region: much larger gap, significantly
    assert results[1].passed


def test_latency_guardrail_is_a_ratio():
    assert latency_guardrail(10.0, 19.9, max_ratio=2.0).passed
    failed = latency_guardrail(10.0, 20.1, max_ratio=2.0)
    assert not failed.passed and failed.limit == 20.0 and failed.unit == "ms/1k rows"
    with pytest.raises(
        StatisticsError,
        match=r"The 'max_ratio' parameter of latency_guardrail must be a finite float >= 1. Got 0.5 instead.",
    ):
        latency_guardrail(1.0, 1.0, max_ratio=0.5)


def test_the_decision_is_the_primary_rule_and_every_guardrail():
    y, s1, s2 = two_models(2000, 8, gap=0.6)
    primary = compare_models(
        y,
        champion_pred=(s1 > 0.5).astype(int),
        challenger_pred=(s2 > 0.5).astype(int),
        champion_score=s1,
        challenger_score=s2,
        n_bootstrap=300,
    )
    assert primary.should_promote
    ok = GuardrailResult("ece", 0.05, 0.06, 0.07, True, "champion + 0.02")
    bad = GuardrailResult("latency", 2.0, 9.0, 4.0, False, "champion x 2", unit="ms/1k rows")

    passed = apply_guardrails(primary, [ok])
    assert passed.should_promote and passed.primary_passed
    assert passed.reason.endswith("Guardrails passed: ece.")

    failed = apply_guardrails(primary, [ok, bad])
    assert not failed.should_promote and failed.primary_passed
    assert failed.reason.startswith("Primary rule passed")
    assert (
        "Keep the champion: guardrail(s) failed: latency 9.0000 ms/1k rows (challenger) vs 2.0000"
        in failed.reason
    )
    assert "ece" not in failed.reason.split("failed:")[1]
    assert failed.guardrails == (ok, bad)
    # applying again keeps the primary verdict
    assert apply_guardrails(failed, [ok]).should_promote

    markdown = guardrail_markdown(failed.guardrails)
    assert (
        "| latency | 2.0000 ms/1k rows | 9.0000 ms/1k rows | 4.0000 ms/1k rows | — | champion x 2 | **FAIL** |"
        in markdown
    )


# --------------------------------------------------------------------------- regression


def test_absolute_error_test_equals_scipy_wilcoxon():
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    a, b = y + rng.normal(scale=1.0, size=300), y + rng.normal(scale=0.8, size=300)
    expected = stats.wilcoxon(np.abs(y - a), np.abs(y - b))
    assert absolute_error_test(y, a, b) == pytest.approx(
        (expected.statistic, expected.pvalue), rel=1e-12
    )
    assert absolute_error_test(y, a, a) == (0.0, 1.0)


def test_regression_comparison_promotes_a_lower_mae():
    rng = np.random.default_rng(4)
    y = rng.normal(size=2000)
    a, b = y + rng.normal(scale=1.0, size=2000), y + rng.normal(scale=0.5, size=2000)
    decision = compare_regression_models(y, champion_pred=a, challenger_pred=b, n_bootstrap=500)
    assert decision.should_promote and decision.metric == "mae" and decision.test == "wilcoxon"
    assert decision.difference == pytest.approx(np.abs(y - a).mean() - np.abs(y - b).mean())
    assert decision.ci_low > 0 and decision.p_value < 1e-6
    keep = compare_regression_models(y, champion_pred=b, challenger_pred=a, n_bootstrap=500)
    assert not keep.should_promote


# --------------------------------------------------------------------------- online A/B


@pytest.mark.parametrize(
    ("x", "n"), [((430, 470), (1000, 1000)), ((12, 30), (40, 55)), ((5, 5), (9, 9))]
)
def test_two_proportion_ztest_equals_statsmodels(x, n):
    z, p = two_proportion_ztest(x, n)
    expected = proportions_ztest(list(x), list(n))
    assert z == pytest.approx(float(expected[0]), abs=1e-9)
    assert p == pytest.approx(float(expected[1]), abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_welch_ttest_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, 40 + seed * 30), rng.normal(0.2, 2.5, 90)
    t, p, df = welch_ttest(a, b)
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert (t, p, df) == pytest.approx((expected.statistic, expected.pvalue, expected.df), abs=1e-9)


@pytest.mark.parametrize("effect", [0.05, 0.2, 0.5, 1.3])
def test_power_and_sample_size_agree_with_statsmodels(effect):
    power = NormalIndPower()
    for n in (5.0, 37.3, 400.0):
        assert normal_power(effect, n) == pytest.approx(power.power(effect, n, 0.05), abs=1e-9)
    n = required_sample_size(effect, alpha=0.05, power=0.8)
    assert normal_power(effect, n) == pytest.approx(0.8, abs=1e-9)
    # statsmodels' own root finder stops at a looser tolerance
    assert n == pytest.approx(power.solve_power(effect, alpha=0.05, power=0.8), rel=1e-6)


def test_online_ab_needs_the_required_rows_per_variant():
    rng = np.random.default_rng(5)
    few_a, few_b = (rng.random(300) < 0.75).astype(float), (rng.random(300) < 0.80).astype(float)
    decision = online_ab_decision(few_a, few_b, metric="accuracy", minimum_detectable_effect=0.05)
    h = abs(proportion_effectsize(few_a.mean() + 0.05, few_a.mean()))
    expected_n = math.ceil(NormalIndPower().solve_power(h, alpha=0.05, power=0.8) - 1e-6)
    assert decision.status == "InsufficientData" and not decision.should_promote
    assert decision.effect_size == pytest.approx(h, abs=1e-12)
    assert decision.required_n == expected_n > 300
    assert "Keep collecting" in decision.reason

    many_a, many_b = (
        (rng.random(3000) < 0.75).astype(float),
        (rng.random(3000) < 0.80).astype(float),
    )
    decision = online_ab_decision(many_a, many_b, metric="accuracy", minimum_detectable_effect=0.05)
    assert decision.status == "Promote" and decision.test == "two_proportion_ztest"
    z, p = proportions_ztest([many_b.sum(), many_a.sum()], [3000, 3000])
    assert (decision.test_statistic, decision.p_value) == pytest.approx((z, p), abs=1e-9)


def test_online_ab_on_a_loss_uses_welch_and_favours_the_lower_loss():
    rng = np.random.default_rng(6)
    a, b = rng.gamma(2.0, 0.10, 4000), rng.gamma(2.0, 0.09, 4000)  # challenger: lower loss
    decision = online_ab_decision(a, b, metric="brier_loss", minimum_detectable_effect=0.01)
    assert decision.test == "welch_ttest"
    t, p = stats.ttest_ind(a, b, equal_var=False)
    assert (decision.test_statistic, decision.p_value) == pytest.approx((t, p), abs=1e-9)
    assert decision.difference == pytest.approx(a.mean() - b.mean()) and decision.difference > 0
    assert decision.status == "Promote"
    worse = online_ab_decision(b, a, metric="brier_loss", minimum_detectable_effect=0.01)
    assert worse.status == "Keep"
    assert online_ab_decision(a[:1], b, metric="brier_loss").status == "InsufficientData"
