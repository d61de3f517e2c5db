"""A/B comparison and promotion rules (pure; the compare and rollback flows are these steps).

Offline (``compare-models``): :func:`offline_comparison` (the spec's primary rule
on the paired held-out rows) → :func:`guardrails` (calibration, fairness gap per
segment column, latency) → :func:`modelwatch.stats.abtest.apply_guardrails` →
:func:`offline_record` (the evidence: MLflow run, version tags, store row,
markdown) → :func:`conclude` (promote, not promoted, or rejected).

Online (``compare-online``): :func:`online_comparison` over the served rows of
each variant (:func:`online_values`: the per-row metric) → :func:`online_record`
→ :func:`conclude`.

The comparison's *verdict* (``challenger-wins`` / ``champion-stays``,
:func:`verdict`) is recorded before any alias moves; whether the alias moved is a
separate ``promotion`` decision (:func:`promotion_outcome`) written after it.
Alias moves of a model are serialized by its promotion lock
(:func:`promotion_lock_name`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelwatch.errors import ChampionChanged, SpecError, StatisticsError
from modelwatch.evaluation import Scores, as_text
from modelwatch.outcomes import Alias, DecisionKind, Outcome, Stage, StateName
from modelwatch.spec import MonitorSpec
from modelwatch.stats import abtest
from modelwatch.stats.abtest import ABDecision, GuardrailResult, OnlineABDecision
from modelwatch.summaries import ab_markdown

if TYPE_CHECKING:
    from modelwatch.io.registry import PromotionResult

__all__ = [
    "GUARDRAIL_BOOTSTRAP",
    "Comparison",
    "Conclusion",
    "conclude",
    "evidence_markdown",
    "guardrail_metrics",
    "guardrails",
    "offline_comparison",
    "offline_record",
    "online_comparison",
    "online_markdown",
    "online_record",
    "online_values",
    "promoted_message",
    "promotion_failure",
    "promotion_lock_name",
    "require_variant",
    "rollback_details",
    "rollback_markdown",
    "verdict",
]

#: bootstrap resamples of the calibration and fairness guardrails' CIs
GUARDRAIL_BOOTSTRAP = 1000


def promotion_lock_name(model_name: str) -> str:
    """The store lock that serializes alias moves of a model (the same text in every release:
    processes of different versions sharing a store must exclude each other)."""
    return f"modelwatch-promote-{model_name}"


# --------------------------------------------------------------------------- offline


def offline_comparison(
    spec: MonitorSpec, holdout: pd.DataFrame, champion: Scores, challenger: Scores
) -> ABDecision:
    """Paired comparison of two models on the same held-out rows (the primary rule only)."""
    policy = spec.ab
    y = holdout[spec.columns.target].to_numpy()
    common: dict[str, Any] = {
        "rule": policy.rule,
        "margin": policy.margin,
        "confidence": policy.confidence,
        "n_bootstrap": policy.n_bootstrap,
        "seed": policy.seed,
    }
    if spec.task == "regression":
        return abtest.compare_regression_models(
            y, champion_pred=champion[0], challenger_pred=challenger[0], **common
        )
    if spec.task == "multiclass":
        classes = list(spec.columns.class_scores or {}) or None
        return abtest.compare_multiclass_models(
            as_text(y),
            champion_pred=as_text(champion[0]),
            challenger_pred=as_text(challenger[0]),
            champion_proba=champion[1] if classes else None,
            challenger_proba=challenger[1] if classes else None,
            classes=classes,
            metric=policy.metric,
            **common,
        )
    return abtest.compare_models(
        y,
        champion_pred=champion[0],
        challenger_pred=challenger[0],
        champion_score=champion[1],
        challenger_score=challenger[1],
        metric=policy.metric,
        **common,
    )


def guardrails(
    spec: MonitorSpec,
    holdout: pd.DataFrame,
    champion: Scores,
    challenger: Scores,
    *,
    latency_ms: tuple[float, float] | None,
) -> list[GuardrailResult]:
    """The guardrails the spec asks for, in order: calibration (ECE), fairness, latency.

    Calibration and fairness exist for binary models only (fairness needs
    ``columns.segments``); latency needs ``latency_ms`` = (champion, challenger).
    A ``None`` limit in the spec disables a guardrail.
    """
    policy = spec.ab
    y = holdout[spec.columns.target].to_numpy()
    common: dict[str, Any] = {
        "n_bootstrap": GUARDRAIL_BOOTSTRAP,
        "confidence": policy.confidence,
        "seed": policy.seed,
    }
    out: list[GuardrailResult] = []
    score_a, score_b = champion[1], challenger[1]
    calibration = policy.max_ece_increase
    if calibration is not None and spec.task == "binary" and score_a is not None:
        if score_b is None:
            raise StatisticsError(
                f"the challenger of model {spec.name!r} has no predict_proba: the calibration "
                "guardrail (ab.max_ece_increase) cannot be measured"
            )
        out.append(
            abtest.calibration_guardrail(y, score_a, score_b, max_increase=calibration, **common)
        )
    fairness = policy.max_fairness_gap_increase
    if fairness is not None and spec.task == "binary" and spec.columns.segments:
        segments = holdout.loc[:, list(spec.columns.segments)].reset_index(drop=True)
        out += abtest.fairness_guardrails(
            y,
            champion[0],
            challenger[0],
            segments,
            metric=policy.fairness_metric,
            max_increase=fairness,
            **common,
        )
    if policy.max_latency_ratio is not None and latency_ms is not None:
        out.append(abtest.latency_guardrail(*latency_ms, max_ratio=policy.max_latency_ratio))
    return out


def evidence_markdown(model: str, champion: str, challenger: str, decision: ABDecision) -> str:
    """The A/B markdown of :func:`modelwatch.summaries.ab_markdown` plus the guardrail table."""
    return (
        ab_markdown(model, champion, challenger, decision)
        + "\n"
        + abtest.guardrail_markdown(decision.guardrails)
    )


def _metric_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def guardrail_metrics(decision: ABDecision) -> dict[str, float]:
    """``guardrail.<name>.{champion,challenger,limit,passed}`` run metrics (MLflow-safe keys)."""
    out: dict[str, float] = {}
    for g in decision.guardrails:
        key = _metric_key(g.name)
        out[f"guardrail.{key}.champion"] = g.champion_value
        out[f"guardrail.{key}.challenger"] = g.challenger_value
        out[f"guardrail.{key}.limit"] = g.limit
        out[f"guardrail.{key}.passed"] = float(g.passed)
    return out


# --------------------------------------------------------------------------- online


def online_values(spec: MonitorSpec, frame: pd.DataFrame) -> np.ndarray:
    """The per-row online metric (``ab.online_metric``) of served, labeled rows.

    ``accuracy``: 1.0 where the prediction equals the target; ``brier_loss``:
    ``(score - target)²`` (needs ``columns.score``); ``absolute_error``:
    ``|prediction - target|``.
    """
    cols = spec.columns
    metric = spec.ab.online_metric
    if metric == "accuracy":
        right = frame[cols.prediction].to_numpy() == frame[cols.target].to_numpy()
        return np.asarray(right, dtype=float)
    if metric == "brier_loss":
        if cols.score is None:
            raise SpecError(
                f"spec {spec.name!r}: ab.online_metric 'brier_loss' needs columns.score"
            )
        truth = frame[cols.target].to_numpy().astype(float)
        return np.asarray((frame[cols.score].to_numpy(dtype=float) - truth) ** 2)
    truth = frame[cols.target].to_numpy(dtype=float)
    return np.asarray(np.abs(frame[cols.prediction].to_numpy(dtype=float) - truth))


def require_variant(spec: MonitorSpec) -> str:
    """``columns.variant`` of the spec; a :class:`~modelwatch.errors.SpecError` without one."""
    if spec.columns.variant is None:
        raise SpecError(
            f"the spec of model {spec.name!r} declares no columns.variant: online A/B needs "
            "the column telling which variant served each row"
        )
    return spec.columns.variant


#: the ``columns.variant`` values of the two arms: the serving helper's (modelwatch.serving:
#: ``champion`` / ``canary``); ``challenger`` is still read as the B arm (logs written before)
ONLINE_ARMS: tuple[tuple[str, ...], tuple[str, ...]] = (
    (Alias.CHAMPION.value,),
    (Stage.CANARY.value, Alias.CHALLENGER.value),
)


def online_comparison(spec: MonitorSpec, labeled: pd.DataFrame) -> OnlineABDecision:
    """The online A/B decision from the rows of each variant (``columns.variant``): A is
    ``champion``, B ``canary`` (the names :mod:`modelwatch.serving` writes; ``challenger``
    is read as B too)."""
    variant = require_variant(spec)
    policy = spec.ab
    served = labeled[variant].astype(str)
    a, b = (online_values(spec, labeled[served.isin(names)]) for names in ONLINE_ARMS)
    return abtest.online_ab_decision(
        a,
        b,
        metric=policy.online_metric,
        minimum_detectable_effect=policy.minimum_detectable_effect,
        power=policy.power,
        confidence=policy.confidence,
        rule=policy.rule,
        margin=policy.margin,
    )


def online_markdown(model: str, champion: str, challenger: str, d: OnlineABDecision) -> str:
    """The online A/B evidence, readable by a person."""
    fmt = "{:.4f}".format
    return "\n".join(
        [
            f"# Online A/B — {model}: v{champion} (champion) vs v{challenger} (challenger)",
            "",
            f"**{d.status}** — {d.reason}",
            "",
            "| | champion | challenger |",
            "|---|---:|---:|",
            f"| {d.metric} | {fmt(d.champion_value)} | {fmt(d.challenger_value)} |",
            f"| labeled rows | {d.champion_n} | {d.challenger_n} |",
            f"| required rows per variant | {d.required_n} | {d.required_n} |",
            "",
            f"Test: {d.test}, statistic {fmt(d.test_statistic)}, p = {fmt(d.p_value)}; "
            f"improvement {fmt(d.difference)}, {d.confidence:.0%} CI "
            f"[{fmt(d.ci_low)}, {fmt(d.ci_high)}]; minimum detectable effect "
            f"{d.minimum_detectable_effect:g} at power {d.power:.0%} "
            f"(standardized effect {fmt(d.effect_size)}).",
            "",
        ]
    )


# --------------------------------------------------------------------------- the record


def verdict(decision: ABDecision | OnlineABDecision) -> Outcome:
    """``challenger-wins`` when the decision says promote, else ``champion-stays``."""
    return Outcome.CHALLENGER_WINS if decision.should_promote else Outcome.CHAMPION_STAYS


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Everything recorded about one comparison of two versions of a model.

    The flow writes it four ways: an MLflow evidence run (:attr:`run_name`,
    :meth:`run_params`, :attr:`metrics`, :meth:`run_tags`, the markdown as
    :attr:`artifact_file`), tags on both versions (:meth:`version_tags`), the
    store's decision row (:attr:`kind`, :attr:`outcome`, :attr:`evidence`) and a
    Prefect markdown artifact (:attr:`artifact_key`, :attr:`artifact_description`).
    """

    model: str
    kind: DecisionKind
    champion: str
    challenger: str
    outcome: Outcome
    reason: str
    evidence: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    markdown: str = ""

    @property
    def run_name(self) -> str:
        return f"{self.kind}-v{self.champion}-vs-v{self.challenger}"

    def run_params(self) -> dict[str, Any]:
        return {
            **self.params,
            "champion_version": self.champion,
            "challenger_version": self.challenger,
        }

    def run_tags(self) -> dict[str, str]:
        return {"modelwatch.kind": str(self.kind), "modelwatch.outcome": str(self.outcome)}

    @property
    def artifact_file(self) -> str:
        """The markdown's file name in the evidence run."""
        return f"{self.kind}_decision.md"

    def version_tags(self, run_id: str) -> dict[str, str]:
        """Tags on both versions: the verdict with its reason, and the evidence run."""
        return {
            f"modelwatch.{self.kind}.v{self.champion}_vs_v{self.challenger}": (
                f"{self.outcome}: {self.reason}"
            ),
            f"modelwatch.{self.kind}.last_run_id": run_id,
        }

    @property
    def artifact_key(self) -> str:
        """Prefect artifact key (``<model>-ab`` / ``<model>-online-ab``)."""
        return f"{self.model}-{self.kind}"

    @property
    def artifact_description(self) -> str:
        if self.kind == DecisionKind.ONLINE_AB:
            return f"Online A/B {self.model}"
        return f"A/B {self.model}"


