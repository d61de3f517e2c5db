"""``compare_models`` (offline, paired) and ``compare_online`` (served A/B traffic); guarded promotion.

The rules (verdict, evidence, conclusion) are :mod:`modelwatch.promotion`; this
module is the pipeline: load → score → decide → record → conclude.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prefect import flow
from prefect.states import Completed

from flows.common import current_flow_run_id
from flows.rollout import enter_rollout
from modelwatch import promotion
from modelwatch.errors import RegistryError
from modelwatch.outcomes import AlertEvent, Alias, DecisionKind, Outcome, StateName
from modelwatch.promotion import Comparison
from tasks import ab, data, publish, registry, store, train

if TYPE_CHECKING:
    from modelwatch.io.registry import ModelVersionRef

#: the comparison's verdict (kinds ``ab`` / ``online-ab``); whether the alias moved is
#: recorded separately, by a ``promotion`` decision written after the move
CHALLENGER_WINS, CHAMPION_STAYS = Outcome.CHALLENGER_WINS, Outcome.CHAMPION_STAYS


def _record(record: Comparison) -> None:
    """Evidence: MLflow run (+ markdown artifact), tags on both versions, store row, artifact."""
    run_id = registry.log_evidence_run(record)
    registry.tag_versions(
        record.model, [record.champion, record.challenger], record.version_tags(run_id)
    )
    store.save_decision(
        record.model, record.kind, record.outcome, record.evidence, current_flow_run_id()
    )
    publish.publish_markdown(record.artifact_key, record.markdown, record.artifact_description)


def _conclude(record: Comparison, decision: Any, *, promote: bool, window_end: datetime) -> Any:
    """Promote the challenger, or tell that the champion stays; the comparison's final state.

    With ``ab.staged_rollout`` the winner enters the shadow stage instead, dated on the
    compared window's clock (``window_end``, see :func:`flows.rollout.enter_rollout`).
    """
    end = promotion.conclude(
        decision, promote=promote, champion=record.champion, challenger=record.challenger
    )
    if end.promote:
        if data.load_spec(record.model).ab.staged_rollout:  # shadow -> canary -> champion
            return enter_rollout(
                record.model, record.challenger, decision.reason, window_end=window_end
            )
        state = _promote(record.model, record.champion, record.challenger, decision.reason)
        return Completed(name=state.name, message=state.message, data=decision)
    if end.rejected:
        publish.notify(record.model, AlertEvent.REJECTED, end.message, record.evidence)
    return Completed(name=end.state, message=end.message, data=decision)


def _promote(model_name: str, champion: str, challenger: str, reason: str) -> Any:
    """Promote under the model's promotion lock; Completed 'Rejected' when the champion moved."""
    with registry.promotion_lock(model_name):
        state: Any = registry.promote(model_name, challenger, reason, champion, return_state=True)
    if state.is_completed():
        result = asdict(state.result())
        message = promotion.promoted_message(challenger, reason)
        store.save_decision(
            model_name, DecisionKind.PROMOTION, Outcome.PROMOTED, result, current_flow_run_id()
        )
        publish.notify(model_name, AlertEvent.PROMOTED, message, result)
        return Completed(name=StateName.PROMOTED, message=message)
    error = state.result(raise_on_failure=False)
    outcome, details = promotion.promotion_failure(error, version=challenger)
    store.save_decision(model_name, DecisionKind.PROMOTION, outcome, details, current_flow_run_id())
    if outcome == Outcome.CONFLICT:
        publish.notify(model_name, AlertEvent.REJECTED, str(error), details)
        return Completed(name=StateName.REJECTED, message=str(error))
    raise RegistryError(
        f"promoting v{challenger} of {model_name!r} failed; champion v{champion} unchanged: {error}"
    ) from (error if isinstance(error, BaseException) else None)


def _resolve(model_name: str, champion: str, challenger: str) -> tuple[ModelVersionRef, ...]:
    return (
        registry.resolve_version(model_name, champion),
        registry.resolve_version(model_name, challenger),
    )


