"""``rollback_model``: one-step rollback of the ``champion`` alias to ``previous``."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import Completed

from flows.common import current_flow_run_id
from modelwatch import promotion
from modelwatch.outcomes import AlertEvent, DecisionKind, Outcome, StateName
from modelwatch.spec import check_model_name
from tasks import publish, registry, store


@flow(name="rollback-model", flow_run_name="rollback-{model_name}", log_prints=True)
def rollback_model(
    model_name: str,
    reason: str = "manual rollback",
    requested_by: str = "unknown",
    force: bool = False,
) -> Any:
    """Move the 'champion' alias back to the 'previous' version.

    Args:
        model_name: Registered model name.
        reason: Why the rollback is done (recorded on the model versions and in the store).
        requested_by: Who asked for the rollback.
        force: Take the model's promotion lock from its holder first (only when that holder is known to be stuck; a dead holder releases it by itself).
    """
    check_model_name(model_name)  # the one rule before a name reaches a path or a lock
    store.check_schema()
    with registry.promotion_lock(model_name, force=force):  # alias moves are serialized
        result = registry.rollback(model_name, f"{reason} (by {requested_by})")
    details = promotion.rollback_details(
        result, reason=reason, requested_by=requested_by, force=force
    )
    store.save_decision(
        model_name, DecisionKind.ROLLBACK, Outcome.ROLLED_BACK, details, current_flow_run_id()
    )
    publish.publish_markdown(
        f"{model_name}-rollback",
        promotion.rollback_markdown(
            model_name, result.champion, reason=reason, requested_by=requested_by
        ),
        f"Rollback of {model_name}",
    )
    message = f"champion is v{result.champion} again: {reason}"
    publish.notify(model_name, AlertEvent.ROLLED_BACK, message, details)
    return Completed(
        name=StateName.ROLLED_BACK, message=f"champion is v{result.champion}", data=result
    )
