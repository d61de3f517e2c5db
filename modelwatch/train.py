"""Training of candidate models (scikit-learn only: no prefect, no mlflow).

A candidate is trained either by the champion's own pipeline, cloned with its
parameters and refit (:func:`fit_candidate` with ``base=``), by the default
pipeline of the spec (:func:`build_pipeline`), or by a trainer configured as
``"package.module:function"`` (:func:`load_trainer`).

A configured trainer is called as ``trainer(frame, spec, seed=seed)`` and must
return a fitted scikit-learn compatible estimator (``predict``, and
``predict_proba`` for classification) that takes :func:`feature_frame` as input.

Everything is seeded: the same frame, spec and seed give the same model.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelwatch.errors import RetrainError, SchemaError
from modelwatch.spec import MonitorSpec
from modelwatch.stats.params import Interval, check_param

if TYPE_CHECKING:  # scikit-learn is imported where a pipeline is built (not by `import flows`)
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

__all__ = [
    "Trainer",
    "build_pipeline",
    "class_columns",
    "drop_windows",
    "feature_frame",
    "fit_candidate",
    "load_trainer",
    "model_card",
    "paired_prediction_latency_ms",
    "prediction_latency_ms",
    "score_frame",
    "set_seed",
    "training_summary",
]

Trainer = Callable[..., Any]
"""``trainer(frame, spec, *, seed) -> fitted estimator``."""


def _check_columns(
    frame: pd.DataFrame, columns: tuple[str, ...], *, what: str, spec: MonitorSpec, source: str
) -> None:
    missing = [col for col in columns if col not in frame.columns]
    if missing:
        raise SchemaError(
            f"{source} has no {what} column(s) {missing} declared in the spec of model "
            f"{spec.name!r}; available columns: {sorted(map(str, frame.columns))}"
        )


def feature_frame(
    frame: pd.DataFrame, spec: MonitorSpec, *, source: str = "the training frame"
) -> pd.DataFrame:
    """The feature columns of ``frame`` in the spec's order (numeric, then categorical).

    Raises :class:`~modelwatch.errors.SchemaError` naming the missing columns.
    PII and every other column are left out.
    """
    features = spec.columns.features
    _check_columns(frame, features, what="feature", spec=spec, source=source)
    return frame.loc[:, list(features)]


def _target(frame: pd.DataFrame, spec: MonitorSpec, *, source: str) -> pd.Series:
    target = spec.columns.target
    _check_columns(frame, (target,), what="target", spec=spec, source=source)
    y = frame[target]
    n_missing = int(y.isna().sum())
    if n_missing:
        raise SchemaError(
            f"column {target!r} in {source} has {n_missing} missing target value(s); "
            "drop unlabeled rows before training"
        )
    return y


def build_pipeline(spec: MonitorSpec, *, seed: int = 0) -> Pipeline:
    """The default pipeline of a spec (unfitted).

    Numeric features: median imputation + standard scaling; categorical features:
    most-frequent imputation + one-hot encoding that ignores unseen categories.
    Estimator: ``LogisticRegression(max_iter=1000)`` for binary / multiclass,
    ``Ridge`` for regression, both with ``random_state=seed``.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    transformers: list[tuple[str, Any, list[str]]] = []
    if spec.columns.numeric:
        numeric = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        transformers.append(("numeric", numeric, list(spec.columns.numeric)))
    if spec.columns.categorical:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        transformers.append(("categorical", categorical, list(spec.columns.categorical)))
    preprocess = ColumnTransformer(transformers, remainder="drop")
    estimator: BaseEstimator
    if spec.task == "regression":
        estimator = Ridge(random_state=seed)
    else:
        estimator = LogisticRegression(max_iter=1000, random_state=seed)
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def set_seed(estimator: BaseEstimator, seed: int) -> BaseEstimator:
    """Set every ``random_state`` parameter (nested ones too) of ``estimator`` to ``seed``."""
    keys = [
        key
        for key in estimator.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    ]
    if keys:
        estimator.set_params(**dict.fromkeys(keys, seed))
    return estimator


