"""Static assets served under ``/static/``: the dashboard's CSS and chart script, the
Data Docs offline stylesheet and jQuery subset, and plotly.js from the installed
``plotly`` package (never a CDN)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Final

__all__ = ["ASSETS", "plotly_js"]


@cache
def plotly_js() -> bytes:
    """plotly.min.js as shipped inside the ``plotly`` Python package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if path.is_file():
        return path.read_bytes()
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


DASHBOARD_CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{display:flex;gap:1.5em;align-items:center;padding:.6em 1.2em;background:#1d2330;color:#fff}
header a{color:#cfe0ff;text-decoration:none;margin-right:1em}.brand{font-weight:700;color:#fff!important}
.now{margin-left:auto;color:#aab;font-size:.85em}
main{padding:1em 1.5em}h1 small{font-size:.5em;color:#667}
section{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:.6em 1em;margin:1em 0}
h2{font-size:1.05em;margin:.3em 0 .6em}
table.grid{border-collapse:collapse;width:100%;background:#fff;font-size:.9em}
table.grid th,table.grid td{border-bottom:1px solid #e6e8eb;padding:.35em .5em;text-align:left;vertical-align:top}
table.grid th{background:#eef0f3;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.reason{max-width:36em;color:#334;font-size:.9em}
.badge{display:inline-block;padding:.05em .5em;border-radius:9px;font-size:.85em;background:#dde3ea}
.badge-ok,.badge-promoted,.badge-challenger-wins,.badge-challenger-registered{background:#d6f2dd;color:#135c2a}
.badge-degraded,.badge-failed,.badge-conflict{background:#fbd9d6;color:#8a1c12}
.badge-quarantined,.badge-cooldown,.badge-champion-stays{background:#fff0c7;color:#6b4d00}
.muted{color:#778}.warn{color:#8a1c12;margin-left:.4em}.empty{color:#556;font-style:italic}
.chip{display:inline-block;background:#f0f2f5;border-radius:4px;padding:0 .4em;margin:.1em;font-size:.85em}
.chart{width:100%;height:360px}.chart.tall{height:420px}.chart.short{height:260px}
pre{white-space:pre-wrap;word-break:break-all;font-size:.8em;max-height:20em;overflow:auto}
"""

#: the model page's charts, from the JSON block #mw-data (no inline script: CSP script-src 'self')
DASHBOARD_JS: Final = r"""
"use strict";
(function () {
  // plotly reads a few HTML-like tags in text (<b>, <br>, <a href>): every text from the
  // store is given to it entity-escaped, so a name like <script> or <a href=...> stays text
  function esc(s) {
    return String(s == null ? "" : s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  function fmt(v) { return v == null ? "–" : (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4)); }
  function band(x, lo, hi, color, name) {
    var xs = [], ys = [];
    for (var i = 0; i < x.length; i++) if (lo[i] != null && hi[i] != null) { xs.push(x[i]); ys.push(hi[i]); }
    for (var j = x.length - 1; j >= 0; j--) if (lo[j] != null && hi[j] != null) { xs.push(x[j]); ys.push(lo[j]); }
    return { x: xs, y: ys, fill: "toself", fillcolor: color, line: { width: 0 }, hoverinfo: "skip",
             name: name, type: "scatter", mode: "lines", showlegend: true };
  }
  function championShapes(d) {
    var shapes = [], notes = [];
    d.champion_changes.forEach(function (c) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: c.x, x1: c.x, y0: 0, y1: 1,
                    line: { color: "#7a4fd6", width: 1.5, dash: "dot" } });
      notes.push({ x: c.x, xref: "x", y: 1, yref: "paper", yanchor: "bottom", showarrow: false,
                   text: esc("v" + c.to), font: { color: "#7a4fd6", size: 11 } });
    });
    return { shapes: shapes, annotations: notes };
  }
  function metricChart(d) {
    var m = d.metric, traces = [];
    if (m.realized.some(function (v) { return v != null; })) {
      traces.push(band(d.x, m.realized_low, m.realized_high, "rgba(31,119,180,0.18)", "realized CI"));
      traces.push({ x: d.x, y: m.realized, name: "realized " + esc(m.name), type: "scatter",
                    mode: "lines+markers", line: { color: "#1f77b4" },
                    marker: { color: d.bad.map(function (b) { return b ? "#d62728" : "#1f77b4"; }), size: 7 },
                    customdata: d.hover.map(esc), hovertemplate: "%{customdata}<br>realized %{y:.4f}<extra></extra>" });
    }
    if (m.estimated.some(function (v) { return v != null; })) {
      traces.push(band(d.x, m.estimated_low, m.estimated_high, "rgba(255,127,14,0.15)", "estimated band"));
      traces.push({ x: d.x, y: m.estimated, name: "estimated (CBPE)", type: "scatter", mode: "lines+markers",
                    line: { color: "#ff7f0e", dash: "dash" }, marker: { size: 5 },
                    customdata: d.hover.map(esc), hovertemplate: "%{customdata}<br>estimated %{y:.4f}<extra></extra>" });
    }
    if (m.threshold.some(function (v) { return v != null; })) {
      traces.push({ x: d.x, y: m.threshold, name: "threshold", type: "scatter", mode: "lines",
                    line: { color: "#d62728", dash: "dot", shape: "hv" }, connectgaps: false,
                    hovertemplate: "threshold %{y:.4f}<extra></extra>" });
    }
    var cs = championShapes(d);
    Plotly.newPlot("chart-metric", traces, {
      margin: { t: 30, r: 20, b: 40, l: 55 }, hovermode: "x unified", shapes: cs.shapes,
      annotations: cs.annotations, yaxis: { title: { text: esc(m.name) } }, legend: { orientation: "h" }
    }, { responsive: true, displaylogo: false });
  }
  // hover text of each cell, built here from the numbers (keeps the page's JSON small)
  function driftHover(f) {
    return f.statistic.map(function (row, i) {
      return row.map(function (s, j) {
        var m = f.method[i][j];
        if (m == null) return "";
        var parts = [esc(m) + ": statistic " + fmt(s)];
        if (f.p_value[i][j] != null) parts.push("p " + fmt(f.p_value[i][j]) + " (\u03b1 " + fmt(f.threshold[i][j]) + ")");
        else parts.push("threshold " + fmt(f.threshold[i][j]));
        parts.push(f.drifted[i][j] ? "DRIFTED" : "no drift");
        var u = f.unseen[i + "," + j];
        if (u) parts.push("unseen: " + esc(u));
        return parts.join(" \u00b7 ");
      });
    });
  }
  function driftChart(d) {
    var f = d.drift;
    if (!f.columns.length) { document.getElementById("chart-drift").textContent = "No drift results."; return; }
    var marks = { x: [], y: [], type: "scatter", mode: "markers", name: "drifted", hoverinfo: "skip",
                  marker: { symbol: "x-thin", size: 8, line: { width: 2, color: "#111" } } };
    f.drifted.forEach(function (row, i) {
      row.forEach(function (v, j) { if (v) { marks.x.push(d.x[j]); marks.y.push(esc(f.columns[i])); } });
    });
    var trace = { type: "heatmap", x: d.x, y: f.columns.map(esc), z: f.ratio, customdata: driftHover(f),
                  hovertemplate: "%{y}<br>%{x}<br>%{customdata}<extra></extra>", zmin: 0, zmax: 2,
                  colorscale: [[0, "#f7fbff"], [0.5, "#fdae6b"], [1, "#a50f15"]],
                  colorbar: { title: { text: "stat ÷ thr" } } };
    var cs = championShapes(d);
    Plotly.newPlot("chart-drift", [trace, marks], {
      margin: { t: 30, r: 20, b: 40, l: 160 }, shapes: cs.shapes, annotations: cs.annotations,
      yaxis: { automargin: true, type: "category", autorange: "reversed" }, showlegend: false
    }, { responsive: true, displaylogo: false });
  }
  function shareChart(d) {
    Plotly.newPlot("chart-share", [
      { x: d.x, y: d.share, name: "drifted share", type: "scatter", mode: "lines+markers", line: { color: "#9467bd" } },
      { x: d.x, y: d.rows, name: "rows", type: "bar", yaxis: "y2", marker: { color: "rgba(120,120,120,0.25)" } }
    ], { margin: { t: 20, r: 55, b: 40, l: 55 }, yaxis: { title: { text: "drifted share" }, range: [0, 1] },
         yaxis2: { overlaying: "y", side: "right", title: { text: "rows" } }, legend: { orientation: "h" } },
       { responsive: true, displaylogo: false });
  }
  function servingChart(d) {
    var s = d.serving || {};
    var has = function (k) { return (s[k] || []).some(function (v) { return v !== null; }); };
    if (!has("latency_p95_ms") && !has("rows_per_hour")) {
      document.getElementById("chart-serving").textContent = "No serving-health values.";
      return;
    }
    var traces = [];
    [["latency_p50_ms", "p50"], ["latency_p95_ms", "p95"], ["latency_p99_ms", "p99"]].forEach(function (p) {
      if (has(p[0])) traces.push({ x: d.x, y: s[p[0]], name: "latency " + p[1] + " (ms)", type: "scatter", mode: "lines+markers" });
    });
    if (has("rows_per_hour")) traces.push({ x: d.x, y: s.rows_per_hour, name: "rows per hour", type: "bar", yaxis: "y2", marker: { color: "rgba(120,120,120,0.25)" } });
    Plotly.newPlot("chart-serving", traces, { margin: { t: 20, r: 55, b: 40, l: 55 },
      yaxis: { title: { text: "latency (ms)" } }, yaxis2: { overlaying: "y", side: "right", title: { text: "rows per hour" } },
      legend: { orientation: "h" } }, { responsive: true, displaylogo: false });
  }
  function start() {
    var node = document.getElementById("mw-data");
    if (!node || typeof Plotly === "undefined") return;
    var d = JSON.parse(node.textContent);
    if (!d.x.length) return;
    metricChart(d); driftChart(d); shareChart(d); servingChart(d);
    document.body.setAttribute("data-charts", "ready");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
"""

#: replaces Bootstrap / bootstrap-table / Font Awesome for the Data Docs pages (offline)
DATADOCS_CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212529;line-height:1.45}
a{color:#0b5ed7}.container-fluid{padding:0 1.2rem}.row{display:flex;flex-wrap:wrap}
[class*="col-"]{box-sizing:border-box;padding:0 .6rem;flex:1 1 100%}
@media (min-width:768px){.col-md-2{flex:0 0 16.6%;max-width:16.6%}.col-md-10{flex:0 0 83.3%;max-width:83.3%}
.col-md-6{flex:0 0 50%;max-width:50%}.col-md-4{flex:0 0 33.3%;max-width:33.3%}.col-md-8{flex:0 0 66.6%;max-width:66.6%}}
.navbar{display:flex;align-items:center;padding:.4rem 1rem;border-bottom:1px solid #dee2e6;background:#fff}
table{border-collapse:collapse;margin:.4rem 0;width:100%}th,td{border:1px solid #dee2e6;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f5}.table-sm td,.table-sm th{padding:.2rem .4rem}tr.clickable-row{cursor:pointer}tr.clickable-row:hover{background:#eef4ff}
.alert{padding:.6rem 1rem;border:1px solid #d6d8db;border-radius:4px;margin:.5rem 0;background:#f8f9fa}
.alert-secondary{background:#e2e3e5}.alert-info{background:#d1ecf1}.card{border:1px solid #dee2e6;border-radius:4px;margin:.5rem 0}
.card-header{background:#f1f3f5;padding:.4rem .8rem;border-bottom:1px solid #dee2e6}.card-body{padding:.6rem .8rem}
.nav-tabs{display:flex;list-style:none;padding:0;margin:0 0 .5rem;border-bottom:1px solid #dee2e6}
.nav-link{display:block;padding:.4rem .9rem;text-decoration:none}.nav-link.active{border:1px solid #dee2e6;border-bottom-color:#fff;border-radius:4px 4px 0 0;background:#fff;margin-bottom:-1px}
.tab-pane{display:none}.tab-pane.active{display:block}.collapse:not(.show){display:none}
.d-none,.invisible,.fixed-bottom{display:none!important}.text-success{color:#198754}.text-danger{color:#dc3545}.text-warning{color:#b8860b}
.btn{display:inline-block;padding:.2rem .6rem;border:1px solid #adb5bd;border-radius:4px;background:#f8f9fa;color:#212529;text-decoration:none;cursor:pointer}
.cooltip{position:relative}.cooltip .top{display:none;position:absolute;z-index:5;background:#fff;border:1px solid #ccc;padding:.4rem;white-space:pre;font-size:.8em}
.cooltip:hover .top{display:block}
.fas::before,.fa::before,.far::before{font-style:normal}.fa-check-circle::before{content:"\\2714"}.fa-times-circle::before,.fa-times::before{content:"\\2718"}
.fa-question-circle::before{content:"?"}.fa-info-circle::before{content:"i"}.fa-exclamation-triangle::before{content:"\\26A0"}
.ge-success-icon{color:#198754}.mw-offline-note{font-size:.8em;color:#6c757d;padding:.2rem 1.2rem}
"""

#: a jQuery subset for the Data Docs pages: bootstrapTable (the index tables from their
#: inline data), ready/on/each/data/addClass/removeClass/fadeIn/fadeOut/parent, tabs, collapse
DATADOCS_JS: Final = r"""
"use strict";
(function () {
  function Q(nodes) { this.nodes = nodes; this.length = nodes.length; }
  var readyQueue = [];
  function onReady(fn) { if (document.readyState !== "loading") fn(); else readyQueue.push(fn); }
  document.addEventListener("DOMContentLoaded", function () { readyQueue.splice(0).forEach(function (f) { f(); }); });
  function $(sel) {
    if (typeof sel === "function") { onReady(sel); return new Q([]); }
    if (sel === document || sel === window || (sel && sel.nodeType)) return new Q([sel]);
    if (sel instanceof Q) return sel;
    if (typeof sel === "string") { try { return new Q(Array.prototype.slice.call(document.querySelectorAll(sel))); } catch (e) { return new Q([]); } }
    return new Q([]);
  }
  var P = Q.prototype;
  P.ready = function (fn) { onReady(fn); return this; };
  P.each = function (fn) { this.nodes.forEach(function (n, i) { fn.call(n, i, n); }); return this; };
  P.on = function (evt, fn) {
    this.nodes.forEach(function (n) { n.addEventListener(evt, function (e) { fn.apply(n, [e].concat(e.detail || [])); }); });
    return this;
  };
  P.data = function (key) { var n = this.nodes[0]; return n && n.getAttribute ? n.getAttribute("data-" + key) : undefined; };
  P.attr = function (key) { var n = this.nodes[0]; return n && n.getAttribute ? n.getAttribute(key) : undefined; };
  P.addClass = function (c) { this.nodes.forEach(function (n) { n.classList && n.classList.add(c); }); return this; };
  P.removeClass = function (c) { this.nodes.forEach(function (n) { n.classList && n.classList.remove(c); }); return this; };
  P.fadeIn = P.show = function () { this.nodes.forEach(function (n) { if (n.style) n.style.display = ""; }); return this; };
  P.fadeOut = P.hide = function () { this.nodes.forEach(function (n) { if (n.style) n.style.display = "none"; }); return this; };
  P.parent = function () { return new Q(this.nodes.map(function (n) { return n.parentNode; }).filter(Boolean)); };
  P.modal = P.tooltip = P.popover = P.alert = function () { return this; };
  function call(name) { return typeof window[name] === "function" ? window[name] : null; }
  P.bootstrapTable = function (opts) {
    if (typeof opts !== "object" || !opts) return this;  // methods (clearFilterControl, ...): no-op
    this.nodes.forEach(function (table) { render(table, opts); });
    return this;
  };
  function render(table, opts) {
    var cols = opts.columns || [], rows = (opts.data || []).slice();
    var sortCol = cols.filter(function (c) { return c.field === opts.sortName; })[0];
    if (sortCol) {
      var key = sortCol.sortName || sortCol.field, dir = opts.sortOrder === "desc" ? -1 : 1;
      rows.sort(function (a, b) { return a[key] < b[key] ? -dir : a[key] > b[key] ? dir : 0; });
    }
    var attrs = call(opts.rowAttributes);
    table.textContent = "";
    var head = table.createTHead().insertRow();
    cols.forEach(function (c) { var th = document.createElement("th"); th.textContent = c.title || c.field; head.appendChild(th); });
    var body = table.createTBody();
    rows.forEach(function (row, i) {
      var tr = body.insertRow();
      var extra = attrs ? attrs(row, i) : {};
      Object.keys(extra || {}).forEach(function (k) { if (extra[k] != null) tr.setAttribute(k, extra[k]); });
      // cell HTML is the site's own (Great Expectations renders it; modelwatch escapes the data in it)
      cols.forEach(function (c) { tr.insertCell().innerHTML = row[c.field] == null ? "" : String(row[c.field]); });
      tr.addEventListener("click", function () {
        table.dispatchEvent(new CustomEvent("click-row.bs.table", { detail: [row, new Q([tr])] }));
      });
    });
  }
  // row links (the page's own handler does window.location = href): never a javascript: URL
  window.addEventListener("click", function (e) {
    var tr = e.target.closest && e.target.closest("tr[data-href]");
    if (tr && /^\s*javascript:/i.test(tr.getAttribute("data-href"))) { e.stopImmediatePropagation(); e.preventDefault(); }
  }, true);
  onReady(function () {
    document.querySelectorAll('[data-toggle="tab"]').forEach(function (a) {
      a.addEventListener("click", function (e) {
        e.preventDefault();
        var list = a.closest("ul"), target = document.querySelector(a.getAttribute("href"));
        if (list) list.querySelectorAll(".nav-link").forEach(function (l) { l.classList.remove("active"); });
        a.classList.add("active");
        if (target && target.parentNode) {
          Array.prototype.forEach.call(target.parentNode.children, function (p) { p.classList.remove("active", "show"); });
          target.classList.add("active", "show");
        }
      });
    });
    document.querySelectorAll('[data-toggle="collapse"]').forEach(function (a) {
      a.addEventListener("click", function (e) {
        e.preventDefault();
        var sel = a.getAttribute("data-target") || a.getAttribute("href"), t = null;
        try { t = sel ? document.querySelector(sel) : null; } catch (err) { t = null; }
        if (t) t.classList.toggle("show");
      });
    });
  });
  window.$ = window.jQuery = $;
})();
"""

#: name under /static/ -> (content type, body)
ASSETS: Final[dict[str, tuple[str, str]]] = {
    "dashboard.css": ("text/css; charset=utf-8", DASHBOARD_CSS),
    "dashboard.js": ("text/javascript; charset=utf-8", DASHBOARD_JS),
    "datadocs.css": ("text/css; charset=utf-8", DATADOCS_CSS),
    "datadocs.js": ("text/javascript; charset=utf-8", DATADOCS_JS),
}
