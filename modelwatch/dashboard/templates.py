"""The dashboard's pages: Jinja2 templates with autoescaping on (every value is escaped).

Kept as strings in a module (not package data files) so any install of the package
has them. Chart data goes into ``<script type="application/json">`` blocks through
Jinja's ``tojson`` (``<``, ``>``, ``&``, ``'`` escaped as ``\\u003c`` …), which the
browser never runs; the page scripts are files under ``/static/`` and the response's
Content-Security-Policy allows no inline script.
"""

from __future__ import annotations

from typing import Final

LAYOUT: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}modelwatch{% endblock %}</title>
<link rel="stylesheet" href="/static/dashboard.css">
{% block head %}{% endblock %}
</head><body>
<header><a class="brand" href="/">modelwatch</a>
<nav><a href="/">Fleet</a> <a href="/data-docs/index.html">Data Docs</a> <a href="/metrics">Metrics</a></nav>
<span class="now">{{ now }}</span></header>
<main>{% block main %}{% endblock %}</main>
</body></html>
"""

FLEET: Final = """{% extends "layout.html" %}
{% block title %}modelwatch · fleet{% endblock %}
{% block main %}
<h1>Fleet <small>{{ rows|length }} model{{ "" if rows|length == 1 else "s" }}</small></h1>
{% if not rows %}<p class="empty">No model yet: no spec in {{ specs_dir }} and no monitored window in the store.
Run <code>modelwatch demo</code>, then reload.</p>{% endif %}
<table class="grid" id="fleet">
<thead><tr><th>Model</th><th>Champion</th><th>Last window (UTC)</th><th>Status</th>
<th>Metric</th><th>Realized</th><th>Estimated</th><th>Drifted features</th><th>Alert episode</th><th>Reason</th><th>Report</th></tr></thead>
<tbody>
{% for r in rows %}
<tr class="status-{{ r.last.status if r.last else 'none' }}" data-model="{{ r.model }}">
<td><a class="model-link" href="{{ model_url(r.model) }}">{{ r.model }}</a>
{% if r.spec_error %}<span class="warn" title="{{ r.spec_error }}">spec error</span>{% elif not r.has_spec %}<span class="muted">no spec</span>{% endif %}</td>
<td>{% if r.last and r.last.champion_version %}v{{ r.last.champion_version }}{% else %}–{% endif %}</td>
<td>{% if r.last %}{{ r.last.window_start|ts }} → {{ r.last.window_end|ts(short=True) }}{% else %}<span class="muted">never monitored</span>{% endif %}</td>
<td>{% if r.last %}<span class="badge badge-{{ r.last.status }}">{{ r.last.status }}</span>{% endif %}</td>
<td>{{ r.metric or "–" }}</td>
<td class="num realized">{{ r.realized.value|num if r.realized else "–" }}</td>
<td class="num estimated">{{ r.estimated.value|num if r.estimated else "–" }}</td>
<td class="num share">{{ r.drifted_share|pct }}</td>
<td class="episode">{% if r.episode_open %}<span class="badge badge-degraded">open</span> since {{ r.episode_since|ts }}{% else %}no{% endif %}</td>
<td class="reason">{{ r.last.reason if r.last else "" }}</td>
<td>{% if r.model in reports %}<a class="report-link" href="{{ reports[r.model] }}">report</a>{% endif %}</td>
</tr>
{% endfor %}
</tbody></table>
<p class="muted">Store: {{ store_url }} · specs: {{ specs_dir }} · Prometheus metrics at <a href="/metrics">/metrics</a>.</p>
{% endblock %}
"""

MODEL: Final = """{% extends "layout.html" %}
{% block title %}modelwatch · {{ h.model }}{% endblock %}
{% block head %}<script src="/static/plotly.min.js" defer></script><script src="/static/dashboard.js" defer></script>{% endblock %}
{% block main %}
<h1 id="model-name">{{ h.model }}</h1>
<p class="links">
{% if h.spec %}{{ h.spec.task }} · watched metric <b>{{ h.metric }}</b>{% if h.spec.description %} · {{ h.spec.description }}{% endif %}{% elif h.spec_error %}<span class="warn">{{ h.spec_error }}</span>{% else %}<span class="muted">no spec in the specs folder</span>{% endif %}
{% if mlflow_model %} · <a href="{{ mlflow_model }}" rel="noopener">MLflow registered model</a>{% endif %}
{% if champion_link %} · <a href="{{ champion_link }}" rel="noopener">champion v{{ champion }}</a>{% elif champion %} · champion v{{ champion }}{% endif %} · <a href="/data-docs/index.html">Data Docs</a>
</p>
<p class="muted">Showing {{ h.runs|length }} of {{ h.total_windows }} windows{% if h.runs|length < h.total_windows %} (<a href="?windows={{ [h.total_windows, max_windows]|min }}">show {{ "all" if h.total_windows <= max_windows else max_windows }}</a>){% endif %}.</p>
{% if h.runs %}
<section><h2>{{ h.metric or "metric" }}: realized and estimated, with threshold</h2>
<div id="chart-metric" class="chart"></div></section>
<section><h2>Feature drift per window</h2>
<p class="muted">Colour: statistic ÷ threshold (≥ 1: past the threshold, marked ✕ when the column drifted). Hover for method, statistic, p-value.</p>
<div id="chart-drift" class="chart tall"></div></section>
<section><h2>Drifted share and rows</h2><div id="chart-share" class="chart short"></div></section>
<section><h2>Serving health</h2><div id="chart-serving" class="chart short"></div></section>
{% else %}<p class="empty">No monitored window yet.</p>{% endif %}
<script type="application/json" id="mw-data">{{ chart|tojson }}</script>

