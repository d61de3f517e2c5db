"""Serving helper for a staged rollout: which variant answers a request, and the log columns.

Routing is a **stable hash** of the prediction id, not a random draw: the same id goes to
the same variant in every process, on every machine and in every release, so a retried
request, a replayed log or a second serving replica agree, and the routing can be
re-derived later from the log alone. The point of an id is::

    u = int.from_bytes(blake2b(f"{salt}\\x1f{id}".encode(), digest_size=8).digest(), "big") / 2**64

and the id is served by the canary iff ``u < canary_share``. ``salt`` defaults to the
model name, so two models with canaries at the same time split traffic independently.
Raising the share only moves champion ids to the canary (a canary id stays one), and
the share of canary ids is ``canary_share`` within binomial noise. Ids are hashed as
their text (``str(id)``: ``7`` and ``"7"`` route alike). Python's ``hash`` is never used:
it is salted per process.

:func:`score_with_stages` is what a serving step does with a champion, an optional canary
and an optional shadow model: it returns the served answers (champion rows from the
champion, canary rows from the canary), the ``variant`` column (``champion`` /
``canary``) the online comparison reads, and the shadow model's answers in
``shadow_<column>`` columns (logged for the shadow stage's comparison, never served).
The stage, the canary share and their start are read from the registry
(:meth:`modelwatch.io.aliases.AliasBook.rollout`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelwatch.errors import DataError, ParameterError
from modelwatch.outcomes import Alias, Stage
from modelwatch.spec import MonitorSpec
from modelwatch.train import score_frame

__all__ = [
    "CANARY",
    "CHAMPION",
    "DEFAULT_VARIANT_COLUMN",
    "SHADOW_PREFIX",
    "Router",
    "rollout_columns",
    "route",
    "route_many",
    "route_points",
    "score_with_stages",
]

CHAMPION = Alias.CHAMPION.value
CANARY = Stage.CANARY.value
#: the variant column when the spec declares no ``columns.variant``
DEFAULT_VARIANT_COLUMN = "variant"
#: prefix of the shadow model's output columns
SHADOW_PREFIX = "shadow_"
_SCALE = float(2**64)


def _share(canary_share: object) -> float:
    if (
        isinstance(canary_share, bool)
        or not isinstance(canary_share, (int, float, np.integer, np.floating))
        or not 0.0 <= float(canary_share) <= 1.0
    ):
        raise ParameterError(
            f"The 'canary_share' parameter of route must be a float in [0, 1]. "
            f"Got {canary_share!r} instead."
        )
    return float(canary_share)


def _salt(salt: object) -> bytes:
    if not isinstance(salt, str) or not salt:
        raise ParameterError(
            f"The 'salt' parameter of route must be a non-empty str (the model name). "
            f"Got {salt!r} instead."
        )
    return salt.encode("utf-8") + b"\x1f"


def _point(prefix: bytes, prediction_id: object) -> float:
    if prediction_id is None or (
        isinstance(prediction_id, float) and prediction_id != prediction_id
    ):
        raise DataError(f"a prediction id is missing ({prediction_id!r}): it cannot be routed")
    digest = hashlib.blake2b(prefix + str(prediction_id).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def route(prediction_id: object, *, canary_share: float, salt: str) -> str:
    """``"canary"`` when the id's point is below ``canary_share``, else ``"champion"``."""
    share = _share(canary_share)
    return CANARY if _point(_salt(salt), prediction_id) < share else CHAMPION


def route_points(ids: Iterable[object], *, salt: str) -> np.ndarray:
    """The point in ``[0, 1)`` of each id (the hash behind :func:`route`), as floats."""
    prefix = _salt(salt)
    values = ids.tolist() if isinstance(ids, (pd.Series, pd.Index, np.ndarray)) else list(ids)
    missing = [i for i, v in enumerate(values) if v is None or pd.isna(v)]
    if missing:
        raise DataError(
            f"{len(missing)} prediction id(s) are missing (first at row {missing[0]}): "
            "rows without an id cannot be routed"
        )
    return np.fromiter((_point(prefix, v) for v in values), dtype=float, count=len(values))


