"""Staged rollout rules: the next step per stage, the sequential test fed from served rows,
and the live guardrails."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelwatch import promotion
from modelwatch.errors import ParameterError, SchemaError, StatisticsError
from modelwatch.outcomes import ModelEvent, Stage
from modelwatch.rollout import (
    FAIRNESS_MIN_ROWS,
    RolloutAction,
    StoredTest,
    arm_values,
    canary_guardrails,
    evidence_time,
    next_step,
    sequential_decision,
    shadow_guardrails,
    start_test,
    update_test,
)
from modelwatch.spec import ABPolicy, MonitorSpec, load_spec
from modelwatch.stats.abtest import GuardrailResult
from modelwatch.stats.kernels import calibration_errors
from modelwatch.stats.performance import fairness_gaps
from modelwatch.stats.sequential import SequentialDecision, update

SPEC_PATH = Path(__file__).resolve().parents[2] / "deployments" / "specs" / "credit.yaml"


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return load_spec(SPEC_PATH)


def _with_ab(spec: MonitorSpec, **changes: Any) -> MonitorSpec:
    return spec.model_copy(update={"ab": spec.ab.model_copy(update=changes)})


def _decision(kind: str) -> SequentialDecision:
    return SequentialDecision(
        kind=kind,  # type: ignore[arg-type]
        p_value=0.5,
        ci_low=-0.1,
        ci_high=0.1,
        n_a=900,
        n_b=100,
        mean_a=0.8,
        mean_b=0.8,
        difference=0.0,
        looks=3,
        alpha=0.05,
        reason=f"{kind}: numbers",
    )


_FAILED = GuardrailResult("latency", 10.0, 35.0, 20.0, False, "champion x 2", unit="ms")
_PASSED = GuardrailResult("latency", 10.0, 12.0, 20.0, True, "champion x 2", unit="ms")


# --------------------------------------------------------------------------- next_step


def test_shadow_waits_then_starts_the_canary_unless_a_guardrail_fails() -> None:
    policy = ABPolicy(shadow_hours=24, canary_share=0.2)
    young = next_step(Stage.SHADOW, age_hours=3, policy=policy, guardrail_results=[_PASSED])
    assert young.action is RolloutAction.CONTINUE and young.event is None
    old = next_step(Stage.SHADOW, age_hours=24, policy=policy)
    assert old.action is RolloutAction.START_CANARY and old.event is ModelEvent.CANARY_STARTED
    assert "serve 20% as canary" in old.reason
    broken = next_step(Stage.SHADOW, age_hours=30, policy=policy, guardrail_results=[_FAILED])
    assert broken.action is RolloutAction.REJECT and broken.event is ModelEvent.CANARY_REJECTED
    assert "latency 35.0000 ms (challenger)" in broken.reason


def test_canary_follows_the_test_then_times_out() -> None:
    policy = ABPolicy(max_canary_hours=72)
    step = next_step(Stage.CANARY, age_hours=5, policy=policy, decision=_decision("promote"))
    assert step.action is RolloutAction.PROMOTE and step.event is ModelEvent.CANARY_PROMOTED
    assert step.event.prefect_event == "modelwatch.model.promoted"
    step = next_step(Stage.CANARY, age_hours=5, policy=policy, decision=_decision("reject"))
    assert step.action is RolloutAction.REJECT
    step = next_step(Stage.CANARY, age_hours=71.9, policy=policy, decision=_decision("continue"))
    assert step.action is RolloutAction.CONTINUE
    step = next_step(Stage.CANARY, age_hours=72, policy=policy, decision=_decision("continue"))
    assert step.action is RolloutAction.REJECT and "no decision after 72.0 h" in step.reason
    # a guardrail breach wins over a promotion
    step = next_step(
        Stage.CANARY,
        age_hours=5,
        policy=policy,
        decision=_decision("promote"),
        guardrail_results=[_PASSED, _FAILED],
    )
    assert step.action is RolloutAction.REJECT and "guardrail(s) failed" in step.reason


def test_next_step_refuses_what_it_cannot_judge() -> None:
    policy = ABPolicy()
    with pytest.raises(ParameterError, match="'stage' parameter of next_step"):
        next_step(Stage.CHAMPION, age_hours=1, policy=policy)
    with pytest.raises(ParameterError, match="'age_hours'"):
        next_step(Stage.SHADOW, age_hours=-1, policy=policy)
    with pytest.raises(ParameterError, match="decision in the canary stage"):
        next_step(Stage.CANARY, age_hours=1, policy=policy)


# --------------------------------------------------------------------------- the test


def test_start_test_takes_the_policy_s_alpha_tau_and_direction() -> None:
    state = start_test(ABPolicy(minimum_detectable_effect=0.03, sequential_alpha=0.01))
    assert (state.alpha, state.tau, state.higher_is_better, state.min_rows) == (
        0.01,
        0.03,
        True,
        100,
    )
    loss = start_test(ABPolicy(online_metric="absolute_error", sequential_tau=0.5))
    assert (loss.tau, loss.higher_is_better) == (0.5, False)


def _served(rng: np.random.Generator, n: int, share: float, acc: tuple[float, float]) -> Any:
    variant = np.where(rng.random(n) < share, "canary", "champion")
    target = rng.integers(0, 2, n)
    right = rng.random(n) < np.where(variant == "canary", acc[1], acc[0])
    return pd.DataFrame(
        {"variant": variant, "defaulted": target, "prediction": np.where(right, target, 1 - target)}
    )


def test_arm_values_split_the_served_rows_by_variant(spec: MonitorSpec) -> None:
    frame = _served(np.random.default_rng(0), 1000, 0.3, (0.8, 0.9))
    champion, canary = arm_values(spec, frame)
    right = (frame["prediction"] == frame["defaulted"]).to_numpy(dtype=float)
    on_canary = (frame["variant"] == "canary").to_numpy()
    assert (canary == right[on_canary]).all() and (champion == right[~on_canary]).all()
    only_champion = frame[~on_canary]
    assert arm_values(spec, only_champion)[1].size == 0
    with pytest.raises(SchemaError, match="'variant'"):
        arm_values(spec, frame.drop(columns="variant"))


@pytest.mark.parametrize(("accuracy", "expected"), [((0.80, 0.88), "promote"), ((0.8, 0.8), None)])
def test_hourly_windows_promote_a_better_canary_and_time_out_an_equal_one(
    spec: MonitorSpec, accuracy: tuple[float, float], expected: str | None
) -> None:
    """500 labeled rows an hour, a 20 % canary: 0.80 -> 0.88 is promoted within 8 hours;
    an equal canary is still undecided then, and max_canary_hours (48) rejects it."""
    spec = _with_ab(spec, canary_share=0.2, max_canary_hours=48, minimum_detectable_effect=0.05)
    rng = np.random.default_rng(42)
    state = start_test(spec.ab)
    step = None
    for hour in range(1, 49):
        state = update_test(state, spec, _served(rng, 500, 0.2, accuracy))
        step = next_step(
            Stage.CANARY,
            age_hours=hour,
            policy=spec.ab,
            decision=sequential_decision(state, spec.ab),
        )
        if step.action is not RolloutAction.CONTINUE:
            break
    assert step is not None
    if expected == "promote":
        assert step.action is RolloutAction.PROMOTE and hour <= 8  # seeds 0-4: 2-3 hours
        assert "mSPRT" in step.reason
    else:
        assert step.action is RolloutAction.REJECT and hour == 48
        assert "no decision after 48.0 h" in step.reason


# --------------------------------------------------------------------------- guardrails


def _binary_rows(rng: np.random.Generator, n: int, canary_score: Any) -> pd.DataFrame:
    p = rng.uniform(0.05, 0.95, n)
    target = (rng.random(n) < p).astype(int)
    variant = np.where(np.arange(n) % 5 == 0, "canary", "champion")
    score = np.where(variant == "canary", canary_score(p), p)
    return pd.DataFrame(
        {
            "variant": variant,
            "defaulted": target,
            "score": score,
            "prediction": (score > 0.5).astype(int),
            "latency_ms": np.where(variant == "canary", 30.0, 10.0),
            "region": np.where(np.arange(n) % 2 == 0, "north", "south"),
        }
    )


def test_canary_guardrails_catch_slow_and_miscalibrated_canaries(spec: MonitorSpec) -> None:
    rng = np.random.default_rng(1)
    calibrated = _binary_rows(rng, 5000, lambda p: p)
    results = {g.name: g for g in canary_guardrails(spec, calibrated)}
    assert not results["latency"].passed  # 30 ms vs 10 ms x 2
    assert (results["latency"].champion_value, results["latency"].limit) == (10.0, 20.0)
    assert results["calibration (ECE)"].passed
    canary = (calibrated["variant"] == "canary").to_numpy()
    expected = calibration_errors(
        calibrated["defaulted"].to_numpy(dtype=float)[canary],
        calibrated["score"].to_numpy()[canary],
        n_bins=10,
    )[0]
    assert results["calibration (ECE)"].challenger_value == pytest.approx(expected, abs=1e-12)
    skewed = _binary_rows(rng, 5000, lambda p: np.clip(p + 0.25, 0, 1))
    ece = {g.name: g for g in canary_guardrails(spec, skewed)}["calibration (ECE)"]
    assert not ece.passed and ece.ci_low is not None and ece.ci_low > 0
    assert results["equal_opportunity_difference[region]"].passed  # the same model: fair
    relaxed = _with_ab(
        spec, max_latency_ratio=4.0, max_ece_increase=None, max_fairness_gap_increase=None
    )
    assert [g.passed for g in canary_guardrails(relaxed, calibrated)] == [True]
    assert canary_guardrails(spec, calibrated[~canary]) == []  # no canary rows yet
    with pytest.raises(SchemaError, match="'variant'"):
        canary_guardrails(spec, calibrated.drop(columns="variant"))


def _fairness_rows(n: int, canary_pred: Any, *, seed: int = 3) -> pd.DataFrame:
    """``n`` rows, every 5th on the canary, regions alternating north / south; the champion
    answers the truth (fair: TPR 1 everywhere), the canary ``canary_pred(truth, region)``."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < 0.4).astype(int)
    region = np.where(np.arange(n) % 2 == 0, "north", "south")
    variant = np.where(np.arange(n) % 5 == 0, "canary", "champion")
    prediction = np.where(variant == "canary", canary_pred(truth, region), truth)
    return pd.DataFrame(
        {"variant": variant, "defaulted": truth, "prediction": prediction, "region": region}
    )


