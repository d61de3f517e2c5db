"""The ``modelwatch`` commands: each parses nothing, reads the settings, calls the library or a flow.

Heavy libraries (prefect, mlflow, great_expectations) and the flows are imported
inside the commands, after :func:`modelwatch.environment.prepare_environment`
(run by :func:`cli.main.main`) has pointed Prefect and MLflow at the local home
(unless the user configured servers).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from typing import Any

from modelwatch.settings import Settings, get_settings


def parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected an ISO time like 2026-11-23T10:00+00:00, got {value!r}"
        ) from exc


def cmd_demo(args: argparse.Namespace) -> int:
    settings = get_settings()
    settings.ensure_home()
    if not args.verbose:
        import logging

        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # the local Prefect server's shutdown cancels pooled connections noisily
        logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
    from modelwatch import demo as demo_lib
    from modelwatch.spec import find_spec

    # refuse a model the demo did not create before Prefect starts (the reset would delete it)
    demo_lib.check_resettable(find_spec(args.model, settings.resolved_specs_dir), settings)
    print(f"modelwatch home: {settings.home_dir}")
    print("starting Prefect in local mode (first start takes ~15 s)...", flush=True)
    from flows.common import run_with_watchdog
    from flows.demo import demo

    state: Any = run_with_watchdog(
        demo,
        model_name=args.model,
        n_windows=args.windows,
        rows_per_window=args.rows,
        drift_start=args.drift_start,
        seed=args.seed,
    )
    print()
    print(f"demo {state.name}: {state.message}")
    print("Where to look:")
    print("  dashboard:   modelwatch dashboard   (then open http://127.0.0.1:8765/)")
    print(
        f"  MLflow UI:   mlflow ui --backend-store-uri {settings.resolved_tracking_uri} "
        f"--host 127.0.0.1 --port 5000"
    )
    print(f"  store:       {settings.resolved_store_url}  (modelwatch runs {args.model})")
    print(f"  reports:     {settings.reports_dir}")
    from modelwatch.dashboard.files import DATA_DOCS_SITE

    print(f"  data docs:   {settings.data_docs_dir / DATA_DOCS_SITE / 'index.html'}")
    print(f"  Prefect UI:  PREFECT_HOME={os.environ.get('PREFECT_HOME')} prefect server start")
    return 0 if state.is_completed() else 1


def _preflight(settings: Settings, *models: str, needs_spec: bool = True) -> None:
    """Refuse in a second, before Prefect starts: an unknown model (``SpecError`` listing the
    specs there are; a bad name only, for commands that read no spec) or a store that needs
    ``modelwatch store upgrade``. Every model is checked; the error names each bad one."""
    from modelwatch.errors import SpecError
    from modelwatch.io.store import Store
    from modelwatch.spec import check_model_name, find_spec

    errors = []
    for model in models:
        try:
            if needs_spec:
                find_spec(model, settings.resolved_specs_dir)
            else:
                check_model_name(model)
        except SpecError as exc:
            errors.append(str(exc))
    if len(errors) == 1:
        raise SpecError(errors[0])
    if errors:
        raise SpecError(
            f"{len(errors)} of {len(models)} specs are unusable:\n - " + "\n - ".join(errors)
        )
    settings.ensure_home()
    Store.open(settings.resolved_store_url).dispose()
    _check_prefect_api()


def _check_prefect_api(timeout_s: float = 2.0) -> None:
    """A set ``PREFECT_API_URL`` must answer ``/health`` (else one line, not a 100-line
    ``httpx.ConnectError`` after Prefect's retries); unset: Prefect's local mode."""
    import httpx

    from modelwatch.errors import CannotStart

    url = os.environ.get("PREFECT_API_URL", "").strip().rstrip("/")
    if not url:
        return
    try:
        response = httpx.get(f"{url}/health", timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise CannotStart(
            f"the Prefect server at PREFECT_API_URL={url} is unreachable "
            f"({type(exc).__name__}); start it (`prefect server start`) or unset "
            "PREFECT_API_URL to run in Prefect's local mode"
        ) from None
    if response.status_code >= 400:
        raise CannotStart(
            f"the Prefect server at PREFECT_API_URL={url} answered HTTP "
            f"{response.status_code} on /health"
        )


def cmd_monitor(args: argparse.Namespace) -> int:
    settings = get_settings()
    _preflight(settings, args.model)
    settings.ensure_home()
    from flows.common import run_with_watchdog
    from flows.monitor import monitor_model

    state: Any = run_with_watchdog(
        monitor_model,
        model_name=args.model,
        window_end=args.window_end,
        force_retrain=args.force_retrain,
        dry_run=args.dry_run,
    )
    print(f"{state.name}: {state.message}")
    return 0 if state.is_completed() else 1


def cmd_fleet(args: argparse.Namespace) -> int:
    """Every spec's (or the named models') due window in one ``monitor-fleet`` run."""
    from modelwatch.errors import SpecError

    settings = get_settings()
    models = list(args.models) or sorted(p.stem for p in settings.resolved_specs_dir.glob("*.yaml"))
    if not models:
        raise SpecError(f"no monitor spec (*.yaml) in {settings.resolved_specs_dir.resolve()}")
    _preflight(settings, *models)
    from flows.common import run_with_watchdog
    from flows.fleet import monitor_fleet

    state: Any = run_with_watchdog(
        monitor_fleet,
        models=list(args.models) or None,
        window_end=args.window_end,
        dry_run=args.dry_run,
        concurrency=args.concurrency,
    )
    summary = state.result(raise_on_failure=False)
    for outcome in getattr(summary, "outcomes", ()):
        print(outcome.line())
    print(f"{'Failed' if state.is_failed() else 'Completed'}: {state.message}")
    return 0 if state.is_completed() else 1


def cmd_retrain(args: argparse.Namespace) -> int:
    settings = get_settings()
    _preflight(settings, args.model)
    settings.ensure_home()
    from flows.common import run_with_watchdog
    from flows.retrain import retrain_model

    state: Any = run_with_watchdog(retrain_model, model_name=args.model, reason=args.reason)
    print(f"{state.name}: {state.message}")
    return 0 if state.is_completed() else 1


def cmd_rollback(args: argparse.Namespace) -> int:
    settings = get_settings()
    _preflight(settings, args.model, needs_spec=False)  # an emergency needs no spec
    settings.ensure_home()
    from flows.common import run_with_watchdog
    from flows.rollback import rollback_model

    state: Any = run_with_watchdog(
        rollback_model,
        model_name=args.model,
        reason=args.reason,
        requested_by=args.by,
        force=args.force,
    )
    print(f"{state.name}: {state.message}")
    return 0 if state.is_completed() else 1


def cmd_compare(args: argparse.Namespace) -> int:
    settings = get_settings()
    _preflight(settings, args.model)
    settings.ensure_home()
    from flows.common import run_with_watchdog
    from flows.compare import compare_models

    state: Any = run_with_watchdog(
        compare_models,
        model_name=args.model,
        window_start=args.start,
        window_end=args.end,
        champion=args.a,
        challenger=args.b,
        promote=args.promote,
    )
    print(f"{state.name}: {state.message}")
    return 0 if state.is_completed() else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from modelwatch.errors import CannotStart

    if not os.environ.get("PREFECT_API_URL", "").strip():
        raise CannotStart(
            "`modelwatch serve` needs a Prefect server with a scheduler: Prefect's local "
            "mode starts a temporary one that never schedules a run. Start one with "
            "`prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    _check_prefect_api()
    get_settings().ensure_home()
    from flows.serve import serve_all

    serve_all(models=args.models, fleet=args.fleet)
    return 0


def cmd_suite_build(args: argparse.Namespace) -> int:
    """Build or refresh the suite; print the diff; hand-written expectations are always kept."""
    from modelwatch.io import sources, suites
    from modelwatch.spec import find_spec

    settings = get_settings()
    spec = find_spec(args.model, settings.resolved_specs_dir)
    reference = sources.read_source(spec.sources.reference, settings.home_dir)
    generated = suites.build_suite(reference, spec, typical_rows=args.typical_rows)
    path = settings.resolved_expectations_dir / f"{spec.name}.json"
    if path.exists():
        existing = suites.load_suite(path)
        merged = suites.merge_suites(existing, generated)
        diff = suites.diff_suites(existing, merged)
        print(
            f"{path}: {len(diff.added)} added, {len(diff.removed)} removed, "
            f"{len(diff.changed)} changed; {len(diff.kept)} hand-written kept"
        )
        for line in diff.lines():
            print(f"  {line}")
        if diff.empty:
            print("  (no change)")
    else:
        merged = generated
        print(f"{path}: new suite, {len(merged['expectations'])} expectation(s)")
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    suites.write_suite(merged, path)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from modelwatch.errors import SpecError
    from modelwatch.io.store import Store
    from modelwatch.spec import check_model_name, find_spec

    check_model_name(args.model)
    settings = get_settings()
    settings.ensure_home()  # a first `runs` on a fresh home finds an empty store
    try:
        metric: str | None = find_spec(args.model, settings.resolved_specs_dir).degradation.metric
    except SpecError:
        metric = None  # a model whose spec is gone: its windows are still listed
    with Store.open(settings.resolved_store_url) as store:
        rows = store.runs(args.model, limit=args.limit)
        values: dict[str, dict[Any, Any]] = {"realized": {}, "estimated": {}}
        for kind in values if metric else ():
            history = store.metric_history(args.model, str(metric), kind=kind, limit=args.limit)
            values[kind] = {r["window_start"]: r["value"] for r in history}
    if not rows:
        known = sorted(p.stem for p in settings.resolved_specs_dir.glob("*.yaml"))
        print(
            f"no monitored windows of model {args.model!r} in the store "
            f"(models with a spec: {known})",
            file=sys.stderr,
        )
        return 0 if args.model in known else 1
    name = (metric or "metric")[:9]
    print(
        f"{'window start (UTC)':<18} {'rows':>6} {'labeled':>7} {'status':<11} {'champion':>8} "
        f"{name:>9} {'estimate':>9} {'threshold':>9} {'drifted':>7}  reason"
    )
    for row in reversed(rows):
        start = row["window_start"]
        print(
            f"{start:%Y-%m-%d %H:%M}   {row['n_rows']:>6} {row['n_labeled']:>7} "
            f"{row['status']:<11} {'v' + str(row['champion_version']):>8} "
            f"{_num(values['realized'].get(start)):>9} {_num(values['estimated'].get(start)):>9} "
            f"{_num(row.get('threshold')):>9} {_share(row['share_drifted']):>7}  {row['reason']}"
        )
    return 0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def cmd_store(args: argparse.Namespace) -> int:
    """Schema revisions of the monitoring store (Alembic migrations shipped with modelwatch)."""
    from modelwatch.io import migrate
    from modelwatch.io.store import Store

    settings = get_settings()
    settings.ensure_home()
    store = Store(settings.resolved_store_url)
    try:
        before = migrate.status(store.engine)
        if args.store_command == "current":
            state = "up to date" if before.up_to_date else "needs `modelwatch store upgrade`"
            if before.empty:
                state = "empty (created at head by the first run or `modelwatch store upgrade`)"
            current = before.current or (
                "0001 (pre-migration, unstamped)" if before.legacy else "-"
            )
            print(f"store:   {before.url}\ncurrent: {current}\nhead:    {before.head}  ({state})")
            return 0 if before.up_to_date or before.empty else 1
        if args.store_command == "history":
            for revision, doc in migrate.history():
                mark = "*" if revision == before.current else " "
                print(f"{mark} {revision}  {doc}")
            return 0
        if args.store_command == "check":
            diffs = migrate.drift(store.engine)
            for diff in diffs:
                print(f"  {diff}")
            print("no difference between the code's tables and the store" if not diffs else "")
            return 0 if not diffs else 1
        if args.store_command == "downgrade":
            after = migrate.downgrade(store.engine, args.revision)
        else:
            after = migrate.upgrade(store.engine, args.revision)
        print(
            f"{after.url}: {before.current or ('0001 (unstamped)' if before.legacy else 'empty')}"
            f" -> {after.current}"
        )
        return 0
    finally:
        store.dispose()


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List held (or, with --all, every) quarantined file; release a window for re-validation."""
    from modelwatch.io.store import Store

    with Store.open(get_settings().resolved_store_url) as store:
        if args.action == "list":
            rows = store.quarantined(args.model, include_released=args.all)
            if not rows:
                print(f"no {'' if args.all else 'held '}quarantined files for model {args.model}")
            for row in rows:
                state = "released" if row["released"] else "held"
                print(
                    f"{row['window_start']:%Y-%m-%dT%H:%M}Z  {state:<8}  {row['path']}  "
                    f"sha256={row['sha256'][:12]}  run={row['flow_run_id'] or '-'}  "
                    f"{row['reason'].splitlines()[0] if row['reason'] else ''}"
                )
            return 0
        if args.window_start is None:
            print("modelwatch: error: quarantine release needs --window-start", file=sys.stderr)
            return 2
        held = store.quarantined(args.model, window_start=args.window_start)
        count = store.release_quarantine(args.model, args.window_start)
    if not count:
        print(f"no held quarantine for model {args.model} window {args.window_start.isoformat()}")
        return 1
    end = held[0]["window_end"]
    print(
        f"released {count} file(s) of window {args.window_start.isoformat()}; re-validate with: "
        f"modelwatch monitor {args.model} --window-end {end.isoformat()}"
    )
    return 0


#: the demo model of each ``modelwatch demo --task`` (its spec declares that task)
DEMO_MODELS = {"binary": "credit", "multiclass": "churn3", "regression": "house"}


def cmd_demo_task(args: argparse.Namespace) -> int:
    """``demo``: ``--task`` picks the demo model unless ``--model`` names one of that task."""
    if args.model is None:
        args.model = DEMO_MODELS[args.task or "binary"]
    elif args.task is not None:
        from modelwatch.spec import find_spec

        task = find_spec(args.model, get_settings().resolved_specs_dir).task
        if task != args.task:
            raise SystemExit(
                f"modelwatch demo: --model {args.model} is a {task} model, not --task {args.task}"
            )
    return cmd_demo(args)
