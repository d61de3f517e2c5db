"""The champion's state: fitted once, saved as plain arrays, and equal to fitting per window.

The monitor used to re-score the reference, refit CBPE and rebuild the drift and
multivariate references for every window; these tests prove that a state saved and
read back (``np.load(allow_pickle=False)``) gives exactly the results of that path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from threadpoolctl import threadpool_limits

from modelwatch import analysis, simulate
from modelwatch.champion_state import (
    MULTIVARIATE_MAX_ROWS,
    ChampionState,
    fit_champion_state,
    load_or_fit,
    spec_fingerprint,
    thresholds_key,
)
from modelwatch.errors import StatisticsError
from modelwatch.spec import MonitorSpec
from modelwatch.stats.thresholds import CalibratedThresholds
from modelwatch.train import build_pipeline, score_frame

REPO = Path(__file__).resolve().parents[2]
MODELS = {"binary": "credit", "multiclass": "churn3", "regression": "house"}


def _spec(task: str, **drift: Any) -> MonitorSpec:
    raw = yaml.safe_load((REPO / "deployments" / "specs" / f"{MODELS[task]}.yaml").read_text())
    raw["drift"] = {**raw.get("drift", {}), "multivariate": True, **drift}
    return MonitorSpec.model_validate(raw)


def _world(task: str, n_reference: int = 1500) -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    """(reference, a drifted served window, the fitted champion) of one model kind."""
    spec = _spec(task)
    reference = simulate.generate_reference(n_reference, seed=1, task=task)
    model = build_pipeline(spec, seed=0)
    model.fit(reference[list(spec.columns.features)], reference[spec.columns.target])
    truth = simulate.sample(task, 600, drift=0.6, concept=0.3, rng=np.random.default_rng(2))
    predictions, scores = score_frame(model, truth, spec)
    window = truth.assign(**{spec.columns.prediction: predictions})
    if spec.columns.score and scores is not None:
        window[spec.columns.score] = scores
    for i, column in enumerate((spec.columns.class_scores or {}).values()):
        assert scores is not None
        window[column] = scores[:, i]
    return reference, window, model


def _saved(state: ChampionState, path: Path, **kw: Any) -> ChampionState:
    np.savez(path, **state.to_arrays(**kw))
    with np.load(path, allow_pickle=False) as data:
        return ChampionState.from_arrays({k: data[k] for k in data.files})


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("thresholds", ["constant", "calibrated"])
def test_a_saved_state_gives_the_results_of_refitting_per_window(
    task: str, thresholds: str, tmp_path: Path
) -> None:
    spec = _spec(task, thresholds=thresholds)
    reference, window, model = _world(task)
    outputs = score_frame(model, reference, spec)
    state = _saved(fit_champion_state(spec, reference, outputs), tmp_path / "state.npz")
    assert state.matches(spec) and state.n_reference == len(reference)

    # estimates: the state's CBPE vs CBPE fitted now on the re-scored reference
    stored = analysis.estimated_metrics(spec, predictions=window, state=state)
    refit = analysis.estimated_metrics(
        spec, reference=reference, reference_outputs=outputs, predictions=window
    )
    assert stored == refit
    assert bool(stored) == (task != "regression")

    # drift: profiles (features, prediction, target) + stored calibrated thresholds
    calibrated = None
    if thresholds == "calibrated":
        fitted = analysis.calibrated_thresholds(spec, reference, len(window))
        calibrated = CalibratedThresholds.from_dict(fitted.to_dict())
        assert calibrated == fitted
    drift = analysis.window_drift(
        spec, predictions=window, labeled=window, state=state, thresholds=calibrated
    )
    old = analysis.window_drift(
        spec, reference=reference, reference_outputs=outputs, predictions=window, labeled=window
    )
    assert drift == old
    assert {r.role for r in drift.columns} == {"feature", "prediction", "target"}
    assert state.multivariate is not None
    pd.testing.assert_frame_equal(
        state.multivariate, reference[[*spec.columns.numeric, *spec.columns.categorical]]
    )


def test_multivariate_drift_on_the_stored_reference_equals_the_reference(tmp_path: Path) -> None:
    spec = _spec("binary")
    reference, window, model = _world("binary")
    state = _saved(
        fit_champion_state(spec, reference, score_frame(model, reference, spec)),
        tmp_path / "state.npz",
    )
    assert state.multivariate is not None
    with threadpool_limits(limits=1):  # gradient boosting's OpenMP threads on a busy machine
        assert analysis.multivariate_drift(spec, state.multivariate, window) == (
            analysis.multivariate_drift(spec, reference, window)
        )


def test_a_state_saved_without_its_profile_takes_the_logged_one(tmp_path: Path) -> None:
    spec = _spec("binary")
    reference, window, model = _world("binary")
    state = fit_champion_state(spec, reference, score_frame(model, reference, spec))
    arrays = state.to_arrays(with_profile=False)
    assert not any(key.startswith("profile.") for key in arrays)
    with pytest.raises(StatisticsError, match="saved without its drift profile"):
        ChampionState.from_arrays(arrays)
    restored = ChampionState.from_arrays(arrays, profile=state.profile)
    assert analysis.window_drift(spec, predictions=window, labeled=window, state=restored) == (
        analysis.window_drift(spec, predictions=window, labeled=window, state=state)
    )


def test_text_labels_and_a_large_reference_are_stored_compactly(tmp_path: Path) -> None:
    spec = _spec("multiclass")
    reference, _, model = _world("multiclass", n_reference=MULTIVARIATE_MAX_ROWS + 500)
    predictions, scores = score_frame(model, reference, spec)
    assert predictions.dtype == object  # text labels: 'stay', 'downgrade', 'churn'
    state = fit_champion_state(spec, reference, (predictions, scores))
    restored = _saved(state, tmp_path / "state.npz")
    assert restored.predictions.tolist() == predictions.tolist()
    assert restored.multivariate is not None and len(restored.multivariate) == (
        MULTIVARIATE_MAX_ROWS
    )
    pd.testing.assert_frame_equal(restored.multivariate, state.multivariate)


def test_a_state_knows_the_spec_it_was_fitted_for() -> None:
    spec = _spec("binary")
    other = _spec("binary", multivariate=False)
    assert spec_fingerprint(spec) != spec_fingerprint(other)
    reference, _, model = _world("binary")
    state = fit_champion_state(spec, reference, score_frame(model, reference, spec))
    assert state.matches(spec) and not state.matches(other)
    assert fit_champion_state(other, reference, state.reference_outputs).multivariate is None
    # calibrated thresholds are keyed by the rounded window size (and the spec)
    assert thresholds_key(spec, 2049) == thresholds_key(spec, 2000)
    assert thresholds_key(spec, 2100) != thresholds_key(spec, 2000)


def test_a_broken_state_file_is_a_clear_error() -> None:
    with pytest.raises(StatisticsError, match="not a saved champion state"):
        ChampionState.from_arrays({})
    meta = np.array('{"format": 99}')
    with pytest.raises(StatisticsError, match="champion state format 99 is not supported"):
        ChampionState.from_arrays({"state.meta": meta})
    spec = _spec("binary")
    reference = simulate.generate_reference(1500, seed=1, task="binary")
    with pytest.raises(StatisticsError, match="10 reference outputs for 1500 reference rows"):
        fit_champion_state(spec, reference, (np.zeros(10), np.zeros(10)))


class _Sources:
    """The I/O ``load_or_fit`` is given, recording what was read, fitted and kept."""

    def __init__(self, state: ChampionState, **present: Any) -> None:
        self.state, self.calls, self.kept = state, [], []
        self.present = present

    def read(self, name: str) -> Any:
        self.calls.append(name)
        return self.present.get(name)

    def load(self, spec: MonitorSpec) -> ChampionState:
        return load_or_fit(
            spec,
            cached=lambda: self.read("cached"),
            logged=lambda: self.read("logged"),
            logged_profile=lambda: self.read("profile"),
            fit=lambda: (self.calls.append("fit"), self.state)[1],
            keep=self.kept.append,
        )


def test_a_stored_state_is_used_and_a_missing_stale_or_broken_one_is_fitted_once() -> None:
    spec = _spec("binary")
    reference, _, model = _world("binary")
    state = fit_champion_state(spec, reference, score_frame(model, reference, spec))
    full, bare = state.to_arrays(), state.to_arrays(with_profile=False)
    profile = state.profile.to_arrays()

    cached = _Sources(state, cached=full, logged=bare)  # fitted by this worker before
    assert cached.load(spec).matches(spec) and cached.calls == ["cached"] and not cached.kept
    logged = _Sources(state, logged=bare, profile=profile)  # logged with the version
    assert logged.load(spec).estimator is not None
    assert logged.calls == ["cached", "logged", "profile"] and not logged.kept
    missing = _Sources(state)  # an older version: fitted once, kept for the next windows
    assert missing.load(spec) is state
    assert missing.calls == ["cached", "logged", "fit"] and missing.kept == [state]
    other = _spec("binary", multivariate=False)  # fitted for other columns: refitted
    stale = _Sources(state, logged=bare, profile=profile)
    assert stale.load(other) is state and stale.calls[-1] == "fit"
    broken = dict(bare, **{"state.meta": np.array('{"format": 0}')})
    assert _Sources(state, logged=broken, profile=profile).load(spec) is state
    no_profile = _Sources(state, logged=bare)  # logged without profile.npz: refitted
    assert no_profile.load(spec) is state and no_profile.kept == [state]
