"""A/B and promotion rules without Prefect: metrics, guardrails, online values, records, conclusions."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import metrics as skm

from modelwatch import evaluation, promotion
from modelwatch.errors import ChampionChanged, RegistryError, SpecError, StatisticsError
from modelwatch.io.registry import PromotionResult
from modelwatch.outcomes import (
    AlertEvent,
    Alias,
    DecisionKind,
    Outcome,
    StateName,
    WindowDecision,
    retrained,
)
from modelwatch.spec import MonitorSpec, parse_spec
from modelwatch.stats import abtest
from modelwatch.stats.abtest import ABDecision, GuardrailResult

SPECS = Path(__file__).resolve().parents[2] / "deployments" / "specs"
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
WINDOW = (T0, T0 + timedelta(hours=2))


def _spec(name: str = "credit", **sections: dict[str, Any]) -> MonitorSpec:
    data = yaml.safe_load((SPECS / f"{name}.yaml").read_text())
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    return parse_spec(data, source="test")


@pytest.fixture(scope="module")
def binary() -> tuple[pd.DataFrame, evaluation.Scores, evaluation.Scores]:
    """400 labeled rows; the challenger's scores carry more signal than the champion's."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    score_a = np.clip(0.5 + 0.15 * (y - 0.5) + rng.normal(0, 0.2, 400), 0.01, 0.99)
    score_b = np.clip(0.5 + 0.45 * (y - 0.5) + rng.normal(0, 0.2, 400), 0.01, 0.99)
    frame = pd.DataFrame(
        {"defaulted": y, "region": rng.choice(["north", "south"], 400), "score": score_b}
    )
    champion = ((score_a > 0.5).astype(int), score_a)
    challenger = ((score_b > 0.5).astype(int), score_b)
    return frame, champion, challenger


# --------------------------------------------------------------------------- outcomes


def test_the_enums_read_and_write_the_strings_stored_before_them() -> None:
    assert [k.value for k in DecisionKind] == [
        "retrain",
        "retrain-skipped",
        "retrain-episode",
        "ab",
        "online-ab",
        "promotion",
        "rollback",
        "rollout",
    ]
    assert Outcome("challenger-wins") is Outcome.CHALLENGER_WINS
    assert Outcome.PROMOTED == "promoted" and Outcome.CONFLICT == "conflict"
    assert Outcome.ROLLED_BACK == "rolled-back" and AlertEvent.ROLLED_BACK == "rolled_back"
    assert [a.value for a in Alias] == ["champion", "challenger", "previous"]
    assert f"{DecisionKind.ONLINE_AB}-v1" == "online-ab-v1" and str(Alias.PREVIOUS) == "previous"
    assert json.dumps({"outcome": Outcome.FAILED}) == '{"outcome": "failed"}'
    assert retrained(StateName.PROMOTED) == WindowDecision.RETRAINED_PROMOTED
    assert retrained("Rejected") == WindowDecision.RETRAINED_REJECTED == "retrained+rejected"


def test_the_promotion_lock_keeps_its_stored_name() -> None:
    assert promotion.promotion_lock_name("credit") == "modelwatch-promote-credit"


# --------------------------------------------------------------------------- evaluation


def test_binary_validation_metrics_agree_with_sklearn(binary: Any) -> None:
    frame, _, challenger = binary
    spec = _spec()
    values = evaluation.validation_metrics(spec, frame, challenger)
    y = frame["defaulted"].to_numpy()
    assert values["val_roc_auc"] == pytest.approx(skm.roc_auc_score(y, challenger[1]), abs=1e-12)
    assert values["val_accuracy"] == pytest.approx(skm.accuracy_score(y, challenger[0]))
    assert values["val_f1"] == pytest.approx(skm.f1_score(y, challenger[0]))
    assert all(k.startswith("val_") for k in values)


