"""``modelwatch`` command line: the parser and the entry point (``modelwatch = cli.main:main``).

Every command starts from :func:`modelwatch.environment.prepare_environment`,
the bootstrap that importing ``flows`` runs too (a ``prefect worker`` gets the same
environment).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import NoReturn

from cli import commands
from cli import dashboard as dashboard_cmd
from cli.commands import DEMO_MODELS, parse_time
from modelwatch.environment import prepare_environment
from modelwatch.errors import CannotStart, ModelwatchError, SpecError
from modelwatch.settings import get_settings


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("modelwatch")
    except PackageNotFoundError:  # a checkout that was never installed
        return "unknown (not installed)"


#: help texts of options that several commands share (every option gets one: test_cli)
_SHARED_HELP = {
    "model": "model name: its monitor spec is <specs dir>/<model>.yaml",
    "models": "model names (default: every spec in the specs folder)",
    "window_end": "end of the window, ISO 8601 (UTC when it has no offset); "
    "default: the last complete window",
    "window_start": "start of the window, ISO 8601 (UTC when it has no offset)",
    "force_retrain": "run the retraining branch even if the model is not degraded",
    "dry_run": "compute and publish artifacts but change nothing (no store rows, events, "
    "alerts or retraining)",
    "windows": "number of hourly windows to serve and monitor",
    "rows": "predictions per window",
    "drift_start": "first window with drift (data and concept)",
    "seed": "random seed of the generated world",
    "limit": "newest windows to list",
    "start": "start of the labeled rows compared, ISO 8601",
    "end": "end of the labeled rows compared (exclusive), ISO 8601",
}


def _document(parser: argparse.ArgumentParser) -> None:
    """Defaults shown in every help, and a help text for options that lack one."""
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _document(child)
        elif action.help is None and action.dest in _SHARED_HELP:
            action.help = _SHARED_HELP[action.dest]


def build_parser() -> argparse.ArgumentParser:
    parser = _build_parser()
    _document(parser)
    return parser


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelwatch", description="``modelwatch`` command line.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--verbose-errors",
        action="store_true",
        help="print the traceback of an error (default: one line)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run the whole loop on generated data (embedded defaults)")
    p.add_argument(
        "--model",
        default=None,
        help="demo model (deployments/specs/<model>.yaml); default: the --task's demo model",
    )
    p.add_argument(
        "--task",
        choices=sorted(DEMO_MODELS),
        default=None,
        help="kind of generated world and model: binary (credit, the default), "
        "multiclass (churn3: stay / downgrade / churn) or regression (house: sale price)",
    )
    p.add_argument("--windows", type=int, default=14)
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--drift-start", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="show Prefect's logs")
    p.set_defaults(func=commands.cmd_demo_task)

    p = sub.add_parser("monitor", help="monitor one window of a model")
    p.add_argument("model")
    p.add_argument("--window-end", type=parse_time, default=None)
    p.add_argument("--force-retrain", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    p.set_defaults(func=commands.cmd_monitor)

    p = sub.add_parser(
        "fleet", help="monitor every model's due window in one run (one process for all)"
    )
    p.add_argument("models", nargs="*", help="models to monitor (default: every spec)")
    p.add_argument("--window-end", type=parse_time, default=None)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="models monitored at the same time (default: MODELWATCH_FLEET_CONCURRENCY, 2)",
    )
    p.set_defaults(func=commands.cmd_fleet)

    p = sub.add_parser("retrain", help="train a challenger and A/B-compare it")
    p.add_argument("model")
    p.add_argument("--reason", default="manual (CLI)", help="why (stored with the decision)")
    p.set_defaults(func=commands.cmd_retrain)

    p = sub.add_parser("rollback", help="move 'champion' back to 'previous'")
    p.add_argument("model")
    p.add_argument(
        "--reason", default="manual rollback (CLI)", help="why (stored with the decision)"
    )
    p.add_argument(
        "--by",
        default=os.environ.get("USER", "unknown"),
        help="who rolls back (stored with the decision)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="take the promotion lock from its holder first (a dead holder releases it anyway)",
    )
    p.set_defaults(func=commands.cmd_rollback)

    p = sub.add_parser("compare", help="A/B-compare two versions on a window of labeled rows")
    p.add_argument("model")
    p.add_argument("--a", default="champion", help="version or alias (default champion)")
    p.add_argument("--b", default="challenger", help="version or alias (default challenger)")
    p.add_argument("--start", type=parse_time, required=True)
    p.add_argument("--end", type=parse_time, required=True)
    p.add_argument("--promote", action="store_true", help="move 'champion' if B wins")
    p.set_defaults(func=commands.cmd_compare)

    p = sub.add_parser("serve", help="serve the deployments locally (no work pool)")
    p.add_argument("models", nargs="*", help="models to schedule (default: every spec)")
    p.add_argument(
        "--fleet",
        action="store_true",
        help="one monitor-fleet schedule for every model instead of one per model",
    )
    p.set_defaults(func=commands.cmd_serve)

    p = sub.add_parser("suite", help="Great Expectations suites")
    suite_sub = p.add_subparsers(dest="suite_command", required=True)
    b = suite_sub.add_parser("build", help="build or refresh expectations/<model>.json")
    b.add_argument("model")
    b.add_argument("--typical-rows", type=int, default=None, help="rows of a normal window")
    b.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    b.set_defaults(func=commands.cmd_suite_build)

    p = sub.add_parser("runs", help="list a model's monitored windows from the store")
    p.add_argument("model")
    p.add_argument("--limit", type=int, default=48)
    p.set_defaults(func=commands.cmd_runs)

    p = sub.add_parser("store", help="schema revisions of the monitoring store")
    store_sub = p.add_subparsers(dest="store_command", required=True)
    u = store_sub.add_parser(
        "upgrade", help="upgrade the store to this code's schema (no row is lost)"
    )
    u.add_argument("--revision", default="head", help="target revision (default: head)")
    u.set_defaults(func=commands.cmd_store)
    d = store_sub.add_parser("downgrade", help="downgrade to an earlier revision")
    d.add_argument("revision", help="target revision, e.g. 0001")
    d.set_defaults(func=commands.cmd_store)
    for name, text in (
        ("current", "show the store's revision and this code's head"),
        ("history", "list the shipped revisions"),
        ("check", "compare the code's tables with the store (a missing migration shows here)"),
    ):
        store_sub.add_parser(name, help=text).set_defaults(func=commands.cmd_store)

    p = sub.add_parser("quarantine", help="list or release quarantined windows")
    p.add_argument("action", choices=["list", "release"], help="list or release")
    p.add_argument("model")
    p.add_argument("--window-start", type=parse_time, default=None, help="UTC if no offset")
    p.add_argument("--all", action="store_true", help="list: include released files (history)")
    p.set_defaults(func=commands.cmd_quarantine)
    dashboard_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A modelwatch error is one line on stderr (the traceback only with
    ``--verbose-errors``): exit 2 when the command cannot start (unknown model, bad spec,
    unreachable server — like argparse's usage errors), else 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    prepare_environment(get_settings())
    try:
        return int(args.func(args))
    except ModelwatchError as exc:
        if args.verbose_errors:
            traceback.print_exc()
        print(f"modelwatch: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, CannotStart | SpecError) else 1


def run() -> NoReturn:
    """The ``modelwatch`` command (and ``python -m cli``): :func:`main`, then :func:`exit_now`."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """End the process quickly, once everything that must happen at exit has happened.

    After a flow run, the interpreter's own teardown (freeing every module and the
    heap of pandas / MLflow / GX objects) takes about 2 s on this kind of machine,
    paid by every cron tick and every deployment run. What the interpreter would do
    first is done here, in its order: non-daemon threads are joined and their exit
    hooks run (``threading._shutdown``), then the ``atexit`` handlers (Prefect's,
    MLflow's, logging's flush); then stdout / stderr are flushed, and only then does
    the process end with ``os._exit``.
    """
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None and threading.current_thread() is threading.main_thread():
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
