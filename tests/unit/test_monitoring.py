"""The monitoring application layer, without Prefect.

``modelwatch.analysis`` (what a window's metrics, drift, judgement and decision are),
``modelwatch.monitoring`` (rules over the stored history) and
``modelwatch.assessment`` (what is stored, published and returned for a window).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps
from sklearn.metrics import accuracy_score, roc_auc_score

from modelwatch import analysis, assessment, monitoring
from modelwatch.io.gx_runtime import ExpectationOutcome, ValidationReport
from modelwatch.io.sources import WindowData
from modelwatch.io.store import RunRecord
from modelwatch.outcomes import StateName, WindowDecision
from modelwatch.spec import MonitorSpec
from modelwatch.stats import degradation
from modelwatch.stats.degradation import DegradationDecision, WindowJudgement
from modelwatch.stats.performance import MetricValue
from modelwatch.summaries import MonitorSummary, monitor_markdown, window_label

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _spec(name: str = "credit", **sections: dict[str, Any]) -> MonitorSpec:
    raw = yaml.safe_load((REPO / "deployments" / "specs" / f"{name}.yaml").read_text())
    for section, values in sections.items():
        raw[section] = {**raw.get(section, {}), **values}
    return MonitorSpec.model_validate(raw)


def _credit_frame(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Rows with the credit spec's columns; ``shift`` moves income and the scores."""
    rng = np.random.default_rng(seed)
    score = np.clip(rng.beta(2, 5, n) + shift, 0, 1)
    target = (rng.random(n) < score).astype(int)
    return pd.DataFrame(
        {
            "prediction_id": [f"p{seed}-{i}" for i in range(n)],
            "timestamp": pd.date_range(T0, periods=n, freq="s", tz="UTC"),
            "age": rng.integers(20, 70, n).astype(float),
            "income": rng.normal(50 + 30 * shift, 10, n),
            "debt_ratio": rng.random(n),
            "credit_lines": rng.integers(0, 10, n).astype(float),
            "utilization": rng.random(n),
            "months_employed": rng.integers(0, 200, n).astype(float),
            "region": rng.choice(["north", "south"], n),
            "product": rng.choice(["card", "loan"], n),
            "channel": rng.choice(["web", "branch"], n),
            "score": score,
            "prediction": (score >= 0.5).astype(int),
            "defaulted": target,
        }
    )


# -- analysis: metrics ------------------------------------------------------------------------


def test_realized_metrics_agree_with_sklearn_and_carry_segments() -> None:
    spec = _spec()
    labeled = _credit_frame(400, seed=1)
    values = analysis.realized_metrics(spec, labeled)
    overall = {m.name: m for m in values if m.segment is None}
    assert overall["accuracy"].value == pytest.approx(
        accuracy_score(labeled["defaulted"], labeled["prediction"])
    )
    assert overall["roc_auc"].value == pytest.approx(
        roc_auc_score(labeled["defaulted"], labeled["score"])
    )
    assert overall["roc_auc"].ci_low is not None  # 400 rows: bootstrap CIs
    north = labeled[labeled["region"] == "north"]
    seg = next(m for m in values if m.segment == "region=north" and m.name == "roc_auc")
    assert seg.value == pytest.approx(roc_auc_score(north["defaulted"], north["score"]))


def test_a_few_labeled_rows_get_point_values_without_cis_and_no_segments() -> None:
    spec = _spec()
    labeled = _credit_frame(8, seed=2)
    labeled.loc[:3, "defaulted"] = [0, 1, 0, 1]  # both classes: ROC AUC defined
    skipped: list[str] = []
    values = analysis.realized_metrics(spec, labeled, on_skip=skipped.append)
    assert all(m.segment is None for m in values)
    accuracy = next(m for m in values if m.name == "accuracy")
    assert accuracy.value == pytest.approx(
        accuracy_score(labeled["defaulted"], labeled["prediction"])
    )
    assert accuracy.ci_low is None and accuracy.ci_high is None
    assert skipped == [
        "bootstrap CIs skipped: the window has 8 labeled rows, fewer than the 10 it needs",
        "segment metrics skipped: the window has 8 labeled rows, fewer than the 30 it needs",
    ]
    assert analysis.realized_metrics(spec, labeled.iloc[:0]) == []


