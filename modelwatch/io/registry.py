"""MLflow adapter: the :class:`Registry` of modelwatch models.

Everything goes through one :class:`mlflow.MlflowClient` built with the
explicit tracking (and registry) URI of the :class:`Registry`; no fluent API
(``mlflow.start_run``, ``mlflow.log_*``, ``mlflow.set_tracking_uri``) is used,
so nothing depends on, or leaks into, process-global or thread-local MLflow
state: a registry is safe to use from Prefect's pool threads. :mod:`mlflow` is
imported lazily (it costs ~1.5 s).

The registry composes its parts; this module keeps tracking (experiments, runs, logging
a model version) and the versions (resolve, tags, loading a version's model):

* :mod:`modelwatch.io.mlflow_client` — the shared client, :class:`ModelVersionRef`, and
  what an MLflow failure means (``RegistryError`` / transient ``RegistryUnavailable``,
  by exception class, error code and HTTP status);
* :mod:`modelwatch.io.serialization` — the trust rule: the format a model is saved in,
  and whether a downloaded artifact may be deserialized;
* :mod:`modelwatch.io.reference_cache` — the reference / profile / champion-state files
  and their local cache ``<cache_dir>/<run_id>/``;
* :mod:`modelwatch.io.aliases` — the alias book: aliases, promotion (``previous`` first),
  rollback, :class:`PromotionResult`.

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

Errors: every MLflow failure is re-raised as :class:`~modelwatch.errors.RegistryError`
naming the model / version / alias; a transient one (server unreachable, HTTP 5xx /
429, tracking database busy) as :class:`~modelwatch.errors.RegistryUnavailable`, which
:func:`modelwatch.errors.is_transient` answers.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload
from urllib.parse import urlparse

import pandas as pd

from modelwatch.errors import ArtifactNotFound, ChampionChanged, RegistryError
from modelwatch.io import reference_cache, serialization
from modelwatch.io.aliases import CHALLENGER, CHAMPION, PREVIOUS, AliasBook, PromotionResult
from modelwatch.io.mlflow_client import (
    NOT_FOUND_CODES,
    MlflowConnection,
    ModelVersionRef,
    error_code,
    is_transient_failure,
    mlflow_errors,
    registry_error,
    version_str,
)
from modelwatch.io.reference_cache import PROFILE_ARTIFACT, REFERENCE_ARTIFACT, STATE_ARTIFACT
from modelwatch.io.serialization import SerializationFormat

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
]

_log = logging.getLogger(__name__)

MODEL_CARD_ARTIFACT = "model_card.md"
EXPERIMENT_PREFIX = "modelwatch/"
_REMOTE_SCHEMES = frozenset({"http", "https", "databricks"})
_P = ParamSpec("_P")
_T = TypeVar("_T")


# --------------------------------------------------------------------------- helpers


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


def _is_version_number(value: str) -> bool:
    return value.isdigit()


def _stringify(values: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in values.items()}


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


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class _ViaAliasBook(Generic[_P, _T]):
    """A method of :class:`AliasBook` offered by the registry: ``registry.promote(...)`` is
    ``registry.alias_book.promote(...)``, with the same signature (and docstring)."""

    def __init__(self, method: Callable[Concatenate[AliasBook, _P], _T]) -> None:
        self.__doc__ = method.__doc__
        self._name = method.__name__

    @overload
    def __get__(self, registry: None, owner: type[Any]) -> _ViaAliasBook[_P, _T]: ...

    @overload
    def __get__(self, registry: Registry, owner: type[Any]) -> Callable[_P, _T]: ...

    def __get__(
        self, registry: Registry | None, owner: type[Any]
    ) -> _ViaAliasBook[_P, _T] | Callable[_P, _T]:
        if registry is None:
            return self
        method: Callable[_P, _T] = getattr(registry.alias_book, self._name)
        return method


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

    Aliases, promotion and rollback are :attr:`alias_book`'s (:class:`AliasBook`):
    ``aliases``, ``find_version``, ``get_version``, ``set_alias``, ``delete_alias``,
    ``promote`` and ``rollback`` of a registry are its methods of the same names.
    """

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
        self._connection = MlflowConnection(self.tracking_uri)
        self.alias_book = AliasBook(self._connection, versions=self)
        self._experiments: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Registry({self.tracking_uri!r}, artifact_root={self.artifact_root!r})"

    @property
    def remote(self) -> bool:
        """True for a tracking server (http, https, databricks), False for a local store."""
        return urlparse(self.tracking_uri).scheme.lower() in _REMOTE_SCHEMES

    @property
    def client(self) -> MlflowClient:
        """The underlying client (explicit tracking and registry URI)."""
        return self._connection.client

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
        with mlflow_errors(f"getting or creating MLflow experiment {name!r}"):
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
                    if error_code(exc) != "RESOURCE_ALREADY_EXISTS":
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
        with mlflow_errors(f"creating run {run_name!r} of model {model_name!r}"):
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
                raise registry_error(f"ending MLflow run {run_id} failed: {exc}", exc) from exc
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
        champion_state: Mapping[str, Any] | None = None,
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
        fmt, trusted = serialization.choose_format(
            model_name, model, serialization_format, trust_pickle=trust_pickle
        )
        run_id = self._start_run(model_name, run_name, tags)
        ok = False
        try:
            with mlflow_errors(f"logging a new version of model {model_name!r} (run {run_id})"):
                self._log_batch(run_id, params=params, metrics=metrics)
                train = _drop_pii(training_data, pii)
                example = _model_input(model, _drop_pii(input_example, pii)).head(n_example_rows)
                self._log_training_data(run_id, model_name, train, target=target)
                if model_card is not None:
                    self.client.log_text(run_id, model_card, MODEL_CARD_ARTIFACT)
                if profile is not None:
                    self._log_file(
                        run_id,
                        PROFILE_ARTIFACT,
                        lambda tmp: reference_cache.write_profile(profile, tmp),
                    )
                if champion_state is not None:
                    self._log_file(
                        run_id,
                        STATE_ARTIFACT,
                        lambda tmp: reference_cache.write_arrays(
                            champion_state, tmp, STATE_ARTIFACT
                        ),
                    )
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
        self._log_file(
            run_id, REFERENCE_ARTIFACT, lambda tmp: reference_cache.write_reference(train, tmp)
        )

    def _log_file(self, run_id: str, artifact: str, write: Callable[[Path], Path]) -> None:
        """Log the file ``write(tmp_dir)`` creates as the artifact ``artifact`` of the run."""
        with tempfile.TemporaryDirectory(prefix="modelwatch-artifact-") as tmp:
            path = write(Path(tmp))
            self.client.log_artifact(run_id, str(path), artifact_path=str(Path(artifact).parent))

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
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model

        signature = serialization.sklearn_signature(model, example)  # before any LoggedModel
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
                serialization.save_sklearn(
                    model,
                    local,
                    example=example,
                    fmt=fmt,
                    trusted=trusted,
                    signature=signature,
                    mlflow_model=mlflow_model,
                    requirements=pip_requirements or (),
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
        from mlflow.exceptions import MlflowException

        client = self.client
        with mlflow_errors(f"registering a new version of model {model_name!r} (run {run_id})"):
            try:
                client.create_registered_model(
                    model_name, description=f"Monitored by modelwatch ({model_name})."
                )
            except MlflowException as exc:
                if error_code(exc) != "RESOURCE_ALREADY_EXISTS":
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
            version = version_str(mv.version)
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
            with mlflow_errors(f"logging run {run_name!r} of model {model_name!r}"):
                self._log_batch(run_id, params=params, metrics=metrics)
                for artifact_file, text in text_artifacts.items():
                    self.client.log_text(run_id, text, artifact_file)
            ok = True
        finally:
            self._end_run(run_id, ok)
        return run_id

    # ------------------------------------------------------------------ versions

    def resolve(self, model_name: str, version_or_alias: str) -> ModelVersionRef:
        """``"3"`` (a version number) or ``"champion"`` (an alias) -> the version."""
        key = str(version_or_alias)
        if not _is_version_number(key):
            return self.alias_book.get_version(model_name, key)
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(model_name, key)
        except (MlflowException, OSError) as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                raise RegistryError(f"model {model_name!r} has no version {key!r}") from exc
            raise registry_error(
                f"looking up version {key!r} of model {model_name!r} failed: {exc}", exc
            ) from exc
        return ModelVersionRef.of(mv)

    def version_tags(self, model_name: str, version: str) -> dict[str, str]:
        """Tags of one model version."""
        with mlflow_errors(f"reading tags of version {version} of model {model_name!r}"):
            mv = self.client.get_model_version(model_name, str(version))
        return dict(mv.tags)

    def set_version_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        """Set ``tags`` on one model version."""
        version = version_str(version)
        with mlflow_errors(f"tagging version {version} of model {model_name!r}"):
            for key, value in tags.items():
                self.client.set_model_version_tag(model_name, version, str(key), str(value))

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """Latest value of every metric logged in a run (e.g. a version's ``val_roc_auc``)."""
        with mlflow_errors(f"reading metrics of MLflow run {run_id}"):
            run = self.client.get_run(run_id)
        return {str(k): float(v) for k, v in run.data.metrics.items()}

    def delete_registered_model(self, model_name: str) -> bool:
        """Delete a registered model and all its versions (runs stay); False when absent."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_registered_model(model_name)
        except (MlflowException, OSError) as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return False
            raise registry_error(
                f"deleting registered model {model_name!r} failed: {exc}", exc
            ) from exc
        return True

    # ------------------------------------------------------------------ a version's artifacts

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
        deserialized only under the trust rule (:mod:`modelwatch.io.serialization`): a
        cloudpickle / pickle model, or skops with types other than numpy/scipy/scikit-learn
        classes, raises :class:`~modelwatch.errors.UntrustedModelError` (naming the version
        and ``model.trust_pickle``) without running anything, unless ``trust_pickle``. Not
        ``mlflow.sklearn.load_model``: it trusts the artifact's own skops type list and puts
        its ``code`` paths on ``sys.path``.
        """
        ref = self.resolve(model_name, version_or_alias)
        import mlflow.artifacts

        what = f"loading version {ref.version} of model {model_name!r}"
        with mlflow_errors(what), tempfile.TemporaryDirectory(prefix="modelwatch-load-") as tmp:
            # Not "models:/name/version": MLflow resolves those with the *global* registry URI.
            source = self.client.get_model_version_download_uri(model_name, ref.version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=self.tracking_uri
            )
            model = serialization.deserialize_sklearn(
                Path(local), model_name=model_name, version=ref.version, trust_pickle=trust_pickle
            )
        return ref, model

    def _download(self, ref: ModelVersionRef) -> reference_cache.Download:
        """Downloads one artifact of ``ref``'s run: :class:`ArtifactNotFound` when the run has
        none (or it cannot be read for good), ``RegistryUnavailable`` when MLflow is down."""

        def download(artifact_path: str, dst: str) -> str:
            from mlflow.exceptions import MlflowException

            try:
                return str(self.client.download_artifacts(ref.run_id, artifact_path, dst))
            except (MlflowException, OSError) as exc:
                if is_transient_failure(exc):
                    raise registry_error(
                        f"downloading {artifact_path} of version {ref.version} of model "
                        f"{ref.name!r} (run {ref.run_id}) failed: {exc}",
                        exc,
                    ) from exc
                raise ArtifactNotFound(
                    f"version {ref.version} of model {ref.name!r} (run {ref.run_id}) has no "
                    f"{artifact_path} artifact: {exc}"
                ) from exc

        return download

    def _read_artifact(
        self,
        ref: ModelVersionRef,
        artifact_path: str,
        read: Callable[[Path], _T],
        *,
        cache_dir: Path | None,
    ) -> _T:
        """``read(local file)`` of one artifact of ``ref``'s run, through the cache."""
        what = f"reading {artifact_path} of version {ref.version} of model {ref.name!r}"
        with (
            mlflow_errors(what),
            reference_cache.cached_artifact(
                ref.run_id, artifact_path, self._download(ref), cache_dir=cache_dir
            ) as path,
        ):
            return read(path)

    def load_reference(
        self, model_name: str, version_or_alias: str, *, cache_dir: Path | None = None
    ) -> pd.DataFrame:
        """The drift reference (training data, PII-free) logged with a version.

        With ``cache_dir``, the file is kept as ``<cache_dir>/<run_id>/reference.parquet``
        (:mod:`modelwatch.io.reference_cache`). :class:`ArtifactNotFound` when the version
        was logged without one.
        """
        ref = self.resolve(model_name, version_or_alias)
        return self._read_artifact(ref, REFERENCE_ARTIFACT, pd.read_parquet, cache_dir=cache_dir)

    def load_profile_arrays(
        self, model_name: str, version_or_alias: str, *, cache_dir: Path | None = None
    ) -> dict[str, Any] | None:
        """The arrays of ``reference/profile.npz`` of a version; None for versions without one."""
        ref = self.resolve(model_name, version_or_alias)
        try:
            return self._read_artifact(
                ref, PROFILE_ARTIFACT, reference_cache.read_profile, cache_dir=cache_dir
            )
        except ArtifactNotFound:
            return None

    def load_state_arrays(
        self, ref: ModelVersionRef, *, cache_dir: Path | None = None
    ) -> dict[str, Any] | None:
        """The arrays of ``reference/champion_state.npz`` of a version (None: logged without).

        Read with ``allow_pickle=False`` through the per-run cache, like the profile.
        """
        try:
            return self._read_artifact(
                ref, STATE_ARTIFACT, reference_cache.read_arrays, cache_dir=cache_dir
            )
        except ArtifactNotFound:
            return None

    def model_card(self, model_name: str, version_or_alias: str) -> str | None:
        """The ``model_card.md`` of a version, or None when it was logged without one."""
        ref = self.resolve(model_name, version_or_alias)
        try:
            return self._read_artifact(ref, MODEL_CARD_ARTIFACT, _read_text, cache_dir=None)
        except ArtifactNotFound:
            return None

    # ------------------------------------------------------------------ the alias book's methods

    aliases = _ViaAliasBook(AliasBook.aliases)
    find_version = _ViaAliasBook(AliasBook.find_version)
    get_version = _ViaAliasBook(AliasBook.get_version)
    set_alias = _ViaAliasBook(AliasBook.set_alias)
    delete_alias = _ViaAliasBook(AliasBook.delete_alias)
    promote = _ViaAliasBook(AliasBook.promote)
    rollback = _ViaAliasBook(AliasBook.rollback)

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
            with mlflow_errors(f"reading run {run_id}"):
                experiment_id = str(self.client.get_run(run_id).info.experiment_id)
        return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"

    def model_version_url(self, model_name: str, version: str) -> str | None:
        """Link to a model version in the MLflow UI (http(s) tracking URIs only)."""
        base = self._ui_base()
        if base is None:
            return None
        return f"{base}/#/models/{model_name}/versions/{version_str(version)}"
