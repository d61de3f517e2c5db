"""Warm starts for served flow runs: fork each run from a process that has imported everything.

Prefect 3.8's runner starts a run of a deployment whose flow it knows (``modelwatch
serve`` registers them: :func:`flows.serve.add_served`) with
``prefect.flow_engine.run_flow_in_subprocess``: a new interpreter (``multiprocessing``
*spawn*) that imports Prefect, pandas, scipy, scikit-learn, MLflow and Great
Expectations again — ~6 s of CPU on a 2-core machine, paid by every run.
:func:`use_warm_starts` makes it use a *forkserver* instead: one process, started once
from a clean interpreter (not forked from the runner and its threads), imports
:data:`PRELOAD` — every flow module and the libraries the runs import lazily — and
each flow run is a ``fork()`` of it that shares those pages copy-on-write. Nothing
else changes: the run still gets its own process, environment (the runner passes it
explicitly), Prefect settings context, logging set-up, PID (the runner's cancellation
and the crash watchdog kill by PID) and exit code; its ``atexit`` handlers run
(:class:`WarmProcess`).

What the fork server must not do, and does not: open a connection, start a thread or
write a file at import (a forked child would inherit it). Only imports happen there;
``tests/flows/test_warm.py`` checks :data:`PRELOAD` in a fresh interpreter (every
module imported, no thread besides the main one, nothing written).

If the fork server dies (killed, OOM), ``multiprocessing`` starts a new one on the next
run. ``MODELWATCH_WARM_STARTS=false`` turns it off (every run spawns, as Prefect does).

The patch point: ``run_flow_in_subprocess`` asks ``multiprocessing.get_context("spawn")``
for its process context; the name ``multiprocessing`` in ``prefect.flow_engine`` is
replaced by a stand-in whose ``get_context`` returns the fork-server context
(everything else is the real module). A Prefect upgrade that moves the call makes
``test_warm.py`` fail rather than silently going cold.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import multiprocessing.context
from types import ModuleType
from typing import Any

#: what a served run would otherwise import on its own (measured: the modules new in
#: ``sys.modules`` after one ``monitor-model`` run, grouped by package)
WARM_IMPORTS: tuple[str, ...] = (
    "flows.monitor",
    "flows.fleet",
    "flows.retrain",
    "flows.relabel",
    "flows.rollback",
    "flows.compare",
    "flows.rollout",
    "flows.validate",
    "modelwatch.watchdog",
    "great_expectations",
    "mlflow",
    "mlflow.sklearn",
    "mlflow.artifacts",
    "mlflow.models",
    "mlflow.data.pandas_dataset",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "sklearn.ensemble",
    "sklearn.decomposition",
    "sklearn.linear_model",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.model_selection",
    "pyarrow.dataset",
    "pyarrow.fs",
    "alembic.command",
    "alembic.script",
)

#: the module the fork server imports (importing it imports WARM_IMPORTS)
PRELOAD = "flows._preload"


def warm_imports() -> list[str]:
    """Import :data:`WARM_IMPORTS`; the names that could not be imported (an optional
    library missing, or failing at import: a run imports it itself, as before, and
    fails there with the real error; the fork server never dies of it)."""
    missing = []
    for name in WARM_IMPORTS:
        try:
            importlib.import_module(name)
        except Exception:  # the run imports it again and reports the real error
            missing.append(name)
    return missing


class WarmProcess(multiprocessing.context.ForkServerProcess):
    """A flow run's process, forked from the fork server.

    A forked ``multiprocessing`` child ends with ``os._exit``: the ``atexit`` handlers a
    run registers would never run (a spawned child ends with ``sys.exit`` and runs them).
    Prefect stops the temporary server it starts for a run without ``PREFECT_API_URL``
    from one; skipped, every such run leaked a server process. So they run here."""

    def run(self) -> None:
        try:
            super().run()
        finally:
            atexit._run_exitfuncs()


class _WarmContext(multiprocessing.context.ForkServerContext):
    Process = WarmProcess


class _ForkServerMultiprocessing(ModuleType):
    """Stands in for ``multiprocessing`` inside ``prefect.flow_engine``: ``get_context``
    returns the fork-server context whatever start method is asked for."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        super().__init__("multiprocessing")
        self._context = context

    def get_context(self, method: str | None = None) -> multiprocessing.context.BaseContext:
        return self._context

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing, name)


def use_warm_starts(preload: str = PRELOAD) -> bool:
    """Make Prefect's runner start flow runs as forks of a preloaded fork server.

    Returns False (and changes nothing) where there is no ``forkserver`` start method
    (Windows) or when ``MODELWATCH_WARM_STARTS`` is false. Idempotent."""
    from prefect import flow_engine

    from modelwatch.settings import get_settings

    if not get_settings().warm_starts:
        return False
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    if isinstance(flow_engine.multiprocessing, _ForkServerMultiprocessing):  # type: ignore[attr-defined]
        return True
    if not callable(getattr(flow_engine, "run_flow_in_subprocess", None)):
        raise RuntimeError(
            "prefect.flow_engine.run_flow_in_subprocess is gone: warm starts need a "
            "new patch point for this Prefect version (set MODELWATCH_WARM_STARTS=false)"
        )
    context = _WarmContext()
    context.set_forkserver_preload([preload])
    flow_engine.multiprocessing = _ForkServerMultiprocessing(context)  # type: ignore[attr-defined]
    return True


def warm_starts_active() -> bool:
    """Whether :func:`use_warm_starts` is in effect in this process."""
    from prefect import flow_engine

    return isinstance(flow_engine.multiprocessing, _ForkServerMultiprocessing)  # type: ignore[attr-defined]
