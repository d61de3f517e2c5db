"""MLflow registry tasks. Each builds its own client from the settings (thread-safe)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.exceptions import MissingContextError

from modelwatch import analysis, retraining
from modelwatch.champion_state import (
    ChampionState,
    fit_champion_state,
    fit_version_state,
    load_or_fit,
    local_state_name,
    thresholds_key,
)
from modelwatch.errors import StatisticsError
from modelwatch.io import reference_cache
from modelwatch.io.registry import ChampionChanged as ChampionChanged
from modelwatch.io.registry import ModelVersionRef, PromotionResult, Registry
from modelwatch.promotion import Comparison, promotion_lock_name
from modelwatch.settings import get_settings
from modelwatch.spec import MonitorSpec, find_spec
from modelwatch.stats.drift import ReferenceProfile
from modelwatch.stats.thresholds import CalibratedThresholds
from modelwatch.train import score_frame
from tasks import IO_TASK


def open_registry() -> Registry:
    settings = get_settings()
    return Registry(settings.resolved_tracking_uri, artifact_root=settings.artifacts_dir)


@task(name="resolve-version", task_run_name="resolve-{model_name}@{version_or_alias}", **IO_TASK)
def resolve_version(model_name: str, version_or_alias: str) -> ModelVersionRef:
    return open_registry().resolve(model_name, version_or_alias)


@task(name="find-alias", **IO_TASK)
def find_alias(model_name: str, alias: str) -> ModelVersionRef | None:
    return open_registry().find_version(model_name, alias)


@task(name="version-metric", **IO_TASK)
def version_metric(ref: ModelVersionRef, metric: str) -> float | None:
    """A metric logged in the run of a model version (e.g. its validation ROC AUC)."""
    return open_registry().run_metrics(ref.run_id).get(metric)


@task(name="load-reference", task_run_name="load-reference-{ref.name}-v{ref.version}", **IO_TASK)
def load_reference(ref: ModelVersionRef) -> pd.DataFrame:
    return open_registry().load_reference(ref.name, ref.version, cache_dir=get_settings().cache_dir)


@task(name="load-profile", task_run_name="load-profile-{ref.name}-v{ref.version}", **IO_TASK)
def load_profile(ref: ModelVersionRef) -> ReferenceProfile | None:
    """The drift profile logged with the version (None for versions logged without one)."""
    arrays = open_registry().load_profile_arrays(
        ref.name, ref.version, cache_dir=get_settings().cache_dir
    )
    return None if arrays is None else ReferenceProfile.from_arrays(arrays)


@task(
    name="load-champion-state",
    task_run_name="load-champion-state-{ref.name}-v{ref.version}",
    **IO_TASK,
)
def load_champion_state(
    spec: MonitorSpec, ref: ModelVersionRef, reference: pd.DataFrame
) -> ChampionState:
    """The version's fitted state (:mod:`modelwatch.champion_state`): logged with it, or
    fitted once here (versions logged without one) and kept in this worker's cache."""
    registry, cache, name = open_registry(), get_settings().cache_dir, local_state_name(spec)
    return load_or_fit(
        spec,
        cached=lambda: reference_cache.read_cached_arrays(cache, ref.run_id, name),
        logged=lambda: registry.load_state_arrays(ref, cache_dir=cache),
        logged_profile=lambda: registry.load_profile_arrays(ref.name, ref.version, cache_dir=cache),
        fit=lambda: _fit_state(registry, spec, ref, reference),
        keep=lambda s: reference_cache.write_cached_arrays(cache, ref.run_id, name, s.to_arrays()),
    )


def _fit_state(
    registry: Registry, spec: MonitorSpec, ref: ModelVersionRef, reference: pd.DataFrame
) -> ChampionState:
    """Fit a version's state here (it was logged without one): its model re-scores its reference."""
    get_run_logger().info("fitting the champion state of %s v%s once", ref.name, ref.version)
    with _warnings_to_run_log():
        model = registry.load_model(ref.name, ref.version, trust_pickle=spec.model.trust_pickle)
    return fit_champion_state(spec, reference, score_frame(model, reference, spec))


@task(
    name="drift-thresholds", task_run_name="drift-thresholds-{ref.name}-v{ref.version}", **IO_TASK
)
def drift_thresholds(
    spec: MonitorSpec, ref: ModelVersionRef, reference: pd.DataFrame, *, window_rows: int
) -> CalibratedThresholds | None:
    """``drift.thresholds: calibrated``: the version's thresholds for this window size,
    calibrated once per (rounded) size and kept in this worker's cache; else None."""
    if spec.drift.thresholds != "calibrated":
        return None
    data = reference_cache.cached_json(
        get_settings().cache_dir,
        ref.run_id,
        thresholds_key(spec, window_rows),
        lambda: analysis.calibrated_thresholds(spec, reference, window_rows).to_dict(),
    )
    return CalibratedThresholds.from_dict(data)


