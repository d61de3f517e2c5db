"""``advance-rollout``: one look at the staged rollout of a model (shadow -> canary -> champion).

The rules are :mod:`modelwatch.rollout` (next step, live guardrails, the stored
sequential test); the stage lives in the registry
(:meth:`modelwatch.io.aliases.AliasBook.rollout`). Per window: read the stage → load the
window's labeled rows → shadow: guardrails on the logged shadow answers; canary: add the
rows of both variants to the always-valid test (stored as the version tag
``modelwatch.sequential``, each window counted once) and check the live guardrails →
:func:`~modelwatch.rollout.next_step` → act under the model's promotion lock → record
(store ``rollout`` decision, Prefect event ``modelwatch.model.canary_started`` /
``promoted`` / ``rejected``, alert, markdown artifact).

Clock: a stage's age is measured at the window's end (or now, when that is earlier: see
:func:`modelwatch.rollout.evidence_time`), and a stage entered on a window's evidence is
dated at that time, so that ages count hours of evidence whether the run is on time, late
or a catch-up (and in the demo, whose windows lie in the past). A shadow stage advances
only on a window whose log carries its answers.

The tasks of this module are thin wrappers over the registry's alias book (they belong
in ``tasks/registry.py``; kept here until that file takes them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.states import Completed

from flows.common import current_flow_run_id
from modelwatch import rollout
from modelwatch.errors import ChampionChanged
from modelwatch.outcomes import (
    AlertEvent,
    Alias,
    DecisionKind,
    ModelEvent,
    Stage,
    StageTag,
    StateName,
)
from modelwatch.rollout import RolloutAction, RolloutStep
from modelwatch.serving import SHADOW_PREFIX
from tasks import IO_TASK, data, publish, registry, store, train

if TYPE_CHECKING:
    from modelwatch.io.aliases import RolloutStage

ROLLOUT_KIND = DecisionKind.ROLLOUT


@task(name="read-rollout", task_run_name="read-rollout-{model_name}", **IO_TASK)
def read_rollout(model_name: str) -> RolloutStage | None:
    """The version in shadow or canary (with its tags), or None."""
    return registry.open_registry().alias_book.rollout(model_name)


@task(name="save-test", task_run_name="save-test-{model_name}-v{version}", **IO_TASK)
def save_test(model_name: str, version: str, stored: rollout.StoredTest) -> None:
    """The canary's sequential test as its version tag (written before any alias moves)."""
    registry.open_registry().set_version_tags(
        model_name, version, {StageTag.SEQUENTIAL.value: stored.to_json()}
    )


def _date_stage(model_name: str, version: str, started_at: datetime | None) -> None:
    """Date the stage just entered at ``started_at`` (the evidence's clock, see
    :func:`modelwatch.rollout.evidence_time`) instead of the wall clock the book stamped."""
    if started_at is not None:
        registry.open_registry().set_version_tags(
            model_name, version, {StageTag.STARTED.value: started_at.isoformat()}
        )


@task(name="move-stage", task_run_name="move-stage-{model_name}-{action}", **IO_TASK)
def move_stage(
    model_name: str,
    action: RolloutAction,
    *,
    share: float,
    reason: str,
    champion: str | None,
    started_at: datetime | None = None,
) -> Any:
    """The alias move of ``action`` (caller holds the promotion lock); a canary started
    here is dated ``started_at`` when given."""
    book = registry.open_registry().alias_book
    current = book.rollout(model_name)
    if action is RolloutAction.START_CANARY and current is not None:
        stage = book.start_canary(model_name, current.version, share=share, reason=reason)
        _date_stage(model_name, current.version, started_at)
        return stage
    if action is RolloutAction.PROMOTE:
        return book.promote_canary(model_name, reason=reason, expected_champion=champion)
    if current is not None and current.stage is Stage.SHADOW:
        return book.end_shadow(model_name, reason=reason)
    return book.end_canary(model_name, reason=reason)


