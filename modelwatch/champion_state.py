"""A champion's fitted state: what every monitor run needs from its reference, fitted once.

A monitor run used to re-score the champion's whole reference, refit CBPE and
rebuild the drift and multivariate references for every window. All of that
depends only on the model version (and the spec's columns), so it is fitted once
per version into a :class:`ChampionState`:

* the reference outputs: the champion's predictions and scores on its reference;
* the fitted CBPE estimator (calibration maps, chunk spreads, band sizes:
  :class:`~modelwatch.stats.estimation.CBPE`), None when CBPE does not apply;
* the feature drift profile (:class:`~modelwatch.stats.drift.ReferenceProfile`,
  compact above :data:`~modelwatch.stats.drift.profile.COMPACT_MIN_ROWS` values);
* the output profile: ``prediction:<score or prediction>`` and ``target:<target>``
  as profile columns (the prediction and target drift of every window);
* the multivariate reference: the reference's feature columns (a seeded sample of
  :data:`MULTIVARIATE_MAX_ROWS` rows above that size), only when the spec asks for
  multivariate drift.

Calibrated drift thresholds (``drift.thresholds: calibrated``) also depend on the
window size: :func:`fit_thresholds` calibrates them for
:func:`~modelwatch.stats.thresholds.threshold_chunk_size` of the window's rows (the
row count rounded down to two significant digits), and the worker keeps each size's
result as JSON in its cache of the version's run (task ``drift-thresholds``).

When: :func:`fit_version_state` runs when a version is logged (retraining's
``tasks.registry.log_candidate`` passes ``champion_state=`` to
``Registry.log_model_version``), and the state is logged as the run artifact
``reference/champion_state.npz`` next to ``reference/profile.npz`` (without the
feature profile, which is that file). A version logged without it (older
modelwatch, the demo's bootstrap), or whose state was fitted for other spec
columns (:func:`spec_fingerprint` differs) or in a format this modelwatch does not
read, is fitted once by the first worker that needs it and kept in that worker's
cache (``$MODELWATCH_HOME/cache/<run_id>/champion_state-<fingerprint>.npz``): never
per window (:func:`load_or_fit`, the rule the ``load-champion-state`` task wires).
It is not written back to the version's run: a monitor worker does not write into
the registry's runs, and two workers logging the same artifact at once could show a
half-written file to a third.

Format: :meth:`ChampionState.to_arrays` gives plain numpy arrays and JSON text for
``np.savez``; it is read with ``np.load(..., allow_pickle=False)``; the multivariate
sample is embedded as Parquet bytes (a ``uint8`` array). No pickle anywhere: a state
file from the artifact store runs no code when loaded.

Equality: a state restored from its arrays gives the same estimates, drift and
multivariate results as the state it was saved from (``tests/unit/test_champion_state.py``),
and a monitor run with a state gives the results the run fitted everything per
window gave (up to the profile's compaction above 100k rows, whose bounds are in
:mod:`modelwatch.stats.drift.profile`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelwatch.analysis import (
    PREDICTION_PREFIX,
    TARGET_PREFIX,
    ReferenceOutputs,
    calibrated_thresholds,
    fit_estimator,
    prediction_column,
)
from modelwatch.errors import StatisticsError
from modelwatch.spec import MonitorSpec
from modelwatch.stats.drift import ReferenceProfile, fit_reference_profile
from modelwatch.stats.estimation import CBPE
from modelwatch.stats.thresholds import threshold_chunk_size

__all__ = [
    "FORMAT_VERSION",
    "MULTIVARIATE_MAX_ROWS",
    "ChampionState",
    "fit_champion_state",
    "fit_thresholds",
    "fit_version_state",
    "load_or_fit",
    "local_state_name",
    "spec_fingerprint",
    "thresholds_key",
]

FORMAT_VERSION = 1
"""Version of the :meth:`ChampionState.to_arrays` layout."""

MULTIVARIATE_MAX_ROWS = 20_000
"""Largest multivariate reference kept (a seeded sample above; the domain classifier
uses at most 5 000 rows of it, PCA fits on all of it)."""

_SEED = 0
_log = logging.getLogger(__name__)


def spec_fingerprint(spec: MonitorSpec) -> str:
    """Hash of the spec fields a state depends on (columns, task, multivariate on/off)."""
    cols = spec.columns
    parts = {
        "format": FORMAT_VERSION,
        "task": spec.task,
        "numeric": list(cols.numeric),
        "categorical": list(cols.categorical),
        "target": cols.target,
        "prediction": cols.prediction,
        "score": cols.score,
        "class_scores": dict(cols.class_scores or {}),
        "multivariate": spec.drift.multivariate,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class ChampionState:
    """Everything a monitor run needs from the champion's reference (module docstring)."""

    fingerprint: str
    """:func:`spec_fingerprint` of the spec it was fitted for."""
    n_reference: int
    predictions: npt.NDArray[Any]
    """The champion's predictions on its reference (text for non-numeric labels)."""
    scores: npt.NDArray[np.float64] | None
    """Its scores: positive-class (binary), class matrix (multiclass), None (regression)."""
    estimator: CBPE | None
    profile: ReferenceProfile
    """Feature drift profile."""
    outputs: ReferenceProfile | None
    """Profile of the ``prediction:<column>`` and ``target:<target>`` drift columns."""
    multivariate: pd.DataFrame | None
    """The feature columns of (a sample of) the reference; None unless multivariate drift."""

    @property
    def reference_outputs(self) -> ReferenceOutputs:
        """``(predictions, scores)``, as ``train.score_frame`` returns them."""
        return self.predictions, self.scores

    def matches(self, spec: MonitorSpec) -> bool:
        """Fitted for this spec's columns (else it is stale: refit)."""
        return self.fingerprint == spec_fingerprint(spec)

    def to_arrays(self, *, with_profile: bool = True) -> dict[str, npt.NDArray[Any]]:
        """Plain arrays for ``np.savez`` (no object arrays); :meth:`from_arrays` reads them.

        ``with_profile=False`` leaves the feature profile out (it is logged as its own
        artifact ``reference/profile.npz``; :meth:`from_arrays` then takes it as an argument).
        """
        text = self.predictions.dtype.kind not in "biuf"
        meta = {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "n_reference": self.n_reference,
            "predictions_text": text,
            "scores": self.scores is not None,
            "estimator": self.estimator is not None,
            "outputs": self.outputs is not None,
            "multivariate": self.multivariate is not None,
            "profile": with_profile,
        }
        arrays: dict[str, npt.NDArray[Any]] = {
            "state.meta": np.array(json.dumps(meta)),
            "state.predictions": (
                self.predictions.astype(str) if text else np.asarray(self.predictions)
            ),
        }
        if self.scores is not None:
            arrays["state.scores"] = np.asarray(self.scores, dtype=np.float64)
        if self.estimator is not None:
            arrays.update(self.estimator.to_arrays("cbpe."))
        if with_profile:
            arrays.update(_prefixed("profile.", self.profile.to_arrays()))
        if self.outputs is not None:
            arrays.update(_prefixed("outputs.", self.outputs.to_arrays()))
        if self.multivariate is not None:
            buffer = io.BytesIO()
            self.multivariate.to_parquet(buffer, index=False)
            arrays["multivariate.parquet"] = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
        return arrays

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, npt.NDArray[Any]],
        *,
        profile: ReferenceProfile | None = None,
    ) -> ChampionState:
        """The state saved by :meth:`to_arrays` (``profile``: when saved without it)."""
        try:
            meta = json.loads(str(np.asarray(arrays["state.meta"])[()]))
            if meta.get("format") != FORMAT_VERSION:
                raise StatisticsError(
                    f"champion state format {meta.get('format')!r} is not supported "
                    f"(this modelwatch reads {FORMAT_VERSION})"
                )
            predictions = np.asarray(arrays["state.predictions"])
            if meta["predictions_text"]:
                predictions = predictions.astype(object)
            if meta["profile"]:
                profile = ReferenceProfile.from_arrays(_unprefixed("profile.", arrays))
            if profile is None:
                raise StatisticsError("the champion state was saved without its drift profile")
            multivariate = None
            if meta["multivariate"]:
                raw = np.asarray(arrays["multivariate.parquet"], dtype=np.uint8).tobytes()
                multivariate = pd.read_parquet(io.BytesIO(raw))
            return cls(
                fingerprint=str(meta["fingerprint"]),
                n_reference=int(meta["n_reference"]),
                predictions=predictions,
                scores=(
                    np.asarray(arrays["state.scores"], dtype=np.float64) if meta["scores"] else None
                ),
                estimator=CBPE.from_arrays(arrays, "cbpe.") if meta["estimator"] else None,
                profile=profile,
                outputs=(
                    ReferenceProfile.from_arrays(_unprefixed("outputs.", arrays))
                    if meta["outputs"]
                    else None
                ),
                multivariate=multivariate,
            )
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise StatisticsError(f"not a saved champion state: {exc!r}") from exc