def spec_trusts_pickle(model_name: str) -> bool:
    """``model.trust_pickle`` of the model's monitor spec (False when it has none)."""
    specs_dir = get_settings().resolved_specs_dir
    if not (specs_dir / f"{model_name}.yaml").exists():
        return False
    return find_spec(model_name, specs_dir).model.trust_pickle


@task(name="load-model", task_run_name="load-model-{ref.name}-v{ref.version}", **IO_TASK)
def load_model(ref: ModelVersionRef, trust_pickle: bool | None = None) -> Any:
    """The version's model; refuses non-skops artifacts unless ``trust_pickle`` (default:
    the spec's ``model.trust_pickle``); a trusted pickle's warning goes to the run log."""
    trust = spec_trusts_pickle(ref.name) if trust_pickle is None else trust_pickle
    with _warnings_to_run_log():
        return open_registry().load_model(ref.name, ref.version, trust_pickle=trust)


@contextmanager
def _warnings_to_run_log() -> Iterator[None]:
    """Repeat the registry's warnings of this thread (``model.trust_pickle``) in the run log."""
    thread = threading.get_ident()
    try:
        run_logger = get_run_logger()
    except MissingContextError:  # called outside a flow or task run: the plain log has it
        yield
        return

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == thread:
                run_logger.warning(record.getMessage())

    registry_logger = logging.getLogger(Registry.__module__)
    handler = Forward(logging.WARNING)
    registry_logger.addHandler(handler)
    try:
        yield
    finally:
        registry_logger.removeHandler(handler)


@task(name="log-candidate", **IO_TASK)
def log_candidate(
    spec: MonitorSpec,
    model: Any,
    training_data: pd.DataFrame,
    *,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    model_card: str | None = None,
) -> ModelVersionRef:
    """Log the fitted challenger (PII dropped, with its drift profile and its champion state,
    :mod:`modelwatch.champion_state`) as alias ``challenger``."""
    state = _version_state(spec, model, training_data)
    with _warnings_to_run_log():
        return open_registry().log_model_version(
            spec.name,
            model,
            params=params,
            metrics=metrics,
            tags=tags,
            model_card=model_card,
            champion_state=state,
            **retraining.challenger_artifacts(spec, training_data),
        )


def _version_state(
    spec: MonitorSpec, model: Any, training_data: pd.DataFrame
) -> dict[str, Any] | None:
    """The state to log with a new version; None (logged without: the first monitor run
    fits it, and reports the same error there) when it cannot be fitted."""
    try:
        return fit_version_state(spec, model, training_data).to_arrays(with_profile=False)
    except StatisticsError as exc:
        get_run_logger().warning("version logged without its champion state: %s", exc)
        return None


@task(name="tag-versions", **IO_TASK)
def tag_versions(model_name: str, versions: list[str], tags: Mapping[str, str]) -> None:
    registry = open_registry()
    for version in versions:
        registry.set_version_tags(model_name, version, tags)


@task(name="log-evidence-run", **IO_TASK)
def log_evidence_run(record: Comparison) -> str:
    """The comparison's MLflow run (params, metrics, verdict tags, markdown); its run id."""
    return open_registry().log_run(
        record.model,
        run_name=record.run_name,
        params=record.run_params(),
        metrics=record.metrics,
        tags=record.run_tags(),
        text_artifacts={record.artifact_file: record.markdown},
    )


#: how long a promotion or rollback waits for the model's promotion lock
PROMOTION_LOCK_TIMEOUT_S = 600.0


@contextmanager
def promotion_lock(model_name: str, *, force: bool = False) -> Iterator[None]:
    """Hold the model's promotion lock: one alias move of a model at a time, across processes.

    The lock lives in the monitoring store and dies with its holder (a PostgreSQL
    advisory lock, or a row with the holder's pid, host and heartbeat: see
    :meth:`modelwatch.io.store.Store.lock`). ``force`` first takes the lock away
    from its holder: the operator's override when the holder is known to be stuck.
    (Prefect's lease-based global concurrency limits were tried first: they leaked
    their slot in the local server, which runs no lease reaper.)
    """
    from tasks.store import open_store

    name = promotion_lock_name(model_name)
    with open_store() as store:
        if force and (holder := store.break_lock(name)):
            get_run_logger().warning(
                "--force: took lock %r from pid %s on host %s",
                name,
                holder.get("pid"),
                holder.get("host"),
            )
        with store.lock(name, timeout_s=PROMOTION_LOCK_TIMEOUT_S):
            yield


@task(name="promote", task_run_name="promote-{model_name}-v{version}", **IO_TASK)
def promote(
    model_name: str, version: str, reason: str, expected_champion: str | None = None
) -> PromotionResult:
    """Move ``champion`` to ``version`` (``previous`` first); refuses when the champion moved."""
    return open_registry().promote(
        model_name, version, reason=reason, expected_champion=expected_champion
    )


@task(name="rollback", task_run_name="rollback-{model_name}", **IO_TASK)
def rollback(model_name: str, reason: str) -> PromotionResult:
    return open_registry().rollback(model_name, reason=reason)


@task(name="run-url", **IO_TASK)
def run_url(run_id: str) -> str | None:
    return open_registry().run_url(run_id)