@task(name="start-stage", task_run_name="start-stage-{model_name}-v{version}", **IO_TASK)
def start_stage(
    model_name: str,
    version: str,
    *,
    canary_share: float | None,
    reason: str,
    started_at: datetime | None = None,
) -> Any:
    """Enter the staged rollout: shadow, or canary at once (``canary_share``); lock held.
    Dated ``started_at`` when given."""
    book = registry.open_registry().alias_book
    if canary_share is None:
        stage = book.start_shadow(model_name, version, reason=reason)
    else:
        stage = book.start_canary(model_name, version, share=canary_share, reason=reason)
    _date_stage(model_name, version, started_at)
    return book.rollout(model_name) if started_at is not None else stage


def enter_rollout(
    model_name: str, version: str, reason: str, *, window_end: datetime | None = None
) -> Any:
    """A challenger that won the offline comparison enters the staged rollout (not promoted).

    Shadow first, or the canary stage at once when ``ab.shadow_hours`` is 0; under the
    promotion lock; recorded as a ``rollout`` decision and a Prefect event. The monitor's
    ``advance-rollout`` subflow moves it on, window by window. With ``window_end`` (the
    end of the window whose evidence won) the stage is dated on the windows' clock
    (:func:`modelwatch.rollout.evidence_time`), else at the current time.
    """
    spec = data.load_spec(model_name)
    share = spec.ab.canary_share if spec.ab.shadow_hours == 0 else None
    started = None if window_end is None else rollout.evidence_time(window_end, datetime.now(UTC))
    with registry.promotion_lock(model_name):
        stage: Any = start_stage(
            model_name, version, canary_share=share, reason=reason, started_at=started
        )
    event = ModelEvent.SHADOW_STARTED if share is None else ModelEvent.CANARY_STARTED
    details: dict[str, Any] = {
        "version": version,
        "stage": str(stage.stage),
        "reason": reason,
        "started_at": stage.started_at.isoformat(),
    }
    if share is not None:
        details["canary_share"] = share
    store.save_decision(
        model_name, ROLLOUT_KIND, f"start-{stage.stage}", details, current_flow_run_id()
    )
    publish.emit_model_event(str(event), model_name, details)
    name = StateName.SHADOW_STARTED if share is None else StateName.CANARY_STARTED
    where = "shadow (scored, not served)" if share is None else f"canary ({share:.0%} of traffic)"
    message = f"v{version} won the offline comparison and entered the {where}: {reason}"
    return Completed(name=name, message=message, data=details)


def _look(spec: Any, stage: RolloutStage, labeled: Any, window: tuple[datetime, datetime]) -> Any:
    """One look at the stage's evidence: (test decision, guardrails, test to store or None,
    whether the window logged the shadow's answers).

    Shadow: the guardrails on the labeled rows that carry logged shadow answers (none
    when the log has no ``shadow_`` columns, e.g. rows served before the stage began).
    Canary: the window's rows added to the stored test unless it counted this window
    already (a re-run), then the decision and the live guardrails.
    """
    if stage.stage is Stage.SHADOW:
        column = f"{SHADOW_PREFIX}{spec.columns.prediction}"
        rows = labeled[labeled[column].notna()] if column in labeled.columns else labeled[:0]
        checks = rollout.shadow_guardrails(spec, rows) if len(rows) else []
        return None, checks, None, len(rows) > 0
    stored = rollout.StoredTest.read(stage.tags.get(StageTag.SEQUENTIAL.value), spec.ab)
    new = stored.counts(window[0])
    if new:
        stored = rollout.StoredTest(rollout.update_test(stored.state, spec, labeled), window[1])
    decision = rollout.sequential_decision(stored.state, spec.ab)
    checks = rollout.canary_guardrails(spec, labeled, seed=spec.ab.seed)
    return decision, checks, stored if new else None, True


_END_STATES = {
    RolloutAction.START_CANARY: StateName.CANARY_STARTED,
    RolloutAction.PROMOTE: StateName.PROMOTED,
    RolloutAction.REJECT: StateName.REJECTED,
    RolloutAction.CONTINUE: StateName.ROLLOUT_CONTINUES,
}


