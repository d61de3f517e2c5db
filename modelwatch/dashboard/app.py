"""The dashboard web app (Starlette): fleet page, model pages, reports, Data Docs, /metrics.

Routes (the URL scheme other components link to):

* ``/`` — the fleet: every model (specs folder ∪ store) and its newest window
* ``/models/<model>?windows=N`` — a model's history (charts, decisions, episodes,
  validation, windows); the newest N windows (default 500, at most 10000; the tables
  list the newest 200)
* ``/reports/<model>/<file>.html`` — a window's HTML report
  (``$MODELWATCH_HOME/reports/<model>/<window start %Y-%m-%dT%H%M>.html``)
* ``/data-docs/<path>`` — the Great Expectations Data Docs site
  (``$MODELWATCH_HOME/data_docs/gx/uncommitted/data_docs/local_site/<path>``), CDN
  assets replaced by local ones (:mod:`modelwatch.dashboard.files`)
* ``/metrics`` — Prometheus text format (:mod:`modelwatch.dashboard.metrics`)
* ``/static/<asset>`` — plotly.min.js (from the plotly package), the page script and CSS
* ``/healthz`` — ``ok`` when the store answers

Every page is rendered by Jinja2 with autoescaping; the pages' Content-Security-Policy
allows scripts from this origin only (no inline script), reports get no script at all,
and Data Docs pages may only load from this origin. Store failures answer 503.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from modelwatch.dashboard import data, links
from modelwatch.dashboard.assets import ASSETS, plotly_js
from modelwatch.dashboard.files import (
    CONTENT_TYPES,
    DATA_DOCS_SITE,
    offline_data_docs,
    resolve_inside,
)
from modelwatch.dashboard.metrics import metrics_registry
from modelwatch.dashboard.templates import PAGES
from modelwatch.errors import SpecError, StoreError
from modelwatch.io.reports import report_path
from modelwatch.io.store import Store
from modelwatch.settings import Settings, get_settings
from modelwatch.spec import MonitorSpec, check_model_name

__all__ = ["DashboardConfig", "create_app"]

_log = logging.getLogger(__name__)

DEFAULT_WINDOWS = 500
MAX_WINDOWS = 10_000
#: rows of the windows / validation tables (the charts show every window asked for)
TABLE_ROWS = 200

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'; "
    "form-action 'self'"
)
REPORT_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "base-uri 'none'; frame-ancestors 'self'"
)
DATA_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'none'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'self'"
)
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"


@dataclass(frozen=True)
class DashboardConfig:
    """Where the dashboard reads from and links to."""

    store_url: str
    specs_dir: Path
    reports_dir: Path
    data_docs_dir: Path  # settings.data_docs_dir (the GX project root)
    tracking_uri: str | None = None
    prefect_ui: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DashboardConfig:
        values: dict[str, Any] = {
            "store_url": settings.resolved_store_url,
            "specs_dir": settings.resolved_specs_dir,
            "reports_dir": settings.reports_dir,
            "data_docs_dir": settings.data_docs_dir,
            "tracking_uri": settings.resolved_tracking_uri,
            "prefect_ui": links.prefect_ui_base(),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# -- formatting (Jinja filters) --------------------------------------------------------
def _num(value: Any) -> str:
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "–"
    return f"{number:.1f}" if abs(number) >= 100 else f"{number:.4g}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.0f} %"


def _ts(value: datetime | None, short: bool = False) -> str:
    if value is None:
        return "–"
    value = value.astimezone(UTC)
    return f"{value:%H:%M}" if short else f"{value:%Y-%m-%d %H:%M}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.DictLoader(PAGES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_num, pct=_pct, ts=_ts)
    env.globals["model_url"] = lambda name: f"/models/{quote(name, safe='')}"
    return env


# -- the model page's data -------------------------------------------------------------
def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _static_threshold(spec: MonitorSpec | None) -> float | None:
    """The spec's absolute threshold (``min_value`` / ``max_value``), when it sets one."""
    if spec is None:
        return None
    policy = spec.degradation
    value = policy.min_value if policy.higher_is_better else policy.max_value
    return None if value is None else float(value)


def _threshold(run: Mapping[str, Any], spec: MonitorSpec | None) -> float | None:
    stored = run.get("threshold")  # monitor_runs.threshold (revision 0004), when present
    return _finite(stored) if stored is not None else _static_threshold(spec)


def _drift_score(row: Mapping[str, Any]) -> float | None:
    """Statistic ÷ threshold (distances) or threshold ÷ p-value (tests): ≥ 1 is past it."""
    threshold, statistic, p_value = row["threshold"], row["statistic"], row["p_value"]
    if threshold is None or threshold <= 0:
        return None
    if p_value is not None:
        return 2.0 if p_value <= 0 else min(2.0, float(threshold) / float(p_value))
    return None if statistic is None else min(2.0, float(statistic) / float(threshold))


