"""``rollback_model``: one-step rollback of the ``champion`` alias to ``previous``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow
from prefect.states import Completed

from flows.common import current_flow_run_id
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
    # alias moves of one model are serialized
    with registry.promotion_slot(model_name, force=force):
        result = registry.rollback(model_name, f"{reason} (by {requested_by})")
    details = {**asdict(result), "reason": reason, "requested_by": requested_by, "force": force}
    store.save_decision(model_name, "rollback", "rolled-back", details, current_flow_run_id())
    publish.publish_markdown(
        f"{model_name}-rollback",
        f"# Rollback — {model_name}\n\nchampion is now **v{result.champion}**\n\n"
        f"reason: {reason}\n\nrequested by: {requested_by}\n",
        f"Rollback of {model_name}",
    )
    publish.notify(
        model_name, "rolled_back", f"champion is v{result.champion} again: {reason}", details
    )
    return Completed(name="RolledBack", message=f"champion is v{result.champion}", data=result)
