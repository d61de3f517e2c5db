"""Links out of the dashboard: MLflow UI, Prefect UI, and the dashboard's own file URLs.

Only ``http(s)`` bases become links (a ``sqlite:///`` tracking URI or a ``file://``
path is no place a browser can go); ids are URL-quoted, so a value from the store
cannot change the link's path or host.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit
from urllib.request import url2pathname

__all__ = [
    "data_docs_url",
    "data_docs_url_for",
    "mlflow_model_url",
    "mlflow_run_url",
    "mlflow_version_url",
    "prefect_flow_run_url",
    "prefect_ui_base",
    "report_url",
]


def _http_base(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url.strip().rstrip("/")


def mlflow_model_url(tracking_uri: str | None, model: str) -> str | None:
    """The registered model's page in the MLflow UI (``#/models/<name>``)."""
    base = _http_base(tracking_uri)
    return f"{base}/#/models/{quote(model, safe='')}" if base else None


def mlflow_version_url(tracking_uri: str | None, model: str, version: object) -> str | None:
    """A model version's page in the MLflow UI (``#/models/<name>/versions/<v>``)."""
    base = _http_base(tracking_uri)
    text = str(version)
    if not base or not text.isdigit():
        return None
    return f"{base}/#/models/{quote(model, safe='')}/versions/{text}"


def mlflow_run_url(tracking_uri: str | None, run_id: object) -> str | None:
    """A run's page in the MLflow UI (``#/runs/<id>``: the UI finds its experiment)."""
    base = _http_base(tracking_uri)
    text = str(run_id)
    if not base or not text.isalnum():
        return None
    return f"{base}/#/runs/{text}"


def prefect_ui_base(env: Mapping[str, str] | None = None) -> str | None:
    """``PREFECT_UI_URL``, else ``PREFECT_API_URL`` without its ``/api`` suffix (http(s) only)."""
    env = os.environ if env is None else env
    ui = _http_base(env.get("PREFECT_UI_URL"))
    if ui:
        return ui
    api = _http_base(env.get("PREFECT_API_URL"))
    if api and api.endswith("/api"):
        return api[: -len("/api")]
    return api


def prefect_flow_run_url(base: str | None, flow_run_id: object) -> str | None:
    """``<Prefect UI>/runs/flow-run/<id>`` when the UI is known and the id looks like one."""
    text = str(flow_run_id or "")
    if not base or not text or not all(c.isalnum() or c == "-" for c in text):
        return None
    return f"{base}/runs/flow-run/{text}"


def report_url(model: str, file_name: str, *, base: str = "") -> str:
    """The dashboard URL of a window's HTML report: ``<base>/reports/<model>/<file>``."""
    return f"{base.rstrip('/')}/reports/{quote(model, safe='')}/{quote(file_name, safe='')}"


def data_docs_url(relative: str, *, base: str = "") -> str:
    """The dashboard URL of a Data Docs file (path relative to the ``local_site`` folder)."""
    return f"{base.rstrip('/')}/data-docs/{quote(relative.lstrip('/'), safe='/')}"


def data_docs_url_for(location: str | Path, *, data_docs_dir: Path, base: str) -> str | None:
    """The dashboard URL of a Data Docs page given as a ``file://`` URL or a path.

    ``data_docs_dir`` is ``settings.data_docs_dir`` (the GX project root, the site is
    ``gx/uncommitted/data_docs/local_site`` in it). None when the page is not inside
    that site (then keep the file link). Example: ``file:///home/mw/data_docs/gx/
    uncommitted/data_docs/local_site/validations/credit/r/t/p.html`` →
    ``<base>/data-docs/validations/credit/r/t/p.html``.
    """
    from modelwatch.dashboard.files import DATA_DOCS_SITE

    text = str(location)
    if text.startswith("file:"):
        text = url2pathname(urlsplit(text).path)
    site = (Path(data_docs_dir) / DATA_DOCS_SITE).resolve()
    try:
        relative = Path(text).resolve().relative_to(site)
    except ValueError:
        return None
    return data_docs_url(relative.as_posix(), base=base)
