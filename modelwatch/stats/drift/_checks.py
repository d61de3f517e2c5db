"""Input checks of the drift functions: the parameter constraints they share, and the data frames.

Parameters are checked with :func:`modelwatch.stats.params.check_param` (one
message template); the constraints several drift functions use are named here.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from modelwatch.errors import StatisticsError
from modelwatch.stats.params import Interval, param_error

FRACTION = Interval(float, 0, 1, closed="neither")
"""A float in (0, 1): ``alpha``, ``eps``, ``false_alarm``."""
SHARE = Interval(float, 0, 1, closed="right")
"""A float in (0, 1]: ``dataset_drift_share``."""
POSITIVE = Interval(float, 0, None, closed="neither")
"""A finite float > 0: thresholds and effects."""
N_BINS = Interval(int, 2, None)
"""An int >= 2: quantile bins of the reference."""


def check_frame(frame: object, side: str, function: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise param_error(function, side, "a pandas DataFrame", type(frame).__name__)
    if len(frame) == 0:
        raise StatisticsError(f"the {side} data of {function} has 0 rows")
    return frame


def check_columns(
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


def check_declared(function: str, numeric: Sequence[str], categorical: Sequence[str]) -> None:
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
