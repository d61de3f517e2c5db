"""``retrain_model``: train a challenger on reference + recent labeled windows, then compare.

The rules (cooldown, training windows, holdout split, skips, lineage) are
:mod:`modelwatch.retraining` and :mod:`modelwatch.lineage`; this module is the pipeline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prefect import flow
from prefect.exceptions import MissingResult
from prefect.states import Completed

from flows.common import current_flow_run_id, subflow_settings, window_bounds
from flows.compare import compare_models
from modelwatch import retraining
from modelwatch.errors import RetrainError
from modelwatch.lineage import Lineage, code_version
from modelwatch.outcomes import Alias, DecisionKind, Outcome
from modelwatch.retraining import Skip, TrainingSet
from modelwatch.spec import MonitorSpec
from modelwatch.train import model_card
from tasks import ab, data, registry, store, train

if TYPE_CHECKING:
    from modelwatch.io.registry import ModelVersionRef


def _skipped(model_name: str, skip: Skip) -> Any:
    """Record why the retraining stopped (a ``retrain-skipped`` row) and end with its state."""
    store.save_decision(
        model_name, DecisionKind.RETRAIN_SKIPPED, skip.outcome, skip.details, current_flow_run_id()
    )
    return Completed(name=skip.state, message=skip.message)


def _register_challenger(
    spec: MonitorSpec,
    champion: ModelVersionRef,
    training: TrainingSet,
    *,
    lineage: Lineage,
    episode: str | None,
) -> ModelVersionRef:
    """Fit, evaluate on the holdout, log as ``challenger`` with its model card; record it."""
    seed = spec.retraining.seed
    candidate = train.fit_candidate(spec, training.frame, registry.load_model(champion), seed)
    scores = train.score_rows(spec, candidate, training.holdout)
    val = ab.holdout_metrics(spec, training.holdout, scores)
    params = retraining.training_params(training, seed=seed)
    per_segment = ab.holdout_segment_metrics(spec, training.holdout, scores)
    card = model_card(spec, val, {**params, "reason": lineage.reason}, segment_metrics=per_segment)
    ref = registry.log_candidate(
        spec,
        candidate,
        training.frame,
        params=params,
        metrics=val,
        tags=lineage.tags(),
        model_card=card,
    )
    details = retraining.registration_details(
        training,
        version=ref.version,
        run_id=ref.run_id,
        params=params,
        metrics=val,
        reason=lineage.reason,
        episode=episode,
        trainer=lineage.trainer,
    )
    store.save_decision(
        spec.name,
        DecisionKind.RETRAIN,
        Outcome.CHALLENGER_REGISTERED,
        details,
        current_flow_run_id(),
    )
    return ref


@flow(name="retrain-model", flow_run_name="retrain-{model_name}", log_prints=True)
def retrain_model(
    model_name: str,
    *,
    reason: str = "manual",
    window_end: datetime | None = None,
    triggered_by: str | None = None,
    promote: bool = True,
    windows: list[tuple[datetime, datetime]] | None = None,
    episode: str | None = None,
) -> Any:
    """Train a challenger, register it and A/B-compare it (guarded promotion).

    The candidate is the champion's pipeline cloned and refit, or the spec's
    ``retraining.trainer``; training data: the champion's reference (policy) plus
    the most recent validated, labeled windows (quarantined windows never).

    Args:
        model_name: Registered model (and monitor spec) name.
        reason: Why retraining was asked for (recorded as lineage).
        window_end: Newest data to use (UTC, exclusive); default: the last complete window.
        triggered_by: Flow run id of the monitor run that asked for retraining.
        promote: Let the comparison move the 'champion' alias.
        windows: Train on exactly these windows ([start, end) pairs, e.g. the degraded windows of a modelwatch.model.degraded event) instead of the most recent validated ones.
        episode: Degradation episode asking for the retrain; an episode is retrained at most once (a second request ends as AlreadyRetrained).
    """
    spec = data.load_spec(model_name)
    store.check_schema()  # never a half-written run on a store of another revision
    policy = spec.retraining
    if windows and window_end is None:
        window_end = max(e for _, e in windows)
    _, end = window_bounds(window_end, spec.schedule.window_hours)
    last = store.last_decision_time(model_name, DecisionKind.RETRAIN)
    skip = retraining.cooldown_skip(
        last, now=datetime.now(UTC), cooldown_hours=policy.cooldown_hours
    )
    if skip:
        return _skipped(model_name, skip)

    champion = registry.resolve_version(model_name, Alias.CHAMPION)
    quarantined = train.quarantined_windows(model_name)
    fetch = retraining.windows_to_fetch(policy, quarantined)
    recent = [] if windows else store.recent_validated_windows(model_name, end, fetch)
    windows = train.training_windows(spec, windows, recent, quarantined)
    labeled = [data.load_labeled_rows(spec, s, e) for s, e in windows]
    reference = registry.load_reference(champion)
    training = train.assemble_training_set(spec, reference, labeled, windows)
    skip = retraining.not_enough_data_skip(
        training, min_labeled_rows=policy.min_labeled_rows, windows=windows
    )
    if skip:
        return _skipped(model_name, skip)
    holder = store.claim_episode(model_name, episode, current_flow_run_id()) if episode else None
    skip = retraining.duplicate_episode_skip(episode, holder)
    if skip:
        return _skipped(model_name, skip)

    holdout_start, holdout_end = training.holdout_window
    lineage = Lineage(
        reason=reason,
        triggered_by=triggered_by,
        retrain_flow_run_id=current_flow_run_id(),
        parent_version=champion.version,
        data_from=training.data_from,
        data_to=holdout_start,
        code_version=code_version(),
        trainer=retraining.trainer_name(policy),
    )
    ref = _register_challenger(spec, champion, training, lineage=lineage, episode=episode)
    with subflow_settings():
        state: Any = compare_models(
            model_name,
            window_start=holdout_start,
            window_end=holdout_end,
            champion=champion.version,
            challenger=ref.version,
            promote=promote,
            triggered_by=current_flow_run_id(),
            return_state=True,
        )
    if state.is_failed():
        raise RetrainError(
            f"challenger v{ref.version} registered, but the comparison failed; champion "
            f"v{champion.version} unchanged: {state.message}"
        )
    try:
        decision = state.result()
    except MissingResult:  # the state came back from the API without its data
        decision = None
    return Completed(name=state.name, message=state.message, data=decision)
