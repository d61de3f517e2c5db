"""Retraining rules without Prefect: windows, quarantine overlap, holdout split, skips, lineage."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from modelwatch import retraining
from modelwatch.errors import RetrainError
from modelwatch.lineage import UNKNOWN_CODE_VERSION, Lineage, code_version
from modelwatch.outcomes import Outcome, StateName
from modelwatch.retraining import Span, TrainingSet
from modelwatch.spec import MonitorSpec, parse_spec
from modelwatch.stats.drift import ReferenceProfile

SPEC_PATH = Path(__file__).resolve().parents[2] / "deployments" / "specs" / "credit.yaml"
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def _spec(**retraining_fields: Any) -> MonitorSpec:
    data = yaml.safe_load(SPEC_PATH.read_text())
    data["retraining"] = {**data["retraining"], **retraining_fields}
    return parse_spec(data, source="test")


def _hours(a: int, b: int) -> Span:
    return T0 + timedelta(hours=a), T0 + timedelta(hours=b)


def _rows(spec: MonitorSpec, times: list[datetime], *, target: int = 0) -> pd.DataFrame:
    cols = spec.columns
    frame = pd.DataFrame({c: [1.0] * len(times) for c in cols.numeric})
    for c in cols.categorical:
        frame[c] = "a"
    frame[cols.target] = target
    frame[cols.timestamp] = pd.to_datetime(times, utc=True)
    frame["row"] = range(len(times))
    return frame


# --------------------------------------------------------------------------- windows


def test_adjacent_windows_do_not_overlap_and_naive_times_are_utc() -> None:
    naive = (datetime(2026, 11, 23, 10), datetime(2026, 11, 23, 11))
    assert retraining.overlaps(naive, _hours(0, 1))
    assert not retraining.overlaps(_hours(0, 1), _hours(1, 2))
    assert retraining.overlaps(_hours(0, 2), _hours(1, 3))
    assert retraining.overlaps(_hours(1, 2), _hours(0, 3))  # contained


def test_without_quarantined_keeps_the_order_and_applies_the_limit_after_filtering() -> None:
    windows = [_hours(3, 4), _hours(2, 3), _hours(1, 2), _hours(0, 1)]  # newest first
    quarantined = [_hours(2, 3)]
    assert retraining.without_quarantined(windows, quarantined) == [
        _hours(3, 4),
        _hours(1, 2),
        _hours(0, 1),
    ]
    assert retraining.without_quarantined(windows, quarantined, limit=2) == [
        _hours(3, 4),
        _hours(1, 2),
    ]
    assert retraining.without_quarantined(windows, []) == windows


def test_quarantined_spans_are_distinct_utc_and_sorted() -> None:
    rows = [
        {"window_start": datetime(2026, 11, 23, 12), "window_end": datetime(2026, 11, 23, 13)},
        {"window_start": T0, "window_end": T0 + timedelta(hours=1)},
        {"window_start": datetime(2026, 11, 23, 12), "window_end": datetime(2026, 11, 23, 13)},
    ]
    assert retraining.quarantined_spans(rows) == [_hours(0, 1), _hours(2, 3)]
    assert all(s.tzinfo is UTC and e.tzinfo is UTC for s, e in retraining.quarantined_spans(rows))


def test_requested_windows_are_all_used_newest_first_without_the_quarantined_ones() -> None:
    requested = [_hours(0, 1), _hours(2, 3), _hours(1, 2)]
    chosen = retraining.training_windows(
        requested=requested, recent=[_hours(5, 6)], quarantined=[_hours(1, 2)], limit=1
    )
    assert chosen == [_hours(2, 3), _hours(0, 1)]  # the limit is for the policy's windows


def test_without_requested_windows_the_policy_takes_the_most_recent_clean_ones() -> None:
    recent = [_hours(3, 4), _hours(2, 3), _hours(1, 2)]
    chosen = retraining.training_windows(
        requested=None, recent=recent, quarantined=[_hours(3, 4)], limit=2
    )
    assert chosen == [_hours(2, 3), _hours(1, 2)]
    policy = _spec(recent_windows=2).retraining
    assert retraining.windows_to_fetch(policy, [_hours(3, 4)]) == 3


# --------------------------------------------------------------------------- training set


def test_the_newest_holdout_fraction_of_recent_rows_is_held_out_by_time() -> None:
    spec = _spec(holdout_fraction=0.3, include_reference=False)
    times = [T0 + timedelta(minutes=m) for m in range(10)]
    recent = [_rows(spec, times[5:]), _rows(spec, times[:5])]  # out of order on purpose
    reference = _rows(spec, [T0 - timedelta(days=1)] * 4)

    training = retraining.assemble_training_set(
        spec, reference, recent, [_hours(0, 1), _hours(-1, 0)]
    )

    assert (training.n_reference, training.n_recent, training.n_holdout) == (0, 7, 3)
    assert training.n_labeled == 10
    assert training.holdout_start == times[7]
    assert list(training.holdout[spec.columns.timestamp]) == times[7:]
    assert len(training.frame) == 7
    assert list(training.frame.columns) == [*spec.columns.features, spec.columns.target]
    assert training.windows == (_hours(-1, 0), _hours(0, 1))  # sorted
    assert training.data_from == _hours(-1, 0)[0]
    assert training.holdout_window == (times[7], _hours(0, 1)[1])


def test_rows_sharing_the_first_holdout_instant_are_all_held_out() -> None:
    spec = _spec(holdout_fraction=0.25, include_reference=True)
    same = T0 + timedelta(minutes=5)
    times = [T0, T0 + timedelta(minutes=1), same, same]  # ceil(4 * 0.25) = 1 → cut at `same`
    reference = _rows(spec, [T0 - timedelta(days=1)] * 4, target=1)

    training = retraining.assemble_training_set(spec, reference, [_rows(spec, times)], [])

    assert training.holdout_start == same
    assert (training.n_reference, training.n_recent, training.n_holdout) == (4, 2, 2)
    assert len(training.frame) == 6 and list(training.frame[spec.columns.target][:4]) == [1] * 4


def test_no_recent_rows_hold_nothing_out_and_have_no_holdout_window() -> None:
    spec = _spec()
    training = retraining.assemble_training_set(spec, _rows(spec, [T0]), [], [])
    assert training.holdout_start is None and training.n_labeled == 0
    assert training.holdout.empty
    with pytest.raises(RetrainError, match="holds nothing out"):
        _ = training.holdout_window


# --------------------------------------------------------------------------- skips


def test_cooldown_skips_only_within_the_cooldown() -> None:
    now = T0 + timedelta(hours=10)
    assert retraining.cooldown_skip(None, now=now, cooldown_hours=6) is None
    assert retraining.cooldown_skip(now - timedelta(hours=6), now=now, cooldown_hours=6) is None
    assert retraining.cooldown_skip(now, now=now, cooldown_hours=0) is None
    skip = retraining.cooldown_skip(now - timedelta(hours=1), now=now, cooldown_hours=6)
    assert skip is not None
    assert (skip.outcome, skip.state) == ("cooldown", "Cooldown")
    assert skip.message == (
        "last retraining at 2026-11-23 19:00:00 UTC, within the cooldown of 6 h"
    )
    assert skip.details == {"message": skip.message}


def _training(n_recent: int, n_holdout: int, *, holdout: bool = True) -> TrainingSet:
    return TrainingSet(
        frame=pd.DataFrame(),
        holdout=pd.DataFrame(),
        n_reference=0,
        n_recent=n_recent,
        n_holdout=n_holdout,
        holdout_start=T0 if holdout else None,
        windows=(_hours(-1, 0), _hours(0, 1)),
    )


def test_not_enough_recent_labels_is_a_skip_naming_both_counts() -> None:
    windows = [_hours(0, 1)]
    enough = retraining.not_enough_data_skip(
        _training(350, 150), min_labeled_rows=500, windows=windows
    )
    assert enough is None
    skip = retraining.not_enough_data_skip(
        _training(300, 100), min_labeled_rows=500, windows=windows
    )
    assert skip is not None and skip.outcome == Outcome.NOT_ENOUGH_DATA
    assert skip.state == StateName.NOT_ENOUGH_DATA == "NotEnoughData"
    assert skip.message == "400 recent labeled rows, the policy needs 500"
    assert skip.details["windows"] == [[T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()]]
    no_holdout = _training(0, 0, holdout=False)
    assert retraining.not_enough_data_skip(no_holdout, min_labeled_rows=0, windows=[]) is not None


def test_an_episode_claimed_by_another_run_is_a_skip() -> None:
    assert retraining.duplicate_episode_skip("credit-v1-x", None) is None
    skip = retraining.duplicate_episode_skip("credit-v1-x", "run-7")
    assert skip is not None
    assert (skip.outcome, skip.state) == ("duplicate-episode", "AlreadyRetrained")
    assert skip.message == "degradation episode credit-v1-x was already retrained (flow run run-7)"
    assert skip.details == {"message": skip.message, "episode": "credit-v1-x"}


# --------------------------------------------------------------------------- records


def test_registration_details_hold_the_windows_the_holdout_and_the_metrics() -> None:
    training = _training(70, 30)
    params = retraining.training_params(training, seed=3)
    assert params == {"n_reference": 0, "n_recent": 70, "n_holdout": 30, "seed": 3}
    details = retraining.registration_details(
        training,
        version="2",
        run_id="abc",
        params=params,
        metrics={"val_roc_auc": 0.8},
        reason="drift",
        episode=None,
        trainer=retraining.trainer_name(_spec().retraining),
    )
    assert details == {
        "version": "2",
        "run_id": "abc",
        **params,
        "val_roc_auc": 0.8,
        "reason": "drift",
        "episode": None,
        "trainer": "champion-pipeline",
        "windows": [[s.isoformat(), e.isoformat()] for s, e in training.windows],
        "holdout": [T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()],
    }
    assert retraining.trainer_name(_spec(trainer="pkg.mod:fit").retraining) == "pkg.mod:fit"


def test_lineage_tags_name_trigger_parent_data_code_and_trainer() -> None:
    lineage = Lineage(
        reason="drift",
        triggered_by=None,
        retrain_flow_run_id="r1",
        parent_version="1",
        data_from=T0,
        data_to=T0 + timedelta(hours=1),
        code_version="abc1234",
        trainer="champion-pipeline",
    )
    assert lineage.tags() == {
        "modelwatch.trigger.reason": "drift",
        "modelwatch.trigger.flow_run_id": "",
        "modelwatch.retrain.flow_run_id": "r1",
        "modelwatch.parent_version": "1",
        "modelwatch.data.from": "2026-11-23T10:00:00+00:00",
        "modelwatch.data.to": "2026-11-23T11:00:00+00:00",
        "modelwatch.code_version": "abc1234",
        "modelwatch.trainer": "champion-pipeline",
    }


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_code_version_is_the_short_head_of_a_checkout_else_unknown(tmp_path: Path) -> None:
    assert code_version(tmp_path) == UNKNOWN_CODE_VERSION  # not a checkout
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "-q")
    (repo / "f").write_text("x")
    git("add", "f")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "c")
    assert code_version(repo) == git("rev-parse", "--short", "HEAD")
    assert code_version(tmp_path / "missing") == UNKNOWN_CODE_VERSION


def test_challenger_artifacts_drop_pii_and_carry_the_profile_and_alias() -> None:
    spec = _spec()
    frame = _rows(spec, [T0 + timedelta(minutes=m) for m in range(8)])
    frame["email"] = "someone@example.com"
    frame["age"] = range(8)

    artifacts = retraining.challenger_artifacts(spec, frame)

    assert "email" not in artifacts["training_data"].columns
    assert len(artifacts["training_data"]) == 8 and "email" in frame.columns  # input untouched
    assert list(artifacts["input_example"].columns) == list(spec.columns.features)
    assert len(artifacts["input_example"]) == 5
    assert artifacts["alias"] == "challenger" and artifacts["run_name"] == "retrain-credit"
    assert artifacts["pii"] == ("email",) and artifacts["target"] == "defaulted"
    assert artifacts["trust_pickle"] is False
    profile = ReferenceProfile.from_arrays(artifacts["profile"])
    assert profile.n_rows == 8 and sorted(profile.numeric_columns) == sorted(spec.columns.numeric)