@flow(name="advance-rollout", flow_run_name="rollout-{model_name}", log_prints=True)
def advance_rollout(
    model_name: str,
    window_start: datetime,
    window_end: datetime,
    *,
    now: datetime | None = None,
) -> Any:
    """Advance the staged rollout of a model by one window's evidence.

    Shadow: guardrails on the logged shadow answers; after ab.shadow_hours the version
    serves ab.canary_share as canary. Canary: the window's labeled rows of both variants
    update the always-valid sequential test; promote, reject (also on a guardrail
    breach, or after ab.max_canary_hours) or continue. Alias moves hold the promotion lock.

    Args:
        model_name: Registered model (and monitor spec) name.
        window_start: Start (UTC) of the window whose labeled rows are added.
        window_end: End (UTC, exclusive) of that window.
        now: The time the stage's age is measured at (default: the window's end, or the current time when that is earlier: ages run on the windows' clock, so a late or catch-up run decides as the on-time run would have).
    """
    spec = data.load_spec(model_name)
    store.check_schema()
    stage = read_rollout(model_name)
    if stage is None:
        return Completed(name=StateName.NO_ROLLOUT, message=f"{model_name}: nothing in rollout")
    champion = registry.find_alias(model_name, Alias.CHAMPION.value)
    rows: Any = data.load_labeled_rows(spec, window_start, window_end)
    labeled: Any = train.drop_quarantined(spec, rows, train.quarantined_windows(model_name))
    decision, checks, stored, logged = _look(spec, stage, labeled, (window_start, window_end))
    if stored is not None:
        save_test(model_name, stage.version, stored)
    at = now or rollout.evidence_time(window_end, datetime.now(UTC))
    step = rollout.next_step(
        stage.stage,
        age_hours=max(0.0, stage.age_hours(at)),
        policy=spec.ab,
        decision=decision,
        guardrail_results=checks,
        shadow_logged=logged,
    )
    details = rollout.step_details(
        step,
        version=stage.version,
        window=(window_start, window_end),
        decision=decision,
        guardrail_results=checks,
    )
    if step.action is not RolloutAction.CONTINUE:
        step = _act(
            model_name,
            step,
            share=spec.ab.canary_share,
            champion=champion,
            details=details,
            started_at=at,
        )
    store.save_decision(model_name, ROLLOUT_KIND, str(step.action), details, current_flow_run_id())
    publish.publish_markdown(
        f"{model_name}-rollout", rollout.step_markdown(model_name, stage.version, step), "Rollout"
    )
    return Completed(name=_END_STATES[step.action], message=step.reason, data=details)


def _act(
    model_name: str,
    step: RolloutStep,
    *,
    share: float,
    champion: Any,
    details: dict[str, Any],
    started_at: datetime,
) -> RolloutStep:
    """Move the aliases under the promotion lock, then announce it (event + alert); a canary
    started here is dated ``started_at`` (the time its shadow's age was measured at)."""
    with registry.promotion_lock(model_name):
        state: Any = move_stage(
            model_name,
            step.action,
            share=share,
            reason=step.reason,
            champion=champion.version if champion else None,
            started_at=started_at,
            return_state=True,
        )
    if not state.is_completed():
        error = state.result(raise_on_failure=False)
        if not isinstance(error, ChampionChanged):
            raise error
        with registry.promotion_lock(model_name):  # the evidence was against another champion
            ended: Any = move_stage(
                model_name, RolloutAction.REJECT, share=share, reason=str(error), champion=None
            )
        details["ended_version"] = ended
        step = RolloutStep(RolloutAction.REJECT, step.stage, f"canary rejected: {error}")
        details["reason"] = step.reason
    alert = {RolloutAction.PROMOTE: AlertEvent.PROMOTED, RolloutAction.REJECT: AlertEvent.REJECTED}
    if step.action in alert:  # notify emits modelwatch.model.promoted|rejected and alerts
        publish.notify(model_name, alert[step.action], step.reason, details)
    elif step.event is not None:
        publish.emit_model_event(str(step.event), model_name, details)
    return step
