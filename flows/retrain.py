"""``retrain_model``: train a challenger on reference + recent labeled windows, then compare."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow
from prefect.exceptions import MissingResult
from prefect.states import Completed

from flows.common import current_flow_run_id, window_bounds
from flows.compare import compare_models
from modelwatch.errors import RetrainError
from modelwatch.train import model_card
from tasks import ab, data, registry, store, train


def _code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@flow(name="retrain-model", flow_run_name="retrain-{model_name}", log_prints=True)
def retrain_model(
    model_name: str,
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
    last = store.last_decision_time(model_name, "retrain")
    if last and datetime.now(UTC) - last < timedelta(hours=policy.cooldown_hours):
        message = (
            f"last retraining at {last:%Y-%m-%d %H:%M:%S} UTC, within the cooldown of "
            f"{policy.cooldown_hours:g} h"
        )
        store.save_decision(
            model_name, "retrain-skipped", "cooldown", {"message": message}, current_flow_run_id()
        )
        return Completed(name="Cooldown", message=message)

    champion = registry.resolve_version(model_name, "champion")
    quarantined = train.quarantined_windows(model_name)
    if windows:  # the caller's windows (an event's degraded windows), all of them
        chosen = sorted(windows, reverse=True)
        windows = train.without_quarantined(chosen, quarantined, len(chosen))
    else:
        windows = train.without_quarantined(
            store.recent_validated_windows(
                model_name, end, policy.recent_windows + len(quarantined)
            ),
            quarantined,
            policy.recent_windows,
        )
    recent = [data.load_labeled_rows(spec, s, e) for s, e in windows]
    reference = registry.load_reference(champion)
    training = train.assemble_training_set(spec, reference, recent, windows)
    if (
        training.holdout_start is None
        or training.n_recent + training.n_holdout < policy.min_labeled_rows
    ):
        message = (
            f"{training.n_recent + training.n_holdout} recent labeled rows, "
            f"the policy needs {policy.min_labeled_rows}"
        )
        store.save_decision(
            model_name,
            "retrain-skipped",
            "not-enough-data",
            {"message": message, "windows": [[s.isoformat(), e.isoformat()] for s, e in windows]},
            current_flow_run_id(),
        )
        return Completed(name="NotEnoughData", message=message)

    holder = store.claim_episode(model_name, episode, current_flow_run_id()) if episode else None
    if holder is not None:
        message = f"degradation episode {episode} was already retrained (flow run {holder})"
        store.save_decision(
            model_name,
            "retrain-skipped",
            "duplicate-episode",
            {"message": message, "episode": episode},
            current_flow_run_id(),
        )
        return Completed(name="AlreadyRetrained", message=message)

    candidate = train.fit_candidate(
        spec, training.frame, registry.load_model(champion), policy.seed
    )
    predictions, scores = train.score_rows(spec, candidate, training.holdout)
    val = ab.holdout_metrics(spec, training.holdout, predictions, scores)
    holdout_end = max(e for _, e in training.windows)
    lineage = {
        "modelwatch.trigger.reason": reason,
        "modelwatch.trigger.flow_run_id": triggered_by or "",
        "modelwatch.retrain.flow_run_id": current_flow_run_id() or "",
        "modelwatch.parent_version": champion.version,
        "modelwatch.data.from": min(s for s, _ in training.windows).isoformat(),
        "modelwatch.data.to": training.holdout_start.isoformat(),
        "modelwatch.code_version": _code_version(),
        "modelwatch.trainer": policy.trainer or "champion-pipeline",
    }
    params = {
        "n_reference": training.n_reference,
        "n_recent": training.n_recent,
        "n_holdout": training.n_holdout,
        "seed": policy.seed,
    }
    per_segment = ab.holdout_segment_metrics(spec, training.holdout, predictions, scores)
    card = model_card(spec, val, {**params, "reason": reason}, segment_metrics=per_segment)
    ref = registry.log_candidate(
        spec, candidate, training.frame, params, val, lineage, f"retrain-{model_name}", card
    )
    store.save_decision(
        model_name,
        "retrain",
        "challenger-registered",
        {
            "version": ref.version,
            "run_id": ref.run_id,
            **params,
            **val,
            "reason": reason,
            "episode": episode,
            "trainer": policy.trainer or "champion-pipeline",
            "windows": [[s.isoformat(), e.isoformat()] for s, e in training.windows],
            "holdout": [training.holdout_start.isoformat(), holdout_end.isoformat()],
        },
        current_flow_run_id(),
    )
    state: Any = compare_models(
        model_name,
        window_start=training.holdout_start,
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