def test_segment_table_per_region_agrees_with_sklearn(binary: Any) -> None:
    frame, _, challenger = binary
    table = evaluation.segment_table(_spec(), frame, challenger)
    assert sorted(table) == ["region=north", "region=south"]
    north = (frame["region"] == "north").to_numpy()
    expected = skm.roc_auc_score(frame["defaulted"][north], challenger[1][north])
    assert table["region=north"]["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert evaluation.segment_table(_spec("house"), frame, challenger) == {}


def test_multiclass_validation_metrics_leave_out_per_class_keys() -> None:
    spec = _spec("churn3")
    rng = np.random.default_rng(1)
    classes = ["stay", "downgrade", "churn"]
    y = rng.choice(classes, 300)
    proba = rng.dirichlet([1, 1, 1], 300)
    pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    values = evaluation.validation_metrics(spec, pd.DataFrame({"next_step": y}), (pred, proba))
    assert not any("[" in k for k in values)
    assert values["val_f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    order = [classes.index(c) for c in sorted(classes)]  # sklearn: labels sorted as text
    expected = skm.log_loss(y, proba[:, order], labels=sorted(classes))
    assert values["val_log_loss"] == pytest.approx(expected, abs=1e-12)


def test_regression_metrics_agree_with_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.uniform(100, 200, 200)
    pred = y + rng.normal(0, 5, 200)
    values = evaluation.model_metrics(_spec("house"), y, pred, None)
    assert values["mae"].value == pytest.approx(skm.mean_absolute_error(y, pred))
    assert values["r2"].value == pytest.approx(skm.r2_score(y, pred))


# --------------------------------------------------------------------------- offline


def test_offline_comparison_is_the_spec_rule_on_the_paired_rows(binary: Any) -> None:
    frame, champion, challenger = binary
    spec = _spec(ab={"n_bootstrap": 300})
    decision = promotion.offline_comparison(spec, frame, champion, challenger)
    direct = abtest.compare_models(
        frame["defaulted"].to_numpy(),
        champion_pred=champion[0],
        challenger_pred=challenger[0],
        champion_score=champion[1],
        challenger_score=challenger[1],
        metric="roc_auc",
        rule="superiority",
        margin=0.0,
        confidence=0.95,
        n_bootstrap=300,
        seed=0,
    )
    assert decision == direct
    assert decision.should_promote and decision.ci_low > 0


def test_guardrails_follow_the_spec_in_order(binary: Any) -> None:
    frame, champion, challenger = binary
    checks = promotion.guardrails(_spec(), frame, champion, challenger, latency_ms=(1.0, 1.5))
    assert [g.name for g in checks] == ["ece", "equal_opportunity_difference[region]", "latency"]
    assert checks[-1].limit == pytest.approx(2.0) and checks[-1].passed
    off = _spec(
        ab={"max_ece_increase": None, "max_fairness_gap_increase": None, "max_latency_ratio": None}
    )
    assert promotion.guardrails(off, frame, champion, challenger, latency_ms=(1.0, 9.0)) == []
    assert [
        g.name for g in promotion.guardrails(_spec(), frame, champion, challenger, latency_ms=None)
    ] == [
        "ece",
        "equal_opportunity_difference[region]",
    ]


def test_a_challenger_without_probabilities_cannot_pass_the_calibration_guardrail(
    binary: Any,
) -> None:
    frame, champion, challenger = binary
    with pytest.raises(StatisticsError, match="challenger of model 'credit' has no predict_proba"):
        promotion.guardrails(_spec(), frame, champion, (challenger[0], None), latency_ms=None)


def _decision(**changes: Any) -> ABDecision:
    base = ABDecision(
        metric="roc_auc",
        champion_value=0.70,
        challenger_value=0.80,
        difference=0.10,
        ci_low=0.05,
        ci_high=0.15,
        confidence=0.95,
        n=400,
        n_bootstrap=2000,
        rule="superiority",
        margin=0.0,
        should_promote=True,
        reason="Promote the challenger",
        p_value=0.001,
        test="delong",
        guardrails=(
            GuardrailResult("equal_opportunity_difference[region]", 0.1, 0.12, 0.2, True, "r"),
        ),
        primary_passed=True,
    )
    return replace(base, **changes)


def test_offline_record_holds_the_evidence_written_four_ways() -> None:
    decision = _decision()
    record = promotion.offline_record(
        decision,
        model="credit",
        champion="1",
        challenger="2",
        window=WINDOW,
        n_dropped=3,
        triggered_by="run-9",
    )
    assert record.kind == "ab" and record.outcome == "challenger-wins"
    assert record.run_name == "ab-v1-vs-v2" and record.artifact_file == "ab_decision.md"
    assert record.artifact_key == "credit-ab" and record.artifact_description == "A/B credit"
    assert record.run_tags() == {"modelwatch.kind": "ab", "modelwatch.outcome": "challenger-wins"}
    assert record.run_params() == {
        "metric": "roc_auc",
        "rule": "superiority",
        "margin": 0.0,
        "n_bootstrap": 2000,
        "primary_passed": True,
        "champion_version": "1",
        "challenger_version": "2",
    }
    assert record.metrics == {
        "champion_value": 0.70,
        "challenger_value": 0.80,
        "difference": 0.10,
        "ci_low": 0.05,
        "ci_high": 0.15,
        "n_holdout": 400.0,
        "p_value": 0.001,
        "guardrail.equal_opportunity_difference_region.champion": 0.1,
        "guardrail.equal_opportunity_difference_region.challenger": 0.12,
        "guardrail.equal_opportunity_difference_region.limit": 0.2,
        "guardrail.equal_opportunity_difference_region.passed": 1.0,
    }
    assert record.evidence == {
        **asdict(decision),
        "champion_version": "1",
        "challenger_version": "2",
        "window_start": "2026-11-23T10:00:00+00:00",
        "window_end": "2026-11-23T12:00:00+00:00",
        "n_quarantined_rows_dropped": 3,
        "triggered_by": "run-9",
    }
    assert record.version_tags("r1") == {
        "modelwatch.ab.v1_vs_v2": "challenger-wins: Promote the challenger",
        "modelwatch.ab.last_run_id": "r1",
    }
    assert "## Guardrails" in record.markdown and "v1 (champion) vs v2" in record.markdown
    no_p = promotion.offline_record(
        _decision(p_value=None, should_promote=False),
        model="credit",
        champion="1",
        challenger="2",
        window=WINDOW,
        n_dropped=0,
        triggered_by=None,
    )
    assert "p_value" not in no_p.metrics and no_p.outcome == Outcome.CHAMPION_STAYS


def test_the_conclusion_promotes_only_a_winner_that_may_be_promoted() -> None:
    win, lose = _decision(), _decision(should_promote=False, reason="Keep the champion")
    promote = promotion.conclude(win, promote=True, champion="1", challenger="2")
    assert promote == promotion.Conclusion(
        True, StateName.PROMOTED, "v2 is champion: " + win.reason
    )
    held = promotion.conclude(win, promote=False, champion="1", challenger="2")
    assert (held.promote, held.state, held.rejected) == (False, "NotPromoted", False)
    assert held.message == "v2 beats v1 but promote=False: no alias moved (Promote the challenger)"
    rejected = promotion.conclude(lose, promote=True, champion="1", challenger="2")
    assert (rejected.promote, rejected.state, rejected.rejected) == (False, "Rejected", True)
    assert rejected.message == "v1 stays champion: Keep the champion"


def test_a_moved_champion_is_a_conflict_and_anything_else_a_failure() -> None:
    outcome, details = promotion.promotion_failure(ChampionChanged("moved to v3"), version="2")
    assert outcome == "conflict" and details == {"version": "2", "error": "moved to v3"}
    outcome, _ = promotion.promotion_failure(RegistryError("server down"), version="2")
    assert outcome == Outcome.FAILED


# --------------------------------------------------------------------------- online


def _served(spec: MonitorSpec, n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            spec.columns.prediction: [1, 0, 1, 1, 0, 0][:n],
            spec.columns.target: [1, 1, 1, 0, 0, 0][:n],
            "score": [0.9, 0.4, 0.6, 0.7, 0.2, 0.1][:n],
            "variant": ["champion", "challenger"] * (n // 2),
        }
    )


def test_online_values_are_the_per_row_metric() -> None:
    spec = _spec(columns={"variant": "variant"})
    frame = _served(spec)
    assert list(promotion.online_values(spec, frame)) == [1, 0, 1, 0, 1, 1]
    brier = _spec(columns={"variant": "variant"}, ab={"online_metric": "brier_loss"})
    expected = (frame["score"] - frame["defaulted"]) ** 2
    np.testing.assert_allclose(promotion.online_values(brier, frame), expected, rtol=0, atol=1e-15)
    house = _spec("house")
    rows = pd.DataFrame({"predicted_price": [100.0, 250.0], "price": [120.0, 200.0]})
    assert list(promotion.online_values(house, rows)) == [20.0, 50.0]


def test_online_comparison_needs_a_variant_column_and_brier_a_score() -> None:
    spec = _spec()
    with pytest.raises(SpecError, match=r"model 'credit' declares no columns\.variant"):
        promotion.online_comparison(spec, _served(spec))
    brier = _spec(columns={"variant": "variant"}, ab={"online_metric": "brier_loss"})
    # a parsed binary spec always has a score; a spec built in code may not
    no_score = brier.model_copy(
        update={"columns": brier.columns.model_copy(update={"score": None})}
    )
    with pytest.raises(SpecError, match=r"'brier_loss' needs columns\.score"):
        promotion.online_values(no_score, _served(spec))


def test_too_few_served_rows_are_recorded_as_insufficient_data() -> None:
    spec = _spec(columns={"variant": "variant"})
    decision = promotion.online_comparison(spec, _served(spec))
    assert decision.status == "InsufficientData"
    assert (decision.champion_n, decision.challenger_n) == (3, 3)
    record = promotion.online_record(
        decision, model="credit", champion="1", challenger="2", window=WINDOW, triggered_by=None
    )
    assert record.kind == "online-ab" and record.outcome == "insufficient-data"
    assert record.artifact_key == "credit-online-ab"
    assert record.artifact_description == "Online A/B credit"
    assert record.evidence["window_end"] == "2026-11-23T12:00:00+00:00"
    assert "n_quarantined_rows_dropped" not in record.evidence
    assert "| labeled rows | 3 | 3 |" in record.markdown


# --------------------------------------------------------------------------- rollback


def test_rollback_details_and_markdown() -> None:
    result = PromotionResult("credit", "1", "2")
    details = promotion.rollback_details(result, reason="oops", requested_by="ann", force=False)
    assert details == {
        "name": "credit",
        "champion": "1",
        "previous": "2",
        "reason": "oops",
        "requested_by": "ann",
        "force": False,
    }
    assert promotion.rollback_markdown("credit", "1", reason="oops", requested_by="ann") == (
        "# Rollback — credit\n\nchampion is now **v1**\n\nreason: oops\n\nrequested by: ann\n"
    )
