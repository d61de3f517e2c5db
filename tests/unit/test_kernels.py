"""The shared statistical kernels (``modelwatch.stats.kernels``) and parameter checks
(``modelwatch.stats.params``) against direct or reference implementations."""

from __future__ import annotations

import re

import numpy as np
import pytest

from modelwatch.errors import StatisticsError
from modelwatch.stats.params import Interval, Options, check_param, check_params, param_error

# --------------------------------------------------------------------------- params


def test_param_error_is_the_one_template() -> None:
    error = param_error("population_stability_index", "n_bins", "an int >= 2", 1)
    assert isinstance(error, StatisticsError)
    assert str(error) == (
        "The 'n_bins' parameter of population_stability_index must be an int >= 2. Got 1 instead."
    )


@pytest.mark.parametrize(
    ("constraint", "text"),
    [
        (Interval(int, 0, None), "an int >= 0"),
        (Interval(int, 1, None, allow_none=True), "an int >= 1 or None"),
        (Interval(int, 1, 10, closed="both"), "an int in [1, 10]"),
        (Interval(float, 0, 1, closed="neither"), "a float in (0, 1)"),
        (Interval(float, 0, 1, closed="right"), "a float in (0, 1]"),
        (Interval(float, 0, None), "a finite float >= 0"),
        (Interval(float, 1, None), "a finite float >= 1"),
        (Interval(float, 0, None, closed="neither"), "a finite float > 0"),
        (Interval(float, None, 0, closed="right"), "a finite float <= 0"),
        (Interval(float, None, None), "a finite float"),
        (Options(("superiority", "non_inferiority")), "'superiority' or 'non_inferiority'"),
        (Options((0, 1)), "one of [0, 1]"),
        (Options(("a", "b", "c")), "one of ['a', 'b', 'c']"),
        (Options((True, False), allow_none=True), "one of [True, False] or None"),
    ],
)
def test_constraints_describe_themselves(constraint: object, text: str) -> None:
    assert constraint.describe() == text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        (Interval(int, 0, None), [0, 5, np.int64(3)], [-1, 2.5, True, "3", None, np.float64(1.0)]),
        (Interval(int, 1, None, allow_none=True), [None, 1], [0, False]),
        (Interval(float, 0, 1, closed="neither"), [0.5, np.float32(0.1)], [0, 1, 1.0, 95, True]),
        (Interval(float, 0, 1, closed="right"), [1.0, 1, 0.25], [0.0, 1.5, float("nan")]),
        (Interval(float, 0, None), [0, 0.0, 3, np.int64(2)], [-0.1, float("inf"), None, "1"]),
        (Interval(float, 0, None, closed="neither"), [1e-9], [0, 0.0, float("nan")]),
        (Interval(float, None, None), [-1e300, 0], [float("-inf"), float("nan"), False]),
        (Options(("a", "b")), ["a", np.str_("b")], ["c", None, 1]),
        (Options((True, False), allow_none=True), [True, False, None], [1, 0, "True"]),
        (Options((0, 1)), [0, 1, np.int64(1)], [True, 2, np.array([0, 1])]),
    ],
)
def test_constraints_accept_exactly_their_values(
    constraint: object, good: list[object], bad: list[object]
) -> None:
    assert all(constraint.accepts(v) for v in good)  # type: ignore[attr-defined]
    assert not any(constraint.accepts(v) for v in bad)  # type: ignore[attr-defined]


def test_check_param_converts_accepted_values() -> None:
    seed = check_param("f", "seed", np.int64(7), Interval(int, 0, None))
    assert seed == 7 and type(seed) is int
    margin = check_param("f", "margin", 0, Interval(float, 0, None))
    assert margin == 0.0 and type(margin) is float
    assert check_param("f", "chunk_size", None, Interval(int, 1, None, allow_none=True)) is None
    assert check_param("f", "rule", "superiority", Options(("superiority", "x"))) == "superiority"


def test_check_params_names_the_first_rejected_parameter() -> None:
    expected = (
        "The 'confidence' parameter of compare_models must be a float in (0, 1). Got 95 instead."
    )
    with pytest.raises(StatisticsError, match=re.escape(expected)):
        check_params(
            "compare_models",
            {
                "n_bootstrap": (10, Interval(int, 1, None)),
                "confidence": (95, Interval(float, 0, 1, closed="neither")),
                "seed": (-1, Interval(int, 0, None)),
            },
        )
    check_params("compare_models", {"n_bootstrap": (10, Interval(int, 1, None))})
