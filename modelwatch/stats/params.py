"""Declarative parameter checks for the statistics: one error template for every bad value.

In the spirit of scikit-learn's ``validate_params``: a parameter is checked
against a *constraint* object that can say what it accepts (``describe``) and
convert an accepted value (``convert``)::

    n_bootstrap = check_param("compare_models", "n_bootstrap", n_bootstrap, Interval(int, 1, None))
    check_params(
        "detect_drift",
        {
            "alpha": (alpha, Interval(float, 0, 1, closed="neither")),
            "correction": (correction, Options(("none", "bonferroni"))),
        },
    )

Every rejection is a :class:`~modelwatch.errors.StatisticsError` whose message
comes from :func:`param_error`, the one template::

    The 'n_bins' parameter of population_stability_index must be an int >= 2. Got 1 instead.

Constraints
-----------
:class:`Interval`
    A real (``float``) or integral (``int``) number between optional bounds;
    always finite; ``bool`` is never a number here. ``closed`` says which
    bounds belong to the interval (``"left"`` is the default, as ``x >= low``).
:class:`Options`
    One of a fixed set of values (``True`` is not ``1``).
Either may be wrapped as ``Interval(..., allow_none=True)`` /
``Options(..., allow_none=True)`` to also accept ``None``.

Array arguments
---------------
:func:`as_1d` (1-D, non-empty, no missing value), :func:`as_scores` (the same,
finite floats), :func:`same_length` (the row count several arrays share) and
:func:`positive_labels` (binary labels as ``label == pos_label``) name the
argument and the function in their messages too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelwatch.errors import StatisticsError

__all__ = [
    "Constraint",
    "Interval",
    "Options",
    "as_1d",
    "as_scores",
    "check_param",
    "check_params",
    "param_error",
    "positive_labels",
    "same_length",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Number = TypeVar("Number", int, float)

_REAL = (int, float, np.integer, np.floating)
_INTEGRAL = (int, np.integer)


def param_error(where: str, name: str, requirement: str, value: object) -> StatisticsError:
    """The one message of a rejected parameter: names the function, the parameter and the value."""
    return StatisticsError(
        f"The {name!r} parameter of {where} must be {requirement}. Got {value!r} instead."
    )


class Constraint(Protocol[T_co]):
    """What a parameter must be: ``accepts`` it, ``convert`` it, ``describe`` the rule."""

    def accepts(self, value: object) -> bool: ...

    def convert(self, value: Any) -> T_co: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Interval(Generic[Number]):
    """A finite ``int`` or ``float`` in ``[low, high]`` (each bound optional, ``closed`` per side).

    ``Interval(int, 2, None)`` is "an int >= 2"; ``Interval(float, 0, 1, closed="neither")``
    is "a float in (0, 1)"; ``Interval(float, 0, None)`` is "a finite float >= 0".
    """

    kind: type[Number]
    low: float | None
    high: float | None
    closed: Literal["left", "right", "both", "neither"] = "left"
    allow_none: bool = False

    def accepts(self, value: object) -> bool:
        if value is None:
            return self.allow_none
        if isinstance(value, bool) or not isinstance(
            value, _INTEGRAL if self.kind is int else _REAL
        ):
            return False
        number = float(value)
        if not math.isfinite(number):
            return False
        if self.low is not None:
            left = self.closed in ("left", "both")
            if number < self.low or (number == self.low and not left):
                return False
        if self.high is not None:
            right = self.closed in ("right", "both")
            if number > self.high or (number == self.high and not right):
                return False
        return True

    def convert(self, value: Any) -> Number:
        return self.kind(value)

    def describe(self) -> str:
        name = "an int" if self.kind is int else "a float"
        if self.low is not None and self.high is not None:
            left = "[" if self.closed in ("left", "both") else "("
            right = "]" if self.closed in ("right", "both") else ")"
            text = f"{name} in {left}{self.low:g}, {self.high:g}{right}"
        else:
            if self.kind is not int:
                name = "a finite float"
            if self.low is not None:
                op = ">=" if self.closed in ("left", "both") else ">"
                text = f"{name} {op} {self.low:g}"
            elif self.high is not None:
                op = "<=" if self.closed in ("right", "both") else "<"
                text = f"{name} {op} {self.high:g}"
            else:
                text = name
        return f"{text} or None" if self.allow_none else text


def _same(a: object, b: object) -> bool:
    """Equality that keeps ``True`` apart from ``1`` and never compares arrays elementwise."""
    if a is b:
        return True
    if isinstance(a, bool | np.bool_) != isinstance(b, bool | np.bool_):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Options(Generic[T]):
    """One of ``values`` (in the order given, which is the order the message lists them)."""

    values: tuple[T, ...]
    allow_none: bool = False

    def accepts(self, value: object) -> bool:
        if value is None and self.allow_none:
            return True
        return any(_same(value, option) for option in self.values)

    def convert(self, value: Any) -> T:
        return cast(T, value)

    def describe(self) -> str:
        if len(self.values) == 2 and all(isinstance(v, str) for v in self.values):
            text = f"{self.values[0]!r} or {self.values[1]!r}"
        else:
            text = f"one of {list(self.values)}"
        return f"{text} or None" if self.allow_none else text


def check_param(where: str, name: str, value: object, constraint: Constraint[T]) -> T:
    """``value`` converted by ``constraint``; :func:`param_error` when it is not accepted."""
    if not constraint.accepts(value):
        raise param_error(where, name, constraint.describe(), value)
    # ``None`` passes only where the constraint allows it; the caller's annotation says so
    return cast(T, None) if value is None else constraint.convert(value)


def check_params(where: str, params: Mapping[str, tuple[object, Constraint[Any]]]) -> None:
    """Check every ``name: (value, constraint)`` in order; the first rejected one raises."""
    for name, (value, constraint) in params.items():
        check_param(where, name, value, constraint)


# --------------------------------------------------------------------------- array arguments


def as_1d(values: object, name: str, where: str) -> np.ndarray:
    """``values`` as a non-empty 1-D array without missing values (any dtype)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise StatisticsError(
            f"The {name!r} argument of {where} must be 1-D. Got shape {array.shape} instead."
        )
    if array.size == 0:
        raise StatisticsError(f"The {name!r} argument of {where} is empty.")
    missing = pd.isna(array)
    if missing.any():
        raise StatisticsError(
            f"The {name!r} argument of {where} holds {int(missing.sum())} missing values."
        )
    return array


