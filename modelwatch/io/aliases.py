"""The alias book of registered models: ``champion``, ``challenger``, ``previous``, and the
staged rollout's ``shadow`` and ``canary``.

:class:`AliasBook` reads and moves aliases, and promotes and rolls back:

* :meth:`~AliasBook.promote` tags both versions, sets ``previous`` to the old champion,
  then moves ``champion`` (the commit point): a failure before the last step leaves
  ``champion`` where it was (and ``previous`` is put back when MLflow is still reachable;
  otherwise it may equal the champion, which :meth:`~AliasBook.rollback` treats as
  "nothing to roll back to"). With ``expected_champion`` it refuses
  (:class:`~modelwatch.errors.ChampionChanged`) when the champion moved since the
  comparison.
* :meth:`~AliasBook.rollback` moves ``champion`` back to ``previous`` and deletes
  ``previous`` (one step).
* The staged rollout (one version at a time per model): :meth:`~AliasBook.start_shadow`
  (alias ``shadow``: scored on every request, answers not served),
  :meth:`~AliasBook.start_canary` (alias ``canary``: serves ``share`` of the traffic),
  :meth:`~AliasBook.promote_canary` (a :meth:`~AliasBook.promote` of the canary: the old
  champion becomes ``previous``, so :meth:`~AliasBook.rollback` undoes it) and
  :meth:`~AliasBook.end_canary` / :meth:`~AliasBook.end_shadow` (the alias is removed,
  the version tagged ``rejected`` with the reason). The stage is written as version tags
  any serving system can read (:data:`STAGE_TAG` ``modelwatch.stage``,
  :data:`STAGE_STARTED_TAG` ``modelwatch.stage_started`` (ISO 8601 UTC),
  :data:`CANARY_SHARE_TAG` ``modelwatch.canary_share``, :data:`STAGE_REASON_TAG`) *before*
  the alias moves (the alias is the commit point); :meth:`~AliasBook.rollout` reads it back.

Alias moves of one model are serialized within the process (a lock per tracking URI
and model); across processes the caller holds the model's promotion lock. Versions and
their tags are the registry's (:class:`Versions`): the book resolves and tags through it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Protocol

from modelwatch.errors import AliasNotFound, ChampionChanged, ParameterError, RegistryError
from modelwatch.io.mlflow_client import (
    NOT_FOUND_CODES,
    MlflowConnection,
    ModelVersionRef,
    error_code,
    mlflow_errors,
    registry_error,
    version_str,
)
from modelwatch.outcomes import Alias, Stage, StageTag

__all__ = [
    "CANARY",
    "CANARY_SHARE_TAG",
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "SEQUENTIAL_TAG",
    "SHADOW",
    "STAGE_ENDED_TAG",
    "STAGE_REASON_TAG",
    "STAGE_STARTED_TAG",
    "STAGE_TAG",
    "AliasBook",
    "PromotionResult",
    "RolloutStage",
    "Versions",
]

_log = logging.getLogger(__name__)

# plain text (the enum's values), so messages say 'previous', not <Alias.PREVIOUS: ...>
CHAMPION = Alias.CHAMPION.value
CHALLENGER = Alias.CHALLENGER.value
PREVIOUS = Alias.PREVIOUS.value
SHADOW = Stage.SHADOW.value
CANARY = Stage.CANARY.value
#: version tags of the staged rollout (read by serving systems; names in outcomes.StageTag)
STAGE_TAG = StageTag.STAGE.value
STAGE_STARTED_TAG = StageTag.STARTED.value
STAGE_ENDED_TAG = StageTag.ENDED.value
STAGE_REASON_TAG = StageTag.REASON.value
CANARY_SHARE_TAG = StageTag.CANARY_SHARE.value
#: the canary's sequential test state (JSON of ``modelwatch.rollout.StoredTest``)
SEQUENTIAL_TAG = StageTag.SEQUENTIAL.value
# What MLflow answers for an alias that is not set (or a model that is not registered).
_NO_ALIAS_CODES = NOT_FOUND_CODES | {"INVALID_PARAMETER_VALUE"}


@dataclass(frozen=True)
class PromotionResult:
    """Alias state after :meth:`AliasBook.promote` or :meth:`AliasBook.rollback`.

    ``champion`` is the serving version now; ``previous`` is the version that was
    champion before (after a promotion it holds the alias ``previous``; after a
    rollback the alias ``previous`` is deleted).
    """

    name: str
    champion: str
    previous: str | None


@dataclass(frozen=True)
class RolloutStage:
    """The version of a model in the shadow or canary stage, as its tags say."""

    name: str
    version: str
    stage: Stage
    started_at: datetime
    canary_share: float | None  # canary only
    tags: Mapping[str, str]

    def age_hours(self, now: datetime) -> float:
        """Hours since the stage started."""
        return (now - self.started_at).total_seconds() / 3600.0


class Versions(Protocol):
    """What the alias book needs of the registry's model versions."""

    def resolve(self, model_name: str, version_or_alias: str) -> ModelVersionRef: ...

    def version_tags(self, model_name: str, version: str) -> dict[str, str]: ...

    def set_version_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None: ...


