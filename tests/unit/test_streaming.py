"""Streamed windows: mergeable aggregates give the in-memory drift report and realized metrics."""

from __future__ import annotations

import itertools
import math
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from modelwatch import analysis
from modelwatch.errors import SourceError, StatisticsError
from modelwatch.execution import (
    ReferenceState,
    WindowPlan,
    compute_window_aggregates,
    finalize_window,
    parquet_partitions,
    reference_state,
    streamed_window,
)
from modelwatch.spec import MonitorSpec
from modelwatch.stats.drift import DriftReport, ReferenceProfile, detect_drift
from modelwatch.stats.kernels import delong_covariance
from modelwatch.stats.performance import MetricValue
from modelwatch.stats.streaming import (
    BinaryAggregate,
    DriftPlan,
    ks_from_cells,
)

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _spec(name: str, **sections: dict[str, Any]) -> MonitorSpec:
    raw = yaml.safe_load((REPO / "deployments" / "specs" / f"{name}.yaml").read_text())
    for section, values in sections.items():
        raw[section] = {**raw.get(section, {}), **values}
    return MonitorSpec.model_validate(raw)


def _frame(spec: MonitorSpec, n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Rows with the spec's columns: ties, missing values, unseen categories, a third unlabeled."""
    rng = np.random.default_rng(seed)
    cols = spec.columns
    data: dict[str, Any] = {cols.timestamp: pd.date_range(T0, periods=n, freq="s", tz="UTC")}
    for j, column in enumerate(cols.numeric):
        if j % 2:
            values = rng.integers(0, 12, n).astype(float) + (shift > 0)  # ties
        else:
            values = rng.normal(shift * (j + 1), 1.0 + shift, n)
        values[rng.random(n) < 0.03] = np.nan
        data[column] = values
    for j, column in enumerate(cols.categorical):
        levels = ["a", "b", "c"] + (["zz-new"] if shift > 0 and j == 0 else [])
        picked = rng.choice(levels, n).astype(object)
        picked[rng.random(n) < 0.02] = None
        data[column] = picked
    score = np.clip(rng.beta(2, 5, n) + shift / 4, 0, 1).round(3)  # score tie groups
    if spec.task == "binary":
        assert cols.score is not None
        data[cols.score] = score
        data[cols.prediction] = (score >= 0.3).astype(int)
        target = (rng.random(n) < score).astype(float)
    elif spec.task == "regression":
        truth = 100 + 20 * rng.standard_normal(n)
        data[cols.prediction] = truth + rng.normal(shift * 5, 5, n)
        target = truth
    else:
        assert cols.class_scores is not None
        classes = list(cols.class_scores)
        proba = rng.dirichlet(np.ones(len(classes)), n)
        for c, column in enumerate(cols.class_scores.values()):
            data[column] = proba[:, c]
        data[cols.prediction] = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
        target = np.asarray(classes, dtype=object)[rng.integers(0, len(classes), n)]
    for column in cols.segments:
        data[column] = rng.choice(["east", "west", "tiny"], n, p=[0.55, 0.44, 0.01])
    frame = pd.DataFrame(data)
    unlabeled = rng.random(n) < 0.3
    frame[cols.target] = pd.Series(target, dtype=object if spec.task == "multiclass" else float)
    frame.loc[unlabeled, cols.target] = None
    return frame


def _outputs(spec: MonitorSpec, reference: pd.DataFrame) -> analysis.ReferenceOutputs:
    cols = spec.columns
    scores = reference[cols.score].to_numpy() if cols.score else None
    return reference[cols.prediction].to_numpy(), scores


def _in_memory(
    spec: MonitorSpec, reference: pd.DataFrame, window: pd.DataFrame, profile: ReferenceProfile
) -> tuple[DriftReport, list[MetricValue]]:
    labeled = window[window[spec.columns.target].notna()]
    drift = analysis.window_drift(
        spec,
        reference=reference,
        reference_outputs=_outputs(spec, reference),
        predictions=window,
        labeled=labeled,
        profile=profile,
    )
    return drift, analysis.realized_metrics(spec, labeled)


def _batches(frame: pd.DataFrame, size: int, offset: int = 0) -> Iterator[pd.DataFrame]:
    for start in range(offset, len(frame), size):
        yield frame.iloc[start : start + size]


def _partitions(frame: pd.DataFrame, sizes: tuple[int, ...]) -> list[Any]:
    """Split ``frame`` into len(sizes) partitions, each read in batches of its size."""
    bounds = np.linspace(0, len(frame), len(sizes) + 1).astype(int)
    return [
        partial(_batches, frame.iloc[lo:hi].reset_index(drop=True), size)
        for (lo, hi), size in zip(itertools.pairwise(bounds), sizes, strict=True)
    ]


def _state(spec: MonitorSpec, reference: pd.DataFrame, profile: ReferenceProfile) -> ReferenceState:
    return reference_state(
        spec, reference=reference, reference_outputs=_outputs(spec, reference), profile=profile
    )


def _assert_same_drift(streamed: DriftReport, memory: DriftReport) -> None:
    assert [r.column for r in streamed.columns] == [r.column for r in memory.columns]
    for s, m in zip(streamed.columns, memory.columns, strict=True):
        assert (s.method, s.kind, s.role, s.drifted) == (m.method, m.kind, m.role, m.drifted), s
        assert s.statistic == pytest.approx(m.statistic, abs=1e-12), s.column
        if m.p_value is None:
            assert s.p_value is None
        else:
            assert s.p_value == pytest.approx(m.p_value, abs=1e-9), s.column
        assert s.threshold == pytest.approx(m.threshold, abs=1e-12)
        assert (s.n_reference, s.n_current, s.unseen_categories, s.note) == (
            m.n_reference,
            m.n_current,
            m.unseen_categories,
            m.note,
        )
        assert s.missing_share_current == pytest.approx(m.missing_share_current, abs=1e-15)
        assert s.missing_share_reference == m.missing_share_reference
        assert s.unseen_share == pytest.approx(m.unseen_share, abs=1e-15)
    assert streamed.share_drifted == memory.share_drifted
    assert streamed.dataset_drift == memory.dataset_drift
    assert (streamed.n_reference, streamed.n_current) == (memory.n_reference, memory.n_current)


def _assert_same_metrics(streamed: list[MetricValue], memory: list[MetricValue]) -> None:
    assert [(m.name, m.segment, m.n) for m in streamed] == [
        (m.name, m.segment, m.n) for m in memory
    ]
    for s, m in zip(streamed, memory, strict=True):
        assert s.value == pytest.approx(m.value, abs=1e-12), (s.name, s.segment)
        assert (s.ci_low is None) == (m.ci_low is None), (s.name, s.segment)


CASES = [
    # (spec, reference rows, window rows, partition batch sizes)
    ("credit", 600, 120, (1,)),
    ("credit", 600, 250, (7, 1, 250)),
    ("credit", 3000, 9000, (997, 4096, 9000)),  # > 5000 rows: PSI; ties, unseen categories
    ("house", 700, 400, (13, 400)),
    ("house", 7000, 8000, (3001, 500)),
    ("churn3", 800, 160, (1, 64)),
    ("churn3", 6000, 7000, (2500,)),
]


@pytest.mark.parametrize(("name", "n_ref", "n_cur", "sizes"), CASES)
def test_a_streamed_window_gives_the_in_memory_drift_and_metrics(
    name: str, n_ref: int, n_cur: int, sizes: tuple[int, ...]
) -> None:
    spec = _spec(name)
    reference = _frame(spec, n_ref, seed=1)
    reference[spec.columns.target] = _frame(spec, n_ref, seed=2)[spec.columns.target].fillna(
        reference[spec.columns.target].dropna().iloc[0]
    )
    window = _frame(spec, n_cur, seed=3, shift=0.3)
    cols = spec.columns
    profile = ReferenceProfile.fit(reference, numeric=cols.numeric, categorical=cols.categorical)
    memory_drift, memory_metrics = _in_memory(spec, reference, window, profile)

    result = streamed_window(spec, _partitions(window, sizes), _state(spec, reference, profile))

    _assert_same_drift(result.drift, memory_drift)
    _assert_same_metrics(list(result.metrics), memory_metrics)
    assert (result.n_rows, result.n_labeled) == (
        len(window),
        int(window[cols.target].notna().sum()),
    )
    assert any(r.drifted for r in result.drift.columns)  # the shift is seen, not only "no drift"


def test_explicit_ks_on_a_large_window_merges_exactly_from_reference_value_cells() -> None:
    """20k-row window (beyond the kept values): KS from the cell counts equals scipy's."""
    spec = _spec("credit", drift={"methods": {"age": "ks", "income": "ks"}})
    reference = _frame(spec, 6000, seed=4)
    window = _frame(spec, 20_000, seed=5, shift=0.05)
    profile = ReferenceProfile.fit(
        reference, numeric=spec.columns.numeric, categorical=spec.columns.categorical
    )
    memory, _ = _in_memory(spec, reference, window, profile)
    streamed = streamed_window(
        spec, _partitions(window, (3333, 777)), _state(spec, reference, profile)
    ).drift
    _assert_same_drift(streamed, memory)
    for column in ("age", "income"):
        expected = stats.ks_2samp(
            reference[column].dropna(), window[column].dropna(), method="asymp"
        )
        assert streamed[column].method == "ks"
        assert streamed[column].statistic == pytest.approx(expected.statistic, abs=1e-12)
        assert streamed[column].p_value == pytest.approx(expected.pvalue, abs=1e-9)


@pytest.mark.parametrize(("method", "n_cur"), [("auto", 7000), ("ks", 4000)])
def test_a_compact_reference_profile_gives_the_in_memory_result_on_the_same_profile(
    method: str, n_cur: int
) -> None:
    """Above its row bound a persisted profile is a quantile summary: both paths use it."""
    numeric = ["age", "income", "debt_ratio", "credit_lines", "utilization", "months_employed"]
    spec = _spec("credit", drift={"methods": dict.fromkeys(numeric, method)})
    reference = _frame(spec, 9000, seed=13)
    window = _frame(spec, n_cur, seed=14, shift=0.1)
    cols = spec.columns
    full = ReferenceProfile.fit(reference, numeric=cols.numeric, categorical=cols.categorical)
    profile = full.compacted(max_exact_rows=1000, n_quantiles=200)
    assert all(p.compact for p in profile.numeric)
    memory, _ = _in_memory(spec, reference, window, profile)
    streamed = streamed_window(
        spec, _partitions(window, (2000, 999)), _state(spec, reference, profile)
    ).drift
    _assert_same_drift(streamed, memory)
    assert {r.method for r in streamed.features if r.kind == "numeric"} == {
        "psi" if method == "auto" else "ks"
    }


def test_ks_against_a_compact_profile_on_a_large_streamed_window_is_refused() -> None:
    """The compact ECDF is interpolated between knots: the sup needs every window value."""
    rng = np.random.default_rng(2)
    full = ReferenceProfile.fit(pd.DataFrame({"x": rng.normal(size=20_000)}), numeric=["x"])
    profile = full.compacted(max_exact_rows=1000, n_quantiles=100)
    plan = DriftPlan.for_profile(profile, methods={"x": "ks"})
    assert plan.grids == (None,)  # no cells kept against a compact profile
    total = plan.empty()
    for batch in _batches(pd.DataFrame({"x": rng.normal(size=6000)}), 2500):
        total.merge(plan.aggregate(batch))
    with pytest.raises(StatisticsError, match=r"column 'x': method 'ks' against a compact"):
        plan.finalize(total, profile)


def test_ks_from_cells_matches_scipy_with_ties_and_values_outside_the_reference() -> None:
    rng = np.random.default_rng(0)
    reference = np.sort(rng.integers(0, 30, 4000).astype(float))
    current = np.concatenate([rng.integers(-5, 40, 9000), [-1e9, 1e9]]).astype(float)
    grid = np.unique(reference)
    cells = np.bincount(
        np.searchsorted(grid, current, "left") + np.searchsorted(grid, current, "right"),
        minlength=2 * grid.size + 1,
    )
    d, p = ks_from_cells(
        ReferenceProfile.fit(pd.DataFrame({"x": reference}), numeric=["x"]).numeric[0], cells
    )
    expected = stats.ks_2samp(reference, current, method="asymp")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, abs=1e-9)