#: serving-health series of the model page (metric rows of kind ``serving``)
SERVING_SERIES = (
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "rows_per_hour",
    "error_share",
    "null_prediction_share",
)


def chart_data(history: data.ModelHistory) -> dict[str, Any]:
    """The JSON the model page's charts read (one entry per window, oldest first)."""
    runs = history.runs
    x = [r["window_start"].isoformat() for r in runs]
    metric: dict[str, Any] = {"name": history.metric or ""}
    for kind in ("realized", "estimated"):
        values, lows, highs = [], [], []
        for run in runs:
            row = next(
                (
                    m
                    for m in history.metrics.get(run["id"], [])
                    if m["name"] == history.metric and m["kind"] == kind
                ),
                None,
            )
            values.append(_finite(row["value"]) if row else None)
            lows.append(_finite(row["ci_low"]) if row else None)
            highs.append(_finite(row["ci_high"]) if row else None)
        metric[kind], metric[f"{kind}_low"], metric[f"{kind}_high"] = values, lows, highs
    metric["threshold"] = [_threshold(r, history.spec) for r in runs]
    serving: dict[str, list[float | None]] = {name: [] for name in SERVING_SERIES}
    for run in runs:
        found = {
            m["name"]: m["value"]
            for m in history.metrics.get(run["id"], [])
            if m["kind"] == "serving"
        }
        for name in SERVING_SERIES:
            serving[name].append(_finite(found.get(name)))
    changes = []
    for before, after in itertools.pairwise(runs):
        if after["champion_version"] != before["champion_version"]:
            changes.append(
                {
                    "x": after["window_start"].isoformat(),
                    "from": before["champion_version"],
                    "to": after["champion_version"],
                }
            )
    columns: list[str] = []
    seen: set[str] = set()
    for run in runs:
        for d in history.drift.get(run["id"], []):
            if d["column_name"] not in seen:
                seen.add(d["column_name"])
                columns.append(d["column_name"])
    index = {c: i for i, c in enumerate(columns)}
    ratio: list[list[float | None]] = [[None] * len(runs) for _ in columns]
    drifted: list[list[bool]] = [[False] * len(runs) for _ in columns]
    stat: list[list[float | None]] = [[None] * len(runs) for _ in columns]
    p_value: list[list[float | None]] = [[None] * len(runs) for _ in columns]
    threshold: list[list[float | None]] = [[None] * len(runs) for _ in columns]
    method: list[list[str | None]] = [[None] * len(runs) for _ in columns]
    unseen: dict[str, str] = {}  # "i,j" -> unseen categories (sparse)
    for j, run in enumerate(runs):
        for d in history.drift.get(run["id"], []):
            i = index[d["column_name"]]
            ratio[i][j] = _drift_score(d)
            drifted[i][j] = bool(d["drifted"])
            stat[i][j] = _finite(d["statistic"])
            p_value[i][j] = _finite(d["p_value"])
            threshold[i][j] = _finite(d["threshold"])
            method[i][j] = str(d["method"])
            if d.get("unseen_categories"):
                unseen[f"{i},{j}"] = str(d["unseen_categories"])[:200]
    return {
        "x": x,
        "metric": metric,
        "bad": [bool(r["bad"]) for r in runs],
        "hover": [
            f"{_ts(r['window_start'])} · v{r['champion_version'] or '?'} · {r['status']}"
            for r in runs
        ],
        "champion_changes": changes,
        "share": [_finite(r["share_drifted"]) for r in runs],
        "serving": serving,
        "rows": [r["n_rows"] for r in runs],
        "drift": {
            "columns": columns,
            "ratio": ratio,
            "drifted": drifted,
            "statistic": stat,
            "p_value": p_value,
            "threshold": threshold,
            "method": method,
            "unseen": unseen,
        },
    }


_SUMMARY_KEYS = (
    "reason",
    "version",
    "champion_version",
    "challenger_version",
    "champion",
    "previous",
    "metric",
    "champion_value",
    "challenger_value",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "episode",
    "error",
)
#: decision detail keys holding a model version (linked to its MLflow page)
_VERSION_KEYS = ("version", "challenger_version", "champion_version", "champion", "previous")


