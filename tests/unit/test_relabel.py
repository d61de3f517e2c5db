"""Which windows the relabel flow re-judges (modelwatch.monitoring, no Prefect)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelwatch.errors import StatisticsError
from modelwatch.monitoring import JudgedWindow, judged_windows, windows_to_rejudge

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _window(hour: int, *, n_rows: int = 100, n_labeled: int = 50, champion: str = "1"):  # type: ignore[no-untyped-def]
    start = T0 + timedelta(hours=hour)
    return JudgedWindow(start, start + timedelta(hours=1), champion, n_rows, n_labeled)


def test_only_windows_whose_label_coverage_grew_are_rejudged_oldest_first() -> None:
    windows = [_window(3), _window(1), _window(2)]
    chosen = windows_to_rejudge(windows, [60, 50, 51])
    assert [(r.window.start.hour, r.new_labels) for r in chosen] == [(2, 1), (3, 10)]


def test_fewer_labels_than_when_judged_never_qualify() -> None:
    assert windows_to_rejudge([_window(1)], [10]) == []


def test_the_growth_must_reach_both_the_count_and_the_fraction() -> None:
    windows = [_window(1), _window(2), _window(3)]
    chosen = windows_to_rejudge(windows, [54, 55, 70], min_new_labels=5, min_new_fraction=0.1)
    assert [r.window.start.hour for r in chosen] == [3]  # +4 < 5; +5 < 10 % of 100; +20
    chosen = windows_to_rejudge(windows, [54, 55, 70], min_new_labels=5)
    assert [r.window.start.hour for r in chosen] == [2, 3]


def test_a_window_judged_without_labels_is_rejudged_when_they_arrive() -> None:
    (chosen,) = windows_to_rejudge([_window(1, n_labeled=0)], [80])
    assert chosen.n_labeled_now == 80 and chosen.new_labels == 80


def test_the_champion_that_served_the_window_is_kept() -> None:
    (chosen,) = windows_to_rejudge([_window(1, champion="3")], [99])
    assert chosen.window.champion_version == "3"


def test_stored_runs_without_validation_or_champion_are_not_candidates() -> None:
    def row(hour: int, **extra):  # type: ignore[no-untyped-def]
        start = T0 + timedelta(hours=hour)
        base = {
            "window_start": start,
            "window_end": start + timedelta(hours=1),
            "champion_version": "2",
            "n_rows": 10,
            "n_labeled": 4,
            "validation_passed": True,
        }
        return {**base, **extra}

    rows = [row(5), row(4, validation_passed=False), row(3, champion_version=None), row(2)]
    assert [(w.start.hour, w.champion_version, w.n_labeled) for w in judged_windows(rows)] == [
        (2, "2", 4),
        (5, "2", 4),
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_new_labels": 0}, r"'min_new_labels' .* must be an int >= 1\. Got 0 instead"),
        ({"min_new_labels": 1.5}, r"'min_new_labels' .* Got 1\.5 instead"),
        ({"min_new_fraction": 1.5}, r"'min_new_fraction' .* in \[0, 1\]\. Got 1\.5 instead"),
        ({"min_new_fraction": float("nan")}, r"'min_new_fraction' .* Got nan instead"),
    ],
)
def test_bad_parameters_are_refused_by_name(kwargs: dict, match: str) -> None:
    with pytest.raises(StatisticsError, match=match):
        windows_to_rejudge([_window(1)], [60], **kwargs)


def test_one_count_per_window_is_required() -> None:
    with pytest.raises(StatisticsError, match=r"one count per window \(1\)\. Got 2 instead"):
        windows_to_rejudge([_window(1)], [60, 70])
