"""Thin Prefect tasks over the modelwatch library (3–15 lines each).

Tasks take ids, URIs, specs and small frozen results; they build their own
clients (store, registry) from :func:`modelwatch.settings.get_settings`. Only
I/O tasks retry, and only on transient errors (:func:`retry_transient`).
"""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE


def _is_transient(exc: BaseException) -> bool:
    """Marked transient (:func:`modelwatch.errors.is_transient`), or a raw database error
    that may pass (by class and code); a :class:`StoreError` not marked transient is not."""
    from modelwatch.errors import StoreError, is_transient
    from modelwatch.io.store import is_transient_db_error

    if is_transient(exc):
        return True
    if isinstance(exc, StoreError):
        return False
    return is_transient_db_error(exc.__cause__ or exc)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn``: retry only when the failure was transient."""
    try:
        state.result()
    except Exception as exc:
        return _is_transient(exc)
    return False


#: keyword arguments shared by every task: DataFrames and models are never hashed
TASK_DEFAULTS: dict[str, Any] = {"cache_policy": NO_CACHE}
#: keyword arguments of I/O tasks (store, MLflow): a few retries on transient errors only
IO_TASK: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 2,
    "retry_delay_seconds": [1, 5],
    "retry_condition_fn": retry_transient,
}