def fit_candidate(
    frame: pd.DataFrame,
    spec: MonitorSpec,
    *,
    base: BaseEstimator | None = None,
    trainer: Trainer | None = None,
    seed: int = 0,
    source: str = "the training frame",
) -> BaseEstimator:
    """Fit a candidate on ``frame`` (features + target of ``spec``).

    * ``trainer`` given: ``trainer(frame, spec, seed=seed)`` must return a fitted estimator;
    * ``base`` given: :func:`sklearn.base.clone` of it (the champion's pipeline and
      parameters, unfitted), refit;
    * otherwise :func:`build_pipeline`.

    ``random_state`` parameters are set to ``seed`` where present. Failures raise
    :class:`~modelwatch.errors.RetrainError` (or :class:`~modelwatch.errors.SchemaError`
    for missing columns / targets).
    """
    if base is not None and trainer is not None:
        raise RetrainError(
            f"fit_candidate for model {spec.name!r} takes either 'base' (the champion's "
            "pipeline to refit) or 'trainer', not both"
        )
    if len(frame) == 0:
        raise RetrainError(f"{source} is empty: cannot train a candidate for model {spec.name!r}")
    if trainer is not None:
        try:
            model = trainer(frame, spec, seed=seed)
        except (SchemaError, RetrainError):
            raise
        except Exception as exc:
            name = getattr(trainer, "__qualname__", repr(trainer))
            raise RetrainError(
                f"trainer {name} failed for model {spec.name!r} on {len(frame)} rows: {exc}"
            ) from exc
        if not hasattr(model, "predict"):
            raise RetrainError(
                f"trainer {getattr(trainer, '__qualname__', trainer)!r} for model {spec.name!r} "
                f"returned {type(model).__name__}, not a fitted estimator with predict()"
            )
        return model

    X = feature_frame(frame, spec, source=source)
    y = _target(frame, spec, source=source)
    if spec.task != "regression" and y.nunique() < 2:
        raise RetrainError(
            f"column {spec.columns.target!r} in {source} has a single class "
            f"{y.unique().tolist()[0]!r}: cannot train a {spec.task} candidate for model {spec.name!r}"
        )
    from sklearn.base import clone

    model = clone(base) if base is not None else build_pipeline(spec, seed=seed)
    set_seed(model, seed)
    try:
        model.fit(X, y)
    except Exception as exc:
        raise RetrainError(
            f"fitting {type(model).__name__} for model {spec.name!r} on {len(X)} rows of "
            f"{source} failed: {exc}"
        ) from exc
    return model


