"""Input checks of the drift functions: parameters (one message template) and data frames."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from modelwatch.errors import StatisticsError


def _param_error(function: str, name: str, requirement: str, value: object) -> StatisticsError:
    return StatisticsError(
        f"The {name!r} parameter of {function} must be {requirement}. Got {value!r} instead."
    )


def _check_int(function: str, name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise _param_error(function, name, f"an int >= {minimum}", value)
    return int(value)


def _check_fraction(function: str, name: str, value: object, *, closed_high: bool = False) -> float:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = 0.0 < v < 1.0 or (closed_high and v == 1.0)
    if not ok:
        bound = "(0, 1]" if closed_high else "(0, 1)"
        raise _param_error(function, name, f"a float in {bound}", value)
    return float(value)  # type: ignore[arg-type]


def _check_positive(function: str, name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.floating | np.integer)
        or not math.isfinite(float(value))
        or float(value) <= 0.0
    ):
        raise _param_error(function, name, "a finite float > 0", value)
    return float(value)


def _check_frame(frame: object, side: str, function: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise _param_error(function, side, "a pandas DataFrame", type(frame).__name__)
    if len(frame) == 0:
        raise StatisticsError(f"the {side} data of {function} has 0 rows")
    return frame


def _check_columns(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], side: str
) -> None:
    for column in [*numeric, *categorical]:
        if column not in frame.columns:
            raise StatisticsError(f"column {column!r} is missing from the {side} data")
    for column in numeric:
        dtype = frame[column].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise StatisticsError(
                f"column {column!r} in the {side} data has dtype {dtype}; it is declared numeric"
            )


def _check_declared(function: str, numeric: Sequence[str], categorical: Sequence[str]) -> None:
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise StatisticsError(
            f"columns {both} are declared both numeric and categorical in {function}"
        )
    for name, columns in (("numeric", numeric), ("categorical", categorical)):
        duplicated = sorted({c for c in columns if list(columns).count(c) > 1})
        if duplicated:
            raise StatisticsError(
                f"columns {duplicated} are listed twice in {name!r} of {function}"
            )