def test_small_window_notes_name_each_skipped_analysis() -> None:
    spec = _spec()
    assert analysis.small_window_notes(spec, 500, 200) == []
    assert analysis.small_window_notes(spec, 5, 5) == [
        "multivariate drift skipped (5 rows < 10)",
        "CBPE estimation skipped (5 rows < 30)",
        "bootstrap CIs of realized metrics skipped (5 labeled rows < 10)",
        "segment metrics skipped (5 labeled rows < 30 per segment value)",
    ]
    assert analysis.small_window_notes(spec, 20, 0) == ["CBPE estimation skipped (20 rows < 30)"]


def test_estimated_metrics_need_thirty_rows_and_estimate_the_roc_auc() -> None:
    spec = _spec()
    reference = _credit_frame(2000, seed=3)
    outputs = (reference["prediction"].to_numpy(), reference["score"].to_numpy())
    skipped: list[str] = []
    few = analysis.estimated_metrics(
        spec,
        reference=reference,
        reference_outputs=outputs,
        predictions=_credit_frame(29, seed=4),
        on_skip=skipped.append,
    )
    assert few == [] and skipped == [
        "CBPE estimation skipped: the window has 29 rows, fewer than the 30 it needs"
    ]
    window = _credit_frame(1000, seed=5)
    estimates = {
        m.name: m
        for m in analysis.estimated_metrics(
            spec, reference=reference, reference_outputs=outputs, predictions=window
        )
    }
    assert {m.kind for m in estimates.values()} == {"estimated"}
    # calibrated scores: the estimate is close to the realized ROC AUC of the same window
    realized = roc_auc_score(window["defaulted"], window["score"])
    assert estimates["roc_auc"].value == pytest.approx(realized, abs=0.04)


# -- analysis: drift --------------------------------------------------------------------------


def test_window_drift_appends_prediction_and_target_drift_to_the_features() -> None:
    spec = _spec()
    reference = _credit_frame(1000, seed=6)
    window = _credit_frame(400, seed=7, shift=0.3)
    outputs = (reference["prediction"].to_numpy(), reference["score"].to_numpy())
    report = analysis.window_drift(
        spec, reference=reference, reference_outputs=outputs, predictions=window, labeled=window
    )
    by_column = {r.column: r for r in report.columns}
    assert set(by_column) >= {"income", "prediction:score", "target:defaulted"}
    assert by_column["prediction:score"].role == "prediction"
    assert by_column["target:defaulted"].role == "target"
    ks = sps.ks_2samp(reference["score"], window["score"])
    assert by_column["prediction:score"].statistic == pytest.approx(ks.statistic)
    assert by_column["prediction:score"].drifted and by_column["income"].drifted
    # the dataset share counts the features only
    features = [r for r in report.columns if r.role == "feature"]
    assert report.share_drifted == pytest.approx(sum(r.drifted for r in features) / len(features))


def test_without_labels_or_with_the_options_off_no_output_drift_is_added() -> None:
    reference = _credit_frame(500, seed=8)
    window = _credit_frame(200, seed=9)
    outputs = (reference["prediction"].to_numpy(), reference["score"].to_numpy())
    off = _spec(drift={"prediction_drift": False, "target_drift": True})
    report = analysis.window_drift(
        off,
        reference=reference,
        reference_outputs=outputs,
        predictions=window,
        labeled=window.iloc[:0],
    )
    assert all(r.role == "feature" for r in report.columns)


# -- analysis: judgement and decision ---------------------------------------------------------