def as_scores(values: object, name: str, where: str) -> npt.NDArray[np.float64]:
    """``values`` as a non-empty 1-D array of finite floats."""
    try:
        scores = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(f"The {name!r} argument of {where} must be numeric.") from exc
    scores = as_1d(scores, name, where)
    if not np.all(np.isfinite(scores)):
        raise StatisticsError(f"The {name!r} argument of {where} holds non-finite values.")
    return scores


def same_length(where: str, **arrays: np.ndarray) -> int:
    """The length the named arrays share; an error listing every length when they differ."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise StatisticsError(f"The arguments of {where} have different lengths: {lengths}.")
    return next(iter(lengths.values()))


def positive_labels(
    y_true: np.ndarray, others: Sequence[np.ndarray], pos_label: object, where: str
) -> tuple[npt.NDArray[np.bool_], list[npt.NDArray[np.bool_]]]:
    """Binary labels as booleans ``label == pos_label``; more than two classes is an error.

    The classes are those of ``y_true`` and ``others`` (predicted labels) together.
    """
    labels = set(np.unique(y_true).tolist())
    for other in others:
        labels |= set(np.unique(other).tolist())
    if len(labels) > 2:
        raise StatisticsError(
            f"{where} supports binary labels only; got {len(labels)} classes "
            f"{sorted(labels, key=str)[:10]}"
        )
    if len(labels) == 2 and pos_label not in labels:
        raise param_error(where, "pos_label", f"one of {sorted(labels, key=str)}", pos_label)
    return y_true == pos_label, [np.asarray(o == pos_label) for o in others]
