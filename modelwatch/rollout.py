"""Staged rollout rules (pure): shadow -> canary -> champion, or rejected.

A challenger that won the offline comparison is rolled out in stages (the aliases and
version tags of :class:`modelwatch.io.aliases.AliasBook`; serving by
:mod:`modelwatch.serving`):

1. **shadow** — scored on every request, its answers logged in ``shadow_<column>``
   columns and never served. Each monitored window checks the guardrails on the live
   labeled rows, paired (:func:`shadow_guardrails`, the offline guardrails of
   :func:`modelwatch.promotion.guardrails`). After ``ab.shadow_hours`` without a breach
   it becomes the canary.
2. **canary** — serves ``ab.canary_share`` of the traffic (stable hash of the
   prediction id). Each window adds its labeled rows of both variants to the
   always-valid sequential test (:mod:`modelwatch.stats.sequential`, started by
   :func:`start_test`, fed by :func:`update_test`, read by :func:`sequential_decision`) and checks the live guardrails
   (:func:`canary_guardrails`: latency, calibration, fairness per segment column).
3. :func:`next_step` decides from the stage, its age, the guardrails and the test:
   a guardrail breach rejects at once (in either stage); then the test's ``promote`` /
   ``reject``; then a canary older than ``ab.max_canary_hours`` is rejected (timeout);
   otherwise the stage continues.

The flow acts on the :class:`RolloutStep` under the model's promotion lock
(``start_canary`` / ``promote_canary`` / ``end_canary`` / ``end_shadow``) and emits
:attr:`RolloutStep.event`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from modelwatch.errors import ParameterError, SchemaError, StatisticsError
from modelwatch.evaluation import Scores
from modelwatch.outcomes import Alias, ModelEvent, Stage
from modelwatch.promotion import guardrails, online_values
from modelwatch.serving import CANARY, DEFAULT_VARIANT_COLUMN, SHADOW_PREFIX
from modelwatch.spec import ABPolicy, MonitorSpec
from modelwatch.stats.abtest import GuardrailResult
from modelwatch.stats.kernels import calibration_errors, percentile_interval
from modelwatch.stats.performance import segment_masks
from modelwatch.stats.sequential import SequentialDecision, SequentialState, decide, update

__all__ = [
    "RolloutAction",
    "RolloutStep",
    "StoredTest",
    "arm_values",
    "canary_guardrails",
    "evidence_time",
    "next_step",
    "sequential_decision",
    "shadow_guardrails",
    "start_test",
    "step_details",
    "step_markdown",
    "update_test",
    "variant_column",
]

#: resamples of the canary's calibration and fairness guardrails (each arm resampled on its own)
CANARY_BOOTSTRAP = 500
#: rows a segment value needs in *each* variant to count in the canary's fairness gap (as the
#: offline guardrail's ``min_rows``)
FAIRNESS_MIN_ROWS = 30
_BOOTSTRAP_CHUNK = 100


class RolloutAction(StrEnum):
    """What the flow does next with the version in rollout."""

    START_CANARY = "start-canary"  # shadow -> canary
    PROMOTE = "promote"  # canary -> champion
    REJECT = "reject"  # end the stage: alias removed, version tagged rejected
    CONTINUE = "continue"  # nothing moves


@dataclass(frozen=True)
class RolloutStep:
    """The next action, why, and the Prefect event announcing it (None for ``continue``)."""

    action: RolloutAction
    stage: Stage
    reason: str

    @property
    def event(self) -> ModelEvent | None:
        return {
            RolloutAction.START_CANARY: ModelEvent.CANARY_STARTED,
            RolloutAction.PROMOTE: ModelEvent.CANARY_PROMOTED,
            RolloutAction.REJECT: ModelEvent.CANARY_REJECTED,
        }.get(self.action)


# --------------------------------------------------------------------------- the test


def start_test(policy: ABPolicy) -> SequentialState:
    """A new sequential test with the policy's alpha, tau, direction and minimum rows."""
    return SequentialState.start(
        alpha=policy.sequential_alpha,
        tau=policy.mixing_tau,
        higher_is_better=policy.online_higher_is_better,
        min_rows=policy.sequential_min_rows,
    )


