"""``compare_models``: champion vs challenger on the same held-out labeled rows; guarded promotion."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from prefect import flow
from prefect.states import Completed

from flows.common import current_flow_run_id
from modelwatch.summaries import ab_markdown
from tasks import ab, data, publish, registry, store


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
    ref_a = registry.resolve_version(model_name, champion)
    ref_b = registry.resolve_version(model_name, challenger)
    holdout: Any = data.load_labeled_rows(spec, window_start, window_end)
    if holdout.empty:
        return Completed(name="NoData", message="no labeled rows in the comparison window")
    scores_a = ab.score_rows(spec, registry.load_model(ref_a), holdout)
    scores_b = ab.score_rows(spec, registry.load_model(ref_b), holdout)
    decision = ab.ab_compare(spec, holdout, scores_a, scores_b)

    outcome = "promoted" if decision.should_promote and promote else "rejected"
    evidence = {
        **asdict(decision),
        "champion_version": ref_a.version,
        "challenger_version": ref_b.version,
        "window_start": window_start.isoformat(),
        "window_end": window_end.isoformat(),
        "triggered_by": triggered_by,
    }
    markdown = ab_markdown(model_name, ref_a.version, ref_b.version, decision)
    run_id = registry.log_evidence_run(
        model_name,
        f"ab-v{ref_a.version}-vs-v{ref_b.version}",
        {
            "metric": decision.metric,
            "rule": decision.rule,
            "margin": decision.margin,
            "n_bootstrap": decision.n_bootstrap,
            "champion_version": ref_a.version,
            "challenger_version": ref_b.version,
        },
        {
            "champion_value": decision.champion_value,
            "challenger_value": decision.challenger_value,
            "difference": decision.difference,
            "ci_low": decision.ci_low,
            "ci_high": decision.ci_high,
            "n_holdout": float(decision.n),
        },
        {"modelwatch.kind": "ab", "modelwatch.outcome": outcome},
        {"ab_decision.md": markdown},
    )
    registry.tag_versions(
        model_name,
        [ref_a.version, ref_b.version],
        {
            f"modelwatch.ab.v{ref_a.version}_vs_v{ref_b.version}": f"{outcome}: {decision.reason}",
            "modelwatch.ab.last_run_id": run_id,
        },
    )
    store.save_decision(model_name, "ab", outcome, evidence, current_flow_run_id())
    publish.publish_markdown(f"{model_name}-ab", markdown, f"A/B {model_name}")
    if outcome == "promoted":
        result = registry.promote(model_name, ref_b.version, decision.reason)
        store.save_decision(
            model_name, "promotion", "promoted", asdict(result), current_flow_run_id()
        )
        publish.emit_model_event("promoted", model_name, asdict(result))
        return Completed(
            name="Promoted",
            message=f"v{ref_b.version} is champion: {decision.reason}",
            data=decision,
        )
    publish.emit_model_event("rejected", model_name, evidence)
    return Completed(
        name="Rejected",
        message=f"v{ref_a.version} stays champion: {decision.reason}",
        data=decision,
    )
