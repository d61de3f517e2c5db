"""A/B comparison and candidate evaluation tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from prefect import task

from modelwatch.spec import MonitorSpec
from modelwatch.stats.abtest import ABDecision, compare_models
from modelwatch.stats.performance import classification_metrics
from tasks import TASK_DEFAULTS
from tasks.train import score_rows

__all__ = ["ab_compare", "holdout_metrics", "score_rows"]


@task(name="holdout-metrics", **TASK_DEFAULTS)
def holdout_metrics(
    spec: MonitorSpec, frame: pd.DataFrame, predictions: np.ndarray, scores: np.ndarray | None
) -> dict[str, float]:
    """Point metrics of a model on labeled rows (``val_<metric>`` for MLflow)."""
    values = classification_metrics(
        frame[spec.columns.target].to_numpy(), predictions, scores, n_bootstrap=0
    )
    return {f"val_{name}": m.value for name, m in values.items()}


@task(name="ab-compare", **TASK_DEFAULTS)
def ab_compare(
    spec: MonitorSpec,
    holdout: pd.DataFrame,
    champion: tuple[np.ndarray, np.ndarray | None],
    challenger: tuple[np.ndarray, np.ndarray | None],
) -> ABDecision:
    """Paired comparison of the two models on the same held-out rows."""
    policy = spec.ab
    return compare_models(
        holdout[spec.columns.target].to_numpy(),
        champion_pred=champion[0],
        challenger_pred=challenger[0],
        champion_score=champion[1],
        challenger_score=challenger[1],
        metric=policy.metric,
        rule=policy.rule,
        margin=policy.margin,
        confidence=policy.confidence,
        n_bootstrap=policy.n_bootstrap,
        seed=policy.seed,
    )