def _value(name: str, value: float, kind: str = "realized") -> MetricValue:
    return MetricValue(name, value, None, None, 100, kind=kind)  # type: ignore[arg-type]


def _drift(spec: MonitorSpec, *, shift: float) -> Any:
    reference = _credit_frame(500, seed=10)
    window = _credit_frame(300, seed=11, shift=shift)
    outputs = (reference["prediction"].to_numpy(), reference["score"].to_numpy())
    return analysis.window_drift(
        spec, reference=reference, reference_outputs=outputs, predictions=window, labeled=window
    )


def test_the_judgement_prefers_the_realized_metric_then_the_estimate() -> None:
    spec = _spec()  # roc_auc, max_drop 0.05
    drift = _drift(spec, shift=0.0)
    realized = analysis.judge_window(
        spec, [_value("roc_auc", 0.70), _value("roc_auc", 0.90, "estimated")], drift, baseline=0.8
    )
    assert realized.bad and realized.value == 0.70 and realized.threshold == pytest.approx(0.75)
    estimated = analysis.judge_window(
        spec, [_value("roc_auc", 0.78, "estimated")], drift, baseline=0.8
    )
    assert not estimated.bad and estimated.value == 0.78
    no_estimates = _spec(degradation={"estimated_counts": False})
    none = analysis.judge_window(
        no_estimates, [_value("roc_auc", 0.5, "estimated")], drift, baseline=0.8
    )
    assert none.value is None and not none.bad


def test_lower_is_better_metrics_have_their_threshold_above_the_baseline() -> None:
    spec = _spec("house")  # mae, max_increase 8
    assert analysis.metric_threshold(spec, 20.0) == pytest.approx(28.0)
    capped = _spec("house", degradation={"max_increase": None, "max_value": 25.0})
    assert analysis.metric_threshold(capped, 20.0) == pytest.approx(25.0)


def test_k_of_n_decides_without_a_detector() -> None:
    spec = _spec()  # 2 of 3
    decision = analysis.decide_degradation(spec, [True, False, True], series=[0.8, 0.7])
    assert decision.degraded and decision.bad_windows == 2
    assert decision == degradation.should_retrain([True, False, True], k=2, n=3)


def test_the_cusum_defaults_come_from_the_baseline_and_max_drop() -> None:
    spec = _spec(degradation={"detector": "cusum"})
    series = [0.80, 0.79, 0.74, 0.72, 0.71]
    decision = analysis.decide_degradation(spec, [True], series=series, baseline=0.80)
    expected = degradation.detector_decision(
        series, detector="cusum", target=0.80, slack=0.025, h=0.10, bad_flags=[True]
    )
    assert decision == expected
    # no series (the window has no value): k of n decides
    assert analysis.decide_degradation(spec, [True], series=None).reason.startswith("1 of the last")


def test_lower_is_better_metrics_are_negated_for_the_detector() -> None:
    spec = _spec("house", degradation={"detector": "page_hinkley"})  # mae, max_increase 8
    series = [20.0, 22.0, 30.0, 31.0]
    decision = analysis.decide_degradation(spec, [False], series=series, baseline=20.0)
    expected = degradation.detector_decision(
        [-v for v in series],
        detector="page_hinkley",
        target=-20.0,
        slack=4.0,
        h=16.0,
        bad_flags=[False],
    )
    assert decision == expected
    # without max_increase the allowance is the distance from the baseline to max_value
    capped = _spec(
        "house", degradation={"detector": "cusum", "max_increase": None, "max_value": 26.0}
    )
    decision = analysis.decide_degradation(capped, [False], series=series, baseline=20.0)
    assert decision == degradation.detector_decision(
        [-v for v in series], detector="cusum", target=-20.0, slack=3.0, h=12.0, bad_flags=[False]
    )