def _prefixed(prefix: str, arrays: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
    return {f"{prefix}{key}": value for key, value in arrays.items()}


def _unprefixed(prefix: str, arrays: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
    return {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}


def _output_profile(
    spec: MonitorSpec, reference: pd.DataFrame, outputs: ReferenceOutputs
) -> ReferenceProfile | None:
    """Profile of the prediction (when one column) and target drift columns."""
    cols = spec.columns
    ref_pred, ref_scores = outputs
    frame: dict[str, Any] = {}
    numeric: list[str] = []
    categorical: list[str] = []
    column, is_numeric = prediction_column(spec)
    values = ref_scores if cols.score is not None else ref_pred
    if values is not None and np.ndim(values) == 1:
        name = PREDICTION_PREFIX + column
        frame[name] = np.asarray(values)
        (numeric if is_numeric else categorical).append(name)
    if cols.target in reference.columns:
        name = TARGET_PREFIX + cols.target
        frame[name] = reference[cols.target].to_numpy()
        (numeric if spec.task == "regression" else categorical).append(name)
    if not frame:
        return None
    return fit_reference_profile(
        pd.DataFrame(frame), numeric=numeric, categorical=categorical
    ).compacted()


def _multivariate_reference(spec: MonitorSpec, reference: pd.DataFrame) -> pd.DataFrame | None:
    if not spec.drift.multivariate:
        return None
    features = reference[[*spec.columns.numeric, *spec.columns.categorical]]
    if len(features) <= MULTIVARIATE_MAX_ROWS:
        return features.reset_index(drop=True)
    rng = np.random.default_rng(_SEED)
    rows = np.sort(rng.choice(len(features), size=MULTIVARIATE_MAX_ROWS, replace=False))
    return features.iloc[rows].reset_index(drop=True)


def fit_champion_state(
    spec: MonitorSpec, reference: pd.DataFrame, outputs: ReferenceOutputs
) -> ChampionState:
    """Fit the state of a version from its reference and its outputs on it.

    ``outputs``: ``train.score_frame(model, reference, spec)`` (the caller scores:
    this module loads no model).
    """
    predictions, scores = outputs
    if len(predictions) != len(reference):
        raise StatisticsError(
            f"fit_champion_state: {len(predictions)} reference outputs for "
            f"{len(reference)} reference rows"
        )
    profile = fit_reference_profile(
        reference, numeric=spec.columns.numeric, categorical=spec.columns.categorical
    ).compacted()
    return ChampionState(
        fingerprint=spec_fingerprint(spec),
        n_reference=len(reference),
        predictions=np.asarray(predictions),
        scores=None if scores is None else np.asarray(scores, dtype=np.float64),
        estimator=fit_estimator(spec, reference, outputs),
        profile=profile,
        outputs=_output_profile(spec, reference, outputs),
        multivariate=_multivariate_reference(spec, reference),
    )


def thresholds_key(spec: MonitorSpec, window_rows: int) -> str:
    """File name of the calibrated thresholds of a window size (the cache key)."""
    policy = spec.drift
    parts = {
        "state": spec_fingerprint(spec),
        "method": policy.method,
        "methods": dict(policy.methods),
        "n_chunks": policy.calibration_chunks,
        "k": policy.calibration_k,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
    return f"thresholds-{digest}-{threshold_chunk_size(window_rows)}.json"


fit_thresholds = calibrated_thresholds
"""Calibrated thresholds for windows of ``window_rows`` rows (:func:`modelwatch.analysis.calibrated_thresholds`)."""


def local_state_name(spec: MonitorSpec) -> str:
    """Cache file name of a state a worker fitted itself (per spec fingerprint)."""
    return f"champion_state-{spec_fingerprint(spec)}.npz"


def fit_version_state(spec: MonitorSpec, model: Any, training_data: pd.DataFrame) -> ChampionState:
    """The state of a version about to be logged: ``model`` scored on its training data
    (the rows logged as its reference, in the same order)."""
    from modelwatch.train import score_frame

    outputs = score_frame(model, training_data, spec, source="the training data")
    return fit_champion_state(spec, training_data, outputs)


Arrays = Mapping[str, npt.NDArray[Any]]


def load_or_fit(
    spec: MonitorSpec,
    *,
    cached: Callable[[], Arrays | None],
    logged: Callable[[], Arrays | None],
    logged_profile: Callable[[], Arrays | None],
    fit: Callable[[], ChampionState],
    keep: Callable[[ChampionState], object],
) -> ChampionState:
    """The champion's state for ``spec``: the one this worker fitted before (``cached``),
    else the one logged with the version (``logged``, its feature profile from
    ``logged_profile`` when saved without it), else ``fit()`` once and ``keep`` it.

    A stored state fitted for other spec columns, or unreadable (a format of another
    modelwatch, a damaged file), is not used: the state is fitted anew (logged as a
    warning). The callables are the I/O (``tasks.registry.load_champion_state`` passes
    the registry and the worker's cache), so the rule is tested without MLflow.
    """
    for source, read in (("cached", cached), ("logged", logged)):
        arrays = read()
        if arrays is None:
            continue
        try:
            profile = None
            if not any(key.startswith("profile.") for key in arrays):
                profile_arrays = logged_profile()
                if profile_arrays is None:
                    _log.warning("the %s champion state has no drift profile: refitting", source)
                    continue
                profile = ReferenceProfile.from_arrays(profile_arrays)
            state = ChampionState.from_arrays(arrays, profile=profile)
        except StatisticsError as exc:
            _log.warning("the %s champion state is not usable (%s): refitting", source, exc)
            continue
        if state.matches(spec):
            return state
        _log.info("the %s champion state was fitted for other spec columns", source)
    state = fit()
    keep(state)
    return state