def variant_column(spec: MonitorSpec) -> str:
    """``columns.variant``, else the serving helper's default ``variant``."""
    return spec.columns.variant or DEFAULT_VARIANT_COLUMN


def _variants(spec: MonitorSpec, labeled: pd.DataFrame) -> np.ndarray:
    """The served variant of each row, as text; :class:`SchemaError` without the column."""
    column = variant_column(spec)
    if column not in labeled.columns:
        raise SchemaError(
            f"column {column!r} (the served variant) is missing from the labeled rows of "
            f"model {spec.name!r}: the canary's rows cannot be told from the champion's"
        )
    return np.asarray(labeled[column].astype("str").to_numpy())


def arm_values(spec: MonitorSpec, labeled: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``ab.online_metric`` of the champion's and the canary's labeled rows.

    Rows of any other variant (or none) are left out. A missing variant column is a
    :class:`SchemaError` naming it.
    """
    variant = _variants(spec, labeled)
    champion, canary = (variant == Alias.CHAMPION.value), (variant == CANARY)
    empty = np.empty(0)
    return (
        online_values(spec, labeled.loc[champion]) if champion.any() else empty,
        online_values(spec, labeled.loc[canary]) if canary.any() else empty,
    )


def update_test(
    state: SequentialState, spec: MonitorSpec, labeled: pd.DataFrame
) -> SequentialState:
    """One look: the window's labeled rows of both variants added to the test."""
    champion, canary = arm_values(spec, labeled)
    return update(state, champion, canary)


def sequential_decision(state: SequentialState, policy: ABPolicy) -> SequentialDecision:
    """The test's decision with the policy's rule and margin."""
    return decide(state, rule=policy.rule, margin=policy.margin)


# --------------------------------------------------------------------------- guardrails


def _shadow_outputs(spec: MonitorSpec, labeled: pd.DataFrame) -> Scores:
    cols = spec.columns
    name = SHADOW_PREFIX + cols.prediction
    if name not in labeled.columns:
        raise SchemaError(
            f"column {name!r} (the shadow model's answers) is missing from the labeled rows "
            f"of model {spec.name!r}"
        )
    score = SHADOW_PREFIX + cols.score if cols.score else None
    scores = labeled[score].to_numpy(dtype=float) if score in labeled.columns else None
    return labeled[name].to_numpy(), scores


def shadow_guardrails(
    spec: MonitorSpec, labeled: pd.DataFrame, *, latency_ms: tuple[float, float] | None = None
) -> list[GuardrailResult]:
    """Guardrails of the shadow model on the live labeled rows: the champion's served answers
    and the shadow's logged ones on the same rows (paired), as offline
    (:func:`modelwatch.promotion.guardrails`: calibration, fairness per segment, latency)."""
    cols = spec.columns
    champion: Scores = (
        labeled[cols.prediction].to_numpy(),
        labeled[cols.score].to_numpy(dtype=float) if cols.score else None,
    )
    return guardrails(
        spec, labeled, champion, _shadow_outputs(spec, labeled), latency_ms=latency_ms
    )


def canary_guardrails(
    spec: MonitorSpec, labeled: pd.DataFrame, *, seed: int = 0
) -> list[GuardrailResult]:
    """Guardrails of the canary against the champion on their own served rows (unpaired).

    * latency (``columns.latency_ms``, ``ab.max_latency_ratio``): mean latency of the
      canary's requests <= the champion's × the ratio (all served rows, labeled or not);
    * calibration (binary with ``columns.score``, ``ab.max_ece_increase``): fails when
      the canary's ECE exceeds the champion's by more than the limit **and** the
      percentile CI of the increase (each arm resampled on its own) lies above 0;
    * fairness (binary with ``columns.segments``, ``ab.max_fairness_gap_increase``), one
      per segment column: the worst gap of ``ab.fairness_metric`` between the column's
      values (max − min of the share predicted positive, or of the true positive rate)
      among the canary's rows, against the same gap among the champion's rows of the
      window. Values with fewer than :data:`FAIRNESS_MIN_ROWS` rows in either variant
      are left out (both gaps are over the same values); fails like calibration (gap
      increase above the limit and its CI above 0).

    A variant without rows gives no guardrail (nothing to judge yet); a segment column
    with fewer than two comparable values gives none either.
    """
    policy, cols = spec.ab, spec.columns
    variant = _variants(spec, labeled)
    arms = [variant == Alias.CHAMPION.value, variant == CANARY]
    if not all(arm.any() for arm in arms):
        return []
    out: list[GuardrailResult] = []
    ratio = policy.max_latency_ratio
    if ratio is not None and cols.latency_ms and cols.latency_ms in labeled.columns:
        ms = labeled[cols.latency_ms].to_numpy(dtype=float)
        a, b = (float(np.nanmean(ms[arm])) for arm in arms)
        if math.isfinite(a) and math.isfinite(b):
            limit = a * ratio
            out.append(
                GuardrailResult(
                    "latency", a, b, limit, b <= limit, f"champion x {ratio:g}", unit="ms"
                )
            )
    limit_ece = policy.max_ece_increase
    if limit_ece is not None and spec.task == "binary" and cols.score:
        out.append(_calibration(spec, labeled, arms, max_increase=limit_ece, seed=seed))
    limit_gap = policy.max_fairness_gap_increase
    if limit_gap is not None and spec.task == "binary" and cols.segments:
        out += _fairness(spec, labeled, arms, max_increase=limit_gap, seed=seed)
    return out


def _calibration(
    spec: MonitorSpec,
    labeled: pd.DataFrame,
    arms: list[np.ndarray],
    *,
    max_increase: float,
    seed: int,
) -> GuardrailResult:
    cols = spec.columns
    truth = (labeled[cols.target].to_numpy() == 1).astype(float)
    score = labeled[str(cols.score)].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    values, samples = [], []
    for arm in arms:
        y, p = truth[arm], score[arm]
        values.append(float(calibration_errors(y, p, n_bins=10)[0]))
        draws = [
            calibration_errors(
                y, p, n_bins=10, index=rng.integers(0, y.size, size=(_BOOTSTRAP_CHUNK, y.size))
            )
            for _ in range(CANARY_BOOTSTRAP // _BOOTSTRAP_CHUNK)
        ]
        samples.append(np.concatenate(draws))
    low, high = percentile_interval(samples[1] - samples[0], spec.ab.confidence)
    a, b = values
    harm = b - a > max_increase and low is not None and low > 0
    return GuardrailResult(
        "calibration (ECE)",
        a,
        b,
        a + max_increase,
        not harm,
        f"champion + {max_increase:g} unless the increase CI includes 0",
        ci_low=low,
        ci_high=high,
    )


def _segment_gaps(
    hits: np.ndarray, base: np.ndarray, code: np.ndarray, k: int, index: np.ndarray
) -> np.ndarray:
    """Gap (max − min over the ``k`` values) of ``hits / base`` per resample row of ``index``.

    ``code`` is each row's value (``0..k-1``; ``k``: a row of no kept value); a rate needs a
    non-zero ``base`` and a gap two rates, else NaN.
    """
    m = index.shape[0]
    cells = (code[index] + (k + 1) * np.arange(m, dtype=np.int64)[:, None]).ravel()
    size = m * (k + 1)
    numerator = np.bincount(cells, weights=hits[index].ravel(), minlength=size)
    denominator = np.bincount(cells, weights=base[index].ravel(), minlength=size)
    numerator = numerator.reshape(m, k + 1)[:, :k]
    denominator = denominator.reshape(m, k + 1)[:, :k]
    rate = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=rate, where=denominator > 0)
    present = np.isfinite(rate).sum(axis=1) >= 2
    high = np.where(np.isfinite(rate), rate, -np.inf).max(axis=1)
    low = np.where(np.isfinite(rate), rate, np.inf).min(axis=1)
    return np.where(present, high - low, np.nan)


def _fairness(
    spec: MonitorSpec,
    labeled: pd.DataFrame,
    arms: list[np.ndarray],
    *,
    max_increase: float,
    seed: int,
) -> list[GuardrailResult]:
    """The canary's fairness guardrail per segment column (see :func:`canary_guardrails`)."""
    cols, policy = spec.columns, spec.ab
    truth = labeled[cols.target].to_numpy() == 1
    predicted = labeled[cols.prediction].to_numpy() == 1
    equal_opportunity = policy.fairness_metric == "equal_opportunity_difference"
    base = truth if equal_opportunity else np.ones(len(labeled), dtype=bool)
    hits = (predicted & base).astype(float)
    rng = np.random.default_rng([seed, 1])
    out: list[GuardrailResult] = []
    for column in cols.segments:
        if column not in labeled.columns:
            raise SchemaError(
                f"column {column!r} (columns.segments) is missing from the labeled rows of "
                f"model {spec.name!r}: the canary's fairness guardrail cannot be measured"
            )
        masks = {value: mask for _, value, mask in segment_masks(labeled[[column]], 1)}
        values = [  # enough rows (equal opportunity: and a positive) in each variant
            value
            for value, mask in masks.items()
            if all(
                int((mask & arm).sum()) >= FAIRNESS_MIN_ROWS and bool((mask & arm & base).any())
                for arm in arms
            )
        ]
        if len(values) < 2:
            continue
        code = np.full(len(labeled), len(values), dtype=np.int64)
        for i, value in enumerate(values):
            code[masks[value]] = i
        points, draws = [], []
        # both arms are resampled at the smaller arm's size: a max - min gap over noisy
        # per-value rates grows as the rows shrink, so a small canary compared with a
        # large champion arm would look less fair by its size alone (the increase CI
        # would then exclude 0 for a canary as fair as the champion)
        size = min(int(arm.sum()) for arm in arms)
        for arm in arms:
            rows = np.flatnonzero(arm)
            h, b, c = hits[rows], base[rows].astype(float), code[rows]
            points.append(float(_segment_gaps(h, b, c, len(values), np.arange(rows.size)[None])[0]))
            draws.append(
                np.concatenate(
                    [
                        _segment_gaps(
                            h,
                            b,
                            c,
                            len(values),
                            rng.integers(0, rows.size, size=(_BOOTSTRAP_CHUNK, size)),
                        )
                        for _ in range(CANARY_BOOTSTRAP // _BOOTSTRAP_CHUNK)
                    ]
                )
            )
        low, high = percentile_interval(draws[1] - draws[0], policy.confidence)
        a, b_gap = points
        harm = b_gap - a > max_increase and low is not None and low > 0
        out.append(
            GuardrailResult(
                f"{policy.fairness_metric}[{column}]",
                a,
                b_gap,
                a + max_increase,
                not harm,
                f"champion + {max_increase:g} unless the increase CI includes 0",
                ci_low=low,
                ci_high=high,
            )
        )
    return out


# --------------------------------------------------------------------------- the rule


def next_step(
    stage: Stage,
    *,
    age_hours: float,
    policy: ABPolicy,
    decision: SequentialDecision | None = None,
    guardrail_results: Sequence[GuardrailResult] = (),
    shadow_logged: bool = True,
) -> RolloutStep:
    """The next action for the version in ``stage`` (shadow or canary).

    Order: a failed guardrail rejects at once; in shadow, ``ab.shadow_hours`` reached
    starts the canary, but only on a window whose log carries the shadow's answers
    (``shadow_logged``: a window served before the shadow existed, e.g. a catch-up run's,
    is no evidence for it); in canary, the sequential test's ``promote`` / ``reject``,
    then ``ab.max_canary_hours`` reached rejects (timeout: no decision in time);
    otherwise continue. ``decision`` is required in the canary stage. ``age_hours`` is
    measured on the windows' clock (see :func:`evidence_time`).
    """
    if stage not in (Stage.SHADOW, Stage.CANARY):
        raise ParameterError(
            f"The 'stage' parameter of next_step must be 'shadow' or 'canary'. Got {stage!r} "
            "instead."
        )
    if not math.isfinite(age_hours) or age_hours < 0:
        raise ParameterError(
            f"The 'age_hours' parameter of next_step must be a finite float >= 0. "
            f"Got {age_hours!r} instead."
        )
    failed = [g for g in guardrail_results if not g.passed]
    if failed:
        listed = "; ".join(g.detail for g in failed)
        return RolloutStep(
            RolloutAction.REJECT, stage, f"{stage} rolled back: guardrail(s) failed: {listed}"
        )
    if stage is Stage.SHADOW:
        if not shadow_logged:
            return RolloutStep(
                RolloutAction.CONTINUE,
                stage,
                f"shadow for {age_hours:.1f} h of {policy.shadow_hours:g}; this window's log "
                "has no shadow answers (served before the shadow stage or not logged): no "
                "evidence, the stage does not advance",
            )
        if age_hours >= policy.shadow_hours:
            return RolloutStep(
                RolloutAction.START_CANARY,
                stage,
                f"shadow for {age_hours:.1f} h (>= ab.shadow_hours {policy.shadow_hours:g}) "
                f"without a guardrail breach: serve {policy.canary_share:.0%} as canary",
            )
        return RolloutStep(
            RolloutAction.CONTINUE,
            stage,
            f"shadow for {age_hours:.1f} h of {policy.shadow_hours:g}; guardrails pass",
        )
    if decision is None:
        raise ParameterError("next_step needs the sequential test's decision in the canary stage")
    if decision.kind == "promote":
        return RolloutStep(RolloutAction.PROMOTE, stage, f"canary promoted: {decision.reason}")
    if decision.kind == "reject":
        return RolloutStep(RolloutAction.REJECT, stage, f"canary rejected: {decision.reason}")
    if age_hours >= policy.max_canary_hours:
        return RolloutStep(
            RolloutAction.REJECT,
            stage,
            f"canary rejected: no decision after {age_hours:.1f} h (ab.max_canary_hours "
            f"{policy.max_canary_hours:g}); {decision.reason}",
        )
    return RolloutStep(RolloutAction.CONTINUE, stage, f"canary continues: {decision.reason}")


def evidence_time(window_end: datetime, now: datetime) -> datetime:
    """The time a stage's age is measured at, and a stage started by a window is dated:
    the window's end, or ``now`` when that is earlier.

    A stage's age counts the hours of traffic its evidence covers, so it is measured on
    the windows' clock, not the wall clock of the run: a late or catch-up run judges
    window W as the on-time run would have (the same decision whenever it runs), and a
    catch-up after an outage does not time a canary out before its windows were looked
    at. A window ending in the future (a manual run) is capped at ``now``. The demo,
    whose windows lie hours in the past, needs the same clock for its stages to age.
    """
    return min(window_end, now)


# --------------------------------------------------------------------------- the stored test


@dataclass(frozen=True)
class StoredTest:
    """The canary's test as stored with it (version tag ``modelwatch.sequential``): the
    state and the end of the last window added (a window starting before it was counted
    already: re-running it must not count its rows twice)."""

    state: SequentialState
    through: datetime | None = None

    def to_json(self) -> str:
        through = self.through.isoformat() if self.through else None
        return json.dumps({"state": json.loads(self.state.to_json()), "through": through})

    @classmethod
    def read(cls, text: str | None, policy: ABPolicy) -> StoredTest:
        """The stored progress, or a new test (:func:`start_test`) when nothing is stored."""
        if not text:
            return cls(start_test(policy))
        try:
            data = json.loads(text)
            state = SequentialState.from_json(json.dumps(data["state"]))
            through = datetime.fromisoformat(data["through"]) if data["through"] else None
        except (ValueError, TypeError, KeyError) as exc:
            raise StatisticsError(
                f"the stored sequential test is not readable ({exc}): {text[:200]!r}"
            ) from exc
        return cls(state, through)

    def counts(self, window_start: datetime) -> bool:
        """Whether a window starting at ``window_start`` is new to the test."""
        return self.through is None or window_start >= self.through


def step_details(
    step: RolloutStep,
    *,
    version: str,
    window: tuple[datetime, datetime],
    decision: SequentialDecision | None,
    guardrail_results: Sequence[GuardrailResult],
) -> dict[str, Any]:
    """The ``rollout`` decision row's details (and the event's payload)."""
    return {
        "action": str(step.action),
        "stage": str(step.stage),
        "version": version,
        "reason": step.reason,
        "window_start": window[0].isoformat(),
        "window_end": window[1].isoformat(),
        "test": asdict(decision) if decision is not None else None,
        "guardrails": [asdict(g) for g in guardrail_results],
    }


def step_markdown(model: str, version: str, step: RolloutStep) -> str:
    """The rollout step, readable by a person (a Prefect markdown artifact)."""
    return f"# Rollout — {model} v{version} ({step.stage})\n\n**{step.action}** — {step.reason}\n"