def test_a_method_that_needs_every_value_is_refused_on_a_large_streamed_window() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(size=3000)})
    profile = ReferenceProfile.fit(reference, numeric=["x"])
    plan = DriftPlan.for_profile(profile, methods={"x": "wasserstein"})
    total = plan.empty()
    for batch in _batches(pd.DataFrame({"x": rng.normal(size=6000)}), 1000):
        total.merge(plan.aggregate(batch))
    with pytest.raises(
        StatisticsError, match=r"column 'x': method 'wasserstein' needs every value"
    ):
        plan.finalize(total, profile)
    few = pd.DataFrame({"x": rng.normal(size=400)})
    small = plan.aggregate(few)  # kept whole: exact
    expected = detect_drift(profile, few, methods={"x": "wasserstein"})
    assert plan.finalize(small, profile)["x"].statistic == pytest.approx(
        expected["x"].statistic, abs=1e-12
    )


def test_partials_merge_in_any_order_and_survive_pickling() -> None:
    spec = _spec("credit")
    reference = _frame(spec, 800, seed=6)
    window = _frame(spec, 3000, seed=7, shift=0.2)
    state = _state(
        spec,
        reference,
        ReferenceProfile.fit(
            reference, numeric=spec.columns.numeric, categorical=spec.columns.categorical
        ),
    )
    plan = WindowPlan.build(spec, state)
    parts = [plan.aggregate(b, (0, i)) for i, b in enumerate(_batches(window, 700))]
    forward = plan.empty()
    for part in parts:
        forward.merge(pickle.loads(pickle.dumps(part)))
    backward = plan.empty()
    for part in reversed(parts):
        backward.merge(part)
    a, a_metrics = finalize_window(spec, plan, forward, state)
    b, b_metrics = finalize_window(spec, plan, backward, state)
    assert a == b
    assert a_metrics == b_metrics