def _evidence(
    decision: ABDecision | OnlineABDecision,
    *,
    champion: str,
    challenger: str,
    window: tuple[datetime, datetime],
) -> dict[str, Any]:
    return {
        **asdict(decision),
        "champion_version": champion,
        "challenger_version": challenger,
        "window_start": window[0].isoformat(),
        "window_end": window[1].isoformat(),
    }


def offline_record(
    decision: ABDecision,
    *,
    model: str,
    champion: str,
    challenger: str,
    window: tuple[datetime, datetime],
    n_dropped: int,
    triggered_by: str | None,
) -> Comparison:
    """The record of an offline comparison (kind ``ab``); ``n_dropped``: quarantined rows left out."""
    evidence = {
        **_evidence(decision, champion=champion, challenger=challenger, window=window),
        "n_quarantined_rows_dropped": n_dropped,
        "triggered_by": triggered_by,
    }
    metrics = {
        "champion_value": decision.champion_value,
        "challenger_value": decision.challenger_value,
        "difference": decision.difference,
        "ci_low": decision.ci_low,
        "ci_high": decision.ci_high,
        "n_holdout": float(decision.n),
        **({"p_value": decision.p_value} if decision.p_value is not None else {}),
        **guardrail_metrics(decision),
    }
    return Comparison(
        model=model,
        kind=DecisionKind.AB,
        champion=champion,
        challenger=challenger,
        outcome=verdict(decision),
        reason=decision.reason,
        evidence=evidence,
        params={
            "metric": decision.metric,
            "rule": decision.rule,
            "margin": decision.margin,
            "n_bootstrap": decision.n_bootstrap,
            "primary_passed": decision.primary_passed,
        },
        metrics=metrics,
        markdown=evidence_markdown(model, champion, challenger, decision),
    )


