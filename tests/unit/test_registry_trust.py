"""The trust rule of the registry: loading a version never runs code from its artifact.

A version is deserialized only when its MLmodel file says skops and every type skops
does not trust by default is a numpy/scipy/scikit-learn class; anything else needs
``model.trust_pickle``. The crafted artifacts here run a payload that creates a marker
file when unpickled: the marker must never appear unless the spec opted in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import yaml

from modelwatch.errors import RegistryError, UntrustedModelError
from modelwatch.io.reference_cache import cache_file
from modelwatch.io.registry import ModelVersionRef, Registry
from modelwatch.io.serialization import is_trusted_type
from modelwatch.simulate import generate_reference
from modelwatch.spec import MonitorSpec, load_spec, parse_spec
from modelwatch.train import feature_frame, fit_candidate

SPEC_PATH = Path(__file__).resolve().parents[2] / "deployments" / "specs" / "credit.yaml"


@pytest.fixture(scope="module", autouse=True)
def _mlflow_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        yield


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return generate_reference(1000, seed=0)


@pytest.fixture(scope="module")
def model(spec: MonitorSpec, training: pd.DataFrame) -> Any:
    return fit_candidate(training, spec, seed=0)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("mlflow-trust")
    return Registry(f"sqlite:///{root}/mlflow.db", artifact_root=root / "artifacts")


class _Payload:
    """Unpickling this runs arbitrary code: here it creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).touch()",))