def score_frame(
    model: Any, frame: pd.DataFrame, spec: MonitorSpec, *, source: str = "the frame"
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(predictions, scores)`` of ``model`` on the features of ``frame``.

    ``scores``: the positive-class probability (``predict_proba[:, 1]``, class
    ``model.classes_[1]``) for binary, the full ``(n, n_classes)`` probability
    matrix for multiclass (columns in the order of ``columns.class_scores`` when
    the spec declares it, see :func:`class_columns`), ``None`` for regression
    (or a classifier without ``predict_proba``).
    """
    X = feature_frame(frame, spec, source=source)
    predictions = np.asarray(model.predict(X))
    if spec.task == "regression" or not hasattr(model, "predict_proba"):
        return predictions, None
    proba = np.asarray(model.predict_proba(X), dtype="float64")
    if spec.task == "binary":
        return predictions, proba[:, 1]
    if spec.columns.class_scores is not None:
        proba = proba[:, class_columns(spec, getattr(model, "classes_", ()))]
    return predictions, proba


def class_columns(spec: MonitorSpec, model_classes: Any) -> list[int]:
    """Index in ``model_classes`` of each class of ``columns.class_scores`` (labels as text).

    Raises :class:`~modelwatch.errors.SchemaError` naming the classes the spec
    declares that the model does not predict, or the reverse.
    """
    declared = list(spec.columns.class_scores or {})
    known = [str(c) for c in model_classes]
    missing = [c for c in declared if c not in known]
    extra = [c for c in known if c not in declared]
    if missing or extra:
        raise SchemaError(
            f"columns.class_scores of model {spec.name!r} declares the classes {declared}; "
            f"the model predicts {known}"
            + (f" (not predicted: {missing})" if missing else "")
            + (f" (not declared: {extra})" if extra else "")
        )
    return [known.index(c) for c in declared]


def paired_prediction_latency_ms(
    model_a: Any,
    model_b: Any,
    frame: pd.DataFrame,
    spec: MonitorSpec,
    *,
    repeats: int = 7,
    min_rows: int = 5000,
) -> tuple[float, float]:
    """:func:`prediction_latency_ms` of two models, timed **interleaved** (A B, B A, A B, ...).

    Timing one model's repeats and then the other's lets a change of load between the
    two blocks (another process starting) decide a latency guardrail; interleaved, each
    model's best call comes from the same stretch of time. Best of ``repeats`` each.
    """
    repeats = check_param(
        "paired_prediction_latency_ms", "repeats", repeats, Interval(int, 1, None)
    )
    X = feature_frame(frame, spec, source="the latency frame")
    if len(X) == 0:
        raise RetrainError("cannot time predictions on an empty frame")
    if len(X) < min_rows:
        X = pd.concat([X] * math.ceil(min_rows / len(X)), ignore_index=True)
    proba = spec.task != "regression"
    calls = [
        m.predict_proba if proba and hasattr(m, "predict_proba") else m.predict
        for m in (model_a, model_b)
    ]
    for call in calls:
        call(X)  # warm-up
    best = [math.inf, math.inf]
    for i in range(repeats):
        for j in (0, 1) if i % 2 == 0 else (1, 0):
            started = time.perf_counter()
            calls[j](X)
            best[j] = min(best[j], time.perf_counter() - started)
    per_1000 = 1000.0 * 1000.0 / len(X)
    return best[0] * per_1000, best[1] * per_1000


def prediction_latency_ms(
    model: Any,
    frame: pd.DataFrame,
    spec: MonitorSpec,
    *,
    repeats: int = 7,
    min_rows: int = 5000,
) -> float:
    """Milliseconds per 1,000 rows of ``predict_proba`` (``predict`` for regression) on ``frame``.

    ``frame`` is repeated up to at least ``min_rows`` rows (a call of a few
    milliseconds is mostly timer and scheduler noise); the result is the best of
    ``repeats`` timed calls after one warm-up call: the minimum is the least noisy
    estimate of what the model costs on a busy machine.
    """
    repeats = check_param("prediction_latency_ms", "repeats", repeats, Interval(int, 1, None))
    X = feature_frame(frame, spec, source="the latency frame")
    if len(X) == 0:
        raise RetrainError("cannot time predictions on an empty frame")
    if len(X) < min_rows:
        X = pd.concat([X] * math.ceil(min_rows / len(X)), ignore_index=True)
    proba = spec.task != "regression" and hasattr(model, "predict_proba")
    call = model.predict_proba if proba else model.predict
    call(X)
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        call(X)
        best = min(best, time.perf_counter() - started)
    return best * 1000.0 * 1000.0 / len(X)


def drop_windows(
    frame: pd.DataFrame, windows: list[tuple[Any, Any]], *, timestamp: str
) -> pd.DataFrame:
    """Rows of ``frame`` whose ``timestamp`` lies in none of the ``[start, end)`` windows."""
    if not windows or len(frame) == 0:
        return frame
    ts = frame[timestamp]
    tz = getattr(ts.dt, "tz", None)

    def bound(value: Any) -> pd.Timestamp:
        stamp = pd.Timestamp(value)
        if tz is not None and stamp.tzinfo is None:
            return stamp.tz_localize("UTC")  # the store keeps UTC (SQLite drops the zone)
        if tz is None and stamp.tzinfo is not None:
            return stamp.tz_convert("UTC").tz_localize(None)
        return stamp

    keep = pd.Series(True, index=frame.index)
    for start, end in windows:
        keep &= ~((ts >= bound(start)) & (ts < bound(end)))
    return frame.loc[keep]


def load_trainer(path: str) -> Trainer:
    """Import a configured trainer ``"package.module:function"``."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise RetrainError(
            f"trainer {path!r} must have the form 'package.module:function' "
            "(e.g. 'mytrainers.credit:train')"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RetrainError(
            f"trainer {path!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise RetrainError(
                f"trainer {path!r}: module {module_name!r} has no attribute {attr!r}"
            ) from exc
    if not callable(obj):
        raise RetrainError(f"trainer {path!r} is a {type(obj).__name__}, not a callable")
    return obj


# --------------------------------------------------------------------------- model card


def training_summary(
    frame: pd.DataFrame, spec: MonitorSpec, *, window: tuple[Any, Any] | None = None
) -> dict[str, Any]:
    """A small, PII-free summary of the training data, for the model card and tags."""
    summary: dict[str, Any] = {"rows": len(frame), "features": list(spec.columns.features)}
    target = spec.columns.target
    if target in frame.columns:
        if spec.task == "regression":
            y = pd.to_numeric(frame[target], errors="coerce")
            summary["target_mean"] = float(y.mean())
            summary["target_std"] = float(y.std())
        else:
            counts = frame[target].value_counts(normalize=True).sort_index()
            summary["class_balance"] = {str(k): round(float(v), 4) for k, v in counts.items()}
    if window is not None:
        summary["window"] = [str(window[0]), str(window[1])]
    elif spec.columns.timestamp in frame.columns and len(frame):
        ts = frame[spec.columns.timestamp]
        summary["window"] = [str(ts.min()), str(ts.max())]
    missing = frame.loc[:, [c for c in spec.columns.features if c in frame.columns]].isna().mean()
    summary["missing_share"] = {str(k): round(float(v), 4) for k, v in missing.items() if v > 0}
    return summary


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value) or "—"
    return str(value)