def test_uses_metric_series_only_for_a_detector_and_a_window_value() -> None:
    judged = WindowJudgement(False, "fine", "roc_auc", 0.8, 0.75)
    unjudged = WindowJudgement(False, "no value", "roc_auc", None, 0.75)
    assert not analysis.uses_metric_series(_spec(), judged)
    cusum = _spec(degradation={"detector": "cusum"})
    assert analysis.uses_metric_series(cusum, judged)
    assert not analysis.uses_metric_series(cusum, unjudged)


# -- monitoring: the stored history -----------------------------------------------------------


def _row(hour: int, **values: Any) -> dict[str, Any]:
    start = T0 + hour * HOUR
    row = {
        "window_start": start,
        "window_end": start + HOUR,
        "champion_version": "1",
        "bad": False,
        "status": "ok",
        "validation_passed": True,
        "n_rows": 100,
        "n_labeled": 50,
        "value": None,
    }
    return {**row, **values}


def test_window_bounds_align_on_the_epoch_and_read_naive_ends_as_utc() -> None:
    now = datetime(2026, 11, 20, 10, 37, tzinfo=UTC)
    assert monitoring.window_bounds(None, 1.0, now=now) == (T0 + 9 * HOUR, T0 + 10 * HOUR)
    naive = datetime(2026, 11, 20, 10)
    assert monitoring.window_bounds(naive, 2.0) == (T0 + 8 * HOUR, T0 + 10 * HOUR)
    assert monitoring.earlier_windows(T0 + 10 * HOUR, 1.0, 2) == [
        (T0 + 8 * HOUR, T0 + 9 * HOUR),
        (T0 + 9 * HOUR, T0 + 10 * HOUR),
    ]
    assert window_label(T0 + 10 * HOUR) == "2026-11-20T10"
    assert window_label(T0 + timedelta(minutes=30)) == "2026-11-20T0030"


def test_the_metric_series_falls_back_to_the_estimate_of_the_same_window() -> None:
    realized = [
        _row(1, value=0.81),
        _row(2, value=None),  # no labels: the estimate of hour 2
        _row(3, value=None),  # neither: left out
        _row(4, value=0.70, champion_version="2"),  # another champion
        _row(9, value=0.60),  # not before the window
    ]
    estimated = [_row(2, value=0.77), _row(9, value=0.1)]
    series = monitoring.metric_series(
        realized, estimated, before=T0 + 9 * HOUR, champion_version="1"
    )
    assert series == [0.81, 0.77]


def test_bad_flags_stop_at_the_first_window_of_another_champion() -> None:
    rows = [_row(5, bad=True), _row(4), _row(3, bad=True, champion_version="0"), _row(2, bad=True)]
    assert monitoring.recent_bad_flags(rows, "1") == [True, False]


def test_catch_up_and_training_windows_come_from_the_stored_runs() -> None:
    windows = [(T0 + h * HOUR, T0 + (h + 1) * HOUR) for h in (1, 2, 3)]
    assert monitoring.unmonitored_windows(windows, [_row(2)]) == [windows[0], windows[2]]
    rows = [_row(5), _row(4, n_labeled=0), _row(3, validation_passed=False), _row(2), _row(1)]
    assert monitoring.validated_windows(rows, 2) == [
        (T0 + 5 * HOUR, T0 + 6 * HOUR),
        (T0 + 2 * HOUR, T0 + 3 * HOUR),
    ]


def test_an_episode_starts_at_the_oldest_unbroken_degraded_window_of_its_champion() -> None:
    history = [
        _row(9, status="degraded", bad=True),
        _row(8, status="degraded", bad=False),
        _row(7, status="degraded", bad=True),
        _row(6, status="ok", bad=True),  # a healthy window ends the episode
        _row(5, status="degraded", bad=True),
    ]
    asked: list[datetime] = []

    def page(before: datetime) -> list[dict[str, Any]]:
        asked.append(before)
        rows = [r for r in history if r["window_start"] < before]
        return rows[:2]  # pages of two rows

    window = (T0 + 10 * HOUR, T0 + 11 * HOUR)
    episode = monitoring.degradation_episode(
        "credit",
        window,
        champion_version="1",
        n=3,
        current_bad=True,
        recent=history,
        page=page,
    )
    assert episode.id == "credit-v1-2026-11-20T0700"
    assert episode.windows == [  # the k-of-n evidence: bad windows among the last 3
        [(T0 + 9 * HOUR).isoformat(), (T0 + 10 * HOUR).isoformat()],
        [window[0].isoformat(), window[1].isoformat()],
    ]
    assert asked == [window[0], T0 + 8 * HOUR]  # stopped at the page holding the healthy window


