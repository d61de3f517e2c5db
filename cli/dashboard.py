"""``modelwatch dashboard``: serve the dashboard (fleet, model history, reports, Data Docs,
Prometheus ``/metrics``), or push the metrics once to a Pushgateway with ``--push URL``.

Registered in :mod:`cli.main` by ``dashboard.add_parser(sub)``. Imports no web
framework until the command runs (``modelwatch --help`` stays fast).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import socket
import sys

from modelwatch.settings import get_settings

DEFAULT_HOST = "127.0.0.1"  # = modelwatch.dashboard.DEFAULT_HOST (not imported: fast --help)
DEFAULT_PORT = 8765


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer; got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 1-65535; got {port}")
    return port


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``modelwatch dashboard [--host H] [--port P] [--push URL]``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "dashboard",
        help="serve the dashboard: fleet, model history, reports, Data Docs, /metrics",
        description="Serve the modelwatch dashboard over the monitoring store "
        "(MODELWATCH_STORE_URL) and the home's reports and Data Docs; prints the URL to open. "
        "With --push, push the Prometheus metrics once to a Pushgateway instead.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (another address than 127.0.0.1 exposes the dashboard "
        "to the network: it has no login)",
    )
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port to listen on")
    p.add_argument(
        "--push",
        metavar="URL",
        default=None,
        help="push the metrics once to this Prometheus Pushgateway (e.g. http://127.0.0.1:9091) "
        "and exit, instead of serving",
    )
    p.add_argument("--job", default="modelwatch", help="Pushgateway job name (with --push)")
    p.set_defaults(func=dashboard)
    return p


def dashboard_url(host: str, port: int) -> str:
    """The URL to open for a server listening on ``host:port``."""
    shown = host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_unspecified:  # 0.0.0.0 / ::
        shown = "127.0.0.1" if address.version == 4 else "[::1]"
    elif address is not None and address.version == 6:
        shown = f"[{host}]"
    return f"http://{shown}:{port}/"


def dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard until Ctrl-C (or push the metrics once with ``--push``)."""
    settings = get_settings()
    if args.push:
        from modelwatch.dashboard import push_metrics

        push_metrics(args.push, job=args.job)
        print(f"pushed the modelwatch metrics to {args.push} (job {args.job!r})")
        return 0
    from modelwatch.dashboard import main

    settings.ensure_home()
    problem = _cannot_listen(args.host, args.port)
    if problem:
        print(
            f"modelwatch: error: cannot listen on {args.host}:{args.port}: {problem}",
            file=sys.stderr,
        )
        return 2
    url = dashboard_url(args.host, args.port)
    print(f"modelwatch dashboard: open {url}  (metrics: {url}metrics; Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        main(args.host, args.port, settings=settings)
    return 0


def _cannot_listen(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, no such address), or None."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