@dataclass(frozen=True)
class _MoveTags:
    """Tags (after ``modelwatch.``) recording an alias move: on the new champion (when, why,
    by whom, which version it replaced) and on the version it replaced (when, why, by which)."""

    champion: tuple[str, str, str, str]
    replaced: tuple[str, str, str]


_PROMOTION = _MoveTags(
    champion=("promoted_at", "promotion_reason", "promoted_by", "replaced_version"),
    replaced=("demoted_at", "demotion_reason", "replaced_by"),
)
_ROLLBACK = _MoveTags(
    champion=("restored_at", "rollback_reason", "rolled_back_by", "rolled_back_from"),
    replaced=("rolled_back_at", "rollback_reason", "rolled_back_to"),
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class AliasBook:
    """Aliases of the registered models of one MLflow registry."""

    _model_locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}
    _model_locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, connection: MlflowConnection, versions: Versions) -> None:
        self._connection = connection
        self._versions = versions

    def _model_lock(self, model_name: str) -> threading.Lock:
        key = (self._connection.tracking_uri, model_name)
        with self._model_locks_guard:
            return self._model_locks.setdefault(key, threading.Lock())

    # ------------------------------------------------------------------ reading

    def aliases(self, model_name: str) -> dict[str, str]:
        """``{alias: version}`` of a registered model (empty when not registered)."""
        from mlflow.exceptions import MlflowException

        try:
            registered = self._connection.client.get_registered_model(model_name)
        except (MlflowException, OSError) as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return {}
            raise registry_error(
                f"reading aliases of model {model_name!r} failed: {exc}", exc
            ) from exc
        return {str(k): version_str(v) for k, v in (registered.aliases or {}).items()}

    def find_version(self, model_name: str, alias: str) -> ModelVersionRef | None:
        """The version under ``alias``, or None (also when the model is not registered)."""
        from mlflow.exceptions import MlflowException

        with mlflow_errors(f"looking up alias {alias!r} of model {model_name!r}"):
            try:
                mv = self._connection.client.get_model_version_by_alias(model_name, alias)
            except MlflowException as exc:
                if error_code(exc) in _NO_ALIAS_CODES:
                    return None
                raise
        return ModelVersionRef.of(mv)

    def get_version(self, model_name: str, alias: str) -> ModelVersionRef:
        """The version under ``alias``; :class:`AliasNotFound` when there is none."""
        ref = self.find_version(model_name, alias)
        if ref is None:
            raise AliasNotFound(f"model {model_name!r} has no alias {alias!r}")
        return ref

    # ------------------------------------------------------------------ moving

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``."""
        version = version_str(version)
        with mlflow_errors(f"setting alias {alias!r} of model {model_name!r} to version {version}"):
            self._connection.client.set_registered_model_alias(model_name, alias, version)

    def delete_alias(self, model_name: str, alias: str) -> None:
        """Delete ``alias``; a missing alias is not an error."""
        from mlflow.exceptions import MlflowException

        try:
            self._connection.client.delete_registered_model_alias(model_name, alias)
        except (MlflowException, OSError) as exc:
            if error_code(exc) in _NO_ALIAS_CODES:
                return
            raise registry_error(
                f"deleting alias {alias!r} of model {model_name!r} failed: {exc}", exc
            ) from exc

    def promote(
        self,
        model_name: str,
        version: str,
        *,
        reason: str,
        actor: str | None = None,
        clear_challenger: bool = True,
        expected_champion: str | None = None,
    ) -> PromotionResult:
        """Make ``version`` the champion; the old champion becomes ``previous``.

        Order: tag both versions, set ``previous`` -> old champion, then move
        ``champion`` (the commit point). A failure before the last step leaves
        ``champion`` where it was (and ``previous`` is put back when the registry is
        still reachable; otherwise it may equal the champion, which :meth:`rollback`
        treats as "nothing to roll back to"). The alias ``challenger`` is removed when it
        points at the promoted version (``clear_challenger``). Promotions of one
        model in this process are serialized.

        ``expected_champion``: the version the decision was made against; when the
        champion is another version by now (a concurrent promotion won), nothing
        moves and :class:`ChampionChanged` is raised.
        """
        with self._model_lock(model_name):
            return self._promote(
                model_name,
                version,
                reason=reason,
                actor=actor,
                clear_challenger=clear_challenger,
                expected_champion=expected_champion,
            )

    def _promote(
        self,
        model_name: str,
        version: str,
        *,
        reason: str,
        actor: str | None,
        clear_challenger: bool,
        expected_champion: str | None,
    ) -> PromotionResult:
        """:meth:`promote`, with the model's lock held by the caller."""
        version = version_str(version)
        target = self._versions.resolve(model_name, version)
        current = self.find_version(model_name, CHAMPION)
        if expected_champion is not None and (
            current is None or current.version != version_str(expected_champion)
        ):
            raise ChampionChanged(
                f"model {model_name!r}: version {target.version} was compared against "
                f"champion v{version_str(expected_champion)}, but the champion is now "
                f"{'v' + current.version if current else 'unset'}; not promoted"
            )
        if current is not None and current.version == target.version:
            previous = self.find_version(model_name, PREVIOUS)
            return PromotionResult(
                model_name, target.version, previous.version if previous else None
            )
        self._record_move(
            model_name, _PROMOTION, target.version, current, reason=reason, actor=actor
        )
        if current is not None:
            old_previous = self.find_version(model_name, PREVIOUS)
            self.set_alias(model_name, PREVIOUS, current.version)
        try:
            self.set_alias(model_name, CHAMPION, target.version)  # the commit point
        except RegistryError:
            if current is not None:
                self._restore_alias(model_name, PREVIOUS, old_previous)
            raise
        if clear_challenger:
            challenger = self.find_version(model_name, CHALLENGER)
            if challenger is not None and challenger.version == target.version:
                self.delete_alias(model_name, CHALLENGER)
        return PromotionResult(model_name, target.version, current.version if current else None)

    def _record_move(
        self,
        model_name: str,
        keys: _MoveTags,
        champion: str,
        replaced: ModelVersionRef | None,
        *,
        reason: str,
        actor: str | None,
    ) -> None:
        """Tag the version that becomes champion and the one it replaces (when there is one)."""
        now = _now()
        at, why, by, was = (f"modelwatch.{key}" for key in keys.champion)
        old = replaced.version if replaced else ""
        values = {at: now, why: reason, by: actor or "modelwatch", was: old}
        self._versions.set_version_tags(model_name, champion, values)
        if replaced is not None:
            at, why, then = (f"modelwatch.{key}" for key in keys.replaced)
            self._versions.set_version_tags(model_name, old, {at: now, why: reason, then: champion})

    def _restore_alias(self, model_name: str, alias: str, ref: ModelVersionRef | None) -> None:
        """Best effort: put ``alias`` back where it was (after a failed promotion)."""
        try:
            if ref is None:
                self.delete_alias(model_name, alias)
            else:
                self.set_alias(model_name, alias, ref.version)
        except RegistryError as exc:
            _log.warning(
                "could not restore alias %r of model %r to %s: %s",
                alias,
                model_name,
                ref.version if ref else "<none>",
                exc,
            )

    def rollback(
        self, model_name: str, *, reason: str, actor: str | None = None
    ) -> PromotionResult:
        """Move ``champion`` back to ``previous`` and delete ``previous`` (one step).

        :class:`AliasNotFound` when there is no ``previous`` (or it is the champion).
        """
        with self._model_lock(model_name):
            previous = self.find_version(model_name, PREVIOUS)
            if previous is None:
                raise AliasNotFound(
                    f"model {model_name!r} has no alias {PREVIOUS!r}: nothing to roll back to"
                )
            current = self.find_version(model_name, CHAMPION)
            if current is not None and current.version == previous.version:
                # Left by a promotion that failed at its last step: nothing to go back to.
                raise AliasNotFound(
                    f"model {model_name!r} has no alias {PREVIOUS!r} distinct from its champion "
                    f"(both are version {current.version}): nothing to roll back to"
                )
            self._record_move(
                model_name, _ROLLBACK, previous.version, current, reason=reason, actor=actor
            )
            self.set_alias(model_name, CHAMPION, previous.version)
            self.delete_alias(model_name, PREVIOUS)
        return PromotionResult(model_name, previous.version, current.version if current else None)

    # ------------------------------------------------------------------ staged rollout

    def rollout(self, model_name: str) -> RolloutStage | None:
        """The version in the canary stage, else the one in the shadow stage, else None.

        A ``canary`` alias on the champion itself (left by a :meth:`promote_canary`
        stopped after the champion moved) is a finished rollout: None.
        """
        for stage in (Stage.CANARY, Stage.SHADOW):
            ref = self.find_version(model_name, stage.value)
            if ref is None:
                continue
            if stage is Stage.CANARY:
                champion = self.find_version(model_name, CHAMPION)
                if champion is not None and champion.version == ref.version:
                    return None
            return self._stage_of(ref, stage)
        return None

    def _stage_of(self, ref: ModelVersionRef, stage: Stage) -> RolloutStage:
        tags = self._versions.version_tags(ref.name, ref.version)
        where = f"version {ref.version} of model {ref.name!r} (alias {stage.value!r})"
        try:
            started = datetime.fromisoformat(tags[STAGE_STARTED_TAG])
        except (KeyError, ValueError) as exc:
            raise RegistryError(
                f"{where} has no readable tag {STAGE_STARTED_TAG!r} "
                f"(got {tags.get(STAGE_STARTED_TAG)!r}): set the stage with start_{stage.value}"
            ) from exc
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        share: float | None = None
        if stage is Stage.CANARY:
            share = _share_of(tags.get(CANARY_SHARE_TAG), where)
        return RolloutStage(ref.name, ref.version, stage, started, share, dict(tags))

    def _check_rollout_target(
        self, model_name: str, target: ModelVersionRef, stage: Stage
    ) -> RolloutStage | None:
        """Refuse the champion and a second version in rollout; the current stage of ``target``."""
        champion = self.find_version(model_name, CHAMPION)
        if champion is not None and champion.version == target.version:
            raise RegistryError(
                f"model {model_name!r}: version {target.version} is the champion; it cannot "
                f"enter the {stage.value} stage"
            )
        current = self.rollout(model_name)
        if current is not None and current.version != target.version:
            raise RegistryError(
                f"model {model_name!r}: version {current.version} is in the {current.stage} "
                f"stage since {current.started_at.isoformat()}; end it before starting "
                f"version {target.version} (one rollout at a time)"
            )
        return current

    def start_shadow(
        self, model_name: str, version: str, *, reason: str, actor: str | None = None
    ) -> RolloutStage:
        """Put ``version`` in the shadow stage (alias ``shadow``): scored, not served.

        Tags first (stage, start, reason), then the alias. Starting the version that is
        already in shadow changes nothing; the champion, a version already in canary or
        another version while one is in rollout is refused (:class:`RegistryError`).
        """
        with self._model_lock(model_name):
            target = self._versions.resolve(model_name, version_str(version))
            current = self._check_rollout_target(model_name, target, Stage.SHADOW)
            if current is not None:
                if current.stage is Stage.SHADOW:
                    return current
                raise RegistryError(
                    f"model {model_name!r}: version {target.version} is already in the canary "
                    "stage; a canary does not go back to shadow (end it first)"
                )
            tags = {
                STAGE_TAG: Stage.SHADOW.value,
                STAGE_STARTED_TAG: _now(),
                STAGE_REASON_TAG: reason,
                StageTag.BY.value: actor or "modelwatch",
            }
            self._versions.set_version_tags(model_name, target.version, tags)
            self.set_alias(model_name, SHADOW, target.version)  # the commit point
            return self._stage_of(target, Stage.SHADOW)

    def start_canary(
        self,
        model_name: str,
        version: str,
        *,
        share: float,
        reason: str,
        actor: str | None = None,
    ) -> RolloutStage:
        """Let ``version`` serve ``share`` (0 < share < 1) of the traffic (alias ``canary``).

        From the shadow stage (the ``shadow`` alias is removed after ``canary`` is set)
        or directly; a new canary stage clears the stored sequential test
        (:data:`SEQUENTIAL_TAG`). For the version already in canary this changes the share
        only (the stage's start and the test run on).
        """
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
            raise ParameterError(
                f"The 'share' parameter of start_canary must be a float in (0, 1). "
                f"Got {share!r} instead."
            )
        with self._model_lock(model_name):
            target = self._versions.resolve(model_name, version_str(version))
            current = self._check_rollout_target(model_name, target, Stage.CANARY)
            tags = {CANARY_SHARE_TAG: repr(float(share))}
            if current is None or current.stage is not Stage.CANARY:
                tags |= {
                    STAGE_TAG: Stage.CANARY.value,
                    SEQUENTIAL_TAG: "",  # a new canary starts a new test
                    STAGE_STARTED_TAG: _now(),
                    STAGE_REASON_TAG: reason,
                    StageTag.BY.value: actor or "modelwatch",
                }
            self._versions.set_version_tags(model_name, target.version, tags)
            self.set_alias(model_name, CANARY, target.version)  # the commit point
            shadow = self.find_version(model_name, SHADOW)
            if shadow is not None and shadow.version == target.version:
                self.delete_alias(model_name, SHADOW)
            return self._stage_of(target, Stage.CANARY)

    def promote_canary(
        self,
        model_name: str,
        *,
        reason: str,
        actor: str | None = None,
        expected_champion: str | None = None,
    ) -> PromotionResult:
        """The canary becomes champion (:meth:`promote`: the old champion is ``previous``,
        one :meth:`rollback` away), then the ``canary`` alias is removed.

        :class:`AliasNotFound` without a canary; :class:`ChampionChanged` when
        ``expected_champion`` is given and the champion moved since the test started.
        """
        with self._model_lock(model_name):
            canary = self.find_version(model_name, CANARY)
            if canary is None:
                raise AliasNotFound(f"model {model_name!r} has no alias {CANARY!r}: no canary")
            result = self._promote(
                model_name,
                canary.version,
                reason=reason,
                actor=actor,
                clear_challenger=True,
                expected_champion=expected_champion,
            )
            self._versions.set_version_tags(
                model_name,
                canary.version,
                {STAGE_TAG: Stage.CHAMPION.value, STAGE_ENDED_TAG: _now()},
            )
            self.delete_alias(model_name, CANARY)
        return result

    def end_canary(self, model_name: str, *, reason: str, actor: str | None = None) -> str | None:
        """Roll the canary back: its version is tagged ``rejected`` with ``reason``, then the
        ``canary`` alias is removed (all traffic to the champion). The version ended, or
        None when there was no canary (a repeated call changes nothing)."""
        return self._end_stage(model_name, Stage.CANARY, reason=reason, actor=actor)

    def end_shadow(self, model_name: str, *, reason: str, actor: str | None = None) -> str | None:
        """End the shadow stage without a canary (tagged ``rejected``, alias removed)."""
        return self._end_stage(model_name, Stage.SHADOW, reason=reason, actor=actor)

    def _end_stage(
        self, model_name: str, stage: Stage, *, reason: str, actor: str | None
    ) -> str | None:
        with self._model_lock(model_name):
            ref = self.find_version(model_name, stage.value)
            if ref is None:
                return None
            tags = {
                STAGE_TAG: Stage.REJECTED.value,
                STAGE_ENDED_TAG: _now(),
                STAGE_REASON_TAG: reason,
                StageTag.BY.value: actor or "modelwatch",
            }
            champion = self.find_version(model_name, CHAMPION)
            if champion is None or champion.version != ref.version:  # a stale alias: no tags
                self._versions.set_version_tags(model_name, ref.version, tags)
            self.delete_alias(model_name, stage.value)
        return ref.version


def _share_of(text: str | None, where: str) -> float:
    try:
        share = float(text) if text is not None else math.nan
    except ValueError:
        share = math.nan
    if not 0 < share < 1:
        raise RegistryError(
            f"{where} has no canary share in (0, 1) in tag {CANARY_SHARE_TAG!r}: {text!r}"
        )
    return share