def online_record(
    decision: OnlineABDecision,
    *,
    model: str,
    champion: str,
    challenger: str,
    window: tuple[datetime, datetime],
    triggered_by: str | None,
) -> Comparison:
    """The record of an online comparison (kind ``online-ab``).

    Too few rows per variant: outcome ``insufficient-data`` (the flow then writes
    only the store row and the markdown artifact: nothing was decided).
    """
    evidence = {
        **_evidence(decision, champion=champion, challenger=challenger, window=window),
        "triggered_by": triggered_by,
    }
    insufficient = decision.status == "InsufficientData"
    return Comparison(
        model=model,
        kind=DecisionKind.ONLINE_AB,
        champion=champion,
        challenger=challenger,
        outcome=Outcome.INSUFFICIENT_DATA if insufficient else verdict(decision),
        reason=decision.reason,
        evidence=evidence,
        params={"metric": decision.metric, "rule": decision.rule, "margin": decision.margin},
        metrics={
            "champion_value": decision.champion_value,
            "challenger_value": decision.challenger_value,
            "difference": decision.difference,
            "ci_low": decision.ci_low,
            "ci_high": decision.ci_high,
            "p_value": decision.p_value,
            "required_n": float(decision.required_n),
        },
        markdown=online_markdown(model, champion, challenger, decision),
    )