def _fairness_only(spec: MonitorSpec, **changes: Any) -> MonitorSpec:
    off = {"max_latency_ratio": None, "max_ece_increase": None}
    return _with_ab(spec, **off, **changes)


def test_a_canary_that_misses_one_segment_fails_the_fairness_guardrail(
    spec: MonitorSpec,
) -> None:
    """The canary never predicts a default in the south: its TPR gap north - south is 1,
    the champion's 0; the limit is 0 + 0.1 and the increase's CI lies above 0."""
    spec = _fairness_only(spec)
    unfair = _fairness_rows(5000, lambda y, r: np.where(r == "south", 0, y))
    (result,) = canary_guardrails(spec, unfair)
    assert result.name == "equal_opportunity_difference[region]" and not result.passed
    assert (result.champion_value, result.challenger_value) == (0.0, 1.0)
    assert result.limit == pytest.approx(0.1)
    assert result.ci_low is not None and result.ci_low > 0.9
    step = next_step(Stage.CANARY, age_hours=1, policy=spec.ab, decision=_decision("continue"),
                     guardrail_results=[result])  # fmt: skip
    assert step.action is RolloutAction.REJECT and "equal_opportunity_difference" in step.reason
    fair = _fairness_rows(5000, lambda y, r: y)
    (same,) = canary_guardrails(spec, fair)
    assert same.passed and (same.champion_value, same.challenger_value) == (0.0, 0.0)
    parity = _fairness_only(spec, fairness_metric="demographic_parity_difference")
    (shares,) = canary_guardrails(parity, _fairness_rows(5000, lambda y, r: (r == "north") * 1))
    assert shares.name == "demographic_parity_difference[region]" and not shares.passed
    assert shares.challenger_value == 1.0  # every north row positive, no south row
    assert canary_guardrails(_fairness_only(spec, max_fairness_gap_increase=None), unfair) == []