def test_a_new_champion_starts_a_new_episode() -> None:
    history = [_row(9, status="degraded", bad=True, champion_version="1")]
    episode = monitoring.degradation_episode(
        "credit",
        (T0 + 10 * HOUR, T0 + 11 * HOUR),
        champion_version="2",
        n=3,
        current_bad=False,
        recent=history,
        page=lambda before: [r for r in history if r["window_start"] < before],
    )
    assert episode == monitoring.Episode("credit-v2-2026-11-20T1000", [])


def test_the_oldest_claim_of_an_episode_holds_it() -> None:
    claims = [
        {"id": "b", "created_at": T0, "flow_run_id": None},
        {"id": "a", "created_at": T0, "flow_run_id": "run-a"},
        {"id": "c", "created_at": T0 - HOUR, "flow_run_id": "run-c"},
    ]
    assert monitoring.claim_holder([]) is None
    assert monitoring.claim_holder(claims) == "run-c"
    assert monitoring.claim_holder(claims, "c") is None
    assert monitoring.claim_holder(claims[:2]) == "run-a"  # same time: the smaller id
    assert monitoring.claim_holder(claims[:1], "x") == "b"  # no flow run: the row id
    rows = [{"details": {"episode": "e1"}}, {"details": {"episode": "e2"}}, {"details": {}}]
    assert monitoring.episode_claims(rows, "e2") == [rows[1]]


def _record(**values: Any) -> RunRecord:
    base: dict[str, Any] = {
        "model": "credit",
        "window_start": T0 + 5 * HOUR,
        "window_end": T0 + 6 * HOUR,
        "status": "ok",
        "validation_passed": True,
        "n_rows": 100,
        "n_labeled": 80,
        "bad": True,
        "reason": "roc_auc 0.700 below the threshold 0.750",
    }
    return RunRecord(**{**base, **values})


def test_a_rejudged_window_keeps_the_status_decided_when_first_monitored() -> None:
    record = _record()
    kept = monitoring.keep_decision(record, _row(5, status="degraded", n_labeled=10))
    assert kept.status == "degraded" and kept.bad and kept.n_labeled == 80
    assert kept.reason == (
        "re-judged with 80 labels (was 10): roc_auc 0.700 below the threshold 0.750; "
        "status kept as decided then (degraded)"
    )
    assert monitoring.keep_decision(record, None) is record
    assert monitoring.keep_decision(record, _row(4, status="degraded")) is record


def test_the_relabel_run_ends_by_what_was_rejudged() -> None:
    item = monitoring.Relabeled(
        monitoring.JudgedWindow(T0 + 5 * HOUR, T0 + 6 * HOUR, "3", 100, 10), 60
    )
    assert monitoring.rejudge_line(item) == "2026-11-20T05 (v3, labels 10 → 60)"
    nothing = monitoring.relabel_end(4, done=[], failed=[])
    assert (nothing.name, nothing.failed) == (StateName.NO_NEW_LABELS, False)
    assert nothing.message == "no new labels for the last 4 monitored window(s)"
    done = monitoring.relabel_end(4, done=["a: Rejudged"], failed=[])
    assert (done.name, done.message) == ("Relabeled", "1 window(s) re-judged: a: Rejudged")
    failed = monitoring.relabel_end(4, done=["a: Rejudged"], failed=["b: Failed"])
    assert failed.failed and failed.name is None
    assert failed.message == "1 of 2 window(s) could not be re-judged: b: Failed"