# --------------------------------------------------------------------------- the conclusion


@dataclass(frozen=True)
class Conclusion:
    """What follows a comparison: move the alias (``promote``), or end with ``state``."""

    promote: bool
    state: StateName
    message: str

    @property
    def rejected(self) -> bool:
        """The champion stays because the challenger lost (an alert event ``rejected``)."""
        return self.state == StateName.REJECTED


def conclude(
    decision: ABDecision | OnlineABDecision, *, promote: bool, champion: str, challenger: str
) -> Conclusion:
    """Promote when the decision says so and ``promote`` allows it; else why not."""
    if decision.should_promote and promote:
        return Conclusion(True, StateName.PROMOTED, promoted_message(challenger, decision.reason))
    if decision.should_promote:
        message = (
            f"v{challenger} beats v{champion} but promote=False: no alias moved ({decision.reason})"
        )
        return Conclusion(False, StateName.NOT_PROMOTED, message)
    return Conclusion(False, StateName.REJECTED, f"v{champion} stays champion: {decision.reason}")


def promoted_message(version: str, reason: str) -> str:
    return f"v{version} is champion: {reason}"


def promotion_failure(error: object, *, version: str) -> tuple[Outcome, dict[str, Any]]:
    """The ``promotion`` row of a promotion that did not happen: ``conflict`` when the
    champion moved since the comparison (the challenger is rejected), else ``failed``."""
    details = {"version": version, "error": str(error)}
    return (Outcome.CONFLICT if isinstance(error, ChampionChanged) else Outcome.FAILED), details


# --------------------------------------------------------------------------- rollback


def rollback_details(
    result: PromotionResult, *, reason: str, requested_by: str, force: bool
) -> dict[str, Any]:
    """The ``rollback`` / ``rolled-back`` decision's details (and the alert's)."""
    return {**asdict(result), "reason": reason, "requested_by": requested_by, "force": force}


def rollback_markdown(model: str, champion: str, *, reason: str, requested_by: str) -> str:
    return (
        f"# Rollback — {model}\n\nchampion is now **v{champion}**\n\n"
        f"reason: {reason}\n\nrequested by: {requested_by}\n"
    )