@flow(
    name="compare-models",
    flow_run_name="compare-{model_name}-{champion}-vs-{challenger}",
    log_prints=True,
)
def compare_models(
    model_name: str,
    window_start: datetime,
    window_end: datetime,
    *,
    champion: str = Alias.CHAMPION.value,
    challenger: str = Alias.CHALLENGER.value,
    promote: bool = True,
    triggered_by: str | None = None,
) -> Any:
    """Compare two versions of a model on labeled rows and promote the winner.

    Decision: the spec's primary rule (paired bootstrap CI) AND every guardrail
    (calibration, fairness gap per segment column, prediction latency).

    Args:
        model_name: Registered model (and monitor spec) name.
        window_start: Start (UTC) of the labeled rows used for the comparison.
        window_end: End (UTC, exclusive) of the labeled rows used for the comparison.
        champion: Version number or alias of the model serving now (A).
        challenger: Version number or alias of the candidate (B).
        promote: Move the 'champion' alias to B when the A/B rule says so.
        triggered_by: Flow run id of the run that asked for this comparison (lineage).
    """
    spec = data.load_spec(model_name)
    store.check_schema()  # never a half-written run on a store of another revision
    ref_a, ref_b = _resolve(model_name, champion, challenger)
    rows: Any = data.load_labeled_rows(spec, window_start, window_end)
    holdout: Any = train.drop_quarantined(spec, rows, train.quarantined_windows(model_name))
    if holdout.empty:
        return Completed(name=StateName.NO_DATA, message="no labeled rows in the comparison window")
    model_a = registry.load_model(ref_a)
    model_b = registry.load_model(ref_b)
    scores_a = ab.score_rows(spec, model_a, holdout)
    scores_b = ab.score_rows(spec, model_b, holdout)
    primary = ab.ab_compare(spec, holdout, scores_a, scores_b)
    latency: Any = ab.prediction_latencies(spec, model_a, model_b, holdout)
    checks = ab.guardrails(spec, holdout, scores_a, scores_b, latency)
    decision = ab.decide(primary, checks)
    record = promotion.offline_record(
        decision,
        model=model_name,
        champion=ref_a.version,
        challenger=ref_b.version,
        window=(window_start, window_end),
        n_dropped=len(rows) - len(holdout),
        triggered_by=triggered_by,
    )
    _record(record)
    return _conclude(record, decision, promote=promote, window_end=window_end)


@flow(
    name="compare-online",
    flow_run_name="compare-online-{model_name}-{champion}-vs-{challenger}",
    log_prints=True,
)
def compare_online(
    model_name: str,
    window_start: datetime,
    window_end: datetime,
    *,
    champion: str = Alias.CHAMPION.value,
    challenger: str = Alias.CHALLENGER.value,
    promote: bool = True,
    triggered_by: str | None = None,
) -> Any:
    """Online A/B: compare the variants of served traffic (spec columns.variant) and promote.

    Rows whose variant column is 'champion' were served by A, 'canary' by B (the names
    modelwatch.serving writes; 'challenger', the older name, is read as B too).
    Below the required rows per variant (from the spec's minimum detectable
    effect and power) the run ends 'InsufficientData' and nothing moves.

    Args:
        model_name: Registered model (and monitor spec) name.
        window_start: Start (UTC) of the served, labeled traffic used.
        window_end: End (UTC, exclusive) of the served, labeled traffic used.
        champion: Version number or alias that served the 'champion' variant (A).
        challenger: Version number or alias that served the 'canary' variant (B).
        promote: Move the 'champion' alias to B when the rule says so.
        triggered_by: Flow run id of the run that asked for this comparison (lineage).
    """
    spec = data.load_spec(model_name)
    store.check_schema()  # never a half-written run on a store of another revision
    promotion.require_variant(spec)
    ref_a, ref_b = _resolve(model_name, champion, challenger)
    rows: Any = data.load_labeled_rows(spec, window_start, window_end)
    labeled: Any = train.drop_quarantined(spec, rows, train.quarantined_windows(model_name))
    decision = ab.online_compare(spec, labeled)
    record = promotion.online_record(
        decision,
        model=model_name,
        champion=ref_a.version,
        challenger=ref_b.version,
        window=(window_start, window_end),
        triggered_by=triggered_by,
    )
    if record.outcome == Outcome.INSUFFICIENT_DATA:
        store.save_decision(
            model_name, record.kind, record.outcome, record.evidence, current_flow_run_id()
        )
        publish.publish_markdown(record.artifact_key, record.markdown, record.artifact_description)
        return Completed(name=StateName.INSUFFICIENT_DATA, message=decision.reason, data=decision)
    _record(record)
    return _conclude(record, decision, promote=promote, window_end=window_end)