# -- assessment: what is stored, published and returned ---------------------------------------


def _assessment(
    spec: MonitorSpec, *, bad: bool, degraded: bool, report: ValidationReport | None = None
) -> assessment.WindowAssessment:
    drift = _drift(spec, shift=0.3)
    metrics = (
        _value("roc_auc", 0.70),
        MetricValue("roc_auc", 0.65, None, None, 40, segment="region=north"),
        _value("roc_auc", 0.72, "estimated"),
        _value("domain_classifier_auc", 0.9, "drift"),
    )
    judgement = WindowJudgement(
        bad, "roc_auc 0.700 below the threshold 0.750", "roc_auc", 0.7, 0.75
    )
    decision = DegradationDecision(
        degraded, 2, 3, 2, 3, f"2 of the last 3 windows bad (rule: 2 of 3): {'degraded'}"
    )
    return assessment.WindowAssessment(metrics, drift, report, judgement, decision)


def _window(n_rows: int = 300, n_labeled: int = 120) -> WindowData:
    frame = _credit_frame(n_rows, seed=12)
    return WindowData(T0 + 5 * HOUR, T0 + 6 * HOUR, frame, frame.iloc[:n_labeled])


def _report() -> ValidationReport:
    return ValidationReport(
        "credit-suite",
        300,
        (
            ExpectationOutcome(
                "expect_column_values_to_be_between",
                "age",
                "warning",
                False,
                "3 unexpected",
                "0..120",
            ),
            ExpectationOutcome(
                "expect_table_row_count_to_be_between",
                None,
                "warning",
                False,
                "12 rows",
                "100..1000",
            ),
            ExpectationOutcome("expect_column_to_exist", "score", "critical", True, "", ""),
        ),
    )


def test_the_store_record_is_assembled_from_the_assessment() -> None:
    spec = _spec()
    found = _assessment(spec, bad=True, degraded=True, report=_report())
    record = assessment.window_record(
        "credit", _window(), assessment=found, champion_version="3", flow_run_id="run-1"
    )
    assert type(record.status) is str and record.status == "degraded"
    assert (record.n_rows, record.n_labeled, record.bad) == (300, 120, True)
    assert record.reason == f"{found.judgement.reason}; {found.decision.reason}"
    assert record.share_drifted == found.drift.share_drifted
    assert (record.champion_version, record.flow_run_id) == ("3", "run-1")
    assert record.metrics[1] == {
        "name": "roc_auc",
        "kind": "realized",
        "segment": "region=north",
        "value": 0.65,
        "ci_low": None,
        "ci_high": None,
        "n": 40,
    }
    assert [r["column_name"] for r in record.drift] == [r.column for r in found.drift.columns]
    assert [r["severity"] for r in record.validation] == ["warning", "warning", "critical"]
    healthy = _assessment(spec, bad=False, degraded=False)
    assert healthy.status == monitoring.WindowStatus.OK
    assert assessment.run_rows([], None, None) == {"metrics": [], "drift": [], "validation": []}


def test_the_summary_reads_the_record_and_the_assessment() -> None:
    spec = _spec()
    found = _assessment(spec, bad=True, degraded=True, report=_report())
    record = assessment.window_record(
        "credit", _window(), assessment=found, champion_version="3", flow_run_id=None
    )
    summary = MonitorSummary.build(record, found, "row-7")
    assert summary.metrics == {"roc_auc": 0.70}  # overall realized only
    assert summary.estimated == {"roc_auc": 0.72}
    assert summary.multivariate == {"domain_classifier_auc": 0.9}
    assert summary.validation == "passed, 2 warning(s)"
    assert summary.output_drift == ("prediction:score", "target:defaulted")
    assert summary.n_features == 9 and summary.drifted_features == tuple(
        found.drift.drifted_features
    )
    assert (summary.bad, summary.degraded, summary.store_run_id) == (True, True, "row-7")
    assert summary.decision == WindowDecision.DEGRADED
    assert summary.with_retrain("Promoted", "").decision == "retrained+promoted"
    markdown = monitor_markdown(
        summary, found.drift, notes=["CBPE estimation skipped (5 rows < 30)"]
    )
    assert "**Decision: degraded**" in markdown
    assert markdown.endswith("\nSkipped for lack of data: CBPE estimation skipped (5 rows < 30).\n")


