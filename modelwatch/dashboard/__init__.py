"""The modelwatch dashboard: a small Starlette app over the monitoring store.

``modelwatch dashboard`` (:func:`main`) serves it with uvicorn on 127.0.0.1:8765 by
default. Pages: the fleet (``/``), a model's history (``/models/<model>``), the
window reports (``/reports/<model>/<file>.html``), the Great Expectations Data Docs
(``/data-docs/index.html``, CDN assets replaced by local ones) and Prometheus
metrics (``/metrics``); :func:`push_metrics` pushes the same metrics to a
Pushgateway. The app only reads: the store, the specs folder and the home's files.

Importing this package imports no web framework; :func:`create_app` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "create_app",
    "loopback_hosts",
    "main",
    "push_metrics",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def create_app(*args: Any, **kwargs: Any) -> Starlette:
    """See :func:`modelwatch.dashboard.app.create_app`."""
    from modelwatch.dashboard.app import create_app as _create_app

    return _create_app(*args, **kwargs)


def push_metrics(gateway_url: str, **kwargs: Any) -> None:
    """See :func:`modelwatch.dashboard.metrics.push_metrics`."""
    from modelwatch.dashboard.metrics import push_metrics as _push

    _push(gateway_url, **kwargs)


def loopback_hosts(host: str, dashboard_url: str | None = None) -> list[str] | None:
    """``Host`` headers a dashboard bound to ``host`` accepts: for a loopback address its
    names (and the host of ``MODELWATCH_DASHBOARD_URL``, for a proxy in front), else any (None)."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return None
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]", host]
    if dashboard_url and urlsplit(dashboard_url).hostname:
        hosts.append(str(urlsplit(dashboard_url).hostname))
    return sorted(set(hosts))


def main(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **kwargs: Any) -> None:
    """Serve the dashboard with uvicorn until interrupted (``kwargs``: :func:`create_app`'s).

    Bound to a loopback address, it answers only loopback ``Host`` names (and the host of
    ``MODELWATCH_DASHBOARD_URL``): :func:`loopback_hosts`.
    """
    import uvicorn

    from modelwatch.settings import get_settings

    if "allowed_hosts" not in kwargs:
        settings = kwargs.get("settings") or get_settings()
        kwargs["allowed_hosts"] = loopback_hosts(host, getattr(settings, "dashboard_url", None))
    app = create_app(**kwargs)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
