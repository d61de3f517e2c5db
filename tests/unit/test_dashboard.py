"""The dashboard (modelwatch.dashboard) over a store filled with two models' windows.

Pages answer with the stored numbers, hostile names and texts are escaped, files
outside the reports / Data Docs roots are refused, ``/metrics`` parses with the
Prometheus text parser and carries the newest window's values.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli import dashboard as dashboard_cli
from modelwatch.dashboard import create_app, loopback_hosts, push_metrics
from modelwatch.dashboard.files import DATA_DOCS_SITE, offline_data_docs, resolve_inside
from modelwatch.dashboard.links import (
    data_docs_url_for,
    mlflow_version_url,
    prefect_flow_run_url,
    prefect_ui_base,
)
from modelwatch.io.alert_episodes import record_degraded
from modelwatch.io.reports import report_path
from modelwatch.io.store import RunRecord, Store
from modelwatch.settings import Settings

with warnings.catch_warnings():  # starlette suggests httpx2; the httpx client works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
HOSTILE = "<script>document.body.dataset.pwned=1</script>"
HOSTILE_REASON = '<img src=x onerror="document.body.dataset.pwned=2">'
FLOW_RUN = "0b7c7f3e-1d2a-4a43-9a8e-5f0e6c1d2b3a"

#: credit: 4 windows; v1 serves 0-1, v2 serves 2-3; window 2 is degraded
CREDIT = [
    # realized, estimated, champion, status, share
    (0.80, 0.79, "1", "ok", 0.0),
    (0.78, 0.77, "1", "ok", 0.25),
    (0.60, 0.70, "2", "degraded", 0.75),
    (0.82, 0.81, "2", "ok", 0.5),
]


def _drift(i: int) -> list[dict[str, Any]]:
    return [
        {
            "column_name": "income",
            "method": "psi",
            "statistic": 0.01 * (i + 1),
            "p_value": None,
            "threshold": 0.02,
            "drifted": 0.01 * (i + 1) > 0.02,
            "missing_share_current": 0.0,
            "unseen_categories": "",
        },
        {
            "column_name": HOSTILE,
            "method": "chi2",
            "statistic": 3.5,
            "p_value": 0.001 if i >= 2 else 0.4,
            "threshold": 0.05,
            "drifted": i >= 2,
            "missing_share_current": 0.0,
            "unseen_categories": HOSTILE,
        },
    ]


def _credit_run(i: int) -> RunRecord:
    realized, estimated, champion, status, share = CREDIT[i]
    start = T0 + timedelta(hours=i)
    return RunRecord(
        model="credit",
        window_start=start,
        window_end=start + timedelta(hours=1),
        status=status,
        validation_passed=True,
        n_rows=1000 + i,
        n_labeled=800 + i,
        bad=status == "degraded",
        reason=HOSTILE_REASON if i == 3 else f"window {i}",
        share_drifted=share,
        threshold=0.70 if champion == "1" else 0.72,
        champion_version=champion,
        flow_run_id=FLOW_RUN if i == 3 else None,
        metrics=[
            {
                "name": "roc_auc",
                "kind": "realized",
                "segment": None,
                "value": realized,
                "ci_low": realized - 0.03,
                "ci_high": realized + 0.03,
                "n": 800,
            },
            {
                "name": "roc_auc",
                "kind": "estimated",
                "segment": None,
                "value": estimated,
                "ci_low": estimated - 0.02,
                "ci_high": estimated + 0.02,
                "n": 1000,
            },
            {  # serving health (modelwatch.stats.serving_health)
                "name": "latency_p95_ms",
                "kind": "serving",
                "segment": None,
                "value": 40.0 + i,
                "ci_low": 38.0 + i,
                "ci_high": 42.0 + i,
                "n": 1000,
            },
            {  # a segment row: never the overall value
                "name": "roc_auc",
                "kind": "realized",
                "segment": "region=north",
                "value": 0.1,
                "ci_low": None,
                "ci_high": None,
                "n": 50,
            },
        ],
        drift=_drift(i),
        validation=[
            {
                "expectation": "expect_column_values_to_not_be_null",
                "column_name": "income",
                "severity": "warning",
                "success": i != 3,
                "observed": None,
            },
            {
                "expectation": "expect_table_row_count_to_be_between",
                "column_name": None,
                "severity": "critical",
                "success": True,
                "observed": "1000",
            },
        ],
    )


def _fraud_run(i: int) -> RunRecord:
    start = T0 + timedelta(hours=i)
    return RunRecord(
        model="fraud",
        window_start=start,
        window_end=start + timedelta(hours=1),
        status="degraded",
        validation_passed=True,
        n_rows=50,
        n_labeled=0,
        bad=True,
        reason="dataset drift",
        share_drifted=1.0,
        champion_version="3",
        metrics=[
            {
                "name": "f1",
                "kind": "estimated",
                "segment": None,
                "value": 0.4 + i / 10,
                "ci_low": None,
                "ci_high": None,
                "n": 50,
            },
        ],
    )


class Home:
    """A home with a filled store, two specs, one report and a small Data Docs site."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.settings = Settings(
            home=root / "home", specs_dir=root / "specs", tracking_uri="http://mlflow.test:5000"
        )
        self.settings.ensure_home()
        self.specs = self.settings.specs_dir
        self.specs.mkdir()
        for name in ("credit", "house"):
            shutil.copy(
                REPO / "deployments" / "specs" / f"{name}.yaml", self.specs / f"{name}.yaml"
            )
        self.url = self.settings.resolved_store_url
        store = Store(self.url)
        store.upgrade_schema()
        with store:
            for i in range(len(CREDIT)):
                store.save_run(_credit_run(i))
            for i in range(2):
                store.save_run(_fraud_run(i))
            store.save_decision(
                "credit",
                kind="retrain",
                outcome="challenger-registered",
                details={"version": "2", "reason": HOSTILE_REASON},
                flow_run_id=FLOW_RUN,
            )
            store.save_decision(
                "credit", kind="promotion", outcome="promoted", details={"version": "2"}
            )
            record_degraded(store, "fraud", window_start=T0, champion_version="3", repeat_hours=6.0)
        self.report = report_path(
            reports_dir=self.settings.reports_dir,
            model="credit",
            window_start=T0 + timedelta(hours=3),
        )
        self.report.parent.mkdir(parents=True)
        self.report.write_text("<html><body><h1>credit window 3 report</h1></body></html>")
        (self.settings.reports_dir / "secret.html").write_text("not a model's report")
        self.site = self.settings.data_docs_dir / DATA_DOCS_SITE
        (self.site / "static" / "images").mkdir(parents=True)
        (self.site / "index.html").write_text(DATA_DOCS_INDEX)
        (self.site / "static" / "images" / "logo-long.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
        (self.settings.data_docs_dir / "gx" / "great_expectations.yml").write_text("secret: 1")
        (root / "outside.html").write_text("outside the roots")

    def client(self, **kwargs: Any) -> TestClient:
        return TestClient(create_app(self.settings, **kwargs))


DATA_DOCS_INDEX = """<!DOCTYPE html><html><head>
<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<link rel="stylesheet" type="text/css" href="https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css">
<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
<script src="https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js"></script>
<style>.x { background: url('https://great-expectations-web-assets.s3.amazonaws.com/a.png') 0 0; }</style>
</head><body>
<img class="NO-CACHE" src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1" alt="GX"/>
<table id="t" data-toggle="table"></table>
<script>$('#t').bootstrapTable({columns: [{field: 'a', title: 'A'}], data: [{a: 'row-one'}]});</script>
</body></html>"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return Home(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def client(home: Home) -> Iterator[TestClient]:
    with home.client(prefect_ui="http://prefect.test:4200") as c:
        yield c


class _Table(HTMLParser):
    """Text of the cells of the table with id ``table_id``: a list of rows of cell texts."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside = table_id, False
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("id", self.table_id) in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag == "td" and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _table(page: str, table_id: str) -> list[list[str]]:
    parser = _Table(table_id)
    parser.feed(page)
    return [row for row in parser.rows if row]


def _chart(page: str) -> dict[str, Any]:
    block = re.search(r'<script type="application/json" id="mw-data">(.*?)</script>', page, re.S)
    assert block is not None
    chart: dict[str, Any] = json.loads(block.group(1))
    return chart


def test_the_fleet_page_lists_every_model_with_its_newest_window(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    rows = {row[0].split()[0]: row for row in _table(response.text, "fleet")}
    assert sorted(rows) == ["credit", "fraud", "house"]  # specs ∪ store
    credit = rows["credit"]
    assert credit[1] == "v2"
    assert credit[2].startswith("2026-11-23 13:00")
    assert credit[3:8] == ["ok", "roc_auc", "0.82", "0.81", "50 %"]
    assert credit[8] == "no"
    fraud = rows["fraud"]
    assert "no spec" in fraud[0]
    assert fraud[3:8] == ["degraded", "f1", "–", "0.5", "100 %"]
    assert fraud[8] == "open since 2026-11-23 10:00"
    assert "never monitored" in rows["house"][2]
    assert 'href="/models/credit"' in response.text
    assert credit[10] == "report" and fraud[10] == ""  # the newest window's report, when written


def test_the_model_page_charts_metric_estimate_threshold_champions_and_drift(
    client: TestClient, home: Home
) -> None:
    response = client.get("/models/credit")
    assert response.status_code == 200
    chart = _chart(response.text)
    assert chart["x"] == [(T0 + timedelta(hours=i)).isoformat() for i in range(4)]
    assert chart["serving"]["latency_p95_ms"] == [40.0, 41.0, 42.0, 43.0]
    assert chart["serving"]["rows_per_hour"] == [None] * 4
    metric = chart["metric"]
    assert metric["name"] == "roc_auc"
    assert metric["realized"] == [0.80, 0.78, 0.60, 0.82]  # never the segment row
    assert metric["realized_low"] == pytest.approx([0.77, 0.75, 0.57, 0.79])
    assert metric["estimated_high"] == pytest.approx([0.81, 0.79, 0.72, 0.83])
    assert metric["threshold"] == [0.70, 0.70, 0.72, 0.72]  # each champion's own
    assert chart["bad"] == [False, False, True, False]
    assert chart["champion_changes"] == [
        {"x": (T0 + timedelta(hours=2)).isoformat(), "from": "1", "to": "2"}
    ]
    drift = chart["drift"]
    assert drift["columns"] == ["income", HOSTILE]
    assert drift["ratio"][0] == pytest.approx([0.5, 1.0, 1.5, 2.0])  # statistic / threshold
    assert drift["ratio"][1] == pytest.approx([0.125, 0.125, 2.0, 2.0])  # alpha / p, capped
    assert drift["drifted"] == [[False, False, True, True], [False, False, True, True]]
    assert drift["method"] == [["psi"] * 4, ["chi2"] * 4]
    assert drift["p_value"][1] == [0.4, 0.4, 0.001, 0.001] and drift["p_value"][0] == [None] * 4
    assert drift["statistic"][0] == pytest.approx([0.01, 0.02, 0.03, 0.04])
    assert drift["unseen"] == {f"1,{j}": HOSTILE for j in range(4)}
    assert chart["share"] == [0.0, 0.25, 0.75, 0.5]
    windows = _table(response.text, "windows")
    assert [w[0] for w in windows] == [f"2026-11-23 {h}:00" for h in (13, 12, 11, 10)]
    assert windows[0][1:9] == ["v2", "ok", "1003", "803", "0.82", "0.81", "0.72", "50 %"]
    validation = _table(response.text, "validation")
    assert validation[0][:4] == ["2026-11-23 13:00", "2", "0", "1"]
    assert "expect_column_values_to_not_be_null(income)" in validation[0][4]
    timeline = _table(response.text, "timeline")
    assert [t[1:3] for t in timeline] == [
        ["promotion", "promoted"],
        ["retrain", "challenger-registered"],
    ]


def test_the_model_page_links_reports_prefect_and_mlflow(client: TestClient, home: Home) -> None:
    page = client.get("/models/credit").text
    assert f'href="/reports/credit/{home.report.name}"' in page
    assert page.count('class="report-link"') == 1  # only windows whose report exists
    assert f'href="http://prefect.test:4200/runs/flow-run/{FLOW_RUN}"' in page
    assert 'href="http://mlflow.test:5000/#/models/credit"' in page
    assert 'href="http://mlflow.test:5000/#/models/credit/versions/2"' in page


def test_hostile_names_and_texts_are_escaped(client: TestClient) -> None:
    for path in ("/", "/models/credit"):
        page = client.get(path).text
        assert "<script>document" not in page
        assert "<img src=x" not in page
    page = client.get("/models/credit").text
    assert "&lt;img src=x onerror=" in page  # the reason, shown as text
    block = re.search(r'id="mw-data">(.*?)</script>', page, re.S)
    assert (
        block is not None
        and "</" not in block.group(1)
        and "\\u003cscript\\u003e" in block.group(1)
    )


@pytest.mark.parametrize(
    "path",
    ["/models/nosuch", "/models/%2E%2E", "/models/a%2F..%2Fb", "/models/.hidden", "/models/a%00"],
)
def test_an_unknown_or_invalid_model_is_not_found(client: TestClient, path: str) -> None:
    assert client.get(path).status_code in (400, 404)


def test_a_bad_windows_parameter_is_refused(client: TestClient) -> None:
    assert client.get("/models/credit?windows=0").status_code == 400
    assert client.get("/models/credit?windows=x").status_code == 400
    page = client.get("/models/credit?windows=2").text
    assert len(_chart(page)["x"]) == 2 and "Showing 2 of 4 windows" in page


def test_reports_are_served_and_nothing_outside_them(client: TestClient, home: Home) -> None:
    response = client.get(f"/reports/credit/{home.report.name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "script" not in response.headers["content-security-policy"].replace("'none'", "")
    assert "credit window 3 report" in response.text
    link = home.settings.reports_dir / "credit" / "link.html"
    link.symlink_to(home.root / "outside.html")
    (home.settings.reports_dir / "credit" / "notes.txt").write_text("x")
    for path in (
        "/reports/credit/..%2Fsecret.html",
        "/reports/credit/%2E%2E%2Fsecret.html",
        "/reports/..%2Fcredit/x.html",
        "/reports/credit/link.html",  # symlink escaping the root
        "/reports/credit/notes.txt",
        "/reports/credit/missing.html",
        "/reports/nosuch/x.html",
        "/reports/credit/.hidden.html",
    ):
        assert client.get(path).status_code in (400, 404), path


@pytest.mark.parametrize(
    "relative",
    [
        "",
        "../outside.html",
        "a/../../outside.html",
        "/etc/passwd",
        "x\\..\\y.html",
        ".env",
        "index.html\x00.png",
        "gx.yml",
        "static//x.png",
    ],
)
def test_resolve_inside_refuses_unsafe_paths(tmp_path: Path, relative: str) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "gx.yml").write_text("x")
    (tmp_path / "outside.html").write_text("x")
    assert resolve_inside(tmp_path / "root", relative) is None


def test_data_docs_are_served_with_local_assets_only(client: TestClient, home: Home) -> None:
    assert client.get("/data-docs/", follow_redirects=False).status_code == 307
    response = client.get("/data-docs/index.html")
    assert response.status_code == 200
    page = response.text
    assert "https://" not in page and "//code.jquery" not in page
    assert '<script src="/static/datadocs.js"></script>' in page
    assert 'src="/data-docs/static/images/logo-long.png"' in page
    assert "$('#t').bootstrapTable" in page  # the page's own table script stays
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'none'" in csp
    logo = client.get("/data-docs/static/images/logo-long.png")
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/png"
    for asset, kind in (("datadocs.js", "text/javascript"), ("datadocs.css", "text/css")):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
    (home.site / "escape.html").symlink_to(home.root / "outside.html")
    for path in (
        "/data-docs/..%2F..%2F..%2Fgreat_expectations.yml",
        "/data-docs/%2E%2E/%2E%2E/%2E%2E/great_expectations.yml",
        "/data-docs/escape.html",
        "/data-docs/static/images/missing.png",
    ):
        assert client.get(path).status_code in (400, 404), path


def test_offline_data_docs_drops_every_cdn_reference() -> None:
    page = offline_data_docs(DATA_DOCS_INDEX)
    assert "https:" not in page
    assert page.count("<script") == 2  # the local shim and the page's inline script
    assert "background: none 0 0" in page


def test_plotly_is_served_from_the_package(client: TestClient) -> None:
    response = client.get("/static/plotly.min.js")
    assert response.status_code == 200
    assert len(response.content) > 1_000_000 and b"plotly" in response.content[:2000].lower()
    assert client.get("/static/nosuch.js").status_code == 404


def _scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_carry_the_newest_window_of_every_model(client: TestClient) -> None:
    s = _scrape(client)
    assert _get(s, "modelwatch_store_up") == 1.0
    serving = _get(s, "modelwatch_metric_value", model="credit", metric="latency_p95_ms",
                   kind="serving")  # fmt: skip
    assert serving == 43.0  # the newest window (i = 3)
    assert (
        _get(s, "modelwatch_metric_value", model="credit", metric="roc_auc", kind="realized")
        == 0.82
    )
    assert (
        _get(s, "modelwatch_metric_value", model="credit", metric="roc_auc", kind="estimated")
        == 0.81
    )
    assert _get(s, "modelwatch_metric_value", model="fraud", metric="f1", kind="estimated") == 0.5
    assert _get(s, "modelwatch_metric_threshold", model="credit", metric="roc_auc") == 0.72
    assert (
        _get(s, "modelwatch_drift_statistic", model="credit", feature="income", method="psi")
        == 0.04
    )
    assert (
        _get(s, "modelwatch_drift_threshold", model="credit", feature=HOSTILE, method="chi2")
        == 0.05
    )
    assert (
        _get(s, "modelwatch_feature_drifted", model="credit", feature=HOSTILE, method="chi2") == 1.0
    )
    assert _get(s, "modelwatch_drifted_share", model="credit") == 0.5
    assert _get(s, "modelwatch_window_rows", model="credit") == 1003
    assert _get(s, "modelwatch_window_labeled_rows", model="credit") == 803
    assert _get(s, "modelwatch_validation_failures", model="credit") == 1
    assert _get(s, "modelwatch_degraded", model="credit") == 0
    assert _get(s, "modelwatch_degraded", model="fraud") == 1
    assert _get(s, "modelwatch_champion_version", model="credit") == 2
    end = (T0 + timedelta(hours=4)).timestamp()
    assert _get(s, "modelwatch_last_window_timestamp_seconds", model="credit") == end
    assert _get(s, "modelwatch_alert_episode_open", model="fraud") == 1
    assert _get(s, "modelwatch_alert_episode_open", model="credit") == 0
    assert _get(s, "modelwatch_alert_episode_open", model="house") == 0  # spec only
    assert ("modelwatch_window_rows", (("model", "house"),)) not in s


def test_metrics_are_read_from_the_store_at_scrape_time(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", specs_dir=tmp_path / "specs")
    settings.ensure_home()
    Store(settings.resolved_store_url).upgrade_schema()
    with TestClient(create_app(settings)) as client:
        assert not any(name == "modelwatch_window_rows" for name, _ in _scrape(client))
        with Store.open(settings.resolved_store_url) as store:
            store.save_run(_fraud_run(0))
        assert _get(_scrape(client), "modelwatch_window_rows", model="fraud") == 50
        with Store.open(settings.resolved_store_url) as store:
            store.save_run(_fraud_run(1))
        s = _scrape(client)
        assert (
            _get(s, "modelwatch_last_window_timestamp_seconds", model="fraud")
            == (T0 + timedelta(hours=2)).timestamp()
        )


def test_push_metrics_puts_the_scrape_to_a_pushgateway(home: Home) -> None:
    received: list[tuple[str, str, bytes]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.command, self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        push_metrics(
            f"http://127.0.0.1:{server.server_port}", store_url=home.url, specs_dir=home.specs
        )
    finally:
        server.shutdown()
        server.server_close()
    assert [(m, p) for m, p, _ in received] == [("PUT", "/metrics/job/modelwatch")]
    pushed = _samples(received[0][2].decode())
    assert _get(pushed, "modelwatch_degraded", model="fraud") == 1


def test_links_only_to_http_and_safe_ids() -> None:
    assert (
        prefect_ui_base({"PREFECT_API_URL": "http://127.0.0.1:4200/api"}) == "http://127.0.0.1:4200"
    )
    assert prefect_ui_base({"PREFECT_UI_URL": "https://p.example/", "PREFECT_API_URL": "x"}) == (
        "https://p.example"
    )
    assert prefect_ui_base({"PREFECT_API_URL": "file:///x"}) is None
    assert prefect_flow_run_url("http://p", "abc-1") == "http://p/runs/flow-run/abc-1"
    assert prefect_flow_run_url("http://p", "../x") is None
    assert mlflow_version_url("sqlite:///m.db", "credit", "2") is None
    assert mlflow_version_url("javascript:alert(1)//", "credit", "2") is None
    assert mlflow_version_url("http://m", "a b", "2") == "http://m/#/models/a%20b/versions/2"


def test_the_cli_registers_the_command_with_defaults() -> None:
    parser = argparse.ArgumentParser(prog="modelwatch")
    dashboard_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dashboard"])
    assert (args.host, args.port, args.push, args.func) == (
        "127.0.0.1",
        8765,
        None,
        dashboard_cli.dashboard,
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["dashboard", "--port", "70000"])
    assert dashboard_cli.dashboard_url("0.0.0.0", 9000) == "http://127.0.0.1:9000/"
    assert dashboard_cli.dashboard_url("::1", 9000) == "http://[::1]:9000/"


def test_the_grafana_dashboard_queries_only_exported_metrics(client: TestClient) -> None:
    board = json.loads((REPO / "deployments" / "grafana" / "modelwatch.json").read_text())
    assert [i["name"] for i in board["__inputs"]] == ["DS_PROMETHEUS"]
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in board["templating"]["list"]]
    used = {name for expr in exprs for name in re.findall(r"\bmodelwatch_\w+", expr)}
    exported = {name for name, _ in _scrape(client)}
    assert used and used <= exported, used - exported
    sources = {json.dumps(p["datasource"]) for p in board["panels"]}
    assert sources == {json.dumps({"type": "prometheus", "uid": "${DS_PROMETHEUS}"})}
    titles = " ".join(p["title"] for p in board["panels"]).lower()
    for panel in ("metric vs estimate", "drifted feature share", "degraded", "last window age"):
        assert panel in titles


def test_a_data_docs_file_link_becomes_a_dashboard_url(tmp_path: Path) -> None:
    site = tmp_path / "data_docs" / DATA_DOCS_SITE
    page = site / "validations" / "credit" / "run 1" / "20261123T100000Z" / "frame.html"
    base = "http://mw.internal:8765/"
    url = data_docs_url_for(page.as_uri(), data_docs_dir=tmp_path / "data_docs", base=base)
    assert url == (
        "http://mw.internal:8765/data-docs/validations/credit/run%201/20261123T100000Z/frame.html"
    )
    assert data_docs_url_for(
        site / "index.html", data_docs_dir=tmp_path / "data_docs", base=""
    ) == ("/data-docs/index.html")
    outside = (tmp_path / "elsewhere.html").as_uri()
    assert data_docs_url_for(outside, data_docs_dir=tmp_path / "data_docs", base=base) is None


def test_a_store_that_cannot_be_read_answers_503_and_store_up_0(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", specs_dir=tmp_path / "specs")
    settings.ensure_home()
    Store(settings.resolved_store_url).upgrade_schema()
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").text == "ok"
        store = Store(settings.resolved_store_url)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE monitor_runs RENAME TO monitor_runs_gone")
        store.dispose()
        response = client.get("/")
        assert response.status_code == 503 and "store is unavailable" in response.text
        s = _scrape(client)
        assert _get(s, "modelwatch_store_up") == 0.0
        assert not any(name == "modelwatch_alert_episode_open" for name, _ in s)


def test_a_loopback_dashboard_answers_only_loopback_host_names(home: Home) -> None:
    hosts = loopback_hosts("127.0.0.1", "http://mw.internal:8765")
    assert hosts is not None and {"127.0.0.1", "localhost", "mw.internal"} <= set(hosts)
    assert loopback_hosts("0.0.0.0") is None and loopback_hosts("10.1.2.3") is None
    with TestClient(
        create_app(home.settings, allowed_hosts=hosts), base_url="http://127.0.0.1:8765"
    ) as c:
        assert c.get("/").status_code == 200
        assert c.get("/", headers={"host": "mw.internal:8765"}).status_code == 200
        assert c.get("/", headers={"host": "attacker.example"}).status_code == 400  # DNS rebinding