def _decision_rows(history: data.ModelHistory, config: DashboardConfig) -> list[dict[str, Any]]:
    rows = []
    for d in reversed(history.decisions):
        details = d["details"] if isinstance(d["details"], Mapping) else {}
        summary = "; ".join(
            f"{key}: {str(details[key])[:160]}"
            for key in _SUMMARY_KEYS
            if key in details and details[key] not in (None, "")
        )
        found: list[tuple[str, str]] = []
        prefect = links.prefect_flow_run_url(config.prefect_ui, d.get("flow_run_id"))
        if prefect:
            found.append(("flow run", prefect))
        for key in _VERSION_KEYS:
            url = links.mlflow_version_url(config.tracking_uri, history.model, details.get(key))
            if url and (f"v{details[key]}", url) not in found:
                found.append((f"v{details[key]}", url))
        for key in ("evidence_run_id", "mlflow_run_id", "run_id"):
            url = links.mlflow_run_url(config.tracking_uri, details.get(key))
            if url:
                found.append(("MLflow run", url))
                break
        rows.append(
            {
                "created_at": d["created_at"],
                "kind": d["kind"],
                "outcome": d["outcome"],
                "summary": summary,
                "json": json.dumps(details, indent=1, sort_keys=True, default=str)[:4000],
                "links": found,
            }
        )
    return rows


def _validation_rows(history: data.ModelHistory) -> list[dict[str, Any]]:
    rows = []
    for run in reversed(history.runs[-TABLE_ROWS:]):
        counts = history.validation_counts.get(run["id"])
        if not counts:
            continue
        failed = history.validation_failed.get(run["id"], [])
        rows.append(
            {
                "window_start": run["window_start"],
                **counts,
                "failed": [
                    f"{o['expectation']}({o['column_name']})"
                    if o["column_name"]
                    else o["expectation"]
                    for o in failed
                ][:12],
            }
        )
    return rows


def _window_rows(history: data.ModelHistory, config: DashboardConfig) -> list[dict[str, Any]]:
    rows = []
    for run in reversed(history.runs[-TABLE_ROWS:]):
        metrics = history.metrics.get(run["id"], [])

        def value(kind: str, metrics: list[dict[str, Any]] = metrics) -> float | None:
            return next(
                (
                    _finite(m["value"])
                    for m in metrics
                    if m["name"] == history.metric and m["kind"] == kind
                ),
                None,
            )

        path = report_path(
            reports_dir=config.reports_dir, model=history.model, window_start=run["window_start"]
        )
        rows.append(
            {
                "window_start": run["window_start"],
                "champion": run["champion_version"],
                "status": run["status"],
                "n_rows": run["n_rows"],
                "n_labeled": run["n_labeled"],
                "realized": value("realized"),
                "estimated": value("estimated"),
                "threshold": _threshold(run, history.spec),
                "share": run["share_drifted"],
                "reason": run["reason"],
                "report": links.report_url(history.model, path.name) if path.is_file() else None,
                "prefect": links.prefect_flow_run_url(config.prefect_ui, run["flow_run_id"]),
            }
        )
    return rows


# -- the app ---------------------------------------------------------------------------
def _headers(csp: str, *, cache: str = "no-store") -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": cache,
    }


def _not_found(what: str = "not found") -> Response:
    return PlainTextResponse(what, status_code=404, headers=_headers(FILE_CSP))


def _windows(request: Request) -> int | None:
    raw = request.query_params.get("windows")
    if raw is None:
        return DEFAULT_WINDOWS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WINDOWS:
        return None
    return int(raw)


