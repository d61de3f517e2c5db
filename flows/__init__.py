"""Prefect flows of modelwatch: orchestration and branching only.

* :func:`flows.validate.validate_window`  – load a window, run its GX suite, quarantine on critical failure
* :func:`flows.monitor.monitor_model`     – the scheduled job (validate → metrics → drift → persist → decide → retrain)
* :func:`flows.fleet.monitor_fleet`       – every model's due window in one run (a monitor-model subflow each)
* :func:`flows.retrain.retrain_model`     – train, log and register a challenger, then compare
* :func:`flows.compare.compare_models`    – offline A/B comparison (paired, guardrails) and guarded promotion
* :func:`flows.compare.compare_online`    – online A/B from the log's variant column (sample-size check)
* :func:`flows.rollback.rollback_model`   – move ``champion`` back to ``previous``
* :func:`flows.demo.demo`                 – the whole loop on generated data
"""

from modelwatch.environment import prepare_environment

# The one environment bootstrap, here too: a `prefect worker` (or any script) that imports
# a flow module gets the environment `modelwatch` commands run with (MLflow's retries and
# timeout, telemetry off). Sets only unset values; Prefect's own are the worker's business.
prepare_environment(include_prefect=False)
