"""The MLflow client as the registry's parts share it, and what its failures mean.

:class:`MlflowConnection` holds one :class:`mlflow.MlflowClient` built with an explicit
tracking and registry URI (no process-global MLflow state), created on first use
(:mod:`mlflow` costs ~1.5 s to import). :class:`ModelVersionRef` is what a model
version becomes outside this adapter.

Every MLflow failure leaves the adapter as :class:`~modelwatch.errors.RegistryError`
naming the model / version / alias, or as its subclass
:class:`~modelwatch.errors.RegistryUnavailable` (a
:class:`~modelwatch.errors.TransientError`, so
:func:`modelwatch.errors.is_transient` says yes) when :func:`is_transient_failure`
finds the failure transient. That is decided by exception class, MLflow error code and
HTTP status anywhere in the ``__cause__`` / ``__context__`` chain, never by message
text:

* the server cannot be reached or did not answer in time: ``requests``
  ``ConnectionError`` / ``Timeout`` / ``RetryError`` (MLflow's own retries on HTTP
  429/5xx ran out), ``urllib3`` connection and protocol errors, the builtin
  ``ConnectionError`` / ``TimeoutError``;
* the server answered HTTP 5xx or 429 (``requests`` responses, MLflow's
  ``RestException``);
* MLflow error codes ``TEMPORARILY_UNAVAILABLE`` (also what MLflow's SQL store raises
  for a database ``OperationalError``, e.g. SQLite busy), ``REQUEST_LIMIT_EXCEEDED``,
  ``DEADLINE_EXCEEDED``;
* a database error of the tracking store that
  :func:`modelwatch.io.store.is_transient_db_error` calls transient (SQLite BUSY/LOCKED,
  PostgreSQL disconnects and lock timeouts).

``INTERNAL_ERROR`` is not transient by itself: it is also the default code of every
client-side ``MlflowException``. Missing aliases / versions, bad parameters and
permission errors are not transient: retrying cannot help.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelwatch.errors import ModelwatchError, RegistryError, RegistryUnavailable

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "NOT_FOUND_CODES",
    "MlflowConnection",
    "ModelVersionRef",
    "error_code",
    "is_transient_failure",
    "mlflow_errors",
    "registry_error",
    "version_str",
]

#: MLflow error codes of "no such model / version / alias / experiment"
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})
# MLflow error codes that mean "try again later".
_TRANSIENT_ERROR_CODES = frozenset(
    {"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"}
)


@dataclass(frozen=True)
class ModelVersionRef:
    """One registered model version."""

    name: str
    version: str
    run_id: str

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>`` (for display and for tools using the global MLflow URI;
        the registry itself never resolves it, see :meth:`Registry.load_model`)."""
        return f"models:/{self.name}/{self.version}"

    @classmethod
    def of(cls, mv: Any) -> ModelVersionRef:
        """The ref of an MLflow ``ModelVersion`` entity."""
        return cls(str(mv.name), version_str(mv.version), str(mv.run_id or ""))


def version_str(version: Any) -> str:
    """A version number as MLflow's REST API and its SQL store both spell it (``"3"``)."""
    return str(int(version)) if isinstance(version, int) else str(version)


class MlflowConnection:
    """One lazily built :class:`~mlflow.MlflowClient` for ``tracking_uri`` (thread-safe)."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client: MlflowClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> MlflowClient:
        """The client, with the tracking URI as both tracking and registry URI."""
        with self._lock:
            if self._client is None:
                _ensure_quiet_mlflow()
                from mlflow import MlflowClient

                self._client = MlflowClient(
                    tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
                )
            return self._client


def _ensure_quiet_mlflow() -> None:
    # Before the first `import mlflow`: without it MLflow does a DNS lookup at start.
    # Artifact progress bars would flood task logs. Explicit values in the
    # environment are respected.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


# --------------------------------------------------------------------------- errors


def error_code(exc: BaseException) -> str | None:
    """The MLflow error code of ``exc`` (``"RESOURCE_DOES_NOT_EXIST"``, ...), else None."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else None


def _http_status(err: BaseException) -> int | None:
    """HTTP status of a requests error or of an MLflow server response, else None."""
    response = getattr(err, "response", None)
    code = getattr(response, "status_code", None)
    if isinstance(code, int):
        return code
    from mlflow.exceptions import RestException

    if isinstance(err, RestException):
        value = err.get_http_status_code()  # type: ignore[no-untyped-call]
        return value if isinstance(value, int) else None
    return None


def _unreachable_classes() -> tuple[type[BaseException], ...]:
    """Exception classes that mean "the server could not be reached or did not answer"."""
    import requests
    import urllib3.exceptions

    return (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.RetryError,
        urllib3.exceptions.MaxRetryError,
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.TimeoutError,
        urllib3.exceptions.NewConnectionError,
        ConnectionError,
        TimeoutError,
    )


def is_transient_failure(exc: BaseException) -> bool:
    """Whether a failure of an MLflow call may pass when the call is tried again.

    Walks the ``__cause__`` / ``__context__`` chain and decides by exception class, MLflow
    error code and HTTP status (see the module docstring). A modelwatch error met on the
    way answers for itself (:class:`~modelwatch.errors.AliasNotFound`: never).
    """
    from modelwatch.io.store import is_transient_db_error

    unreachable = _unreachable_classes()
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, ModelwatchError):
            return err.transient
        if isinstance(err, unreachable):
            return True
        status = _http_status(err)
        if status is not None and (status >= 500 or status == 429):
            return True
        if error_code(err) in _TRANSIENT_ERROR_CODES:
            return True
        if is_transient_db_error(err):
            return True
        err = err.__cause__ or err.__context__
    return False


def registry_error(message: str, exc: BaseException) -> RegistryError:
    """``RegistryUnavailable(message)`` when ``exc`` is transient, else ``RegistryError``.

    Raise it ``from exc``.
    """
    if is_transient_failure(exc):
        return RegistryUnavailable(message)
    return RegistryError(message)


@contextmanager
def mlflow_errors(what: str) -> Iterator[None]:
    """Re-raise MLflow / connection failures as :func:`registry_error` ``"<what> failed: ..."``.

    A :class:`RegistryError` passes unchanged; other exceptions pass unless transient.
    """
    from mlflow.exceptions import MlflowException

    try:
        yield
    except RegistryError:
        raise
    except (MlflowException, OSError) as exc:  # requests' errors are OSErrors
        raise registry_error(f"{what} failed: {exc}", exc) from exc
    except Exception as exc:
        if is_transient_failure(exc):
            raise RegistryUnavailable(f"{what} failed: {exc}") from exc
        raise