def create_app(
    settings: Settings | str | None = None,
    *,
    specs_dir: Path | None = None,
    home: Path | None = None,
    tracking_uri: str | None = None,
    prefect_ui: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
) -> Starlette:
    """The dashboard app over ``settings`` (default: the environment's) or a store URL.

    ``allowed_hosts``: answer only requests whose ``Host`` header is one of these
    (``*.example.com`` patterns allowed; others get 400) — what keeps a page on another
    site from reading a loopback-bound dashboard through DNS rebinding. None: any host.

    A string is a store URL; the other paths then come from the environment's settings
    unless given (``home`` sets the reports and Data Docs folders). The store is opened
    (schema checked) here, so a bad URL or an outdated store fails at start.
    """
    if isinstance(settings, str):
        base = get_settings() if home is None else Settings(home=home)
        config = DashboardConfig.from_settings(
            base, store_url=settings, specs_dir=specs_dir, tracking_uri=tracking_uri
        )
    else:
        base = settings or (get_settings() if home is None else Settings(home=home))
        config = DashboardConfig.from_settings(base, specs_dir=specs_dir, tracking_uri=tracking_uri)
    if prefect_ui is not None:
        config = DashboardConfig(**{**config.__dict__, "prefect_ui": prefect_ui or None})
    store = Store.open(config.store_url)
    templates = _environment()
    registry = metrics_registry(store, config.specs_dir)
    docs_root = config.data_docs_dir / DATA_DOCS_SITE

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(now=_ts(datetime.now(UTC)) + " UTC", **context)
        return HTMLResponse(html, status_code=status, headers=_headers(PAGE_CSP))

    def fleet_page(request: Request) -> Response:
        rows = data.fleet(store, config.specs_dir)
        reports = {}
        for row in rows:
            if row.last is not None:
                path = report_path(
                    reports_dir=config.reports_dir,
                    model=row.model,
                    window_start=row.last["window_start"],
                )
                if path.is_file():
                    reports[row.model] = links.report_url(row.model, path.name)
        return page(
            "fleet.html",
            rows=rows,
            reports=reports,
            store_url=_safe_url(config.store_url),
            specs_dir=config.specs_dir,
        )

    def model_page(request: Request) -> Response:
        name = request.path_params["model"]
        try:
            check_model_name(name)
        except SpecError:
            return _not_found("unknown model")
        windows = _windows(request)
        if windows is None:
            return PlainTextResponse(
                f"windows must be an integer in [1, {MAX_WINDOWS}]", status_code=400
            )
        history = data.model_history(store, name, config.specs_dir, windows=windows)
        if history is None:
            return _not_found("unknown model")
        champion = history.runs[-1]["champion_version"] if history.runs else None
        return page(
            "model.html",
            h=history,
            chart=chart_data(history),
            decisions=_decision_rows(history, config),
            validation=_validation_rows(history),
            windows=_window_rows(history, config),
            champion=champion,
            champion_link=links.mlflow_version_url(config.tracking_uri, name, champion),
            mlflow_model=links.mlflow_model_url(config.tracking_uri, name),
            max_windows=MAX_WINDOWS,
            table_rows=TABLE_ROWS,
        )

    def report(request: Request) -> Response:
        model, file = request.path_params["model"], request.path_params["file"]
        try:
            check_model_name(model)
        except SpecError:
            return _not_found()
        if not file.endswith(".html"):
            return _not_found()
        path = resolve_inside(config.reports_dir, f"{model}/{file}")
        if path is None:
            return _not_found()
        return Response(
            path.read_bytes(), media_type=CONTENT_TYPES[".html"], headers=_headers(REPORT_CSP)
        )

    def data_docs(request: Request) -> Response:
        relative = request.path_params.get("path", "")
        if relative in ("", "/"):
            return RedirectResponse("/data-docs/index.html", status_code=307)
        path = resolve_inside(docs_root, relative)
        if path is None:
            if relative == "index.html":
                return _not_found(
                    "No Data Docs yet: they are built by the validate step of a monitor run."
                )
            return _not_found()
        suffix = path.suffix.lower()
        if suffix == ".html":
            text = offline_data_docs(path.read_text(encoding="utf-8", errors="replace"))
            return HTMLResponse(text, headers=_headers(DATA_DOCS_CSP))
        csp = FILE_CSP if suffix == ".svg" else DATA_DOCS_CSP
        return Response(path.read_bytes(), media_type=CONTENT_TYPES[suffix], headers=_headers(csp))

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        cache = "public, max-age=3600"
        if name == "plotly.min.js":
            return Response(
                plotly_js(),
                media_type=CONTENT_TYPES[".js"],
                headers=_headers(FILE_CSP, cache=cache),
            )
        if name not in ASSETS:
            return _not_found()
        media, body = ASSETS[name]
        return Response(body, media_type=media, headers=_headers(FILE_CSP, cache=cache))

    def metrics(request: Request) -> Response:
        return Response(
            generate_latest(registry), media_type=CONTENT_TYPE_LATEST, headers=_headers(FILE_CSP)
        )

    def health(request: Request) -> Response:
        data.stored_names(store)
        return PlainTextResponse("ok")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.dispose()

    async def store_failure(request: Request, exc: Exception) -> Response:
        _log.warning("dashboard: %s", str(exc).splitlines()[0])
        return PlainTextResponse(
            "The monitoring store is unavailable; try again shortly.", status_code=503
        )

    app = Starlette(
        routes=[
            Route("/", fleet_page),
            Route("/models/{model}", model_page),
            Route("/reports/{model}/{file}", report),
            Route("/data-docs", data_docs),
            Route("/data-docs/{path:path}", data_docs),
            Route("/static/{name}", static),
            Route("/metrics", metrics),
            Route("/healthz", health),
        ],
        lifespan=lifespan,
        exception_handlers={StoreError: store_failure},
        middleware=(
            [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))]
            if allowed_hosts is not None
            else []
        ),
    )
    app.state.config = config
    app.state.store = store
    return app


def _safe_url(url: str) -> str:
    """The store URL without its password (shown on the fleet page)."""
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # display only
        return "(store)"
