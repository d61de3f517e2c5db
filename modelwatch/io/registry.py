"""MLflow adapter: experiments, model versions, aliases, promotion and rollback.

Everything goes through one :class:`mlflow.MlflowClient` built with the
explicit tracking (and registry) URI of the :class:`Registry`; no fluent API
(``mlflow.start_run``, ``mlflow.log_*``, ``mlflow.set_tracking_uri``) is used,
so nothing depends on, or leaks into, process-global or thread-local MLflow
state: a registry is safe to use from Prefect's pool threads. :mod:`mlflow` is
imported lazily (it costs ~1.5 s).

Conventions:

* experiment ``modelwatch/<model>`` per model, created with an explicit
  ``artifact_location`` (``<artifact_root>/<model>``), so nothing lands in the
  ``./mlruns`` of whatever directory the process started in;
* registered model ``<model>``; aliases ``champion``, ``challenger``, ``previous``;
* a model version's run holds the model (a LoggedModel named ``model``), the
  training dataset (``mlflow.log_input``, context ``training``) and its drift
  reference ``reference/reference.parquet`` — PII columns never reach MLflow;
* decisions are tags ``modelwatch.*`` on the model versions.

Serialization: scikit-learn models are saved in MLflow's default **skops**
format. The types skops does not trust by default are listed from the model
itself and accepted only when they come from numpy / scipy / scikit-learn;
a model with other types (a configured trainer's custom estimator, ...) falls
back to cloudpickle, with a warning and the tag ``modelwatch.serialization``.

Errors: every MLflow failure is re-raised as :class:`~modelwatch.errors.RegistryError`
naming the model / version / alias; :func:`is_transient_error` tells a retry
condition whether it was transient (server unreachable, HTTP 5xx / 429, SQLite
locked).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlparse

import pandas as pd

from modelwatch.errors import AliasNotFound, ChampionChanged, RegistryError

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

# Modules whose types skops may load from a model logged here.
_TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.")

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


def _skops_trusted_types(model: Any) -> list[str] | None:
    """Untrusted-by-default types of ``model`` if all are numpy/scipy/sklearn, else None."""
    try:
        import skops.io as sio

        untrusted = sio.get_untrusted_types(data=sio.dumps(model))
    except Exception as exc:  # skops cannot serialize it at all
        _log.warning("skops cannot serialize %s (%s)", type(model).__name__, exc)
        return None
    if all(name.startswith(_TRUSTED_MODULE_PREFIXES) for name in untrusted):
        return sorted(untrusted)
    _log.warning(
        "model %s contains types outside numpy/scipy/scikit-learn %s",
        type(model).__name__,
        sorted(n for n in untrusted if not n.startswith(_TRUSTED_MODULE_PREFIXES)),
    )
    return None


# --------------------------------------------------------------------------- registry


class Registry:
    """MLflow tracking + model registry for modelwatch models.

    ``tracking_uri`` must be explicit (``sqlite:////abs/mlflow.db``,
    ``http://127.0.0.1:5000``, ...); a relative SQLite path is made absolute.
    ``artifact_root`` (a local folder) is where experiments created here keep
    their artifacts (``<artifact_root>/<model>``); default for a SQLite URI:
    ``mlartifacts/`` next to the database; for a server: the server's own
    artifact store (``--artifacts-destination``).
    """

    _model_locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}
    _model_locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, tracking_uri: str, *, artifact_root: Path | None = None) -> None:
        if not tracking_uri:
            raise RegistryError("Registry needs an explicit MLflow tracking URI; got ''")
        self.tracking_uri = _normalize_tracking_uri(tracking_uri)
        if artifact_root is None:
            db = _sqlite_path(self.tracking_uri)
            artifact_root = db.parent / "mlartifacts" if db is not None else None
        self.artifact_root = artifact_root.expanduser().resolve() if artifact_root else None
        self._client_obj: MlflowClient | None = None
        self._lock = threading.Lock()
        self._experiments: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Registry({self.tracking_uri!r}, artifact_root={self.artifact_root!r})"

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
        """
        import time

        started = time.perf_counter()
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
                model_id, source, fmt = self._log_sklearn_model(
                    run_id,
                    model,
                    example,
                    params=params,
                    serialization_format=serialization_format,
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
        self.client.log_inputs(
            run_id,
            datasets=[
                DatasetInput(
                    dataset._to_mlflow_entity(),
                    tags=[InputTag(MLFLOW_DATASET_CONTEXT, "training")],
                )
            ],
        )
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
        cached = Path(cache_dir) / ref.run_id / "profile.npz" if cache_dir is not None else None
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
                cached.parent.mkdir(parents=True, exist_ok=True)
                partial = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                shutil.copyfile(local, partial)
                os.replace(partial, cached)
        with np.load(cached, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    def _log_sklearn_model(
        self,
        run_id: str,
        model: Any,
        example: pd.DataFrame,
        *,
        params: Mapping[str, Any],
        serialization_format: SerializationFormat | None,
        pip_requirements: Sequence[str] | None,
    ) -> tuple[str, str, SerializationFormat]:
        """Save the model as a LoggedModel of the run (no fluent API).

        Returns ``(model_id, artifact_location, serialization_format)``.
        """
        import mlflow.sklearn
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model, infer_signature

        trusted: list[str] | None = None
        fmt: SerializationFormat
        if serialization_format == "cloudpickle":
            fmt = "cloudpickle"
        else:
            trusted = _skops_trusted_types(model)
            if trusted is None and serialization_format == "skops":
                raise RegistryError(
                    f"model {type(model).__name__} cannot be saved in the skops format with "
                    "numpy/scipy/scikit-learn types only; use serialization_format='cloudpickle'"
                )
            fmt = "skops" if trusted is not None else "cloudpickle"
            if fmt == "cloudpickle":
                _log.warning("saving %s with cloudpickle", type(model).__name__)

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
        return str(logged.model_id), str(logged.artifact_location), fmt

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

    def load_model(self, model_name: str, version_or_alias: str) -> Any:
        """The scikit-learn model of a version or alias (``mlflow.sklearn``: has predict_proba)."""
        return self.load_model_version(model_name, version_or_alias)[1]

    def load_model_version(
        self, model_name: str, version_or_alias: str
    ) -> tuple[ModelVersionRef, Any]:
        """``(ref, model)``: the model together with the version it was resolved to."""
        ref = self.resolve(model_name, version_or_alias)
        import mlflow.artifacts
        import mlflow.sklearn

        what = f"loading version {ref.version} of model {model_name!r}"
        with self._errors(what), tempfile.TemporaryDirectory(prefix="modelwatch-load-") as tmp:
            # Not "models:/name/version": MLflow resolves those with the *global* registry URI.
            source = self.client.get_model_version_download_uri(model_name, ref.version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=self.tracking_uri
            )
            model = mlflow.sklearn.load_model(local)
        return ref, model

    def load_reference(
        self, model_name: str, version_or_alias: str, *, cache_dir: Path | None = None
    ) -> pd.DataFrame:
        """The drift reference (training data, PII-free) logged with a version.

        With ``cache_dir``, the file is kept as ``<cache_dir>/<run_id>/reference.parquet``
        (a run's artifacts never change, so the cache never goes stale).
        """
        ref = self.resolve(model_name, version_or_alias)
        if cache_dir is not None:
            cached = Path(cache_dir) / ref.run_id / "reference.parquet"
            if cached.exists():
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
            if cache_dir is not None:
                cached = Path(cache_dir) / ref.run_id / "reference.parquet"
                cached.parent.mkdir(parents=True, exist_ok=True)
                partial = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                shutil.copyfile(local, partial)
                os.replace(partial, cached)  # atomic: readers never see a partial file
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
