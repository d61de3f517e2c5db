"""``compare_models`` (offline, paired) and ``compare_online`` (served A/B traffic); guarded promotion."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prefect import flow
from prefect.states import Completed

from flows.common import current_flow_run_id
from modelwatch.errors import RegistryError
from modelwatch.spec import MonitorSpec
from modelwatch.stats.abtest import ABDecision, OnlineABDecision
from tasks import ab, data, publish, registry, store, train

if TYPE_CHECKING:
    from modelwatch.io.registry import ModelVersionRef


def _metric_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def _guardrail_metrics(decision: ABDecision) -> dict[str, float]:
    out: dict[str, float] = {}
    for g in decision.guardrails:
        key = _metric_key(g.name)
        out[f"guardrail.{key}.champion"] = g.champion_value
        out[f"guardrail.{key}.challenger"] = g.challenger_value
        out[f"guardrail.{key}.limit"] = g.limit
        out[f"guardrail.{key}.passed"] = float(g.passed)
    return out


#: the comparison's verdict (kinds ``ab`` / ``online-ab``); whether the alias moved is
#: recorded separately, by a ``promotion`` decision written after the move
CHALLENGER_WINS, CHAMPION_STAYS = "challenger-wins", "champion-stays"


def _conclude(
    model_name: str,
    promote: bool,
    champion: ModelVersionRef,
    challenger: ModelVersionRef,
    decision: Any,
    evidence: dict[str, Any],
) -> Any:
    """Promote the challenger, or tell that the champion stays; the comparison's final state."""
    if decision.should_promote and promote:
        state = _promote(model_name, champion, challenger, decision.reason)
        return Completed(name=state.name, message=state.message, data=decision)
    if decision.should_promote:
        message = (
            f"v{challenger.version} beats v{champion.version} but promote=False: no alias "
            f"moved ({decision.reason})"
        )
        return Completed(name="NotPromoted", message=message, data=decision)
    message = f"v{champion.version} stays champion: {decision.reason}"
    publish.notify(model_name, "rejected", message, evidence)
    return Completed(name="Rejected", message=message, data=decision)


def _promote(
    model_name: str, champion: ModelVersionRef, challenger: ModelVersionRef, reason: str
) -> Any:
    """Promote under the model's concurrency slot; Completed 'Rejected' when the champion moved."""
    with registry.promotion_slot(model_name):
        state: Any = registry.promote(
            model_name, challenger.version, reason, champion.version, return_state=True
        )
    if state.is_completed():
        result = state.result()
        store.save_decision(
            model_name, "promotion", "promoted", asdict(result), current_flow_run_id()
        )
        publish.notify(
            model_name, "promoted", f"v{challenger.version} is champion: {reason}", asdict(result)
        )
        return Completed(name="Promoted", message=f"v{challenger.version} is champion: {reason}")
    error = state.result(raise_on_failure=False)
    details = {"version": challenger.version, "error": str(error)}
    if isinstance(error, registry.ChampionChanged):
        store.save_decision(model_name, "promotion", "conflict", details, current_flow_run_id())
        publish.notify(model_name, "rejected", str(error), details)
        return Completed(name="Rejected", message=str(error))
    store.save_decision(model_name, "promotion", "failed", details, current_flow_run_id())
    raise RegistryError(
        f"promoting v{challenger.version} of {model_name!r} failed; champion "
        f"v{champion.version} unchanged: {error}"
    ) from (error if isinstance(error, BaseException) else None)


def _record(
    spec: MonitorSpec,
    ref_a: ModelVersionRef,
    ref_b: ModelVersionRef,
    outcome: str,
    reason: str,
    evidence: dict[str, Any],
    params: dict[str, Any],
    metrics: dict[str, float],
    markdown: str,
    kind: str,
) -> None:
    """Evidence: MLflow run (+ markdown artifact), tags on both versions, store row, artifact."""
    model_name = spec.name
    run_id = registry.log_evidence_run(
        model_name,
        f"{kind}-v{ref_a.version}-vs-v{ref_b.version}",
        {**params, "champion_version": ref_a.version, "challenger_version": ref_b.version},
        metrics,
        {"modelwatch.kind": kind, "modelwatch.outcome": outcome},
        {f"{kind}_decision.md": markdown},
    )
    registry.tag_versions(
        model_name,
        [ref_a.version, ref_b.version],
        {
            f"modelwatch.{kind}.v{ref_a.version}_vs_v{ref_b.version}": f"{outcome}: {reason}",
            f"modelwatch.{kind}.last_run_id": run_id,
        },
    )
    store.save_decision(model_name, kind, outcome, evidence, current_flow_run_id())
    publish.publish_markdown(f"{model_name}-{kind}", markdown, f"A/B {model_name}")


