"""MLflow adapter: experiments, model versions, aliases, promotion and rollback.

Everything goes through one :class:`mlflow.MlflowClient` built with the
explicit tracking (and registry) URI of the :class:`Registry`; no fluent API
(``mlflow.start_run``, ``mlflow.log_*``, ``mlflow.set_tracking_uri``) is used,
so nothing depends on, or leaks into, process-global or thread-local MLflow
state: a registry is safe to use from Prefect's pool threads. :mod:`mlflow` is
imported lazily (it costs ~1.5 s).

Conventions:

* experiment ``modelwatch/<model>`` per model. With a local tracking store
  (SQLite, a database URL, ``file:``) it is created with an explicit
  ``artifact_location`` (``<artifact_root>/<model>``), so nothing lands in the
  ``./mlruns`` of whatever directory the process started in. With an http(s)
  tracking server it is created with **no** artifact location: the server's
  ``--artifacts-destination`` is used (``mlflow-artifacts:/...``, proxied), so every
  worker, whatever its ``MODELWATCH_HOME``, reads the same artifacts;
* registered model ``<model>``; aliases ``champion``, ``challenger``, ``previous``;
* a model version's run holds the model (a LoggedModel named ``model``), the
  training dataset (``mlflow.log_input``, context ``training``) and its drift
  reference ``reference/reference.parquet`` — PII columns never reach MLflow;
* decisions are tags ``modelwatch.*`` on the model versions.

Serialization (the trust rule): a model artifact is deserialized only when
its ``MLmodel`` file (read as plain YAML, never a ``modelwatch.*`` tag) says
``serialization_format: skops`` and every type skops does not trust by default is
a *class* defined in numpy / scipy / scikit-learn outside their test and file-I/O
modules (:func:`_is_trusted_type`); skops then loads it with exactly that
explicit list (MLmodel's own ``skops_trusted_types`` is ignored: it comes from the
artifact). Anything else — cloudpickle, pickle, skops with other types — raises
:class:`~modelwatch.errors.UntrustedModelError` before any byte is deserialized,
unless the caller passes ``trust_pickle=True`` (the spec's ``model.trust_pickle``),
which loads it with a WARNING naming the version. Logging follows the same rule:
a model skops cannot save with trusted types only is refused at log time, or
saved with cloudpickle (tag ``modelwatch.serialization``) when ``trust_pickle``.

Errors: every MLflow failure is re-raised as :class:`~modelwatch.errors.RegistryError`
naming the model / version / alias; :func:`is_transient_error` tells a retry
condition whether it was transient (server unreachable, HTTP 5xx / 429, SQLite
locked).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlparse

import pandas as pd

from modelwatch.errors import AliasNotFound, ChampionChanged, RegistryError, UntrustedModelError

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "ChampionChanged",
    "ModelVersionRef",
    "PromotionResult",
    "Registry",
    "is_transient_error",
]

_log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"
REFERENCE_ARTIFACT = "reference/reference.parquet"
MODEL_CARD_ARTIFACT = "model_card.md"
EXPERIMENT_PREFIX = "modelwatch/"

# Packages whose classes skops may construct from a model logged or loaded here ...
_TRUSTED_PACKAGES = frozenset({"sklearn", "numpy", "scipy"})
# ... except from these modules: tests, file I/O (memmap, npz, netCDF, ...: a stored
# constructor call would open or create files), ctypes pointers, build tools.
_EXCLUDED_MODULE_PARTS = frozenset(
    {
        "tests",
        "testing",
        "_testing",
        "conftest",
        "__main__",
        "io",
        "_io",
        "npyio",
        "_npyio_impl",
        "_datasource",
        "memmap",
        "ctypeslib",
        "f2py",
        "distutils",
    }
)
# The setting named by every refusal.
TRUST_SETTING = "model.trust_pickle"
# A run id used as a cache folder name: no separators, no dots.
_SAFE_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_REMOTE_SCHEMES = frozenset({"http", "https", "databricks"})

SerializationFormat = Literal["skops", "cloudpickle"]


@dataclass(frozen=True)
class ModelVersionRef:
    """One registered model version."""

    name: str
    version: str
    run_id: str

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>`` (for display and for tools using the global MLflow URI;
        :class:`Registry` itself never resolves it, see :meth:`Registry.load_model`)."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class PromotionResult:
    """Alias state after :meth:`Registry.promote` or :meth:`Registry.rollback`.

    ``champion`` is the serving version now; ``previous`` is the version that was
    champion before (after a promotion it holds the alias ``previous``; after a
    rollback the alias ``previous`` is deleted).
    """

    name: str
    champion: str
    previous: str | None


# --------------------------------------------------------------------------- errors


# MLflow error codes that mean "try again later". INTERNAL_ERROR is not one of them: it is
# also the default code of every client-side MlflowException.
_TRANSIENT_ERROR_CODES = frozenset(
    {"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"}
)
_TRANSIENT_MESSAGES = (
    "connection refused",
    "max retries exceeded",
    "failed to establish a new connection",
    "connection aborted",
    "connection reset",
    "remote end closed connection",
    "read timed out",
    "timeout exception",
    "database is locked",
    "too many 500 error responses",
    "too many 502 error responses",
    "too many 503 error responses",
    "too many 504 error responses",
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient_error(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause chain) is worth retrying.

    Transient: the server cannot be reached (connection refused / reset, timeout),
    HTTP 5xx or 429, SQLite ``database is locked``. Not transient: missing
    aliases / versions, bad parameters, permission errors — retrying cannot help.
    """
    import requests

    for err in _chain(exc):
        if isinstance(err, AliasNotFound):
            return False
        if isinstance(err, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return True
        if isinstance(err, ConnectionError | TimeoutError):
            return True
        status = _http_status(err)
        if status is not None and (status >= 500 or status == 429):
            return True
        if _error_code(err) in _TRANSIENT_ERROR_CODES:
            return True
        message = str(err).lower()
        if any(text in message for text in _TRANSIENT_MESSAGES):
            return True
    return False


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


def _error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else None


# --------------------------------------------------------------------------- helpers


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _drop_pii(frame: pd.DataFrame, pii: Sequence[str]) -> pd.DataFrame:
    present = [col for col in pii if col in frame.columns]
    return frame.drop(columns=present) if present else frame


def _model_input(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the fitted model was trained on (``feature_names_in_``), when known."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return frame
    columns = [str(name) for name in names]
    missing = [col for col in columns if col not in frame.columns]
    if missing:
        raise RegistryError(f"the input example lacks the model's input column(s) {missing}")
    return frame.loc[:, columns]


def _normalize_tracking_uri(uri: str) -> str:
    """Make a relative SQLite path absolute (``sqlite:///x.db`` is relative to the cwd)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = uri[len("sqlite:///") :]
        if path and not path.startswith(":memory:"):
            return f"sqlite:///{Path(path).resolve()}"
    return uri


def _sqlite_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :].split("?", 1)[0]
        if path and not path.startswith(":memory:"):
            return Path(path)
    return None


def _version_str(version: Any) -> str:
    return str(int(version)) if isinstance(version, int) else str(version)


def _is_version_number(value: str) -> bool:
    return value.isdigit()


def _stringify(values: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in values.items()}


def _ensure_quiet_mlflow() -> None:
    # Before the first `import mlflow`: without it MLflow does a DNS lookup at start.
    # Artifact progress bars would flood task logs. Explicit values in the
    # environment are respected.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _dataset_source(uri: str) -> Any:
    """A dataset source pointing at ``uri`` (falls back to a code source tagged with it)."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import get_registered_sources, resolve_dataset_source

    try:
        # The first matching source only: MLflow registers the local one twice and
        # warns about the ambiguity otherwise.
        for cls in get_registered_sources():
            if cls._can_resolve(uri):
                return resolve_dataset_source(uri, candidate_sources=[cls])
    except Exception as exc:  # pragma: no cover - depends on MLflow internals
        _log.debug("no dataset source for %s: %s", uri, exc)
    return CodeDatasetSource(tags={"modelwatch.reference_uri": uri})


def _pip_requirements(serialization: SerializationFormat) -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    packages = ["mlflow", "scikit-learn", "numpy", "scipy", "pandas"]
    packages.append("skops" if serialization == "skops" else "cloudpickle")
    requirements = []
    for package in packages:
        try:
            requirements.append(f"{package}=={version(package)}")
        except PackageNotFoundError:  # pragma: no cover - all are mlflow/sklearn deps
            requirements.append(package)
    return requirements


def _is_trusted_type(name: str) -> bool:
    """True when skops may construct ``name`` (``"module.attr"``) from a model artifact.

    Only *classes* whose defining module is in numpy / scipy / scikit-learn and not a
    test, file-I/O, ctypes or build module. Functions and methods are refused: skops
    calls some stored callables with stored arguments (``ConstructorFromReduceNode``),
    and those packages contain functions that execute strings or touch files. Only the
    named module of a trusted package is imported (to find the object), nothing else.
    """
    module_name, _, attr = name.rpartition(".")
    if not module_name or not attr:
        return False
    if not _trusted_module(module_name):
        return False
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        return False
    if not isinstance(obj, type) or not _trusted_module(str(getattr(obj, "__module__", ""))):
        return False  # not a class, or a class re-exported from another package
    import numpy as np

    return not issubclass(obj, np.memmap)


def _trusted_module(module_name: str) -> bool:
    parts = module_name.split(".")
    return (
        parts[0] in _TRUSTED_PACKAGES
        and all(parts)
        and not _EXCLUDED_MODULE_PARTS.intersection(parts)
    )


def _skops_types(model: Any) -> tuple[list[str], list[str]] | str:
    """``(trusted, foreign)`` untrusted-by-default types of ``model`` in skops, or why skops
    cannot serialize it at all."""
    try:
        import skops.io as sio

        untrusted = sio.get_untrusted_types(data=sio.dumps(model))
    except Exception as exc:  # skops cannot serialize it at all
        return f"skops cannot serialize it: {type(exc).__name__}: {exc}"
    trusted = sorted(name for name in untrusted if _is_trusted_type(name))
    return trusted, sorted(set(untrusted) - set(trusted))


def _read_sklearn_flavor(model_dir: Path, what: str) -> tuple[str, Path]:
    """``(serialization_format, model file)`` from the ``MLmodel`` file (plain YAML, no code)."""
    import yaml

    try:
        data = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RegistryError(f"{what}: cannot read its MLmodel file: {exc}") from exc
    flavors = data.get("flavors") if isinstance(data, dict) else None
    flavor = flavors.get("sklearn") if isinstance(flavors, dict) else None
    if not isinstance(flavor, dict):
        found = sorted(flavors) if isinstance(flavors, dict) else []
        raise RegistryError(f"{what}: its MLmodel file has no sklearn flavor (flavors: {found})")
    # MLflow's own default when the key is missing (models logged before skops existed).
    fmt = str(flavor.get("serialization_format", "pickle"))
    relative = flavor.get("pickled_model")
    root = model_dir.resolve()
    path = (root / str(relative)).resolve() if isinstance(relative, str) and relative else None
    if path is None or not path.is_relative_to(root) or not path.is_file():
        raise RegistryError(
            f"{what}: the sklearn flavor's pickled_model {relative!r} is not a file inside "
            "the model artifact"
        )
    return fmt, path


def _deserialize_sklearn(
    model_dir: Path,
    *,
    model_name: str,
    version: str,
    trust_pickle: bool,
) -> Any:
    """Load the sklearn model in ``model_dir`` under the trust rule (see the module docstring)."""
    what = f"version {version} of model {model_name!r}"
    fmt, path = _read_sklearn_flavor(model_dir, what)
    opt_in = (
        f"set {TRUST_SETTING}: true in the monitor spec of {model_name!r} only if everyone "
        "who can register versions of it is trusted"
    )
    if fmt == "skops":
        import skops.io as sio

        try:
            untrusted = sio.get_untrusted_types(file=path)
        except Exception as exc:
            raise RegistryError(f"{what}: its model file is not a valid skops file: {exc}") from exc
        foreign = sorted(name for name in untrusted if not _is_trusted_type(name))
        if foreign and not trust_pickle:
            raise UntrustedModelError(
                f"refusing to load {what}: its skops file needs types that are not numpy/scipy/"
                f"scikit-learn classes {foreign}, and constructing them can run code; "
                f"{TRUST_SETTING} is false ({opt_in})"
            )
        if foreign:
            _log.warning(
                "%s = true: loading %s with the non-numpy/scipy/scikit-learn skops types %s "
                "(this can run code from the artifact)",
                TRUST_SETTING,
                what,
                foreign,
            )
        return sio.load(path, trusted=sorted(untrusted))
    if fmt not in ("cloudpickle", "pickle"):
        raise RegistryError(f"{what}: unknown sklearn serialization_format {fmt!r} in MLmodel")
    if not trust_pickle:
        raise UntrustedModelError(
            f"refusing to load {what}: its model artifact is serialized with {fmt} "
            f"(MLmodel sklearn serialization_format={fmt!r}), and loading it runs any code "
            f"the artifact contains; only skops models with numpy/scipy/scikit-learn types "
            f"are loaded while {TRUST_SETTING} is false ({opt_in})"
        )
    _log.warning(
        "%s = true: loading %s from %s with %s; this runs whatever code the artifact "
        "contains. Re-register it in the skops format to drop the opt-in.",
        TRUST_SETTING,
        what,
        path.name,
        fmt,
    )
    with path.open("rb") as handle:
        if fmt == "cloudpickle":
            import cloudpickle

            return cloudpickle.load(handle)
        import pickle

        return pickle.load(handle)


def _cache_file(cache_dir: Path | None, run_id: str, name: str) -> Path | None:
    """``<cache_dir>/<run_id>/<name>``; None (no cache) without a dir or for an odd run id.

    The run id comes from the tracking server: it is used as a folder name only when it is
    a plain id (no separators, no ``..``, not empty), so no two runs share a cache entry
    and nothing is written outside ``cache_dir``. A run's artifacts never change, so the
    cache never goes stale.
    """
    if cache_dir is None:
        return None
    if not _SAFE_RUN_ID.fullmatch(run_id):
        _log.warning("not caching %s of run %r: not a plain MLflow run id", name, run_id)
        return None
    return Path(cache_dir) / run_id / name


def _cache_put(local: str | Path, cached: Path) -> None:
    """Copy ``local`` to ``cached`` atomically: readers never see a partial file, and
    concurrent writers (threads, processes, machines sharing the folder) never clash."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f".{cached.name}.{uuid.uuid4().hex}.tmp")
    try:
        shutil.copyfile(local, partial)
        os.replace(partial, cached)
    finally:
        partial.unlink(missing_ok=True)


# --------------------------------------------------------------------------- registry


class Registry:
    """MLflow tracking + model registry for modelwatch models.

    ``tracking_uri`` must be explicit (``sqlite:////abs/mlflow.db``,
    ``http://127.0.0.1:5000``, ...); a relative SQLite path is made absolute.
    ``artifact_root`` (a local folder) is where experiments created here keep
    their artifacts (``<artifact_root>/<model>``) with a local tracking store;
    default for a SQLite URI: ``mlartifacts/`` next to the database. With an
    http(s) tracking server it is ignored (``artifact_root`` is None): artifacts
    go to the server's own store (``--artifacts-destination``), which every
    worker can read, not to a folder of the machine that logged them.
    """

    _model_locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}
    _model_locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, tracking_uri: str, *, artifact_root: Path | None = None) -> None:
        if not tracking_uri:
            raise RegistryError("Registry needs an explicit MLflow tracking URI; got ''")
        self.tracking_uri = _normalize_tracking_uri(tracking_uri)
        if self.remote:
            artifact_root = None  # the server's artifact store, reachable from every worker
        elif artifact_root is None:
            db = _sqlite_path(self.tracking_uri)
            artifact_root = db.parent / "mlartifacts" if db is not None else None
        self.artifact_root = artifact_root.expanduser().resolve() if artifact_root else None
        self._client_obj: MlflowClient | None = None
        self._lock = threading.Lock()
        self._experiments: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Registry({self.tracking_uri!r}, artifact_root={self.artifact_root!r})"

    @property
    def remote(self) -> bool:
        """True for a tracking server (http, https, databricks), False for a local store."""
        return urlparse(self.tracking_uri).scheme.lower() in _REMOTE_SCHEMES

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self) -> MlflowClient:
        """The underlying client (explicit tracking and registry URI)."""
        with self._lock:
            if self._client_obj is None:
                _ensure_quiet_mlflow()
                from mlflow import MlflowClient

                self._client_obj = MlflowClient(
                    tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
                )
            return self._client_obj

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Re-raise MLflow / connection failures as RegistryError naming ``what``."""
        from mlflow.exceptions import MlflowException

        try:
            yield
        except RegistryError:
            raise
        except (MlflowException, OSError) as exc:
            raise RegistryError(f"{what} failed: {exc}") from exc
        except Exception as exc:
            import requests

            if isinstance(exc, requests.exceptions.RequestException):
                raise RegistryError(f"{what} failed: {exc}") from exc
            raise

    def _model_lock(self, model_name: str) -> threading.Lock:
        key = (self.tracking_uri, model_name)
        with self._model_locks_guard:
            return self._model_locks.setdefault(key, threading.Lock())

    def _artifact_location(self, model_name: str) -> str | None:
        if self.artifact_root is None:
            return None
        return (self.artifact_root / model_name).as_uri()

    # ------------------------------------------------------------------ experiments

    def experiment_id(self, model_name: str) -> str:
        """Id of experiment ``modelwatch/<model_name>``, created if needed."""
        if model_name in self._experiments:
            return self._experiments[model_name]
        from mlflow.exceptions import MlflowException

        name = EXPERIMENT_PREFIX + model_name
        with self._errors(f"getting or creating MLflow experiment {name!r}"):
            client = self.client
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                try:
                    experiment_id = client.create_experiment(
                        name,
                        artifact_location=self._artifact_location(model_name),
                        tags={"modelwatch.model": model_name},
                    )
                except MlflowException as exc:  # created concurrently
                    if _error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                        raise
                    experiment = client.get_experiment_by_name(name)
                    if experiment is None:
                        raise
                    experiment_id = experiment.experiment_id
            else:
                if experiment.lifecycle_stage == "deleted":
                    raise RegistryError(
                        f"MLflow experiment {name!r} (id {experiment.experiment_id}) of model "
                        f"{model_name!r} is deleted; restore it or purge it"
                    )
                experiment_id = experiment.experiment_id
                location = str(experiment.artifact_location or "")
                if self.remote and urlparse(location).scheme in ("", "file"):
                    _log.warning(
                        "MLflow experiment %r keeps its artifacts in the local folder %s of "
                        "the machine that created it: workers elsewhere cannot load its "
                        "models or references through %s. Create the experiment anew "
                        "(modelwatch creates it without a location, i.e. in the server's "
                        "artifact store).",
                        name,
                        location,
                        self.tracking_uri,
                    )
        self._experiments[model_name] = experiment_id
        return experiment_id

    # ------------------------------------------------------------------ logging

    def _start_run(
        self,
        model_name: str,
        run_name: str,
        tags: Mapping[str, str],
    ) -> str:
        experiment_id = self.experiment_id(model_name)
        run_tags = {"modelwatch.model": model_name, **_stringify(tags)}
        with self._errors(f"creating run {run_name!r} of model {model_name!r}"):
            run = self.client.create_run(experiment_id, run_name=run_name, tags=run_tags)
        return str(run.info.run_id)

    def _log_batch(
        self,
        run_id: str,
        *,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        tags: Mapping[str, str] = {},
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(datetime.now(UTC).timestamp() * 1000)
        param_list = [Param(str(k), str(v)[:6000]) for k, v in params.items()]
        metric_list = [Metric(str(k), float(v), now, 0) for k, v in metrics.items()]
        tag_list = [RunTag(str(k), str(v)) for k, v in tags.items()]
        # MLflow limits one batch to 100 params / 1000 metrics / 100 tags.
        for i in range(0, max(len(param_list), 1), 100):
            self.client.log_batch(run_id, params=param_list[i : i + 100])
        for i in range(0, len(metric_list), 1000):
            self.client.log_batch(run_id, metrics=metric_list[i : i + 1000])
        for i in range(0, len(tag_list), 100):
            self.client.log_batch(run_id, tags=tag_list[i : i + 100])

    def _end_run(self, run_id: str, ok: bool) -> None:
        try:
            self.client.set_terminated(run_id, "FINISHED" if ok else "FAILED")
        except Exception as exc:  # never hide the original error
            if ok:
                raise RegistryError(f"ending MLflow run {run_id} failed: {exc}") from exc
            _log.warning("could not mark MLflow run %s as FAILED: %s", run_id, exc)

    def log_model_version(
        self,
        model_name: str,
        model: Any,
        *,
        training_data: pd.DataFrame,
        input_example: pd.DataFrame,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        run_name: str,
        pii: Sequence[str] = (),
        alias: str | None = None,
        description: str = "",
        target: str | None = None,
        model_card: str | None = None,
        profile: Mapping[str, Any] | None = None,
        serialization_format: SerializationFormat | None = None,
        pip_requirements: Sequence[str] | None = None,
        n_example_rows: int = 5,
        trust_pickle: bool = False,
    ) -> ModelVersionRef:
        """Log ``model`` in one run and register it as a new version of ``model_name``.

        The run gets ``params``, ``metrics``, ``tags``, the model (signature from
        ``input_example`` and the output of ``predict_proba`` — or ``predict`` —,
        an input example of ``n_example_rows`` rows, explicit pip requirements),
        the training dataset as an MLflow input (``targets=target``), its Parquet
        copy ``reference/reference.parquet`` (the drift reference of this version)
        and, when given, ``model_card.md``. ``pii`` columns are dropped from
        everything. The version gets ``tags`` and ``description``; ``alias`` (e.g.
        ``"challenger"``) is set last. The run is FAILED if any step fails, and
        the alias is then never moved.

        The model is saved as skops with its numpy/scipy/scikit-learn classes trusted.
        One that cannot be (a custom estimator type, ...) raises
        :class:`UntrustedModelError` before any run is created, unless
        ``trust_pickle`` (the spec's ``model.trust_pickle``): it is then saved with
        cloudpickle, with a warning. ``serialization_format="cloudpickle"`` also needs
        ``trust_pickle``: nothing could load the version otherwise.
        """

        started = time.perf_counter()
        fmt, trusted = self._choose_format(
            model_name, model, serialization_format, trust_pickle=trust_pickle
        )
        run_id = self._start_run(model_name, run_name, tags)
        ok = False
        try:
            with self._errors(f"logging a new version of model {model_name!r} (run {run_id})"):
                self._log_batch(run_id, params=params, metrics=metrics)
                train = _drop_pii(training_data, pii)
                example = _model_input(model, _drop_pii(input_example, pii)).head(n_example_rows)
                self._log_training_data(run_id, model_name, train, target=target)
                if model_card is not None:
                    self.client.log_text(run_id, model_card, MODEL_CARD_ARTIFACT)
                if profile is not None:
                    self._log_profile(run_id, profile)
                model_id, source = self._log_sklearn_model(
                    run_id,
                    model,
                    example,
                    params=params,
                    fmt=fmt,
                    trusted=trusted,
                    pip_requirements=pip_requirements,
                )
                self.client.set_tag(run_id, "modelwatch.serialization", fmt)
            ref = self._register(
                model_name,
                run_id=run_id,
                model_id=model_id,
                source=source,
                tags={**_stringify(tags), "modelwatch.serialization": fmt},
                description=description,
            )
            if alias is not None:
                self.set_alias(model_name, alias, ref.version)
            ok = True
        finally:
            self._end_run(run_id, ok)
        _log.info(
            "logged model %s version %s (run %s) in %.2f s",
            model_name,
            ref.version,
            run_id,
            time.perf_counter() - started,
        )
        return ref

    def _log_training_data(
        self, run_id: str, model_name: str, train: pd.DataFrame, *, target: str | None
    ) -> None:
        from mlflow.data.pandas_dataset import from_pandas
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.exceptions import MlflowException
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        if target is not None and target not in train.columns:
            raise RegistryError(
                f"training data of model {model_name!r} has no target column {target!r}"
            )
        artifact_uri = str(self.client.get_run(run_id).info.artifact_uri)
        dataset = from_pandas(
            train,
            source=_dataset_source(f"{artifact_uri.rstrip('/')}/{REFERENCE_ARTIFACT}"),
            targets=target,
            name=f"{model_name}-training",
        )
        inputs = [
            DatasetInput(
                dataset._to_mlflow_entity(),
                tags=[InputTag(MLFLOW_DATASET_CONTEXT, "training")],
            )
        ]
        # MLflow gets-or-creates the dataset row by (experiment, name, digest); two
        # writers logging the same training data at once can both try to create it
        # and one fails on the unique constraint. log_inputs is idempotent (it reuses
        # existing dataset and input rows), so the loser simply logs again.
        for attempt in range(3):
            try:
                self.client.log_inputs(run_id, datasets=inputs)
                break
            except MlflowException:
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
        self.client.set_tag(run_id, "modelwatch.training_digest", dataset.digest)
        with tempfile.TemporaryDirectory(prefix="modelwatch-ref-") as tmp:
            path = Path(tmp) / "reference.parquet"
            train.to_parquet(path, index=False)
            self.client.log_artifact(run_id, str(path), artifact_path="reference")

    def _log_profile(self, run_id: str, profile: Mapping[str, Any]) -> None:
        """The drift reference profile as plain arrays (``np.savez``, no pickle)."""
        import numpy as np

        with tempfile.TemporaryDirectory(prefix="modelwatch-profile-") as tmp:
            path = Path(tmp) / "profile.npz"
            np.savez(path, **dict(profile))
            self.client.log_artifact(run_id, str(path), artifact_path="reference")

    def load_profile_arrays(
        self, model_name: str, version_or_alias: str, *, cache_dir: Path | None = None
    ) -> dict[str, Any] | None:
        """The arrays of ``reference/profile.npz`` of a version; None for versions without one."""
        import numpy as np
        from mlflow.exceptions import MlflowException

        ref = self.resolve(model_name, version_or_alias)
        cached = _cache_file(cache_dir, ref.run_id, "profile.npz")
        if cached is None or not cached.exists():
            what = f"downloading the profile of version {ref.version} of model {model_name!r}"
            with self._errors(what), tempfile.TemporaryDirectory(prefix="modelwatch-prof-") as tmp:
                try:
                    local = self.client.download_artifacts(ref.run_id, "reference/profile.npz", tmp)
                except (MlflowException, OSError) as exc:
                    if is_transient_error(exc):
                        raise
                    return None
                if cached is None:
                    with np.load(local, allow_pickle=False) as data:
                        return {key: data[key] for key in data.files}
                _cache_put(local, cached)
        with np.load(cached, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    @staticmethod
    def _choose_format(
        model_name: str,
        model: Any,
        requested: SerializationFormat | None,
        *,
        trust_pickle: bool,
    ) -> tuple[SerializationFormat, list[str] | None]:
        """``(format, skops trusted types)`` for saving ``model`` under the trust rule."""
        kind = type(model).__qualname__
        opt_in = (
            f"set {TRUST_SETTING}: true in the monitor spec of {model_name!r} to save it with "
            "cloudpickle (loading it then runs code from the artifact)"
        )
        if requested == "cloudpickle":
            if not trust_pickle:
                raise UntrustedModelError(
                    f"model {model_name!r}: serialization_format='cloudpickle' was requested "
                    f"for type {kind} but {TRUST_SETTING} is false, so no monitor could load "
                    f"it; {opt_in}"
                )
            return "cloudpickle", None
        found = _skops_types(model)
        if isinstance(found, str):
            problem = found
        elif found[1]:
            problem = f"it contains types that are not numpy/scipy/scikit-learn classes {found[1]}"
        else:
            return "skops", found[0]
        if requested == "skops" or not trust_pickle:
            raise UntrustedModelError(
                f"model {model_name!r}: type {kind} cannot be saved in the skops format with "
                f"numpy/scipy/scikit-learn types only ({problem}); {opt_in}"
            )
        _log.warning(
            "%s = true: saving %s of model %r with cloudpickle (%s); loading it will run "
            "code from the artifact",
            TRUST_SETTING,
            kind,
            model_name,
            problem,
        )
        return "cloudpickle", None

    def _log_sklearn_model(
        self,
        run_id: str,
        model: Any,
        example: pd.DataFrame,
        *,
        params: Mapping[str, Any],
        fmt: SerializationFormat,
        trusted: list[str] | None,
        pip_requirements: Sequence[str] | None,
    ) -> tuple[str, str]:
        """Save the model as a LoggedModel of the run (no fluent API).

        Returns ``(model_id, artifact_location)``.
        """
        import mlflow.sklearn
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model, infer_signature

        predict_fn = "predict_proba" if hasattr(model, "predict_proba") else "predict"
        output = getattr(model, predict_fn)(example)
        signature = infer_signature(example, output)

        client = self.client
        experiment_id = client.get_run(run_id).info.experiment_id
        logged = client.create_logged_model(
            experiment_id=experiment_id,
            name="model",
            source_run_id=run_id,
            params={str(k): str(v)[:6000] for k, v in params.items()},
            tags={"modelwatch.serialization": fmt},
        )
        try:
            with tempfile.TemporaryDirectory(prefix="modelwatch-model-") as tmp:
                local = os.path.join(tmp, "model")
                mlflow_model = Model(
                    artifact_path=logged.artifact_location,
                    model_uuid=logged.model_id,
                    run_id=run_id,
                    model_id=logged.model_id,
                )
                mlflow.sklearn.save_model(
                    model,
                    local,
                    mlflow_model=mlflow_model,
                    serialization_format=fmt,
                    skops_trusted_types=trusted,
                    signature=signature,
                    input_example=example,
                    pip_requirements=list(pip_requirements or _pip_requirements(fmt)),
                    pyfunc_predict_fn=predict_fn,
                )
                client.log_model_artifacts(logged.model_id, local)
            client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
            client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        except BaseException:
            try:
                client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
            except Exception as exc:
                _log.warning("could not mark logged model %s FAILED: %s", logged.model_id, exc)
            raise
        return str(logged.model_id), str(logged.artifact_location)

    def _register(
        self,
        model_name: str,
        *,
        run_id: str,
        model_id: str,
        source: str,
        tags: Mapping[str, str],
        description: str,
    ) -> ModelVersionRef:
        import json

        from mlflow.exceptions import MlflowException

        client = self.client
        with self._errors(f"registering a new version of model {model_name!r} (run {run_id})"):
            try:
                client.create_registered_model(
                    model_name, description=f"Monitored by modelwatch ({model_name})."
                )
            except MlflowException as exc:
                if _error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                    raise
            # source = the LoggedModel's storage location, not "models:/<model_id>": the
            # SQLAlchemy registry store resolves the latter with the *global* tracking URI
            # (MLflow 3.17 TODO), i.e. ./mlflow.db of the cwd, not this registry's store.
            mv = client.create_model_version(
                model_name,
                source=source,
                run_id=run_id,
                tags=dict(tags),
                description=description or None,
                model_id=model_id,
            )
            version = _version_str(mv.version)
            client.set_logged_model_tags(
                model_id,
                {"mlflow.modelVersions": json.dumps([{"name": model_name, "version": version}])},
            )
        return ModelVersionRef(model_name, version, run_id)

    def log_run(
        self,
        model_name: str,
        *,
        run_name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        text_artifacts: Mapping[str, str] = {},
    ) -> str:
        """A plain run in the model's experiment (decision evidence); returns its id.

        ``text_artifacts`` maps artifact file names (``"ab/decision.md"``) to text.
        """
        run_id = self._start_run(model_name, run_name, tags)
        ok = False
        try:
            with self._errors(f"logging run {run_name!r} of model {model_name!r}"):
                self._log_batch(run_id, params=params, metrics=metrics)
                for artifact_file, text in text_artifacts.items():
                    self.client.log_text(run_id, text, artifact_file)
            ok = True
        finally:
            self._end_run(run_id, ok)
        return run_id

    # ------------------------------------------------------------------ versions

    def _ref(self, mv: Any) -> ModelVersionRef:
        return ModelVersionRef(str(mv.name), _version_str(mv.version), str(mv.run_id or ""))

    def find_version(self, model_name: str, alias: str) -> ModelVersionRef | None:
        """The version under ``alias``, or None (also when the model is not registered)."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(model_name, alias)
        except MlflowException as exc:
            if _error_code(exc) in (
                "RESOURCE_DOES_NOT_EXIST",
                "INVALID_PARAMETER_VALUE",
                "NOT_FOUND",
            ):
                return None
            raise RegistryError(
                f"looking up alias {alias!r} of model {model_name!r} failed: {exc}"
            ) from exc
        except Exception as exc:
            if isinstance(exc, OSError) or is_transient_error(exc):
                raise RegistryError(
                    f"looking up alias {alias!r} of model {model_name!r} failed: {exc}"
                ) from exc
            raise
        return self._ref(mv)

    def get_version(self, model_name: str, alias: str) -> ModelVersionRef:
        """The version under ``alias``; :class:`AliasNotFound` when there is none."""
        ref = self.find_version(model_name, alias)
        if ref is None:
            raise AliasNotFound(f"model {model_name!r} has no alias {alias!r}")
        return ref

    def resolve(self, model_name: str, version_or_alias: str) -> ModelVersionRef:
        """``"3"`` (a version number) or ``"champion"`` (an alias) -> the version."""
        key = str(version_or_alias)
        if not _is_version_number(key):
            return self.get_version(model_name, key)
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(model_name, key)
        except MlflowException as exc:
            if _error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                raise RegistryError(f"model {model_name!r} has no version {key!r}") from exc
            raise RegistryError(
                f"looking up version {key!r} of model {model_name!r} failed: {exc}"
            ) from exc
        except OSError as exc:
            raise RegistryError(
                f"looking up version {key!r} of model {model_name!r} failed: {exc}"
            ) from exc
        return self._ref(mv)

    def load_model(
        self, model_name: str, version_or_alias: str, *, trust_pickle: bool = False
    ) -> Any:
        """The scikit-learn model of a version or alias (has predict_proba)."""
        return self.load_model_version(model_name, version_or_alias, trust_pickle=trust_pickle)[1]

    def load_model_version(
        self, model_name: str, version_or_alias: str, *, trust_pickle: bool = False
    ) -> tuple[ModelVersionRef, Any]:
        """``(ref, model)``: the model together with the version it was resolved to.

        The artifact is downloaded, its ``MLmodel`` read as YAML, and the model file
        deserialized only under the trust rule (module docstring): a cloudpickle /
        pickle model, or skops with types other than numpy/scipy/scikit-learn classes,
        raises :class:`UntrustedModelError` (naming the version and ``model.trust_pickle``)
        without running anything, unless ``trust_pickle``. Not ``mlflow.sklearn.load_model``:
        it trusts the artifact's own skops type list and puts its ``code`` paths on
        ``sys.path``.
        """
        ref = self.resolve(model_name, version_or_alias)
        import mlflow.artifacts

        what = f"loading version {ref.version} of model {model_name!r}"
        with self._errors(what), tempfile.TemporaryDirectory(prefix="modelwatch-load-") as tmp:
            # Not "models:/name/version": MLflow resolves those with the *global* registry URI.
            source = self.client.get_model_version_download_uri(model_name, ref.version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=self.tracking_uri
            )
            model = _deserialize_sklearn(
                Path(local), model_name=model_name, version=ref.version, trust_pickle=trust_pickle
            )
        return ref, model

    def load_reference(
        self, model_name: str, version_or_alias: str, *, cache_dir: Path | None = None
    ) -> pd.DataFrame:
        """The drift reference (training data, PII-free) logged with a version.

        With ``cache_dir``, the file is kept as ``<cache_dir>/<run_id>/reference.parquet``
        (a run's artifacts never change, so the cache never goes stale).
        """
        ref = self.resolve(model_name, version_or_alias)
        cached = _cache_file(cache_dir, ref.run_id, "reference.parquet")
        if cached is not None and cached.exists():
            return pd.read_parquet(cached)
        what = (
            f"downloading {REFERENCE_ARTIFACT} of version {ref.version} of model "
            f"{model_name!r} (run {ref.run_id})"
        )
        with self._errors(what), tempfile.TemporaryDirectory(prefix="modelwatch-ref-") as tmp:
            from mlflow.exceptions import MlflowException

            try:
                local = self.client.download_artifacts(ref.run_id, REFERENCE_ARTIFACT, tmp)
            except (MlflowException, OSError) as exc:
                if is_transient_error(exc):
                    raise
                raise RegistryError(
                    f"version {ref.version} of model {model_name!r} (run {ref.run_id}) has no "
                    f"{REFERENCE_ARTIFACT} artifact: {exc}"
                ) from exc
            frame = pd.read_parquet(local)
            if cached is not None:
                _cache_put(local, cached)
        return frame

    def model_card(self, model_name: str, version_or_alias: str) -> str | None:
        """The ``model_card.md`` of a version, or None when it was logged without one."""
        ref = self.resolve(model_name, version_or_alias)
        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory(prefix="modelwatch-card-") as tmp:
            try:
                local = self.client.download_artifacts(ref.run_id, MODEL_CARD_ARTIFACT, tmp)
            except (MlflowException, OSError) as exc:
                if is_transient_error(exc):
                    raise RegistryError(
                        f"downloading the model card of version {ref.version} of model "
                        f"{model_name!r} failed: {exc}"
                    ) from exc
                return None
            return Path(local).read_text(encoding="utf-8")

    def version_tags(self, model_name: str, version: str) -> dict[str, str]:
        """Tags of one model version."""
        with self._errors(f"reading tags of version {version} of model {model_name!r}"):
            mv = self.client.get_model_version(model_name, str(version))
        return dict(mv.tags)

    def aliases(self, model_name: str) -> dict[str, str]:
        """``{alias: version}`` of a registered model (empty when not registered)."""
        from mlflow.exceptions import MlflowException

        try:
            registered = self.client.get_registered_model(model_name)
        except MlflowException as exc:
            if _error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                return {}
            raise RegistryError(f"reading aliases of model {model_name!r} failed: {exc}") from exc
        except OSError as exc:
            raise RegistryError(f"reading aliases of model {model_name!r} failed: {exc}") from exc
        return {str(k): _version_str(v) for k, v in (registered.aliases or {}).items()}

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """Latest value of every metric logged in a run (e.g. a version's ``val_roc_auc``)."""
        with self._errors(f"reading metrics of MLflow run {run_id}"):
            run = self.client.get_run(run_id)
        return {str(k): float(v) for k, v in run.data.metrics.items()}

    def delete_registered_model(self, model_name: str) -> bool:
        """Delete a registered model and all its versions (runs stay); False when absent."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_registered_model(model_name)
        except MlflowException as exc:
            if _error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                return False
            raise RegistryError(f"deleting registered model {model_name!r} failed: {exc}") from exc
        return True

    # ------------------------------------------------------------------ aliases and tags

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        version = _version_str(version)
        with self._errors(f"setting alias {alias!r} of model {model_name!r} to version {version}"):
            self.client.set_registered_model_alias(model_name, alias, version)

    def delete_alias(self, model_name: str, alias: str) -> None:
        """Delete ``alias``; a missing alias is not an error."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_registered_model_alias(model_name, alias)
        except MlflowException as exc:
            if _error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return
            raise RegistryError(
                f"deleting alias {alias!r} of model {model_name!r} failed: {exc}"
            ) from exc
        except OSError as exc:
            raise RegistryError(
                f"deleting alias {alias!r} of model {model_name!r} failed: {exc}"
            ) from exc

    def set_version_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        version = _version_str(version)
        with self._errors(f"tagging version {version} of model {model_name!r}"):
            for key, value in tags.items():
                self.client.set_model_version_tag(model_name, version, str(key), str(value))

    # ------------------------------------------------------------------ promotion

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
        version = _version_str(version)
        with self._model_lock(model_name):
            target = self.resolve(model_name, version)
            current = self.find_version(model_name, CHAMPION)
            if expected_champion is not None and (
                current is None or current.version != _version_str(expected_champion)
            ):
                raise ChampionChanged(
                    f"model {model_name!r}: version {target.version} was compared against "
                    f"champion v{_version_str(expected_champion)}, but the champion is now "
                    f"{'v' + current.version if current else 'unset'}; not promoted"
                )
            if current is not None and current.version == target.version:
                previous = self.find_version(model_name, PREVIOUS)
                return PromotionResult(
                    model_name, target.version, previous.version if previous else None
                )
            now = _now()
            self.set_version_tags(
                model_name,
                target.version,
                {
                    "modelwatch.promoted_at": now,
                    "modelwatch.promotion_reason": reason,
                    "modelwatch.promoted_by": actor or "modelwatch",
                    "modelwatch.replaced_version": current.version if current else "",
                },
            )
            if current is not None:
                self.set_version_tags(
                    model_name,
                    current.version,
                    {
                        "modelwatch.demoted_at": now,
                        "modelwatch.demotion_reason": reason,
                        "modelwatch.replaced_by": target.version,
                    },
                )
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

        :class:`AliasNotFound` when there is no ``previous``.
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
            now = _now()
            self.set_version_tags(
                model_name,
                previous.version,
                {
                    "modelwatch.restored_at": now,
                    "modelwatch.rollback_reason": reason,
                    "modelwatch.rolled_back_by": actor or "modelwatch",
                    "modelwatch.rolled_back_from": current.version if current else "",
                },
            )
            if current is not None and current.version != previous.version:
                self.set_version_tags(
                    model_name,
                    current.version,
                    {
                        "modelwatch.rolled_back_at": now,
                        "modelwatch.rollback_reason": reason,
                        "modelwatch.rolled_back_to": previous.version,
                    },
                )
            self.set_alias(model_name, CHAMPION, previous.version)
            self.delete_alias(model_name, PREVIOUS)
        return PromotionResult(model_name, previous.version, current.version if current else None)

    # ------------------------------------------------------------------ links

    def _ui_base(self) -> str | None:
        parsed = urlparse(self.tracking_uri)
        if parsed.scheme not in ("http", "https"):
            return None
        return self.tracking_uri.rstrip("/")

    def run_url(self, run_id: str, *, experiment_id: str | None = None) -> str | None:
        """Link to a run in the MLflow UI (http(s) tracking URIs only, else None)."""
        base = self._ui_base()
        if base is None:
            return None
        if experiment_id is None:
            with self._errors(f"reading run {run_id}"):
                experiment_id = str(self.client.get_run(run_id).info.experiment_id)
        return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"

    def model_version_url(self, model_name: str, version: str) -> str | None:
        """Link to a model version in the MLflow UI (http(s) tracking URIs only)."""
        base = self._ui_base()
        if base is None:
            return None
        return f"{base}/#/models/{model_name}/versions/{_version_str(version)}"