def route_many(ids: Iterable[object], *, canary_share: float, salt: str) -> np.ndarray:
    """:func:`route` of every id: an array of ``"champion"`` / ``"canary"`` (dtype object)."""
    share = _share(canary_share)
    canary = route_points(ids, salt=salt) < share
    return np.where(canary, CANARY, CHAMPION).astype(object)


@dataclass(frozen=True)
class Router:
    """The routing of one model: ``salt`` (the model name) and the canary's share."""

    salt: str
    canary_share: float = 0.0

    def __post_init__(self) -> None:
        _share(self.canary_share)
        _salt(self.salt)

    def route(self, prediction_id: object) -> str:
        return route(prediction_id, canary_share=self.canary_share, salt=self.salt)

    def route_many(self, ids: Iterable[object]) -> np.ndarray:
        return route_many(ids, canary_share=self.canary_share, salt=self.salt)


def _output_columns(spec: MonitorSpec) -> list[str]:
    cols = spec.columns
    out = [cols.prediction]
    if cols.score:
        out.append(cols.score)
    out += list((cols.class_scores or {}).values())
    return out


def rollout_columns(spec: MonitorSpec) -> list[str]:
    """The columns a staged rollout adds to the prediction log (:func:`score_with_stages`):
    the variant column and ``shadow_<output>`` for each output column."""
    variant = spec.columns.variant or DEFAULT_VARIANT_COLUMN
    return [variant, *(SHADOW_PREFIX + column for column in _output_columns(spec))]


def _outputs(model: Any, frame: pd.DataFrame, spec: MonitorSpec) -> dict[str, Any]:
    """The spec's output columns of ``model`` on ``frame`` (prediction, score / class scores)."""
    predictions, scores = score_frame(model, frame, spec, source="the served requests")
    cols = spec.columns
    out: dict[str, Any] = {cols.prediction: predictions}
    if scores is not None and cols.score and scores.ndim == 1:
        out[cols.score] = scores
    if scores is not None and cols.class_scores and scores.ndim == 2:
        for i, column in enumerate(cols.class_scores.values()):
            out[column] = scores[:, i]
    return out


def score_with_stages(
    frame: pd.DataFrame,
    spec: MonitorSpec,
    *,
    champion: Any,
    canary: Any | None = None,
    shadow: Any | None = None,
    canary_share: float = 0.0,
    salt: str | None = None,
) -> pd.DataFrame:
    """Serve ``frame``'s requests: answers, ``variant`` and shadow answers, one row each.

    Rows the router sends to the canary (``canary`` given, share ``canary_share``, salt
    the model name unless given) are answered by the canary, the others by the
    champion; each model scores only its own rows. The variant column is
    ``columns.variant`` (or ``variant``). With a ``shadow`` model every row also gets
    its answers in ``shadow_<prediction>`` / ``shadow_<score>`` columns. Row order and
    the index are kept; the input frame is not modified.
    """
    id_column = spec.columns.id
    if id_column not in frame.columns:
        raise DataError(f"column {id_column!r} (columns.id) is missing from the served requests")
    variant_column = spec.columns.variant or DEFAULT_VARIANT_COLUMN
    share = _share(canary_share) if canary is not None else 0.0
    variants = route_many(frame[id_column], canary_share=share, salt=salt or spec.name)
    served = frame.copy()
    served[variant_column] = pd.Series(variants, index=frame.index, dtype="str")
    on_canary = variants == CANARY
    parts = []
    for model, mask in ((champion, ~on_canary), (canary, on_canary)):
        rows = np.flatnonzero(mask)
        if model is not None and rows.size:
            parts.append(pd.DataFrame(_outputs(model, frame.iloc[rows], spec), index=rows))
    if parts:
        outputs = pd.concat(parts).sort_index()
        for column in outputs.columns:
            served[column] = outputs[column].to_numpy()
    else:  # no request: the answer columns exist all the same
        for column in _output_columns(spec):
            served[column] = pd.Series(dtype="float64", index=frame.index)
    if shadow is not None:
        answers = (
            _outputs(shadow, frame, spec)
            if len(frame)
            else dict.fromkeys(_output_columns(spec), np.empty(0))
        )
        for column, values in answers.items():
            served[SHADOW_PREFIX + column] = values
    return served