@flow(
    name="compare-models",
    flow_run_name="compare-{model_name}-{champion}-vs-{challenger}",
    log_prints=True,
)
def compare_models(
    model_name: str,
    window_start: datetime,
    window_end: datetime,
    champion: str = "champion",
    challenger: str = "challenger",
    promote: bool = True,
    triggered_by: str | None = None,
) -> Any:
    """Compare two versions of a model on labeled rows and promote the winner.

    Decision: the spec's primary rule (paired bootstrap CI) AND every guardrail
    (calibration, fairness gap per segment column, prediction latency).

    Args:
        model_name: Registered model (and monitor spec) name.
        window_start: Start (UTC) of the labeled rows used for the comparison.
        window_end: End (UTC, exclusive) of the labeled rows used for the comparison.
        champion: Version number or alias of the model serving now (A).
        challenger: Version number or alias of the candidate (B).
        promote: Move the 'champion' alias to B when the A/B rule says so.
        triggered_by: Flow run id of the run that asked for this comparison (lineage).
    """
    spec = data.load_spec(model_name)
    store.check_schema()  # never a half-written run on a store of another revision
    ref_a = registry.resolve_version(model_name, champion)
    ref_b = registry.resolve_version(model_name, challenger)
    rows: Any = data.load_labeled_rows(spec, window_start, window_end)
    holdout: Any = train.drop_quarantined(spec, rows, train.quarantined_windows(model_name))
    if holdout.empty:
        return Completed(name="NoData", message="no labeled rows in the comparison window")
    model_a = registry.load_model(ref_a)
    model_b = registry.load_model(ref_b)
    scores_a = ab.score_rows(spec, model_a, holdout)
    scores_b = ab.score_rows(spec, model_b, holdout)
    primary = ab.ab_compare(spec, holdout, scores_a, scores_b)
    latency = (
        ab.prediction_latency(spec, model_a, holdout),
        ab.prediction_latency(spec, model_b, holdout),
    )
    checks = ab.guardrails(spec, holdout, scores_a, scores_b, latency)
    decision = ab.decide(primary, checks)

    verdict = CHALLENGER_WINS if decision.should_promote else CHAMPION_STAYS
    evidence = {
        **asdict(decision),
        "champion_version": ref_a.version,
        "challenger_version": ref_b.version,
        "window_start": window_start.isoformat(),
        "window_end": window_end.isoformat(),
        "n_quarantined_rows_dropped": len(rows) - len(holdout),
        "triggered_by": triggered_by,
    }
    markdown = ab.evidence_markdown(model_name, ref_a.version, ref_b.version, decision)
    _record(
        spec,
        ref_a,
        ref_b,
        verdict,
        decision.reason,
        evidence,
        {
            "metric": decision.metric,
            "rule": decision.rule,
            "margin": decision.margin,
            "n_bootstrap": decision.n_bootstrap,
            "primary_passed": decision.primary_passed,
        },
        {
            "champion_value": decision.champion_value,
            "challenger_value": decision.challenger_value,
            "difference": decision.difference,
            "ci_low": decision.ci_low,
            "ci_high": decision.ci_high,
            "n_holdout": float(decision.n),
            **({"p_value": decision.p_value} if decision.p_value is not None else {}),
            **_guardrail_metrics(decision),
        },
        markdown,
        "ab",
    )
    return _conclude(model_name, promote, ref_a, ref_b, decision, evidence)


def _online_markdown(model: str, a: str, b: str, d: OnlineABDecision) -> str:
    fmt = "{:.4f}".format
    return "\n".join(
        [
            f"# Online A/B — {model}: v{a} (champion) vs v{b} (challenger)",
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


@flow(
    name="compare-online",
    flow_run_name="compare-online-{model_name}-{champion}-vs-{challenger}",
    log_prints=True,
)
def compare_online(
    model_name: str,
    window_start: datetime,
    window_end: datetime,
    champion: str = "champion",
    challenger: str = "challenger",
    promote: bool = True,
    triggered_by: str | None = None,
) -> Any:
    """Online A/B: compare the variants of served traffic (spec columns.variant) and promote.

    Rows whose variant column is 'champion' were served by A, 'challenger' by B.
    Below the required rows per variant (from the spec's minimum detectable
    effect and power) the run ends 'InsufficientData' and nothing moves.

    Args:
        model_name: Registered model (and monitor spec) name.
        window_start: Start (UTC) of the served, labeled traffic used.
        window_end: End (UTC, exclusive) of the served, labeled traffic used.
        champion: Version number or alias that served the 'champion' variant (A).
        challenger: Version number or alias that served the 'challenger' variant (B).
        promote: Move the 'champion' alias to B when the rule says so.
        triggered_by: Flow run id of the run that asked for this comparison (lineage).
    """
    spec = data.load_spec(model_name)
    store.check_schema()  # never a half-written run on a store of another revision
    if spec.columns.variant is None:
        raise ValueError(f"the spec of model {model_name!r} declares no columns.variant")
    ref_a = registry.resolve_version(model_name, champion)
    ref_b = registry.resolve_version(model_name, challenger)
    rows: Any = data.load_labeled_rows(spec, window_start, window_end)
    labeled: Any = train.drop_quarantined(spec, rows, train.quarantined_windows(model_name))
    decision = ab.online_compare(spec, labeled)
    evidence = {
        **asdict(decision),
        "champion_version": ref_a.version,
        "challenger_version": ref_b.version,
        "window_start": window_start.isoformat(),
        "window_end": window_end.isoformat(),
        "triggered_by": triggered_by,
    }
    markdown = _online_markdown(model_name, ref_a.version, ref_b.version, decision)
    if decision.status == "InsufficientData":
        store.save_decision(
            model_name, "online-ab", "insufficient-data", evidence, current_flow_run_id()
        )
        publish.publish_markdown(f"{model_name}-online-ab", markdown, f"Online A/B {model_name}")
        return Completed(name="InsufficientData", message=decision.reason, data=decision)
    verdict = CHALLENGER_WINS if decision.should_promote else CHAMPION_STAYS
    _record(
        spec,
        ref_a,
        ref_b,
        verdict,
        decision.reason,
        evidence,
        {"metric": decision.metric, "rule": decision.rule, "margin": decision.margin},
        {
            "champion_value": decision.champion_value,
            "challenger_value": decision.challenger_value,
            "difference": decision.difference,
            "ci_low": decision.ci_low,
            "ci_high": decision.ci_high,
            "p_value": decision.p_value,
            "required_n": float(decision.required_n),
        },
        markdown,
        "online-ab",
    )
    return _conclude(model_name, promote, ref_a, ref_b, decision, evidence)