class _Wrapper:
    """A legitimate model of a type outside numpy/scipy/scikit-learn."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict(self, x: pd.DataFrame) -> Any:
        return self.inner.predict(x)

    def predict_proba(self, x: pd.DataFrame) -> Any:
        return self.inner.predict_proba(x)


def _log(
    registry: Registry,
    name: str,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
    **kwargs: Any,
) -> ModelVersionRef:
    return registry.log_model_version(
        name,
        model,
        training_data=training,
        input_example=training,
        params={"seed": 0},
        metrics={"roc_auc": 0.8},
        tags={"modelwatch.trigger": "test"},
        run_name=f"train-{name}",
        target=spec.columns.target,
        **kwargs,
    )


_PICKLED: dict[str, Any] = {"serialization_format": "cloudpickle", "trust_pickle": True}


def _model_dir(registry: Registry, ref: ModelVersionRef) -> Path:
    """The stored model artifact folder of a version (a local file store here)."""
    uri = registry.client.get_model_version_download_uri(ref.name, ref.version)
    parsed = urlparse(uri)
    path = Path(url2pathname(parsed.path)) if parsed.scheme == "file" else Path(uri)
    assert (path / "MLmodel").is_file(), uri
    return path


def _edit_mlmodel(model_dir: Path, **sklearn_flavor: Any) -> None:
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"].update(sklearn_flavor)
    (model_dir / "MLmodel").write_text(yaml.safe_dump(mlmodel))


def test_a_crafted_cloudpickle_champion_is_refused_and_its_payload_never_runs(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec, tmp_path: Path
) -> None:
    # Someone who may register versions (or write the artifact store) registers a
    # cloudpickle artifact whose unpickling runs code, and makes it the champion.
    ref = _log(registry, "credit-evil", model, training, spec, **_PICKLED)
    marker = tmp_path / "payload-ran"
    (_model_dir(registry, ref) / "model.pkl").write_bytes(cloudpickle.dumps(_Payload(marker)))
    registry.set_alias("credit-evil", "champion", ref.version)
    # The tags lie: the check reads the MLmodel file, not modelwatch's tag.
    registry.set_version_tags("credit-evil", ref.version, {"modelwatch.serialization": "skops"})

    with pytest.raises(UntrustedModelError) as info:
        registry.load_model_version("credit-evil", "champion")  # the monitor's path

    message = str(info.value)
    assert "version 1 of model 'credit-evil'" in message
    assert "model.trust_pickle" in message and "cloudpickle" in message
    assert isinstance(info.value, RegistryError)
    assert not marker.exists()
    with pytest.raises(UntrustedModelError):
        registry.load_model("credit-evil", "1")
    assert not marker.exists()
    # The artifact really is hostile: with the opt-in, loading it runs the payload.
    registry.load_model("credit-evil", "1", trust_pickle=True)
    assert marker.exists()


def test_an_mlmodel_that_claims_skops_for_a_pickle_runs_nothing(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec, tmp_path: Path
) -> None:
    ref = _log(registry, "credit-liar", model, training, spec, **_PICKLED)
    model_dir = _model_dir(registry, ref)
    marker = tmp_path / "payload-ran"
    (model_dir / "model.pkl").write_bytes(cloudpickle.dumps(_Payload(marker)))
    _edit_mlmodel(model_dir, serialization_format="skops", skops_trusted_types=["builtins.exec"])

    for trust in (False, True):
        with pytest.raises(RegistryError, match=r"version 1 of model 'credit-liar'.*skops"):
            registry.load_model("credit-liar", "1", trust_pickle=trust)
    assert not marker.exists()

    _edit_mlmodel(model_dir, serialization_format="cloudpickle", pickled_model="../../../x.pkl")
    with pytest.raises(RegistryError, match=r"pickled_model '\.\./\.\./\.\./x\.pkl' is not a file"):
        registry.load_model("credit-liar", "1", trust_pickle=True)


def test_skops_with_types_outside_numpy_scipy_sklearn_needs_the_opt_in(
    registry: Registry,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import skops.io as sio

    ref = _log(registry, "credit-foreign", model, training, spec)
    model_dir = _model_dir(registry, ref)
    # A valid skops file, but of a type the artifact's own MLmodel list claims is fine.
    sio.dump(_Wrapper(model), model_dir / "model.skops")
    foreign = f"{__name__}._Wrapper"
    _edit_mlmodel(model_dir, skops_trusted_types=["numpy.dtype", foreign])

    with pytest.raises(UntrustedModelError) as info:
        registry.load_model("credit-foreign", "1")
    message = str(info.value)
    assert foreign in message and "version 1 of model 'credit-foreign'" in message
    assert "model.trust_pickle" in message

    with caplog.at_level(logging.WARNING, logger="modelwatch.io.registry"):
        loaded = registry.load_model("credit-foreign", "1", trust_pickle=True)
    assert isinstance(loaded, _Wrapper)
    assert any(
        "version 1 of model 'credit-foreign'" in r.getMessage() and r.levelno == logging.WARNING
        for r in caplog.records
    )


def test_a_legit_cloudpickle_model_loads_with_the_opt_in_and_warns(
    registry: Registry,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref = _log(registry, "credit-pickled", _Wrapper(model), training, spec, trust_pickle=True)
    flavor = yaml.safe_load((_model_dir(registry, ref) / "MLmodel").read_text())["flavors"]
    assert flavor["sklearn"]["serialization_format"] == "cloudpickle"

    with pytest.raises(UntrustedModelError, match=r"version 1 of model 'credit-pickled'"):
        registry.load_model("credit-pickled", "1")
    with caplog.at_level(logging.WARNING, logger="modelwatch.io.registry"):
        loaded = registry.load_model("credit-pickled", "1", trust_pickle=True)

    x = feature_frame(training.head(20), spec)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "model.trust_pickle = true" in w and "version 1 of model 'credit-pickled'" in w
        for w in warnings
    ), warnings


def test_plain_sklearn_models_load_as_skops_without_any_opt_in(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    x = feature_frame(training, spec)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(
        x.select_dtypes("number"), training[spec.columns.target]
    )
    ref = _log(registry, "credit-forest", forest, training.head(50), spec)

    flavor = yaml.safe_load((_model_dir(registry, ref) / "MLmodel").read_text())["flavors"]
    assert flavor["sklearn"]["serialization_format"] == "skops"
    assert flavor["sklearn"]["skops_trusted_types"] == ["sklearn.tree._tree.Tree"]
    loaded = registry.load_model("credit-forest", ref.version)
    numeric = x.select_dtypes("number").head(20)
    np.testing.assert_array_equal(loaded.predict_proba(numeric), forest.predict_proba(numeric))


def test_logging_a_pickle_needs_the_opt_in(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    with pytest.raises(UntrustedModelError, match=r"model 'credit-ask'.*model\.trust_pickle"):
        _log(registry, "credit-ask", model, training, spec, serialization_format="cloudpickle")
    with pytest.raises(UntrustedModelError, match=r"model 'credit-ask'.*_Wrapper"):
        _log(registry, "credit-ask", _Wrapper(model), training, spec, serialization_format="skops")
    assert registry.aliases("credit-ask") == {}
    assert registry.client.get_experiment_by_name("modelwatch/credit-ask") is None


@pytest.mark.parametrize(
    ("name", "trusted"),
    [
        ("numpy.dtype", True),
        ("sklearn.tree._tree.Tree", True),
        ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", True),
        ("builtins.exec", False),
        ("os.system", False),
        ("subprocess.Popen", False),
        ("numpy.testing._private.utils.runstring", False),  # exec() in a numpy module
        ("numpy.memmap", False),  # a constructor call creates / maps files
        ("numpy.lib._npyio_impl.NpzFile", False),
        ("scipy.io.FortranFile", False),
        ("sklearn.base.clone", False),  # a function, not a class
        ("sklearn.utils._param_validation.Integral", False),  # numbers.Integral re-exported
        ("sklearn.no_such_module.Thing", False),
        ("numpy..dtype", False),
        ("numpy", False),
    ],
)
def test_only_numpy_scipy_sklearn_classes_are_trusted(name: str, trusted: bool) -> None:
    assert is_trusted_type(name) is trusted


def test_the_cache_is_keyed_by_plain_run_ids_only(tmp_path: Path) -> None:
    run_id = "0123456789abcdef0123456789abcdef"
    assert cache_file(tmp_path, run_id, "profile.npz") == tmp_path / run_id / "profile.npz"
    assert cache_file(None, run_id, "profile.npz") is None
    for bad in ("", "..", "../etc", "a/b", ".hidden", "a\\b", "x" * 200):
        assert cache_file(tmp_path, bad, "reference.parquet") is None, bad


def test_the_spec_opt_in_defaults_to_false(spec: MonitorSpec) -> None:
    assert spec.model.trust_pickle is False
    data = yaml.safe_load(SPEC_PATH.read_text())
    assert parse_spec({**data, "model": {"trust_pickle": True}}).model.trust_pickle is True
    with pytest.raises(Exception, match=r"model\.trust_pickles"):
        parse_spec({**data, "model": {"trust_pickles": True}})