<section><h2>Retraining, A/B, promotion and rollback</h2>
{% if decisions %}<table class="grid" id="timeline"><thead><tr><th>When (UTC)</th><th>Kind</th><th>Outcome</th><th>Details</th><th>Links</th></tr></thead><tbody>
{% for d in decisions %}<tr class="kind-{{ d.kind }}"><td>{{ d.created_at|ts }}</td><td>{{ d.kind }}</td><td><span class="badge badge-{{ d.outcome }}">{{ d.outcome }}</span></td>
<td>{{ d.summary }}<details><summary>evidence</summary><pre>{{ d.json }}</pre></details></td>
<td>{% for label, url in d.links %}<a href="{{ url }}" rel="noopener">{{ label }}</a> {% endfor %}</td></tr>{% endfor %}
</tbody></table>{% else %}<p class="muted">No decision recorded.</p>{% endif %}
</section>

<section><h2>Alert episodes</h2>
{% if h.episodes %}<table class="grid" id="episodes"><thead><tr><th>Opened (UTC)</th><th>Champion</th><th>Windows</th><th>Messages</th><th>Suppressed</th><th>Resolved</th></tr></thead><tbody>
{% for e in h.episodes|reverse %}<tr><td>{{ e.opened_at|ts }}</td><td>{{ "v" ~ e.champion_version if e.champion_version else "–" }}</td>
<td>{{ e.first_window_start|ts }} → {{ e.last_window_start|ts }}</td><td class="num">{{ e.messages }}</td><td class="num">{{ e.suppressed }}</td>
<td>{% if e.resolved_at %}{{ e.resolved_at|ts }}: {{ e.resolution }}{% else %}<span class="badge badge-degraded">open</span>{% endif %}</td></tr>{% endfor %}
</tbody></table>{% else %}<p class="muted">No alert episode.</p>{% endif %}
</section>

<section><h2>Validation history</h2>
{% if validation %}<table class="grid" id="validation"><thead><tr><th>Window (UTC)</th><th>Expectations</th><th>Failed critical</th><th>Failed warning</th><th>Failed</th></tr></thead><tbody>
{% for v in validation %}<tr><td>{{ v.window_start|ts }}</td><td class="num">{{ v.total }}</td><td class="num">{{ v.critical }}</td><td class="num">{{ v.warning }}</td>
<td>{% for f in v.failed %}<span class="chip">{{ f }}</span> {% endfor %}</td></tr>{% endfor %}
</tbody></table>{% else %}<p class="muted">No stored validation result.</p>{% endif %}
</section>

<section><h2>Windows</h2>
{% if h.runs|length > table_rows %}<p class="muted">The newest {{ table_rows }} windows; the charts show all {{ h.runs|length }}.</p>{% endif %}
<table class="grid" id="windows"><thead><tr><th>Window (UTC)</th><th>Champion</th><th>Status</th><th>Rows</th><th>Labeled</th>
<th>{{ h.metric or "metric" }}</th><th>Estimated</th><th>Threshold</th><th>Drifted</th><th>Reason</th><th>Report</th><th>Prefect</th></tr></thead><tbody>
{% for w in windows %}<tr class="status-{{ w.status }}"><td>{{ w.window_start|ts }}</td><td>{{ "v" ~ w.champion if w.champion else "–" }}</td>
<td><span class="badge badge-{{ w.status }}">{{ w.status }}</span></td><td class="num">{{ w.n_rows }}</td><td class="num">{{ w.n_labeled }}</td>
<td class="num">{{ w.realized|num }}</td><td class="num">{{ w.estimated|num }}</td><td class="num">{{ w.threshold|num }}</td><td class="num">{{ w.share|pct }}</td>
<td class="reason">{{ w.reason }}</td>
<td>{% if w.report %}<a class="report-link" href="{{ w.report }}">report</a>{% endif %}</td>
<td>{% if w.prefect %}<a href="{{ w.prefect }}" rel="noopener">flow run</a>{% endif %}</td></tr>{% endfor %}
</tbody></table>
</section>
{% endblock %}
"""

PAGES: Final = {"layout.html": LAYOUT, "fleet.html": FLEET, "model.html": MODEL}
