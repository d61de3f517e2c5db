"""A model's point metrics on labeled rows, by task (pure; the retrain and A/B flows use them).

* :func:`model_metrics` — the realized metrics of a task (binary / multiclass /
  regression), without bootstrap CIs;
* :func:`validation_metrics` — the same as ``val_<metric>`` for MLflow (the
  baseline the monitor judges later windows against);
* :func:`segment_table` — ``{"<column>=<value>": {metric: value}}`` for the model card.

Class labels are compared as text (:func:`as_text`): YAML keys of
``columns.class_scores`` are strings, a target of ints works too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelwatch.spec import MonitorSpec
from modelwatch.stats.performance import (
    MetricValue,
    classification_metrics,
    multiclass_metrics,
    regression_metrics,
    segment_metrics,
)

__all__ = ["Scores", "as_text", "model_metrics", "segment_table", "validation_metrics"]

Scores = tuple[np.ndarray, np.ndarray | None]
"""``(predictions, scores)`` of a model on some rows (:func:`modelwatch.train.score_frame`)."""


def as_text(values: Any) -> np.ndarray:
    """``values`` as an object array of ``str`` (class labels compared as text)."""
    return np.asarray(pd.Series(np.asarray(values)).astype(str).to_numpy(), dtype=object)


def model_metrics(
    spec: MonitorSpec, y_true: Any, predictions: np.ndarray, scores: np.ndarray | None
) -> dict[str, MetricValue]:
    """Point metrics by task (the library call the monitor's realized metrics make)."""
    y = np.asarray(y_true)
    if spec.task == "regression":
        return regression_metrics(y, predictions, n_bootstrap=0)
    if spec.task == "multiclass":
        classes = list(spec.columns.class_scores or {}) or None
        proba = scores if classes is not None else None
        return multiclass_metrics(
            as_text(y), as_text(predictions), proba, classes=classes, n_bootstrap=0
        )
    return classification_metrics(y, predictions, scores, n_bootstrap=0)


def validation_metrics(spec: MonitorSpec, frame: pd.DataFrame, scores: Scores) -> dict[str, float]:
    """``val_<metric>`` of a model on labeled rows (the run metrics of a registered version).

    Per-class recalls (``recall[<class>]``) are left out: not a valid MLflow key.
    """
    predictions, probabilities = scores
    values = model_metrics(spec, frame[spec.columns.target], predictions, probabilities)
    return {f"val_{name}": m.value for name, m in values.items() if "[" not in name}


def segment_table(
    spec: MonitorSpec, frame: pd.DataFrame, scores: Scores
) -> dict[str, dict[str, float]]:
    """``{"region=north": {"roc_auc": ...}}`` per ``columns.segments`` value (binary only)."""
    segments = list(spec.columns.segments)
    if not segments or spec.task != "binary":
        return {}
    predictions, probabilities = scores
    values = segment_metrics(
        frame[spec.columns.target].to_numpy(),
        predictions,
        probabilities,
        frame[segments],
        n_bootstrap=0,
    )
    table: dict[str, dict[str, float]] = {}
    for m in values:
        table.setdefault(str(m.segment), {})[m.name] = m.value
    return table
