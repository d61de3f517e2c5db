"""The names modelwatch writes and reads back: decision kinds, outcomes, aliases, states.

Every value equals the string stored before these enums existed (store rows,
MLflow tags, alert events, Prefect state names), so stored data reads the same;
a :class:`~enum.StrEnum` member *is* that string (``Outcome.PROMOTED == "promoted"``,
``f"{Alias.CHAMPION}"`` is ``"champion"``, JSON and SQL see the plain text).

* :class:`DecisionKind` — the ``kind`` of a ``decisions`` row;
* :class:`Outcome` — the ``outcome`` of a ``decisions`` row (also the MLflow tag
  ``modelwatch.outcome`` of an evidence run);
* :class:`Alias` — registry aliases; ``champion`` / ``challenger`` are also the
  values of the online A/B ``columns.variant``;
* :class:`Stage` — the staged rollout: the aliases ``shadow`` / ``canary``, the
  version tag ``modelwatch.stage`` and the served ``variant`` of canary rows;
  :class:`StageTag` — the rollout's version tag names;
* :class:`AlertEvent` — the events of :func:`tasks.publish.notify` (the spec's
  ``alerts.events``);
* :class:`ModelEvent` — the Prefect events a degraded window and a rollout emit;
* :class:`StateName` — terminal state names of the flows;
* :class:`WindowDecision` — the per-window ``decision`` of a monitor summary.
"""

from __future__ import annotations

from enum import StrEnum


class DecisionKind(StrEnum):
    """``decisions.kind``: which step of retraining or promotion wrote the row."""

    RETRAIN = "retrain"  # a challenger was registered
    RETRAIN_SKIPPED = "retrain-skipped"  # cooldown / not enough data / episode done
    RETRAIN_EPISODE = "retrain-episode"  # the claim of a degradation episode
    AB = "ab"  # offline comparison verdict (written before any alias moves)
    ONLINE_AB = "online-ab"  # online (served traffic) comparison verdict
    PROMOTION = "promotion"  # written only after the alias moved (or failed to)
    ROLLBACK = "rollback"
    ROLLOUT = "rollout"  # a staged-rollout step (shadow / canary start, promote, reject)


class Outcome(StrEnum):
    """``decisions.outcome``, by kind."""

    # retrain
    CHALLENGER_REGISTERED = "challenger-registered"
    # retrain-skipped
    COOLDOWN = "cooldown"
    NOT_ENOUGH_DATA = "not-enough-data"
    DUPLICATE_EPISODE = "duplicate-episode"
    # retrain-episode
    CLAIMED = "claimed"
    # ab / online-ab: the verdict (also the MLflow tag ``modelwatch.outcome``)
    CHALLENGER_WINS = "challenger-wins"
    CHAMPION_STAYS = "champion-stays"
    INSUFFICIENT_DATA = "insufficient-data"  # online-ab only: nothing decided
    # promotion
    PROMOTED = "promoted"
    CONFLICT = "conflict"  # the champion moved since the comparison
    FAILED = "failed"
    # rollback
    ROLLED_BACK = "rolled-back"


class Alias(StrEnum):
    """Registry aliases (and the online A/B variant values ``champion`` / ``challenger``)."""

    CHAMPION = "champion"
    CHALLENGER = "challenger"
    PREVIOUS = "previous"


class Stage(StrEnum):
    """A version's place in the staged rollout (``modelwatch.stage`` version tag).

    ``shadow`` and ``canary`` are also registry aliases (one version each at most);
    ``canary`` is the ``variant`` value of the rows the canary served (the champion's
    rows say ``champion``). Kept apart from :class:`Alias` so the stored alias list
    of the offline flow stays what it was.
    """

    SHADOW = "shadow"  # scored on every request, answers not served
    CANARY = "canary"  # serves a share of the traffic
    CHAMPION = "champion"  # promoted from canary
    REJECTED = "rejected"  # the rollout ended without a promotion (guardrail, test, timeout)

    @property
    def is_alias(self) -> bool:
        """``shadow`` and ``canary`` are aliases of the version in that stage."""
        return self in (Stage.SHADOW, Stage.CANARY)


