"""The alias book of registered models: ``champion``, ``challenger``, ``previous``.

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

Alias moves of one model are serialized within the process (a lock per tracking URI
and model); across processes the caller holds the model's promotion lock. Versions and
their tags are the registry's (:class:`Versions`): the book resolves and tags through it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Protocol

from modelwatch.errors import AliasNotFound, ChampionChanged, RegistryError
from modelwatch.io.mlflow_client import (
    NOT_FOUND_CODES,
    MlflowConnection,
    ModelVersionRef,
    error_code,
    mlflow_errors,
    registry_error,
    version_str,
)
from modelwatch.outcomes import Alias

__all__ = ["CHALLENGER", "CHAMPION", "PREVIOUS", "AliasBook", "PromotionResult", "Versions"]

_log = logging.getLogger(__name__)

# plain text (the enum's values), so messages say 'previous', not <Alias.PREVIOUS: ...>
CHAMPION = Alias.CHAMPION.value
CHALLENGER = Alias.CHALLENGER.value
PREVIOUS = Alias.PREVIOUS.value
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


class Versions(Protocol):
    """What the alias book needs of the registry's model versions."""

    def resolve(self, model_name: str, version_or_alias: str) -> ModelVersionRef: ...

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
        version = version_str(version)
        with self._model_lock(model_name):
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