def test_report_inputs_history_warnings_and_drift_table() -> None:
    rows = [{"window_start": T0, "value": 0.8, "champion_version": "1", "bad": 0}]
    (point,) = assessment.report_history(rows)
    assert (point.value, point.champion_version, point.bad) == (0.8, "1", False)
    assert assessment.report_warnings(_report()) == [
        "age: expect_column_values_to_be_between — 3 unexpected",
        "table: expect_table_row_count_to_be_between — 12 rows",
    ]
    assert assessment.report_warnings(None) == []
    drift = _drift(_spec(), shift=0.3)
    table = assessment.drift_table(drift)
    income = next(r for r in table if r["column"] == "income")
    result = next(r for r in drift.columns if r.column == "income")
    assert income["statistic"] == round(result.statistic, 4) and income["drifted"]


def test_only_event_mode_emits_the_event_the_on_degraded_deployment_retrains_on() -> None:
    found = _assessment(_spec(), bad=True, degraded=True)
    episode = monitoring.Episode("credit-v3-2026-11-20T0500", [["a", "b"]])
    for mode, expected in (("event", "degraded"), ("inline", "degradation-detected")):
        spec = _spec(retraining={"mode": mode})
        event, payload = assessment.degraded_event(
            spec,
            label="2026-11-20T05",
            decision=found.decision,
            champion="3",
            episode=episode,
            flow_run_id="run-1",
        )
        assert event == expected
        assert payload == {
            "window": "2026-11-20T05",
            "reason": found.decision.reason,
            "mode": mode,
            "champion": "3",
            "episode": episode.id,
            "windows": [["a", "b"]],
            "flow_run_id": "run-1",
        }


def test_the_degraded_alert_carries_the_metrics_and_the_report_link() -> None:
    summary = MonitorSummary(
        "credit", T0, T0 + HOUR, "3", n_rows=10, metrics={"roc_auc": 0.7}, degraded=True
    )
    alert = assessment.degraded_alert(
        summary, label="2026-11-20T00", reason="2 of 3 bad", report_url="file:///r.html"
    )
    assert (alert.event, alert.title, alert.text) == (
        "degraded",
        "credit degraded at 2026-11-20T00",
        "2 of 3 bad",
    )
    assert alert.details == {"window": "2026-11-20T00", "champion": "3", "roc_auc": 0.7}
    assert alert.links == {"report": "file:///r.html"}


@pytest.mark.parametrize(
    ("mode", "degraded", "force", "rejudge", "expected"),
    [
        ("inline", True, False, False, True),
        ("event", True, False, False, False),
        ("off", True, False, False, False),
        ("inline", False, False, False, False),
        ("off", False, True, False, True),
        ("inline", True, True, True, False),  # a re-judge never retrains
    ],
)
def test_when_the_monitor_retrains(
    mode: str, degraded: bool, force: bool, rejudge: bool, expected: bool
) -> None:
    spec = _spec(retraining={"mode": mode})
    decision = DegradationDecision(degraded, 2, 3, 2, 3, "why")
    assert assessment.should_retrain(spec, decision, force=force, rejudge=rejudge) is expected
    reason = assessment.retrain_reason(decision, force=force)
    assert reason == ("forced by parameter force_retrain" if force else "why")