class StageTag(StrEnum):
    """Version tags of the staged rollout (what a serving system reads besides the aliases)."""

    STAGE = "modelwatch.stage"  # a Stage value
    STARTED = "modelwatch.stage_started"  # ISO 8601 UTC start of the stage
    ENDED = "modelwatch.stage_ended"  # when it ended (promoted or rejected)
    REASON = "modelwatch.stage_reason"  # why it started / ended
    BY = "modelwatch.stage_by"  # who moved it
    CANARY_SHARE = "modelwatch.canary_share"  # share of the traffic the canary serves
    SEQUENTIAL = "modelwatch.sequential"  # the canary's stored sequential test (JSON)


class AlertEvent(StrEnum):
    """Events an alert is sent for (the values of the spec's ``alerts.events``)."""

    DEGRADED = "degraded"
    RESOLVED = "resolved"  # a degradation episode ended (modelwatch.alerting)
    PROMOTED = "promoted"
    REJECTED = "rejected"
    VALIDATION_FAILED = "validation_failed"
    ROLLED_BACK = "rolled_back"


class StateName(StrEnum):
    """Names of the flows' terminal states (``Completed(name=...)`` / ``Failed(name=...)``)."""

    PROMOTED = "Promoted"
    REJECTED = "Rejected"
    NOT_PROMOTED = "NotPromoted"
    NO_DATA = "NoData"
    INSUFFICIENT_DATA = "InsufficientData"
    COOLDOWN = "Cooldown"
    NOT_ENOUGH_DATA = "NotEnoughData"
    ALREADY_RETRAINED = "AlreadyRetrained"
    ROLLED_BACK = "RolledBack"
    DEGRADED = "Degraded"
    REJUDGED = "Rejudged"
    RELABELED = "Relabeled"
    NO_NEW_LABELS = "NoNewLabels"
    NO_ROLLOUT = "NoRollout"  # advance-rollout: no version in shadow or canary
    SHADOW_STARTED = "ShadowStarted"  # compare-models: the winner entered the shadow stage
    CANARY_STARTED = "CanaryStarted"  # advance-rollout: shadow -> canary
    ROLLOUT_CONTINUES = "RolloutContinues"  # advance-rollout: nothing moved


class ModelEvent(StrEnum):
    """Prefect event ``modelwatch.model.<value>`` about the resource ``modelwatch.model.<model>``.

    The notifications of :func:`tasks.publish.notify` use the :class:`AlertEvent` values.
    """

    DEGRADED = "degraded"  # retraining.mode event: the <model>-on-degraded deployment retrains
    DEGRADATION_DETECTED = "degradation-detected"  # the other modes: a notification only
    SHADOW_STARTED = "shadow_started"  # a version entered the shadow stage
    CANARY_STARTED = "canary_started"  # a version serves a share of the traffic
    # the next two are the events of the alerts (AlertEvent) promoted / rejected: the rollout
    # flow sends them through tasks.publish.notify, like the offline comparison
    CANARY_PROMOTED = "promoted"  # the canary became champion (sequential test)
    CANARY_REJECTED = "rejected"  # the stage was rolled back (test, guardrail or timeout)

    @property
    def prefect_event(self) -> str:
        """The full event name, e.g. ``modelwatch.model.degraded``."""
        return f"modelwatch.model.{self.value}"


class WindowDecision(StrEnum):
    """``MonitorSummary.decision``: what a monitored window led to.

    ``retrained+<state name, lower case>`` for a retraining outcome; the two
    common ones are members, :func:`retrained` builds any of them.
    """

    OK = "ok"
    DEGRADED = "degraded"
    NO_DATA = "nodata"
    RETRAINED_PROMOTED = "retrained+promoted"
    RETRAINED_REJECTED = "retrained+rejected"


def retrained(state_name: str) -> str:
    """``retrained+<state name in lower case>`` (``retrained("Promoted") == "retrained+promoted"``)."""
    return f"retrained+{state_name.lower()}"
