"""Shared test settings: nothing leaves 127.0.0.1, nothing is written outside tmp dirs."""

from __future__ import annotations

import os
import tempfile

# Before prefect/mlflow are imported anywhere: a private Prefect home and result store,
# no analytics, no telemetry.
_SESSION_TMP = tempfile.mkdtemp(prefix="modelwatch-tests-")
os.environ.setdefault("PREFECT_HOME", os.path.join(_SESSION_TMP, "prefect"))
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = os.path.join(_SESSION_TMP, "prefect-results")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "90"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "true"

# The specs every test runs with unless it points MODELWATCH_SPECS_DIR elsewhere: the
# shipped ones with the staged rollout off (tests/specs.py says why).
from tests.specs import TEST_SPECS_DIR  # noqa: E402

os.environ["MODELWATCH_SPECS_DIR"] = str(TEST_SPECS_DIR)