def test_streamed_intervals_are_deterministic_and_comparable_to_the_in_memory_bootstrap() -> None:
    spec = _spec("credit")
    reference = _frame(spec, 800, seed=8)
    window = _frame(spec, 4000, seed=9)
    profile = ReferenceProfile.fit(
        reference, numeric=spec.columns.numeric, categorical=spec.columns.categorical
    )
    state = _state(spec, reference, profile)
    first = streamed_window(spec, _partitions(window, (500, 900)), state).metrics
    again = streamed_window(spec, _partitions(window, (500, 900)), state).metrics
    assert first == again
    _, memory = _in_memory(spec, reference, window, profile)
    for s, m in zip(first, memory, strict=True):
        if s.segment is not None or m.ci_low is None:
            continue
        assert s.ci_low is not None and s.ci_high is not None and m.ci_high is not None
        assert s.ci_low <= s.value <= s.ci_high
        width, memory_width = s.ci_high - s.ci_low, m.ci_high - m.ci_low
        assert 0.6 < width / memory_width < 1.6, (s.name, width, memory_width)


def test_delong_bounds_from_score_groups_equal_the_delong_kernel() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random(3000).round(2)
    truth = rng.random(3000) < scores
    aggregate = BinaryAggregate(n_bootstrap=1)
    for lo in range(0, 3000, 700):
        aggregate.update(
            truth[lo : lo + 700].astype(int),
            (scores[lo : lo + 700] > 0.5).astype(int),
            scores[lo : lo + 700],
            key=(0, lo),
        )
    auc = aggregate.finalize()["roc_auc"]
    aucs, covariance = delong_covariance(truth, scores)
    z = stats.norm.ppf(0.975)
    assert auc.value == pytest.approx(float(aucs[0]), abs=1e-12)
    assert auc.ci_low == pytest.approx(float(aucs[0]) - z * math.sqrt(covariance[0, 0]), abs=1e-12)
    assert auc.ci_high == pytest.approx(float(aucs[0]) + z * math.sqrt(covariance[0, 0]), abs=1e-12)