def test_the_final_state_of_a_monitor_run() -> None:
    ok = DegradationDecision(False, 0, 3, 2, 3, "0 of the last 3 windows bad")
    bad = DegradationDecision(True, 2, 3, 2, 3, "2 of the last 3 windows bad")
    end = assessment.monitor_end("T05", ok, notes=["x skipped", "y skipped"])
    assert end == assessment.RunEnd(
        "Completed", "T05: 0 of the last 3 windows bad (skipped: x skipped; y skipped)"
    )
    promoted = assessment.RetrainResult("Promoted", "v4 is champion", failed=False)
    end = assessment.monitor_end("T05", bad, retrain=promoted)
    assert end == assessment.RunEnd(
        "Degraded",
        "T05: 2 of the last 3 windows bad; retraining Promoted: v4 is champion",
        failed=True,
    )
    crashed = assessment.RetrainResult("Failed", "MLflow down", failed=True)
    end = assessment.monitor_end("T05", bad, retrain=crashed)
    assert end == assessment.RunEnd(
        "Failed", "T05: degraded; retraining failed, champion unchanged: MLflow down", True
    )
    end = assessment.monitor_end("T05", bad, rejudge=True)
    assert end == assessment.RunEnd(
        "Rejudged", "T05: 2 of the last 3 windows bad (re-judged; nothing emitted)"
    )


def test_the_validation_gate_texts_name_the_window_the_files_and_the_release_command() -> None:
    failure = assessment.failed_validation("credit", label="T05", summary="2 critical", n_files=3)
    assert failure.message == (
        "window T05 of model 'credit' failed validation; 3 file(s) quarantined, none modified."
        "\n2 critical"
    )
    assert failure.alert.event == "validation_failed" and failure.alert.details == {
        "window": "T05",
        "files": 3,
    }
    assert "Files quarantined (left untouched): 3" in failure.markdown
    unreadable = assessment.unreadable_window("credit", label="T05", error="bad parquet", n_files=1)
    assert unreadable.message == (
        "window T05 of model 'credit' cannot be read: bad parquet\n"
        "1 file(s) quarantined, none modified."
    )
    assert unreadable.alert.title == "credit T05: window unreadable"
    held = [{"created_at": T0, "reason": "critical failures:\nage ..."}]
    message = assessment.quarantined_message("credit", label="T05", start=T0, held=held)
    assert message == (
        "window T05 of model 'credit' is quarantined (1 file(s), since 2026-11-20 00:00 UTC; "
        "reason: critical failures). Fix the data, then run `modelwatch quarantine release "
        "credit --window-start 2026-11-20T00:00:00+00:00` and re-run the window."
    )
    passed = assessment.passed_validation_markdown("credit", label="T05", report=_report())
    assert passed.startswith("# Validation passed: credit T05 — 2 warning(s)\n\n```\n")


def test_the_application_layer_runs_without_prefect() -> None:
    code = (
        "import sys\n"
        "import modelwatch.analysis, modelwatch.assessment, modelwatch.monitoring\n"
        "import modelwatch.summaries\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'prefect', 'tasks', 'flows'})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_the_run_log_tells_each_stage_with_the_summarys_counts() -> None:
    spec = _spec()
    found = _assessment(spec, bad=True, degraded=True, report=_report())
    record = assessment.window_record(
        "credit", _window(), assessment=found, champion_version="3", flow_run_id=None
    )
    summary = MonitorSummary.build(record, found, "row-7")
    lines = assessment.story(summary, found)
    assert lines[0] == "window 2026-11-20T05:00: 300 rows, 120 labeled"
    assert lines[1] == "validation: passed, 2 warning(s)"
    assert lines[2].startswith("roc_auc 0.7000 vs threshold 0.7500: bad window")
    drifted = len(summary.drifted_features)
    assert lines[3].startswith(f"Drift of credit: {drifted}/{summary.n_features} features drifted")
    assert "outputs drifted: prediction:score, target:defaulted" in lines[3]
    assert lines[-1].startswith("decision: DEGRADED: 2 of the last 3 windows bad")