def _md_cell(value: Any) -> str:
    return _fmt(value).replace("|", "\\|").replace("\n", " ")


def model_card(
    spec: MonitorSpec,
    metrics: Mapping[str, float],
    training_summary: Mapping[str, Any],
    *,
    version: str | None = None,
    segment_metrics: Mapping[str, Mapping[str, float]] | None = None,
    limitations: tuple[str, ...] = (),
) -> str:
    """A markdown model card: intended use, training data, metrics, limitations.

    ``metrics`` maps metric names to values (overall); ``segment_metrics`` maps
    ``"<column>=<value>"`` to a metrics mapping. PII columns are only named (never
    shown with values), so the card can be logged as an artifact.
    """
    title = f"# Model card — {spec.name}" + (f" v{version}" if version else "")
    lines = [title, ""]
    lines += [
        "## Intended use",
        "",
        spec.description or f"{spec.task} model {spec.name!r} monitored by modelwatch.",
        "",
        f"- Task: {spec.task}; target column `{spec.columns.target}`.",
        f"- Numeric features: {', '.join(spec.columns.numeric) or '—'}.",
        f"- Categorical features: {', '.join(spec.columns.categorical) or '—'}.",
    ]
    if spec.columns.pii:
        lines.append(
            f"- PII columns ({', '.join(spec.columns.pii)}) are never used as features and "
            "never logged."
        )
    lines += ["", "## Training data", "", "| item | value |", "| --- | --- |"]
    for key, value in training_summary.items():
        lines.append(f"| {_md_cell(key)} | {_md_cell(value)} |")
    lines += ["", "## Metrics", ""]
    if metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {_md_cell(k)} | {_md_cell(float(v))} |" for k, v in metrics.items()]
    else:
        lines.append("No metrics were computed.")
    if segment_metrics:
        names = sorted({m for values in segment_metrics.values() for m in values})
        lines += ["", "### Per segment", "", "| segment | " + " | ".join(names) + " |"]
        lines.append("| --- |" + " --- |" * len(names))
        for segment, values in segment_metrics.items():
            cells = [_md_cell(float(values[m])) if m in values else "—" for m in names]
            lines.append(f"| {_md_cell(segment)} | " + " | ".join(cells) + " |")
    lines += ["", "## Known limitations", ""]
    defaults = (
        "Trained on historical data: performance degrades when the input distribution or the "
        "relationship between features and target changes (monitored by modelwatch).",
        "Metrics are measured on held-out recent data and carry sampling error.",
    )
    lines += [f"- {item}" for item in (*limitations, *defaults)]
    return "\n".join(lines) + "\n"


def reference_profile(frame: pd.DataFrame, spec: MonitorSpec) -> dict[str, Any]:
    """The drift profile of a version's training data, as plain arrays to log with it."""
    from modelwatch.stats.drift import fit_reference_profile

    profile = fit_reference_profile(
        frame, numeric=spec.columns.numeric, categorical=spec.columns.categorical
    )
    return dict(profile.to_arrays())