def test_more_than_two_classes_in_a_binary_stream_is_the_in_memory_error() -> None:
    aggregate = BinaryAggregate()
    aggregate.update([0, 1], [1, 1], None, key=(0, 0))
    aggregate.update([2, 1], [1, 0], None, key=(0, 1))
    with pytest.raises(StatisticsError, match=r"binary labels only; got 3 classes \[0, 1, 2\]"):
        aggregate.finalize()


def test_parquet_partitions_read_only_the_window_and_name_a_bad_file(tmp_path: Path) -> None:
    spec = _spec("credit")
    frame = _frame(spec, 3000, seed=10)
    paths = []
    for i, part in enumerate(_batches(frame, 1000)):
        path = tmp_path / f"part-{i}.parquet"
        part.to_parquet(path, row_group_size=250)
        paths.append(path)
    start, end = T0 + timedelta(seconds=500), T0 + timedelta(seconds=2100)
    partitions = parquet_partitions(
        paths,
        timestamp="timestamp",
        start=start,
        end=end,
        columns=["age", "region"],
        batch_rows=300,
    )
    read = pd.concat([b for p in partitions for b in pickle.loads(pickle.dumps(p))()])
    expected = frame[(frame.timestamp >= start) & (frame.timestamp < end)]
    assert read["age"].tolist() == pytest.approx(expected["age"].tolist(), nan_ok=True)
    assert list(read.columns) == ["age", "region"]
    bad = parquet_partitions(
        [paths[0]], timestamp="timestamp", start=start, end=end, columns=["nope"]
    )
    with pytest.raises(SourceError, match=r"part-0.parquet has no column\(s\) \['nope'\]"):
        list(bad[0]())


