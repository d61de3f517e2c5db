"""The process environment every modelwatch entry point starts from.

:func:`prepare_environment` is the one bootstrap: the ``modelwatch`` command runs
it before anything heavy is imported, and importing the ``flows`` package runs it
too, so a flow started by a ``prefect worker`` (which imports the flow's module)
gets the same environment as one started from the command line.

It only sets environment variables the user has not set (``setdefault``), so it is
idempotent and a value from the shell, a ``.env`` or a work pool always wins. It
creates no folder and imports nothing heavy (:meth:`Settings.ensure_home` is the
command's job).

Prefect's own variables (``PREFECT_*``: its local home, results, server start-up)
are set only for a process that starts Prefect itself, the command line: a worker
is configured by its work pool and profile, and Prefect reads them once, when
``prefect`` is imported — set later they would reach only child processes, which
would then disagree with this one. Importing ``flows`` therefore sets the others
only (the home, MLflow's retries and timeout, telemetry off).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import MutableMapping
from pathlib import Path

from modelwatch.settings import Settings, get_settings

#: MLflow hints about int columns in inferred dataset schemas on every logged model
_MLFLOW_INT_HINT = "Hint: Inferred schema contains integer"


def environment_defaults(home: Path, *, prefect_api_url: str | None) -> dict[str, str]:
    """The variables modelwatch sets when unset: ``{name: value}`` (pure; sets nothing).

    Prefect's local mode lives under the home unless a Prefect server is configured
    (``prefect_api_url``); analytics and telemetry are off; MLflow makes one HTTP
    attempt with a 30 s timeout, since Prefect's task retries (transient errors only)
    handle outages and MLflow's own 7 back-off retries would make one take minutes
    to surface.
    """
    values = {"MODELWATCH_HOME": str(home)}
    if not prefect_api_url:
        values["PREFECT_HOME"] = str(home / "prefect")
    values.update(
        {
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "prefect" / "results"),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
            "GX_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "true",
        }
    )
    return values


def prepare_environment(
    settings: Settings | None = None,
    *,
    environ: MutableMapping[str, str] | None = None,
    include_prefect: bool | None = None,
) -> dict[str, str]:
    """Set every default of :func:`environment_defaults` that is unset; returns those set.

    Args:
        settings: Where the home is (default: read from the environment).
        environ: The environment to complete (default: ``os.environ``).
        include_prefect: Also set Prefect's ``PREFECT_*`` variables (default: only
            while ``prefect`` is not imported yet); ``flows`` passes False.
    """
    env = os.environ if environ is None else environ
    home = (settings or get_settings()).home_dir
    if include_prefect is None:
        include_prefect = "prefect" not in sys.modules
    defaults = environment_defaults(home, prefect_api_url=env.get("PREFECT_API_URL"))
    applied: dict[str, str] = {}
    for name, value in defaults.items():
        if name in env or (not include_prefect and name.startswith("PREFECT_")):
            continue
        env[name] = value
        applied[name] = value
    # filterwarnings replaces an identical filter, so calling this again adds nothing
    warnings.filterwarnings("ignore", message=_MLFLOW_INT_HINT)
    return applied