def test_the_canary_fairness_gaps_are_the_fairness_gaps_of_each_variant_s_rows(
    spec: MonitorSpec,
) -> None:
    """Noisy answers: the point gaps equal modelwatch.stats.performance.fairness_gaps on
    each variant's rows; a small harmless difference passes (its CI includes 0)."""
    rng = np.random.default_rng(4)
    spec = _fairness_only(spec)
    rows = _fairness_rows(4000, lambda y, r: y)
    flip = rng.random(len(rows)) < 0.2  # both variants wrong on a random 20 %
    rows.loc[flip, "prediction"] = 1 - rows.loc[flip, "prediction"]
    (result,) = canary_guardrails(spec, rows)
    for variant, value in (
        ("champion", result.champion_value),
        ("canary", result.challenger_value),
    ):
        arm = rows[rows["variant"] == variant]
        (expected,) = [
            g.value
            for g in fairness_gaps(arm["defaulted"], arm["prediction"], arm[["region"]])
            if g.name == "equal_opportunity_difference"
        ]
        assert value == pytest.approx(expected, abs=1e-12)
    assert result.passed and result.ci_low is not None and result.ci_low < 0 < result.ci_high


def test_segment_values_too_small_in_either_variant_are_left_out(spec: MonitorSpec) -> None:
    """A region with fewer than FAIRNESS_MIN_ROWS canary rows does not count; a column left
    with one comparable value gives no guardrail."""
    spec = _fairness_only(spec)
    rows = _fairness_rows(5000, lambda y, r: np.where(r == "south", 0, y))
    canary_south = rows.index[(rows["variant"] == "canary") & (rows["region"] == "south")]
    rows = rows.drop(canary_south[FAIRNESS_MIN_ROWS - 1 :])  # 29 canary rows in the south
    assert canary_guardrails(spec, rows) == []
    east = rows.index[:600]  # a third region, big enough in both, where the canary is right
    rows.loc[east, "region"] = "east"
    rows.loc[east, "prediction"] = rows.loc[east, "defaulted"]
    (result,) = canary_guardrails(spec, rows)
    assert result.challenger_value == 0.0  # north vs east: the canary is right in both
    with pytest.raises(SchemaError, match=r"'region'.*fairness guardrail"):
        canary_guardrails(spec, rows.drop(columns="region"))