def test_the_local_engine_folds_partitions_in_order() -> None:
    spec = _spec("house")
    reference = _frame(spec, 500, seed=11)
    window = _frame(spec, 900, seed=12)
    state = _state(
        spec,
        reference,
        ReferenceProfile.fit(
            reference, numeric=spec.columns.numeric, categorical=spec.columns.categorical
        ),
    )
    plan = WindowPlan.build(spec, state)
    total = compute_window_aggregates(spec, _partitions(window, (100, 300)), plan)
    assert total.n_rows == 900
    assert total.features.n_rows == 900


def test_the_execution_module_shares_the_analysis_constants_without_importing_it() -> None:
    """Dask workers unpickle plans (import modelwatch.execution): no sklearn through analysis."""
    import ast

    from modelwatch import execution

    assert (execution.PREDICTION_PREFIX, execution.TARGET_PREFIX) == (
        analysis.PREDICTION_PREFIX,
        analysis.TARGET_PREFIX,
    )
    assert (execution.MIN_ROWS_BOOTSTRAP, execution.MIN_ROWS_SEGMENT) == (
        analysis.MIN_ROWS_BOOTSTRAP,
        analysis.MIN_ROWS_SEGMENT,
    )
    tree = ast.parse(Path(execution.__file__).read_text())
    imported = {
        node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"modelwatch.analysis", "modelwatch.multivariate", "modelwatch.spec"}


def _source_spec(root: Path, name: str, *, labels: bool, **execution: Any) -> MonitorSpec:
    raw = yaml.safe_load((REPO / "deployments" / "specs" / f"{name}.yaml").read_text())
    raw["sources"]["predictions"] = {"path": str(root / "predictions"), "format": "parquet"}
    raw["sources"]["labels"] = (
        {"path": str(root / "labels"), "format": "parquet"} if labels else None
    )
    raw["execution"] = {"batch_rows": 1000, **execution}
    return MonitorSpec.model_validate(raw)


