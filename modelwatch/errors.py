"""Exception hierarchy of modelwatch.

::

    ModelwatchError               ``.transient``: whether trying the same call again can help
    ├── ParameterError            a flow / command / function argument is out of its domain
    │                             (also a ValueError; statistics raise StatisticsError)
    ├── SpecError                 a monitor spec is invalid (file, field path, value)
    ├── SuiteError                an expectation suite file or dict is unusable
    ├── DataError                 input data is unusable (file, column, value); ``.path``
    │   ├── SourceError           a window cannot be read (missing/corrupt file, bad format)
    │   └── SchemaError           a column is missing or has the wrong type
    ├── ValidationFailed          a critical Great Expectations expectation failed
    ├── StatisticsError           a statistic cannot be computed from its inputs
    ├── StoreError                the monitoring store failed
    │   ├── StoreSchemaError      the store's schema revision differs from this code's
    │   ├── StoreUnavailable      the store cannot answer now (connection lost or refused,
    │   │                         lock/statement timeout, deadlock, SQLite busy); also a
    │   │                         TransientError
    │   └── LockTimeout           a named lock stayed held by a live holder
    ├── RegistryError             MLflow (tracking server / model registry) failed
    │   ├── RegistryUnavailable   MLflow cannot answer now (unreachable, timeout, HTTP 5xx/429,
    │   │                         tracking database busy); also a TransientError
    │   ├── AliasNotFound         a registered model has no such alias
    │   ├── ArtifactNotFound      a version's run has no such artifact (reference, profile, card)
    │   ├── ChampionChanged       the champion moved since the comparison (promotion refused)
    │   └── UntrustedModelError   a model artifact is not skops with trusted types and the
    │                             spec's ``model.trust_pickle`` is off (load / log refused)
    ├── RetrainError              retraining could not produce a candidate
    ├── AlertError                an alert could not be delivered
    ├── DemoRefused               ``modelwatch demo`` would reset a model it did not create
    ├── CannotStart               a command cannot start here (server unreachable, ``serve``
    │                             without a Prefect server); the CLI exits 2
    └── TransientError            marker mix-in: a failure that may pass on retry
                                  (e.g. ``class StoreUnavailable(StoreError, TransientError)``)

``is_transient(exc)`` is the one place that answers "try again?": an instance of
:class:`TransientError`, or a :class:`ModelwatchError` raised with
``transient=True``, anywhere in the ``__cause__``/``__context__`` chain. Adapters
decide transience where they catch a third-party error (by class, SQLSTATE or
HTTP status, never by matching message text) and say it by raising one of these.

Every message names the thing (file, column, field) and the bad value. Wrap
third-party exceptions with ``raise ... from exc`` so the cause is kept.
"""

from __future__ import annotations


class ModelwatchError(Exception):
    """Base class of every error raised by modelwatch; ``transient``: retrying may help."""

    transient: bool = False


class TransientError(ModelwatchError):
    """Marker: the failure may pass if the same call is tried again (outage, lock, timeout)."""

    transient = True


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is marked transient."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModelwatchError) and current.transient:
            return True
        current = current.__cause__ or current.__context__
    return False


class ParameterError(ModelwatchError, ValueError):
    """An argument is out of its domain; names the parameter, the function and the value."""


class SpecError(ModelwatchError):
    """A monitor spec is invalid."""


class SuiteError(ModelwatchError):
    """An expectation suite file or dict is unusable (names the file or suite and the problem)."""


class DataError(ModelwatchError):
    """Input data is unusable; ``path`` is the offending file when there is one."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class SourceError(DataError):
    """A window of data cannot be read."""


class SchemaError(DataError):
    """A column is missing or has the wrong type."""


class ValidationFailed(ModelwatchError):
    """A critical expectation failed; the window is quarantined, never modified."""

    def __init__(self, message: str, *, summary: str = "") -> None:
        super().__init__(message)
        self.summary = summary


class StatisticsError(ModelwatchError):
    """A statistic cannot be computed from its inputs."""


class StoreError(ModelwatchError):
    """The monitoring store failed; ``transient`` says whether trying again can help."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class StoreSchemaError(StoreError):
    """The store is behind (or ahead of) this code's schema; the message names the command."""


class StoreUnavailable(StoreError, TransientError):
    """The store cannot answer now: connection lost or refused, lock or statement timeout,
    deadlock, server shutting down, SQLite busy. Decided by exception class and SQLSTATE /
    SQLite code (:func:`modelwatch.io.store.is_transient_db_error`), never by message text."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


class LockTimeout(StoreError):
    """A named lock stayed held by a live holder for longer than the timeout."""


class RegistryError(ModelwatchError):
    """MLflow tracking or the model registry failed."""


class RegistryUnavailable(RegistryError, TransientError):
    """MLflow could not answer now: server unreachable or timing out, HTTP 5xx / 429, its
    database busy. Decided by exception class, MLflow error code and HTTP status
    (:func:`modelwatch.io.mlflow_client.is_transient_failure`), never by message text."""


class AliasNotFound(RegistryError):
    """A registered model has no version under the requested alias."""


class ArtifactNotFound(RegistryError):
    """A model version's run has no such artifact (drift reference, profile, model card)."""


class ChampionChanged(RegistryError):
    """A promotion found another champion than the one its comparison was made against."""


class UntrustedModelError(RegistryError):
    """A model artifact could run code when loaded (cloudpickle, or skops with foreign types).

    Raised before anything is deserialized, when loading a version, and when logging a model
    that cannot be saved as skops with numpy/scipy/scikit-learn types only; the message names
    the model, the version (when there is one) and the setting ``model.trust_pickle``.
    """


class RetrainError(ModelwatchError):
    """Retraining could not produce a candidate."""


class DemoRefused(ModelwatchError):
    """The demo would delete the data, store rows and versions of a model it did not create."""


class AlertError(ModelwatchError):
    """An alert could not be delivered; ``transient`` when the channel may accept it later."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class CannotStart(ModelwatchError):
    """A command cannot start: its server is unreachable, or it would run somewhere it
    cannot work (``modelwatch serve`` on a temporary Prefect server). Exit code 2."""
