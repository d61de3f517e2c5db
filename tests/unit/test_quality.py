"""Suites built from the reference (modelwatch.io.suites), validated with Great Expectations
(modelwatch.io.gx_runtime, Data Docs: modelwatch.io.datadocs), and the window's data-quality
statistics (modelwatch.stats.data_quality)."""

from __future__ import annotations

import copy
import html
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelwatch.errors import SchemaError, StatisticsError, ValidationFailed
from modelwatch.io.gx_runtime import GXRuntime, ValidationReport, default_runtime, validate_frame
from modelwatch.io.suites import (
    GENERATED_BY,
    SuiteError,
    build_suite,
    diff_suites,
    load_suite,
    merge_suites,
    write_suite,
)
from modelwatch.simulate import generate_reference, generate_window, split_log_and_labels
from modelwatch.spec import MonitorSpec, load_spec
from modelwatch.stats.data_quality import data_quality_stats

SPEC_PATH = Path(__file__).resolve().parents[2] / "deployments" / "specs" / "credit.yaml"
PII = ("email",)
START = datetime(2026, 11, 23, 10, tzinfo=UTC)
WINDOW = (START, START + timedelta(hours=1))
NOW = START + timedelta(hours=2)


def _served(index: int = 0, rows: int = 1000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A prediction log as the serving system writes it, and the log joined with its labels."""
    window = generate_window(index, start=START, rows=rows)
    window["score"] = np.random.default_rng(index).random(rows)
    window["prediction"] = (window["score"] >= 0.5).astype("int64")
    log, labels = split_log_and_labels(window)
    return log, log.merge(labels[["prediction_id", "defaulted"]], on="prediction_id")


def _served_log(index: int = 0, rows: int = 1000) -> pd.DataFrame:
    """A prediction log as the serving system writes it: window + score + prediction."""
    return _served(index, rows)[0]


def _find(
    suite: dict[str, Any], type_: str, column: str | None = None, severity: str | None = None
) -> dict[str, Any]:
    matches = [
        e
        for e in suite["expectations"]
        if e["type"] == type_
        and e["kwargs"].get("column") == column
        and severity in (None, e["severity"])
    ]
    assert len(matches) == 1, (type_, column, matches)
    return matches[0]


def _hand_written(column: str, regex: str, severity: str = "warning") -> dict[str, Any]:
    return {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": column, "regex": regex},
        "meta": {"severity": severity, "notes": "written by a person"},
    }


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_reference(3000, seed=1)


@pytest.fixture(scope="module")
def suite(reference: pd.DataFrame, spec: MonitorSpec) -> dict[str, Any]:
    return build_suite(reference, spec, typical_rows=1000)


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return _served_log()


@pytest.fixture(scope="module")
def labeled() -> pd.DataFrame:
    return _served()[1]


@pytest.fixture(scope="module")
def clean_report(
    log: pd.DataFrame, labeled: pd.DataFrame, suite: dict[str, Any]
) -> ValidationReport:
    return validate_frame(log, suite, pii=PII, labels=labeled)


# --------------------------------------------------------------------------- build_suite


def test_generated_expectations_carry_severity_notes_and_origin(suite: dict[str, Any]) -> None:
    assert suite["name"] == "credit"
    assert json.loads(json.dumps(suite)) == suite  # plain JSON
    for exp in suite["expectations"]:
        assert set(exp) == {"type", "kwargs", "meta", "severity"}
        assert exp["severity"] in ("critical", "warning")
        assert exp["meta"]["severity"] == exp["severity"]
        assert exp["meta"]["generated_by"] == GENERATED_BY
        assert exp["meta"]["notes"].endswith(".")


def test_generated_suite_covers_the_contract_of_the_prediction_log(
    suite: dict[str, Any], reference: pd.DataFrame
) -> None:
    assert _find(suite, "expect_column_to_exist", "score")["severity"] == "critical"
    assert _find(suite, "expect_column_values_to_be_unique", "prediction_id")["severity"] == (
        "critical"
    )
    assert _find(suite, "expect_column_values_to_not_be_null", "prediction_id")["severity"] == (
        "critical"
    )
    score = _find(suite, "expect_column_values_to_be_between", "score")
    assert (score["severity"], score["kwargs"]["min_value"], score["kwargs"]["max_value"]) == (
        "critical",
        0,
        1,
    )
    prediction = _find(suite, "expect_column_values_to_be_in_set", "prediction")
    assert (prediction["severity"], prediction["kwargs"]["value_set"]) == ("critical", [0, 1])
    region = _find(suite, "expect_column_values_to_be_in_set", "region")
    assert region["severity"] == "warning"
    assert region["kwargs"] == {
        "column": "region",
        "value_set": ["east", "north", "south", "west"],
        "mostly": 0.99,
    }
    income = _find(suite, "expect_column_values_to_be_between", "income", "warning")["kwargs"]
    assert income["min_value"] <= reference["income"].min()
    assert income["max_value"] > reference["income"].max()
    assert income["min_value"] >= 0  # never negative in the reference: stays non-negative
    not_null = _find(suite, "expect_column_values_to_not_be_null", "age", "warning")
    assert not_null["severity"] == "warning"
    assert 0.9 < not_null["kwargs"]["mostly"] < 1
    rows = [
        e
        for e in suite["expectations"]
        if e["type"] == "expect_table_row_count_to_be_between" and e["severity"] == "critical"
    ]
    assert rows[0]["kwargs"] == {"min_value": 1}
    columns = {e["kwargs"].get("column") for e in suite["expectations"]}
    assert "email" not in columns  # PII columns get no expectations
    on_log = {e["kwargs"].get("column") for e in suite["expectations"] if "frame" not in e["meta"]}
    assert "defaulted" not in on_log  # the prediction log has no target (its labels do)


def test_not_null_threshold_follows_the_reference_null_share(
    reference: pd.DataFrame, spec: MonitorSpec
) -> None:
    holey = reference.copy()
    holey.loc[: len(holey) // 10 - 1, "income"] = np.nan  # 10 % missing
    suite = build_suite(holey, spec)
    mostly = _find(suite, "expect_column_values_to_not_be_null", "income", "warning")["kwargs"][
        "mostly"
    ]
    assert mostly == pytest.approx(1 - 0.10 - 0.01)


def test_build_suite_names_a_feature_missing_from_the_reference(
    reference: pd.DataFrame, spec: MonitorSpec
) -> None:
    with pytest.raises(SchemaError, match=r"column 'income' is missing from the reference"):
        build_suite(reference.drop(columns=["income"]), spec)


def test_build_suite_rejects_a_non_numeric_numeric_feature(
    reference: pd.DataFrame, spec: MonitorSpec
) -> None:
    bad = reference.assign(age=reference["age"].astype(str))
    with pytest.raises(SchemaError, match=r"column 'age' .* has dtype str; the spec declares it"):
        build_suite(bad, spec)


# --------------------------------------------------------------------------- validate_frame


def test_a_served_window_passes_its_suite(
    clean_report: ValidationReport, suite: dict[str, Any], log: pd.DataFrame
) -> None:
    assert clean_report.success, clean_report.summary()
    assert clean_report.critical_failures == []
    assert clean_report.n_rows == len(log)
    assert clean_report.suite_name == "credit"
    assert clean_report.data_docs_path is None
    assert len(clean_report.outcomes) == len(suite["expectations"])
    assert clean_report.summary().startswith("all critical expectations passed on 1000 rows")


def test_outcomes_follow_the_order_and_severity_of_the_suite(
    clean_report: ValidationReport, suite: dict[str, Any]
) -> None:
    got = [(o.expectation_type, o.column, o.severity) for o in clean_report.outcomes]
    want = [(e["type"], e["kwargs"].get("column"), e["severity"]) for e in suite["expectations"]]
    assert got == want


def test_a_staged_rollouts_columns_are_expected_extras_and_other_extras_still_warn(
    log: pd.DataFrame, suite: dict[str, Any], spec: MonitorSpec
) -> None:
    """During shadow / canary the log carries ``variant`` and ``shadow_<output>``: the
    monitor passes them as optional (no column-set warning); any other extra column warns."""
    from modelwatch.serving import rollout_columns

    optional = rollout_columns(spec)
    assert optional == ["variant", "shadow_prediction", "shadow_score"]
    specs = SPEC_PATH.parent  # a regressor has no score; a multiclass model a column per class
    assert rollout_columns(load_spec(specs / "house.yaml")) == ["variant", "shadow_predicted_price"]
    assert rollout_columns(load_spec(specs / "churn3.yaml")) == [
        "variant",
        "shadow_predicted_step",
        "shadow_p_stay",
        "shadow_p_downgrade",
        "shadow_p_churn",
    ]
    staged = log.assign(variant="champion", shadow_prediction=log["prediction"], shadow_score=0.5)

    plain = validate_frame(staged, suite, pii=PII)
    column_set = [o for o in plain.warnings if o.expectation_type.endswith("to_match_set")]
    assert len(column_set) == 1 and "shadow_score" in column_set[0].line()

    report = validate_frame(staged, suite, pii=PII, optional_columns=optional)
    assert report.success and report.warnings == [], report.summary()
    assert list(staged.columns[-3:]) == optional  # the caller's frame keeps them

    other = validate_frame(staged.assign(extra=1), suite, pii=PII, optional_columns=optional)
    (warning,) = other.warnings
    assert "extra" in warning.line() and "variant" not in warning.line()


def _drop_score(log: pd.DataFrame) -> pd.DataFrame:
    return log.drop(columns=["score"])


def _score_above_one(log: pd.DataFrame) -> pd.DataFrame:
    bad = log.copy()
    bad.loc[:11, "score"] = 1.5
    return bad


def _duplicate_ids(log: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([log, log.iloc[:5]], ignore_index=True)


@pytest.mark.parametrize(
    ("corrupt", "column", "expectation", "observed"),
    [
        (_drop_score, "score", "expect_column_to_exist", "column missing"),
        (_score_above_one, "score", "expect_column_values_to_be_between", "12 unexpected"),
        (_duplicate_ids, "prediction_id", "expect_column_values_to_be_unique", "10 unexpected"),
    ],
    ids=["missing-required-column", "score-above-one", "duplicate-ids"],
)
def test_broken_windows_fail_critically(
    log: pd.DataFrame,
    suite: dict[str, Any],
    corrupt: Any,
    column: str,
    expectation: str,
    observed: str,
) -> None:
    report = validate_frame(corrupt(log), suite, pii=PII)
    assert not report.success
    failed = {(o.column, o.expectation_type): o for o in report.critical_failures}
    assert (column, expectation) in failed, report.summary()
    assert failed[(column, expectation)].observed.startswith(observed)


def test_score_failure_summary_names_column_expectation_and_examples(
    log: pd.DataFrame, suite: dict[str, Any]
) -> None:
    report = validate_frame(_score_above_one(log), suite, pii=PII)
    summary = report.summary()
    assert summary.splitlines()[0] == (
        "1 critical expectation(s) failed on 1000 rows (suite 'credit'):"
    )
    assert (
        " - column 'score': expect_column_values_to_be_between min 0 max 1 — "
        "12 unexpected (1.2%) (e.g. 1.5)"
    ) in summary.splitlines()


@pytest.mark.parametrize(
    ("column", "value", "expectation"),
    [
        ("region", "atlantis", "expect_column_values_to_be_in_set"),
        ("income", -5.0e6, "expect_column_values_to_be_between"),
    ],
    ids=["unseen-category", "out-of-range-numeric"],
)
def test_drifted_values_are_warnings_not_critical(
    log: pd.DataFrame, suite: dict[str, Any], column: str, value: Any, expectation: str
) -> None:
    bad = log.copy()
    bad.loc[:49, column] = value  # 5 % of the rows, above the 1 % tolerance
    report = validate_frame(bad, suite, pii=PII)
    assert report.success, report.summary()
    assert [(o.column, o.expectation_type) for o in report.warnings] == [(column, expectation)]
    assert report.warnings[0].observed.startswith("50 unexpected (5%)")
    assert f"column '{column}': {expectation}" in report.summary()


def test_an_empty_window_fails_the_row_count(log: pd.DataFrame, suite: dict[str, Any]) -> None:
    report = validate_frame(log.iloc[:0], suite, pii=PII)
    assert [(o.expectation_type, o.observed) for o in report.critical_failures] == [
        ("expect_table_row_count_to_be_between", "0 rows")
    ]


def test_pii_values_never_appear_in_outcomes_or_summary(
    log: pd.DataFrame, suite: dict[str, Any]
) -> None:
    with_pii = {**suite, "expectations": [*suite["expectations"], _hand_written("email", "^x$")]}
    report = validate_frame(log, with_pii, pii=PII)
    (failure,) = report.warnings
    assert failure.column == "email"
    assert failure.observed == "1000 unexpected (100%) (values hidden: PII column)"
    emails = set(log["email"])
    text = report.summary() + repr(report.outcomes)
    assert "@example.com" not in text
    assert not any(email in text for email in emails)


def test_pii_value_sets_written_in_the_suite_are_not_echoed(
    log: pd.DataFrame, suite: dict[str, Any]
) -> None:
    blocked = {
        "type": "expect_column_values_to_not_be_in_set",
        "kwargs": {"column": "email", "value_set": ["applicant0_1@example.com", "x@y.org"]},
        "meta": {"severity": "warning"},
    }
    report = validate_frame(log, {**suite, "expectations": [blocked]}, pii=PII)
    (warning,) = report.warnings
    assert warning.expected == "in {2 values}"
    assert warning.observed == "1 unexpected (0.1%) (values hidden: PII column)"
    assert "@" not in report.summary()


def test_raise_for_critical_carries_the_summary(log: pd.DataFrame, suite: dict[str, Any]) -> None:
    validate_frame(log, suite, pii=PII).raise_for_critical()  # passes silently
    report = validate_frame(_score_above_one(log), suite, pii=PII)
    with pytest.raises(ValidationFailed, match=r"window 2026-11-23T10 failed 1 critical") as info:
        report.raise_for_critical("window 2026-11-23T10")
    assert "column 'score': expect_column_values_to_be_between" in str(info.value)
    assert info.value.summary == report.summary()


def test_severity_of_a_hand_written_expectation_comes_from_its_meta(
    log: pd.DataFrame, suite: dict[str, Any]
) -> None:
    hand = _hand_written("prediction_id", "^nope$", severity="warning")
    report = validate_frame(log, {**suite, "expectations": [hand]}, pii=PII)
    assert report.success
    assert [o.severity for o in report.warnings] == ["warning"]
    hand_critical = {**hand, "meta": {"notes": "no severity: GX's default"}}
    assert not validate_frame(log, {"name": "x", "expectations": [hand_critical]}).success


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"type": "expect_the_moon", "kwargs": {}}, "expect_the_moon not found"),
        ({"type": "expect_column_to_exist", "kwargs": {"colum": "score"}}, "validation error"),
    ],
    ids=["unknown-type", "misspelled-kwarg"],
)
def test_an_invalid_expectation_is_named_not_skipped(
    log: pd.DataFrame, bad: dict[str, Any], message: str
) -> None:
    good = {"type": "expect_column_to_exist", "kwargs": {"column": "score"}}
    suite = {"name": "credit", "expectations": [good, bad]}
    with pytest.raises(SuiteError, match=rf"expectations\[1\] \({bad['type']}\) is not a valid"):
        validate_frame(log, suite)
    with pytest.raises(SuiteError, match=message):
        validate_frame(log, suite)


def test_a_suite_exported_by_gx_with_ids_validates(
    log: pd.DataFrame, suite: dict[str, Any]
) -> None:
    exported = {
        **suite,
        "id": "b9e7b5c4-0000-4000-8000-000000000000",
        "expectations": [
            {**e, "id": f"00000000-0000-4000-8000-{i:012d}"}
            for i, e in enumerate(suite["expectations"])
        ],
    }
    assert validate_frame(log, exported, pii=PII).success


def test_an_invalid_severity_is_named(log: pd.DataFrame) -> None:
    suite = {
        "name": "credit",
        "expectations": [
            {"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "severity": "fatal"}
        ],
    }
    with pytest.raises(SuiteError, match=r"expectations\[0\].*severity must be one of .*'fatal'"):
        validate_frame(log, suite)


# --------------------------------------------------------------------------- suite files


def test_merge_keeps_hand_written_and_replaces_generated(
    suite: dict[str, Any], spec: MonitorSpec
) -> None:
    hand = _hand_written("prediction_id", r"^\d{8}T\d{4}-\d{6}$")
    existing = {**suite, "expectations": [*suite["expectations"], hand]}
    regenerated = build_suite(generate_reference(2000, seed=7), spec)
    merged = merge_suites(existing, regenerated)
    assert (
        merged["expectations"][: len(regenerated["expectations"])] == (regenerated["expectations"])
    )
    assert merged["expectations"][-1] == hand
    assert len(merged["expectations"]) == len(regenerated["expectations"]) + 1
    assert existing["expectations"][-1] is hand  # inputs untouched


def test_write_then_load_round_trips_with_stable_text(
    suite: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "expectations" / "credit.json"
    write_suite(suite, path)
    first = path.read_text(encoding="utf-8")
    write_suite(load_suite(path), path)
    assert path.read_text(encoding="utf-8") == first
    assert first.endswith("}\n")
    assert first == json.dumps(suite, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert load_suite(path) == suite


def test_load_suite_names_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(SuiteError, match=rf"{path}: expectation suite file not found"):
        load_suite(path)


def test_load_suite_names_a_file_with_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "credit", "expectations": [', encoding="utf-8")
    with pytest.raises(SuiteError, match=rf"{path}: not valid JSON \(line 1, column"):
        load_suite(path)


def test_load_suite_names_a_file_that_is_not_a_suite(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(SuiteError, match=rf"{path}: an expectation suite must be a JSON object"):
        load_suite(path)


# --------------------------------------------------------------------------- Data Docs


def test_data_docs_are_built_without_pii(
    log: pd.DataFrame, suite: dict[str, Any], tmp_path: Path
) -> None:
    with_pii = {**suite, "expectations": [*suite["expectations"], _hand_written("email", "^x$")]}
    report = validate_frame(
        _score_above_one(log), with_pii, pii=PII, data_docs_dir=tmp_path, run_name="credit-w0"
    )
    assert not report.success
    assert report.data_docs_path is not None
    index = Path(report.data_docs_path)
    assert index.name == "index.html" and index.is_file()
    assert index.is_relative_to(tmp_path)
    assert "credit" in index.read_text(encoding="utf-8")
    assert f"Data Docs: {index}" in report.summary()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" and "validations" in p.parts for p in written)
    for path in written:
        content = path.read_text(encoding="utf-8", errors="replace")
        assert "@example.com" not in content, path


def test_the_data_docs_link_points_at_the_page_of_that_validation(
    log: pd.DataFrame, suite: dict[str, Any], tmp_path: Path
) -> None:
    first = validate_frame(log, suite, pii=PII, data_docs_dir=tmp_path, run_name="credit-w1")
    second = validate_frame(log, suite, pii=PII, data_docs_dir=tmp_path, run_name="credit-w2")
    for report, run_name in ((first, "credit-w1"), (second, "credit-w2")):
        assert report.data_docs_url is not None and report.data_docs_url.startswith("file://")
        page = Path(report.data_docs_url.removeprefix("file://"))
        assert page.is_file() and page.suffix == ".html"
        assert "validations" in page.parts and run_name in page.parts
    assert first.data_docs_url != second.data_docs_url


def test_without_data_docs_there_is_no_link(log: pd.DataFrame, suite: dict[str, Any]) -> None:
    report = validate_frame(log, suite, pii=PII)
    assert (report.data_docs_path, report.data_docs_url) == (None, None)


# --------------------------------------------------------------------------- bad input (issue 4)


def _with(log: pd.DataFrame, column: str, values: Any, rows: slice | None = None) -> pd.DataFrame:
    bad = log.copy()
    if rows is None:
        bad[column] = values
    else:
        bad.loc[rows, column] = values
    return bad


@pytest.mark.parametrize(
    ("corrupt", "column", "expectation", "observed"),
    [
        (
            lambda log: _with(log, "age", log["age"].astype(str)),
            "age",
            "expect_column_values_to_be_in_type_list",
            "observed str",
        ),
        (
            lambda log: _with(log, "timestamp", START - timedelta(minutes=5), slice(0, 3)),
            "timestamp",
            "expect_column_values_to_be_between",
            "4 unexpected (0.4%) (e.g. 2026-11-23 09:55:00+00:00)",
        ),
        (
            lambda log: _with(log, "timestamp", log["timestamp"].dt.tz_localize(None)),
            "timestamp",
            "expect_column_values_to_be_between",
            "error: Invalid comparison",
        ),
        (
            lambda log: _with(log, "income", np.nan),
            "income",
            "expect_column_values_to_not_be_null",
            "1000 unexpected (100%)",
        ),
        (
            lambda log: _with(log, "income", -np.inf, slice(0, 1)),
            "income",
            "expect_column_values_to_be_between",
            "2 unexpected (0.2%) (e.g. -inf)",
        ),
    ],
    ids=[
        "numeric-as-strings",
        "timestamp-outside-window",
        "naive-timestamps",
        "all-nan-column",
        "two-infinite-values",
    ],
)
def test_bad_types_and_timestamps_fail_critically(
    log: pd.DataFrame,
    suite: dict[str, Any],
    corrupt: Any,
    column: str,
    expectation: str,
    observed: str,
) -> None:
    report = validate_frame(corrupt(log), suite, pii=PII, window=WINDOW, now=NOW)
    assert not report.success
    failures = [
        o
        for o in report.critical_failures
        if (o.column, o.expectation_type) == (column, expectation)
    ]
    assert failures and failures[0].observed.startswith(observed), report.summary()


def test_timestamps_in_the_future_fail_even_without_a_window(
    log: pd.DataFrame, suite: dict[str, Any]
) -> None:
    report = validate_frame(log, suite, pii=PII, now=START + timedelta(minutes=30))
    (failure,) = report.critical_failures
    assert (failure.column, failure.expected) == ("timestamp", "max 2026-11-23 10:30:00+00:00")
    assert validate_frame(log, suite, pii=PII, window=WINDOW, now=NOW).success


def test_validate_frame_rejects_a_naive_window(log: pd.DataFrame, suite: dict[str, Any]) -> None:
    naive = (datetime(2026, 11, 23, 10), datetime(2026, 11, 23, 11))
    with pytest.raises(
        StatisticsError,
        match=r"^The 'window' parameter of validate_frame must be a timezone-aware datetime\. "
        r"Got '2026-11-23T10:00:00 \(naive\)' instead\.$",
    ):
        validate_frame(log, suite, window=naive)
    with pytest.raises(StatisticsError, match=r"'now' parameter .* timezone-aware"):
        validate_frame(log, suite, now=datetime(2026, 11, 23, 12))


def test_validate_frame_names_a_bad_argument(log: pd.DataFrame, suite: dict[str, Any]) -> None:
    with pytest.raises(
        StatisticsError,
        match=r"^The 'window' parameter of validate_frame must be \(start, end\) with "
        r"start < end\. Got \('2026-11-23T11:00:00\+00:00', '2026-11-23T10:00:00\+00:00'\) instead\.$",
    ):
        validate_frame(log, suite, window=(WINDOW[1], WINDOW[0]))
    with pytest.raises(StatisticsError, match=r"'frame' parameter .* DataFrame\. Got 'dict'"):
        validate_frame(log.to_dict(), suite)  # type: ignore[arg-type]
    with pytest.raises(
        StatisticsError, match=r"'labels' parameter .* DataFrame or None\. Got 'list'"
    ):
        validate_frame(log, suite, labels=[])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"range_margin": -0.1},
            r"'range_margin' parameter of build_suite must be a finite float >= 0\. Got -0\.1",
        ),
        (
            {"null_margin": 1.0},
            r"'null_margin' parameter of build_suite must be a float in \[0, 1\)\. Got 1\.0",
        ),
        ({"mostly": 0}, r"'mostly' parameter of build_suite must be a float in \(0, 1\]\. Got 0 "),
        ({"typical_rows": 0}, r"'typical_rows' parameter of build_suite must be .*>= 1.*\. Got 0 "),
    ],
)
def test_build_suite_names_a_bad_option(
    reference: pd.DataFrame, spec: MonitorSpec, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(StatisticsError, match=message):
        build_suite(reference, spec, **options)


@pytest.mark.parametrize(
    ("corrupt", "expectation", "observed"),
    [
        (
            lambda log: log.assign(extra=1),
            "expect_table_columns_to_match_set",
            "unexpected columns ['extra']",
        ),
        (
            lambda log: pd.concat([log] * 12, ignore_index=True).assign(
                prediction_id=lambda f: [f"id{i}" for i in range(len(f))]
            ),
            "expect_table_row_count_to_be_between",
            "12000 rows",
        ),
    ],
    ids=["extra-column", "window-12x-usual"],
)
def test_suspicious_windows_warn(
    log: pd.DataFrame, suite: dict[str, Any], corrupt: Any, expectation: str, observed: str
) -> None:
    report = validate_frame(corrupt(log), suite, pii=PII)
    assert report.success, report.summary()
    assert [(o.expectation_type, o.observed) for o in report.warnings] == [(expectation, observed)]


# --------------------------------------------------------------------------- data_quality_stats


def test_data_quality_stats_of_a_clean_window(
    log: pd.DataFrame, spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    stats = data_quality_stats(log, spec, reference)
    assert (stats.n_rows, stats.n_columns) == log.shape
    assert (stats.duplicate_rows, stats.duplicate_feature_rows, stats.duplicate_ids) == (0, 0, 0)
    assert stats.missing_columns == () and stats.unexpected_columns == ()
    assert stats.type_mismatches == []
    assert stats.column_names == [str(c) for c in log.columns]
    assert stats.column("region").new_categories == ()
    assert stats.column("score").out_of_range_share == 0.0
    assert stats.column("income").out_of_range_share is not None
    assert stats.column("income").out_of_range_share < 0.01
    assert json.loads(json.dumps(stats.to_dict())) == stats.to_dict()


def test_data_quality_stats_measure_each_problem(
    log: pd.DataFrame, spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    bad = pd.concat([log, log.iloc[:5]], ignore_index=True)  # 5 duplicated rows and ids
    bad.loc[10:19, "region"] = "mars"  # 10 new-category rows
    bad.loc[20:39, "income"] = np.inf  # 20 non-finite, out-of-range rows
    bad.loc[40:139, "debt_ratio"] = np.nan  # 100 missing
    bad["age"] = bad["age"].astype(str)
    bad.loc[140, "age"] = "unknown"  # 1 value that is not a number
    bad.loc[150:151, "score"] = 1.5
    bad = bad.drop(columns=["channel"]).assign(extra=1)
    n = len(bad)

    stats = data_quality_stats(bad, spec, reference)

    assert (stats.duplicate_rows, stats.duplicate_ids) == (5, 5)
    assert stats.duplicate_feature_rows >= 5
    assert stats.missing_columns == ("channel",)
    assert stats.unexpected_columns == ("extra",)
    assert stats.type_mismatches == ["age"]
    assert stats.column("age").type_mismatch_share == pytest.approx(1 / n)
    assert stats.column("region").new_categories == ("mars",)
    assert stats.column("region").new_category_share == pytest.approx(10 / n)
    assert stats.column("income").non_finite_share == pytest.approx(20 / n)
    assert stats.column("income").out_of_range_share >= 20 / n
    assert stats.column("debt_ratio").missing_share == pytest.approx(100 / n)
    assert stats.column("score").out_of_range_share == pytest.approx(2 / n)


def test_data_quality_stats_never_read_pii_values(
    log: pd.DataFrame, spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    stats = data_quality_stats(log, spec, reference)
    email = stats.column("email")
    assert (email.kind, email.new_categories, email.out_of_range_share) == ("pii", (), None)
    assert "@example.com" not in json.dumps(stats.to_dict())


def test_data_quality_stats_flag_timestamps_that_are_not_utc(
    log: pd.DataFrame, spec: MonitorSpec
) -> None:
    paris = log.assign(timestamp=log["timestamp"].dt.tz_convert("Europe/Paris"))
    assert data_quality_stats(paris, spec).type_mismatches == ["timestamp"]
    assert data_quality_stats(log, spec).column("region").new_category_share is None


def test_data_quality_stats_name_a_frame_that_is_not_a_dataframe(spec: MonitorSpec) -> None:
    with pytest.raises(
        StatisticsError,
        match=r"^The 'frame' parameter of data_quality_stats must be a pandas DataFrame\. "
        r"Got 'list' instead\.$",
    ):
        data_quality_stats([], spec)  # type: ignore[arg-type]


def test_duplicate_counts_agree_with_pandas_duplicated(
    log: pd.DataFrame, spec: MonitorSpec
) -> None:
    frame = pd.concat([log, log.iloc[:30]], ignore_index=True)
    frame.loc[[*range(10), *range(1000, 1010)], "income"] = np.nan  # NaN equals NaN, as in pandas
    frame.loc[1000:1009, "prediction_id"] = [f"new-{i}" for i in range(10)]  # same inputs, new ids
    features = list(spec.columns.features)
    stats = data_quality_stats(frame, spec)
    assert stats.duplicate_rows == int(frame.duplicated().sum()) == 20
    assert stats.duplicate_ids == int(frame["prediction_id"].duplicated().sum()) == 20
    assert stats.duplicate_feature_rows == int(frame.duplicated(subset=features).sum()) == 30


def test_a_feature_missing_in_a_few_rows_only_warns(
    log: pd.DataFrame, suite: dict[str, Any]
) -> None:
    report = validate_frame(_with(log, "income", np.nan, slice(0, 899)), suite, pii=PII)
    assert report.success, report.summary()
    assert [(o.column, o.expectation_type) for o in report.warnings] == [
        ("income", "expect_column_values_to_not_be_null")
    ]


def test_expectations_on_a_missing_column_say_so(log: pd.DataFrame, suite: dict[str, Any]) -> None:
    report = validate_frame(log.drop(columns=["income"]), suite, pii=PII)
    income = [o for o in report.outcomes if o.column == "income"]
    assert income[0] == replace(income[0], observed="column missing", success=False)
    assert {o.observed for o in income[1:]} == {"column missing (cannot evaluate)"}


def test_data_quality_rows_are_long_format_and_carry_unmatched_labels(
    log: pd.DataFrame, spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    bad = log.assign(region=log["region"].where(log.index >= 30, "mars"), extra=1)
    stats = data_quality_stats(bad, spec, reference, unmatched_labels=7)
    rows = {(r["column_name"], r["stat"]): r for r in stats.to_rows()}
    assert rows[(None, "n_rows")]["value"] == len(log)
    assert rows[(None, "unmatched_labels")]["value"] == 7
    assert rows[(None, "unexpected_columns")] == {
        "column_name": None,
        "stat": "unexpected_columns",
        "value": 1.0,
        "detail": "extra",
    }
    assert rows[("region", "new_category_share")]["value"] == pytest.approx(30 / len(log))
    assert rows[("region", "new_category_share")]["detail"] == "mars"
    assert rows[("income", "missing_share")]["detail"] == "float64"
    assert all(isinstance(r["value"], float) for r in rows.values())
    assert stats.problems() == [
        "unexpected columns: extra",
        "7 label(s) match no prediction of the window",
        "column 'region': 3.00% new categories (mars)",
    ]
    assert data_quality_stats(log, spec, reference).problems() == []
    assert (None, "unmatched_labels") not in {
        (r["column_name"], r["stat"]) for r in data_quality_stats(log, spec).to_rows()
    }


def test_the_data_quality_table_and_description_of_an_artifact(
    log: pd.DataFrame, spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    bad = log.assign(region=log["region"].where(log.index >= 30, "mars"))
    bad.loc[:9, "income"] = np.inf
    stats = data_quality_stats(bad, spec, reference, unmatched_labels=7)
    table = {row["column"]: row for row in stats.column_table()}
    ref = reference["income"].dropna()
    outside = (bad["income"] < ref.min()) | (bad["income"] > ref.max())
    assert list(table) == stats.column_names
    assert table["income"] == {
        "column": "income",
        "kind": "numeric",
        "dtype": "float64",
        "missing": 0.0,
        "type_mismatch": False,
        "non_finite": round(10 / len(log), 4),
        "out_of_range": round(float(outside.mean()), 4),
        "new_categories": "",
    }
    assert (table["region"]["new_categories"], table["region"]["non_finite"]) == ("mars", None)
    assert stats.describe("credit 2026-11-23T10") == (
        f"Data quality of credit 2026-11-23T10: {len(log)} rows, 0 duplicate ids, "
        "0 duplicate rows, 7 unmatched labels. " + "; ".join(stats.problems())
    )
    clean = data_quality_stats(log, spec, reference)
    assert clean.describe("credit w").endswith("0 unmatched labels. No problems found.")


# --------------------------------------------------------------------------- suite diff


def test_diff_of_a_suite_with_itself_is_empty(suite: dict[str, Any]) -> None:
    diff = diff_suites(suite, suite)
    assert diff.empty and diff.lines() == [] and diff.kept == ()


def test_diff_names_added_removed_and_changed_by_type_and_column(
    suite: dict[str, Any],
) -> None:
    new = copy.deepcopy(suite)
    exps = new["expectations"]
    region = next(
        e for e in exps if e["kwargs"].get("column") == "region" and "in_set" in e["type"]
    )
    region["kwargs"]["value_set"] = [*region["kwargs"]["value_set"], "central"]
    dropped = next(e for e in exps if e["type"] == "expect_column_values_to_be_unique")
    exps.remove(dropped)
    exps.append(_hand_written("email", "^.+@.+$"))
    diff = diff_suites(suite, new)
    assert diff.added == ("expect_column_values_to_match_regex email",)
    assert diff.removed == ("expect_column_values_to_be_unique prediction_id",)
    assert diff.changed == ("expect_column_values_to_be_in_set region",)
    assert diff.lines() == [
        "+ expect_column_values_to_match_regex email",
        "- expect_column_values_to_be_unique prediction_id",
        "~ expect_column_values_to_be_in_set region",
    ]


def test_twin_expectations_are_told_apart(suite: dict[str, Any]) -> None:
    new = copy.deepcopy(suite)
    future = [
        e
        for e in new["expectations"]
        if e["kwargs"].get("column") == "timestamp" and "between" in e["type"]
    ]
    assert len(future) == 2
    future[1]["severity"] = "warning"
    assert diff_suites(suite, new).changed == ("expect_column_values_to_be_between timestamp #2",)


def test_a_rebuild_keeps_hand_written_expectations_and_reports_them(
    suite: dict[str, Any], reference: pd.DataFrame, spec: MonitorSpec
) -> None:
    edited = {**suite, "expectations": [*suite["expectations"], _hand_written("age", "^[0-9]+$")]}
    rebuilt = merge_suites(edited, build_suite(reference, spec, typical_rows=None))
    diff = diff_suites(edited, rebuilt)
    assert diff.kept == ("expect_column_values_to_match_regex age",)
    assert rebuilt["expectations"][-1] == edited["expectations"][-1]
    assert diff.removed == ("expect_table_row_count_to_be_between #2",)  # no typical size now
    assert (diff.added, diff.changed) == ((), ())


# --------------------------------------------------------------------------- labels (issue 9)


def test_the_suite_checks_the_target_classes_of_the_labels(suite: dict[str, Any]) -> None:
    target = _find(suite, "expect_column_values_to_be_in_set", "defaulted")
    assert target["severity"] == "critical"
    assert target["kwargs"] == {"column": "defaulted", "value_set": [0, 1]}
    assert (target["meta"]["frame"], target["meta"]["classes"]) == ("labels", "binary")


def test_a_third_class_in_a_binary_target_is_a_critical_failure_naming_column_and_values(
    log: pd.DataFrame, labeled: pd.DataFrame, suite: dict[str, Any]
) -> None:
    bad = labeled.assign(defaulted=labeled["defaulted"].where(labeled.index % 100 != 7, 2))
    report = validate_frame(log, suite, pii=PII, labels=bad, window=WINDOW, now=NOW)
    (failure,) = report.critical_failures
    n_bad = int((bad["defaulted"] == 2).sum())
    assert (failure.column, failure.frame) == ("defaulted", "labels")
    assert failure.line() == (
        "column 'defaulted' in labels: expect_column_values_to_be_in_set in {0, 1} — "
        f"values [2] outside the binary classes [0, 1] of the reference "
        f"({n_bad} of {len(bad)} labels)"
    )
    with pytest.raises(ValidationFailed, match=r"column 'defaulted' in labels: .* values \[2\]"):
        report.raise_for_critical("window 10:00")
    # the label expectation keeps its place in the suite's order
    got = [(o.expectation_type, o.column) for o in report.outcomes]
    assert got == [(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]]


def test_label_classes_of_a_multiclass_target_and_text_labels(
    log: pd.DataFrame, labeled: pd.DataFrame, reference: pd.DataFrame, spec: MonitorSpec
) -> None:
    names = {0: "repaid", 1: "defaulted"}
    multiclass = spec.model_copy(update={"task": "multiclass"})
    suite = build_suite(reference.assign(defaulted=reference["defaulted"].map(names)), multiclass)
    log = log.assign(prediction=log["prediction"].map(names))
    text = labeled.assign(defaulted=labeled["defaulted"].map(names).astype(object))
    clean = validate_frame(log, suite, pii=PII, labels=text, window=WINDOW, now=NOW)
    assert clean.success, clean.summary()
    text.loc[::50, "defaulted"] = "late"
    text.loc[1::50, "defaulted"] = np.nan  # a missing label is no class
    (failure,) = validate_frame(
        log, suite, pii=PII, labels=text, window=WINDOW, now=NOW
    ).critical_failures
    assert "values ['late'] outside the 2 classes ['defaulted', 'repaid'] of the reference" in (
        failure.observed
    )


def test_labels_without_the_target_column_say_so(
    log: pd.DataFrame, labeled: pd.DataFrame, suite: dict[str, Any]
) -> None:
    report = validate_frame(log, suite, labels=labeled.drop(columns=["defaulted"]), now=NOW)
    (failure,) = report.critical_failures
    assert failure.line().startswith("column 'defaulted' in labels:")
    assert failure.observed == "column missing (cannot evaluate)"


def test_label_expectations_are_skipped_without_labels_and_pass_on_none_yet(
    log: pd.DataFrame, labeled: pd.DataFrame, suite: dict[str, Any]
) -> None:
    without = validate_frame(log, suite, pii=PII, window=WINDOW, now=NOW)
    assert len(without.outcomes) == len(suite["expectations"]) - 1
    assert all(o.frame == "predictions" for o in without.outcomes)
    empty = validate_frame(log, suite, pii=PII, labels=labeled.iloc[0:0], window=WINDOW, now=NOW)
    assert empty.success and len(empty.outcomes) == len(suite["expectations"])


def test_an_unknown_frame_in_a_suite_is_named(log: pd.DataFrame, suite: dict[str, Any]) -> None:
    bad = copy.deepcopy(suite)
    bad["expectations"][0]["meta"]["frame"] = "label"
    with pytest.raises(SuiteError, match=r"expectations\[0\] .*meta.frame must be one of"):
        validate_frame(log, bad)


# --------------------------------------------------------------------------- HTML escaping (issue 9)

_IMG = '<img src=x onerror="document.body.dataset.pwned=1">'
_SCRIPT = "<script>document.body.dataset.pwned=2</script>"


def test_data_docs_escape_window_values_column_names_and_tracebacks(
    log: pd.DataFrame, suite: dict[str, Any], reference: pd.DataFrame, tmp_path: Path
) -> None:
    """Every value and name reaches the Data Docs HTML escaped once: never raw, never twice."""
    hand_written = [
        ("expect_column_values_to_not_be_null", {"column": _IMG}),  # section title, TOC
        ("expect_column_values_to_not_be_null", {"column": _SCRIPT}),  # missing: a traceback
        ("expect_column_values_to_match_regex", {"column": "channel", "regex": "^[a-z]+$"}),
        ("expect_column_distinct_values_to_be_in_set", {"column": "region", "value_set": ["x"]}),
        ("expect_column_distinct_values_to_equal_set", {"column": "region", "value_set": [_IMG]}),
        ("expect_column_most_common_value_to_be_in_set", {"column": "channel", "value_set": ["x"]}),
        ("expect_table_columns_to_match_ordered_list", {"column_list": ["age", _SCRIPT]}),
        ("expect_column_values_to_be_in_set", {"column": "channel", "value_set": [_SCRIPT]}),
    ]
    with_payloads = copy.deepcopy(suite)
    with_payloads["expectations"] += [
        {"type": t, "kwargs": kw, "meta": {"severity": "warning"}} for t, kw in hand_written
    ]
    window = log.assign(
        region=log["region"].astype(object).where(log.index % 7 != 0, _IMG),
        channel=log["channel"].astype(object).where(log.index % 5 != 0, _SCRIPT),
    )
    window[_IMG] = np.where(log.index % 2 == 0, None, "x")  # an undeclared column, half empty
    for result_format in ("BASIC", "SUMMARY", "COMPLETE"):
        root = tmp_path / result_format
        report = validate_frame(
            window,
            with_payloads,
            pii=PII,
            data_docs_dir=root,
            run_name="credit-xss",
            window=WINDOW,
            now=NOW,
            result_format=result_format,
        )
        assert _IMG[:20] in report.summary()  # outcomes and summaries keep the raw text
        pages = [p for p in root.rglob("*.html")]
        assert len(pages) == 3  # index, suite, validation
        validation_page = next(p for p in pages if "validations" in p.parts)
        for page in pages:
            text = page.read_text(encoding="utf-8")
            for raw in ("<img src=x", "<script>document"):
                assert raw not in text, (result_format, page, raw)
            for twice in ("&amp;lt;", "&amp;quot;", "&amp;#x27;", "&amp;gt;"):
                assert twice not in text, (result_format, page, twice)
        text = validation_page.read_text(encoding="utf-8")
        for shown in (_IMG, _SCRIPT):  # escaped once: the browser shows the text
            assert html.escape(shown, quote=True) in text or html.escape(shown, quote=False) in (
                text
            ), (result_format, shown)


def test_suites_by_task_regression_has_no_class_set_multiclass_checks_every_class_score() -> None:
    specs = SPEC_PATH.parent
    house = load_spec(specs / "house.yaml")
    suite = build_suite(generate_reference(2000, task="regression"), house)
    frames = {(e.get("meta") or {}).get("frame") for e in suite["expectations"]}
    in_set = {
        e["kwargs"].get("column") for e in suite["expectations"] if e["type"].endswith("in_set")
    }
    assert "labels" not in frames and in_set == {"city", "kind"}  # features only, no classes
    churn = load_spec(specs / "churn3.yaml")
    suite = build_suite(generate_reference(2000, task="multiclass"), churn)
    (labels,) = [e for e in suite["expectations"] if (e.get("meta") or {}).get("frame") == "labels"]
    assert labels["kwargs"]["value_set"] == ["churn", "downgrade", "stay"]
    for column in ("p_stay", "p_downgrade", "p_churn"):
        between = [
            e
            for e in suite["expectations"]
            if e["type"] == "expect_column_values_to_be_between" and e["kwargs"]["column"] == column
        ]
        assert (
            between
            and between[0]["kwargs"]["max_value"] == 1
            and between[0]["severity"] == "critical"
        )
    (columns,) = [
        e for e in suite["expectations"] if e["type"] == "expect_table_columns_to_match_set"
    ]
    assert {"p_stay", "p_downgrade", "p_churn"} <= set(columns["kwargs"]["column_set"])


# --------------------------------------------------------------------------- the runtime


def test_a_runtime_owns_its_contexts_and_caches_one_validation_per_suite_content(
    log: pd.DataFrame, suite: dict[str, Any]
) -> None:
    """Two runtimes share nothing; a runtime validates a suite it has seen without rebuilding it."""
    runtime, other = GXRuntime(), GXRuntime()
    first = runtime.validate(log, suite, pii=PII, window=WINDOW, now=NOW)
    assert first == validate_frame(log, suite, pii=PII, window=WINDOW, now=NOW)
    assert len(runtime._validations) == 1 and other._validations == {}
    assert runtime._ephemeral is not None and other._ephemeral is None
    assert runtime._ephemeral is not default_runtime()._ephemeral
    again = runtime.validate(log, suite, pii=PII, window=WINDOW, now=NOW)
    assert again == first and len(runtime._validations) == 1
    assert runtime._ephemeral.validation_results_store.list_keys() == []  # emptied after each run
    changed = {**suite, "expectations": suite["expectations"][:3]}
    runtime.validate(log, changed, pii=PII, window=WINDOW, now=NOW)
    assert len(runtime._validations) == 2


def test_the_data_docs_pages_are_rendered_by_the_datadocs_safe_view(
    log: pd.DataFrame, suite: dict[str, Any], tmp_path: Path
) -> None:
    """GX loads the escaping page view by module and class name from the project config."""
    from modelwatch.io import datadocs

    validate_frame(log, suite, pii=PII, data_docs_dir=tmp_path)
    config = (tmp_path / "gx" / "great_expectations.yml").read_text(encoding="utf-8")
    assert "module_name: modelwatch.io.datadocs" in config
    assert "SafeDataDocsPageView" in config
    assert datadocs.SafeDataDocsPageView is datadocs.safe_page_view()
    assert datadocs.SafeDataDocsPageView.__module__ == "modelwatch.io.datadocs"