@pytest.mark.parametrize("labels", [True, False])
def test_time_slices_read_through_the_sources_give_the_load_window_result(
    tmp_path: Path, labels: bool
) -> None:
    """The monitor's path: count, slice the window, read each slice with the sources package."""
    from modelwatch.execution import should_stream, window_partitions
    from modelwatch.io.sources import count_window_rows, load_window

    spec = _source_spec(tmp_path, "credit", labels=labels)
    cols = spec.columns
    log = _frame(spec, 5400, seed=15, shift=0.2)
    log.insert(0, cols.id, [f"p{i}" for i in range(len(log))])
    truth = log[[cols.id, cols.target]].dropna()
    log = log.drop(columns=[cols.target])
    for i, first in enumerate(range(0, len(log), 1800)):  # three files of 30 minutes
        part = log.iloc[first : first + 1800]
        (tmp_path / "predictions").mkdir(exist_ok=True)
        part.to_parquet(tmp_path / "predictions" / f"log-{i}.parquet", index=False)
    if labels:
        (tmp_path / "labels").mkdir()
        truth.to_parquet(tmp_path / "labels" / "labels.parquet", index=False)
    start, end = T0, T0 + timedelta(hours=2)
    reference = _frame(spec, 700, seed=16)
    reference[cols.target] = reference[cols.target].fillna(0.0)
    profile = ReferenceProfile.fit(reference, numeric=cols.numeric, categorical=cols.categorical)

    n_rows = count_window_rows(spec, start, end, tmp_path)
    partitions = window_partitions(spec, start, end, tmp_path, n_rows=n_rows)
    streamed = streamed_window(
        spec, partitions, _state(spec, reference, profile), expected_rows=n_rows
    )

    window = load_window(spec, start, end, tmp_path)
    memory_drift = analysis.window_drift(
        spec,
        reference=reference,
        reference_outputs=_outputs(spec, reference),
        predictions=window.predictions,
        labeled=window.labeled,
        profile=profile,
    )
    assert n_rows == window.n_rows == 5400 and len(partitions) == 6
    assert not should_stream(spec, n_rows) and should_stream(spec, 5_000_001)
    _assert_same_drift(streamed.drift, memory_drift)
    _assert_same_metrics(list(streamed.metrics), analysis.realized_metrics(spec, window.labeled))
    assert streamed.n_labeled == window.n_labeled == (len(truth) if labels else 0)
    assert streamed.sample is not None and 0 < len(streamed.sample) < 5400
    assert cols.id not in streamed.sample.columns and "email" not in streamed.sample.columns
    assert set(cols.numeric) <= set(streamed.sample.columns)


def test_window_partitions_are_disjoint_time_slices_covering_the_window(tmp_path: Path) -> None:
    from modelwatch.execution import window_partitions

    spec = _source_spec(tmp_path, "credit", labels=False)  # batch_rows 1000
    start, end = T0, T0 + timedelta(hours=1)
    local = window_partitions(spec, start, end, tmp_path, n_rows=4500)
    assert len(local) == 5
    assert (local[0].start, local[-1].end) == (start, end)
    assert all(a.end == b.start for a, b in itertools.pairwise(local))
    on_dask = _source_spec(tmp_path, "credit", labels=False, engine="dask", dask_workers=3)
    assert len(window_partitions(on_dask, start, end, tmp_path, n_rows=10)) == 6
    assert pickle.loads(pickle.dumps(local[2])) == local[2]


def test_slice_reports_merge_into_one_window_report() -> None:
    from modelwatch.execution import merge_slice_reports
    from modelwatch.io.gx_runtime import ExpectationOutcome, ValidationReport

    def report(n: int, score_ok: bool, rows_ok: bool) -> ValidationReport:
        outcomes = (
            ExpectationOutcome(
                "expect_column_values_to_be_between", "score", "critical", score_ok,
                "0 unexpected" if score_ok else f"{n // 10} unexpected (e.g. 1.3)", "min 0 max 1",
            ),
            ExpectationOutcome(
                "expect_table_row_count_to_be_between", None, "warning", rows_ok,
                f"{n} rows", "min 100",
            ),
        )  # fmt: skip
        return ValidationReport("credit", n, outcomes)

    slices = [
        ("10:00", report(500, True, True)),
        ("10:30", report(400, False, True)),
        ("11:00", report(50, True, False)),
    ]
    merged = merge_slice_reports(slices)
    assert merged.n_rows == 950 and not merged.success
    score, rows = merged.outcomes
    assert score.observed == "slice 10:30: 40 unexpected (e.g. 1.3)" and not score.success
    assert rows.observed == "slice 11:00: 50 rows" and [o.line() for o in merged.warnings]
    passing = merge_slice_reports(slices[:1] * 2)
    assert passing.success
    assert passing.outcomes[1].observed == "500 rows (first of 2 slices, all passed)"
    odd = ValidationReport("other", 10, slices[0][1].outcomes[:1])
    with pytest.raises(StatisticsError, match=r"slice 'x' was validated with suite 'other'"):
        merge_slice_reports([slices[0], ("x", odd)])
