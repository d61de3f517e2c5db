"""Model serialization under the trust rule: which format to save in, and what may be loaded.

A model artifact is deserialized only when its ``MLmodel`` file (read as plain YAML,
never a ``modelwatch.*`` tag, which anyone who may tag versions can set) says
``serialization_format: skops`` and every type skops does not trust by default is a
*class* defined in numpy / scipy / scikit-learn outside their test and file-I/O
modules (:func:`is_trusted_type`); skops then loads it with exactly that explicit list
(MLmodel's own ``skops_trusted_types`` is ignored: it comes from the artifact).
Anything else — cloudpickle, pickle, skops with other types — raises
:class:`~modelwatch.errors.UntrustedModelError` before any byte is deserialized, unless
the caller passes ``trust_pickle=True`` (the spec's ``model.trust_pickle``), which loads
it with a WARNING naming the version (:func:`deserialize_sklearn`).

Saving follows the same rule (:func:`choose_format`): skops with the model's
numpy/scipy/scikit-learn classes trusted; a model skops cannot save that way is refused
before anything is logged, or saved with cloudpickle (with a WARNING) when
``trust_pickle``.

No MLflow client here: the registry downloads the artifact and hands over its folder.
Warnings go to the registry's logger ``modelwatch.io.registry`` (the one callers such
as ``tasks.registry`` forward to a run's log).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from modelwatch.errors import RegistryError, UntrustedModelError

__all__ = [
    "TRUST_SETTING",
    "SerializationFormat",
    "choose_format",
    "deserialize_sklearn",
    "is_trusted_type",
    "pip_requirements",
    "read_sklearn_flavor",
    "save_sklearn",
    "sklearn_signature",
]

# The registry's logger (not __name__): one logger for everything the registry warns about.
_log = logging.getLogger("modelwatch.io.registry")

SerializationFormat = Literal["skops", "cloudpickle"]

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


def pip_requirements(serialization: SerializationFormat) -> list[str]:
    """The model's pinned runtime requirements: this environment's versions of the
    packages that load it (skops or cloudpickle by ``serialization``)."""
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


def is_trusted_type(name: str) -> bool:
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
    trusted = sorted(name for name in untrusted if is_trusted_type(name))
    return trusted, sorted(set(untrusted) - set(trusted))


def choose_format(
    model_name: str,
    model: Any,
    requested: SerializationFormat | None,
    *,
    trust_pickle: bool,
) -> tuple[SerializationFormat, list[str] | None]:
    """``(format, skops trusted types)`` for saving ``model`` under the trust rule.

    skops when it can save the model with numpy/scipy/scikit-learn classes only;
    otherwise :class:`UntrustedModelError` (naming the model, its type and
    ``model.trust_pickle``), or cloudpickle with a warning when ``trust_pickle``.
    ``requested="cloudpickle"`` needs ``trust_pickle`` (nothing could load it otherwise);
    ``requested="skops"`` never falls back.
    """
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


def sklearn_signature(model: Any, example: Any) -> tuple[str, Any]:
    """``(predict function name, MLflow signature)`` of ``model`` on ``example``.

    ``predict_proba`` when the model has it (else ``predict``); the signature is inferred
    from ``example`` and that function's output (so an unfitted model fails here).
    """
    from mlflow.models import infer_signature

    predict_fn = "predict_proba" if hasattr(model, "predict_proba") else "predict"
    return predict_fn, infer_signature(example, getattr(model, predict_fn)(example))


def save_sklearn(
    model: Any,
    path: str,
    *,
    example: Any,
    fmt: SerializationFormat,
    trusted: list[str] | None,
    signature: tuple[str, Any],
    mlflow_model: Any,
    requirements: Sequence[str] = (),
) -> None:
    """Write ``model`` as an MLflow sklearn model folder at ``path`` in format ``fmt``.

    ``(fmt, trusted)`` come from :func:`choose_format`, ``signature`` (pyfunc predict
    function, MLflow signature) from :func:`sklearn_signature`; ``example`` is stored as
    input example.
    ``requirements``: pip requirements (default :func:`pip_requirements` of ``fmt``).
    """
    import mlflow.sklearn

    predict_fn, model_signature = signature
    mlflow.sklearn.save_model(
        model,
        path,
        mlflow_model=mlflow_model,
        serialization_format=fmt,
        skops_trusted_types=trusted,
        signature=model_signature,
        input_example=example,
        pip_requirements=list(requirements or pip_requirements(fmt)),
        pyfunc_predict_fn=predict_fn,
    )


def read_sklearn_flavor(model_dir: Path, what: str) -> tuple[str, Path]:
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


def deserialize_sklearn(
    model_dir: Path,
    *,
    model_name: str,
    version: str,
    trust_pickle: bool,
) -> Any:
    """Load the sklearn model in ``model_dir`` under the trust rule (see the module docstring)."""
    what = f"version {version} of model {model_name!r}"
    fmt, path = read_sklearn_flavor(model_dir, what)
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
        foreign = sorted(name for name in untrusted if not is_trusted_type(name))
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
