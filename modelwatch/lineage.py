"""Lineage of a retrained challenger: why, from what, by which code (tags on its MLflow run).

:func:`code_version` is the one shell-out (``git rev-parse --short HEAD``); the
rest is pure. The tags are what a person reading a version in MLflow needs to
trace it back: the trigger (reason, monitor run), the retrain run, the parent
(champion) version, the training data's time range, the code and the trainer.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["UNKNOWN_CODE_VERSION", "Lineage", "code_version"]

#: the code version recorded when git cannot tell it (not a checkout, no git)
UNKNOWN_CODE_VERSION = "unknown"


def code_version(cwd: str | Path | None = None, *, timeout_s: float = 5.0) -> str:
    """The short commit hash of the checkout at ``cwd`` (default: the working directory).

    ``"unknown"`` when git is missing, times out or the folder is not a checkout.
    """
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=cwd,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_CODE_VERSION
    return out.stdout.strip() or UNKNOWN_CODE_VERSION


@dataclass(frozen=True, kw_only=True)
class Lineage:
    """Where a challenger comes from; :meth:`tags` are its run's ``modelwatch.*`` tags."""

    reason: str
    triggered_by: str | None
    retrain_flow_run_id: str | None
    parent_version: str
    data_from: datetime
    data_to: datetime
    code_version: str
    trainer: str

    def tags(self) -> dict[str, str]:
        """The MLflow tags (empty text for an unknown run id)."""
        return {
            "modelwatch.trigger.reason": self.reason,
            "modelwatch.trigger.flow_run_id": self.triggered_by or "",
            "modelwatch.retrain.flow_run_id": self.retrain_flow_run_id or "",
            "modelwatch.parent_version": self.parent_version,
            "modelwatch.data.from": self.data_from.isoformat(),
            "modelwatch.data.to": self.data_to.isoformat(),
            "modelwatch.code_version": self.code_version,
            "modelwatch.trainer": self.trainer,
        }