def test_a_shadow_does_not_advance_on_a_window_without_its_answers() -> None:
    policy = ABPolicy(shadow_hours=2)
    step = next_step(Stage.SHADOW, age_hours=5, policy=policy, shadow_logged=False)
    assert step.action is RolloutAction.CONTINUE and "no shadow answers" in step.reason
    logged = next_step(Stage.SHADOW, age_hours=5, policy=policy, shadow_logged=True)
    assert logged.action is RolloutAction.START_CANARY


def test_ages_are_measured_on_the_windows_clock() -> None:
    """A past window's end (a late or catch-up run, the demo); a window ending in the
    future is capped at now."""
    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    past = datetime(2026, 11, 30, 17, tzinfo=UTC)
    assert evidence_time(past, now) == past
    assert evidence_time(datetime(2026, 12, 1, 9, tzinfo=UTC), now) == now


def test_shadow_guardrails_are_the_offline_guardrails_on_the_logged_answers(
    spec: MonitorSpec,
) -> None:
    rng = np.random.default_rng(2)
    rows = _binary_rows(rng, 4000, lambda p: p).drop(columns="variant")
    rows["shadow_score"] = np.clip(rows["score"] + 0.3, 0, 1)
    rows["shadow_prediction"] = (rows["shadow_score"] > 0.5).astype(int)
    got = shadow_guardrails(spec, rows)
    direct = promotion.guardrails(
        spec,
        rows,
        (rows["prediction"].to_numpy(), rows["score"].to_numpy()),
        (rows["shadow_prediction"].to_numpy(), rows["shadow_score"].to_numpy()),
        latency_ms=None,
    )
    assert got == direct and not got[0].passed  # calibration breaks in shadow
    with pytest.raises(SchemaError, match="'shadow_prediction'"):
        shadow_guardrails(spec, rows.drop(columns="shadow_prediction"))


def test_the_stored_test_round_trips_and_counts_each_window_once() -> None:
    policy = ABPolicy(sequential_min_rows=2)
    fresh = StoredTest.read(None, policy)
    assert fresh.through is None and fresh.state == start_test(policy)
    state = update(start_test(policy), [1.0, 0.0, 1.0], [1.0, 1.0, 1.0])
    end = datetime(2026, 11, 20, 2, tzinfo=UTC)
    stored = StoredTest(state, end)
    again = StoredTest.read(stored.to_json(), policy)
    assert again == stored
    assert not again.counts(datetime(2026, 11, 20, 1, tzinfo=UTC))  # a re-run of a counted window
    assert again.counts(end)
    with pytest.raises(StatisticsError, match="not readable"):
        StoredTest.read('{"state": 1}', policy)


def test_a_small_canary_as_fair_as_the_champion_is_rarely_rolled_back(spec: MonitorSpec) -> None:
    """A 20 % canary with the champion's true TPR in every region: its max - min gap over
    ~300 rows is larger than the champion's over ~1,250 by noise alone. Both arms are
    resampled at the canary's size, so the increase CI includes 0 (measured: 21 of 200
    such canaries were rolled back when the champion was resampled at its own size)."""
    from modelwatch import rollout

    rng = np.random.default_rng(0)
    rejected = 0
    for trial in range(100):
        n = 1570
        region = rng.choice(["north", "south", "east", "west"], size=n, p=[0.4, 0.3, 0.2, 0.1])
        y = (rng.random(n) < 0.3).astype(int)
        pred = np.where(y == 1, rng.random(n) < 0.7, rng.random(n) < 0.2).astype(int)
        variant = np.where(rng.random(n) < 0.2, "canary", "champion")
        frame = pd.DataFrame(
            {"region": region, spec.columns.target: y, spec.columns.prediction: pred}
        )
        arms = [variant == "champion", variant == "canary"]
        results = rollout._fairness(spec, frame, arms, max_increase=0.1, seed=trial)
        rejected += any(not r.passed for r in results)
    assert rejected <= 5
