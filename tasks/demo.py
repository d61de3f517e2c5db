"""Demo tasks over :mod:`modelwatch.demo`: reset the demo model, bootstrap it, serve a window,
read the staged rollout's stage."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from modelwatch import demo as demo_lib
from modelwatch import simulate
from modelwatch.outcomes import Alias
from modelwatch.settings import get_settings
from modelwatch.spec import MonitorSpec, find_spec
from tasks import TASK_DEFAULTS

__all__ = ["bootstrap_champion", "reset_demo", "rollout_stage", "serve_window"]


def _spec(model_name: str) -> MonitorSpec:
    return find_spec(model_name, get_settings().resolved_specs_dir)


@task(name="reset-demo", **TASK_DEFAULTS)
def reset_demo(model_name: str) -> None:
    """Forget an earlier demo of the model: generated data, store rows, registered versions."""
    demo_lib.reset(_spec(model_name), get_settings())


@task(name="bootstrap-champion", **TASK_DEFAULTS)
def bootstrap_champion(model_name: str, seed: int, rows_per_window: int) -> str:
    """Train and register the first champion and build its suite; its version."""
    settings = get_settings()
    spec = _spec(model_name)
    ref = demo_lib.bootstrap(spec, settings, seed=seed)
    demo_lib.ensure_suite(spec, settings, rows_per_window=rows_per_window)
    return ref.version


@task(name="serve-window", task_run_name="serve-window-{index}", **TASK_DEFAULTS)
def serve_window(
    model_name: str,
    index: int,
    *,
    window: tuple[datetime, datetime],
    rows: int,
    seed: int,
    drift_start: int,
) -> demo_lib.ServedWindow:
    """Serve window ``index`` with the champion (and the shadow / canary the registry names);
    append its log and label files."""
    return demo_lib.serve_window(
        _spec(model_name),
        get_settings(),
        index=index,
        start=window[0],
        end=window[1],
        rows=rows,
        seed=seed,
        scenario=simulate.Scenario(drift_start=drift_start),
    )


@task(name="rollout-stage", **TASK_DEFAULTS)
def rollout_stage(model_name: str) -> tuple[str, demo_lib.StageView | None]:
    """The champion's version and the version in shadow or canary now (None: none)."""
    book = demo_lib.open_registry(get_settings()).alias_book
    champion = book.get_version(model_name, Alias.CHAMPION.value).version
    return champion, demo_lib.StageView.of(book.rollout(model_name))
