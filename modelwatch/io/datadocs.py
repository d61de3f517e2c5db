"""Data Docs of the validations: PII scrubbing and HTML escaping (security-relevant).

PII: values of PII columns never appear in outcomes, summaries or Data Docs
(unexpected-value examples and observed values of those columns are dropped
before anything is rendered or stored: :func:`scrub_result`, and
:data:`PII_HIDDEN` in the outcomes of :mod:`modelwatch.io.gx_runtime`).

HTML: the Data Docs site renders HTML-escaped copies of the validation results
and escapes column names in section titles (:func:`html_safe_result`,
:func:`safe_page_view`): a window value or column name like ``<script>`` is
shown as text, never run. Outcomes and summaries keep the raw text.
``tests/e2e/test_xss.py`` opens the pages in Chromium.

Rebuild rule: the site is rebuilt for a validation only when its result *failed*
(any expectation, warning or critical) or *changed* — its :func:`result_digest` (the
suite content, the PII columns, the result format and which expectations passed; not
the counts or observed values, which differ every window) differs from the digest of
the last page built for that suite. A window that passes like the last built one
links to that page. The digest lives next to the docs
(``<root>/gx/uncommitted/modelwatch/<suite>.json``, written atomically: uuid-named
temp file + rename) and every build holds an exclusive ``flock`` on
``<root>/gx/uncommitted/modelwatch/docs.lock`` (released by the kernel when its holder
dies), so two workers sharing a docs folder never interleave their writes.

The GX classes here (:func:`pii_safe_docs_action`, :func:`safe_page_view`) are
built on first use; :class:`~modelwatch.io.gx_runtime.GXRuntime` imports Great
Expectations (``import_gx``) before it asks for them, and GX itself loads
``modelwatch.io.datadocs.SafeDataDocsPageView`` by name when it renders a page.
The runtime owns the Data Docs file contexts and checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import html
import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

from modelwatch.io.suites import expectation_columns

__all__ = [
    "PII_HIDDEN",
    "docs_lock",
    "html_safe_result",
    "last_build",
    "page_url",
    "pii_safe_docs_action",
    "publish_result",
    "record_build",
    "result_digest",
    "safe_page_view",
    "scrub_result",
    "use_safe_page_view",
]

#: result keys that may hold data values (dropped for PII columns).
VALUE_KEYS: Final = (
    "partial_unexpected_list",
    "partial_unexpected_counts",
    "unexpected_list",
    "unexpected_rows",
    "observed_value",
    "details",
)
PII_HIDDEN: Final = "values hidden: PII column"


@cache
def pii_safe_docs_action() -> type:
    """UpdateDataDocsAction that stores PII-free, HTML-escaped validation results, then renders."""
    from great_expectations.checkpoint.actions import UpdateDataDocsAction

    class PiiSafeUpdateDataDocsAction(UpdateDataDocsAction):
        """Drop PII values from each validation result, re-store an HTML-escaped copy of it
        (the one the Data Docs site renders), then update the docs."""

        type: Literal["modelwatch_update_data_docs"] = "modelwatch_update_data_docs"  # type: ignore[assignment]
        pii_columns: tuple[str, ...] = ()

        def run(self, checkpoint_result: Any, action_context: Any = None) -> Any:
            store = self._resolve_context().context.validation_results_store
            for key, result in checkpoint_result.run_results.items():
                _store_safe(store, key, result, set(self.pii_columns))
            return super().run(checkpoint_result=checkpoint_result, action_context=action_context)

    return PiiSafeUpdateDataDocsAction


def _store_safe(store: Any, key: Any, result: Any, pii: set[str], name: str | None = None) -> None:
    """Store the PII-free, HTML-escaped copy of ``result`` (under suite ``name``) at ``key``."""
    scrub_result(result, pii)
    safe = html_safe_result(result)
    if name is not None:
        safe.suite_name = name
    store.set(key, safe)


def publish_result(
    context: Any, result: Any, *, suite_name: str, run_id: Any, pii: set[str]
) -> Any:
    """Put one validation result (e.g. from an in-memory context) on the file ``context``'s
    Data Docs site: scrub PII, store the escaped copy, rebuild its page, the suite's page
    and the index. Returns the result's key (for :func:`page_url`). The caller holds
    :func:`docs_lock`; the suite must be in ``context`` under ``suite_name``."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    suite_id = ExpectationSuiteIdentifier(name=suite_name)
    key = ValidationResultIdentifier(
        expectation_suite_identifier=suite_id, run_id=run_id, batch_identifier=result.batch_id
    )
    _store_safe(context.validation_results_store, key, result, pii, suite_name)
    context.build_data_docs(resource_identifiers=[key, suite_id], build_index=True)
    return key


def result_digest(
    result: Any,
    *,
    suite_digest: str,
    pii: Sequence[str],
    result_format: str,
    positions: Mapping[Any, int] | None = None,
) -> str:
    """What a Data Docs page of ``result`` shows that can differ from the last one built.

    The suite (its content hash), the PII columns, the result format and, per
    expectation, its type, place in the suite, severity and success — not the counts
    and observed values, which change with every window. The place is the
    expectation's position in the suite (``positions``: GX expectation id -> index; the
    ids themselves are new in every process), not the arguments the result shows: those
    carry the evaluated suite parameters (``window_start``, ``window_end``, ``now``),
    which differ in every window and would rebuild the site each time. An expectation
    with no known position falls back to its arguments.
    """
    places = positions or {}

    def place(config: Any) -> str:
        if config.id in places:
            return f"#{places[config.id]}"
        return json.dumps(dict(config.kwargs), sort_keys=True, default=str)

    rows = sorted(
        json.dumps(
            [
                str(r.expectation_config.type),
                place(r.expectation_config),
                str(getattr(r.expectation_config.severity, "value", r.expectation_config.severity)),
                bool(r.success),
            ],
            sort_keys=True,
            default=str,
        )
        for r in result.results
    )
    text = json.dumps([suite_digest, sorted(pii), result_format, rows], default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _state_dir(root: Path) -> Path:
    return Path(root) / "gx" / "uncommitted" / "modelwatch"


@contextlib.contextmanager
def docs_lock(root: Path) -> Iterator[None]:
    """Exclusive lock of the Data Docs site under ``root`` (``flock``: dies with its holder)."""
    folder = _state_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "docs.lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def last_build(root: Path, suite_name: str) -> dict[str, Any]:
    """The record of the last page built for ``suite_name`` (``{}``: none, or unreadable)."""
    path = _state_dir(root) / f"{_safe_name(suite_name)}.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def record_build(root: Path, suite_name: str, state: Mapping[str, Any]) -> None:
    """Write the record of a build atomically (uuid-named temp file, then rename)."""
    folder = _state_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{_safe_name(suite_name)}.json"
    temp = folder / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        temp.write_text(json.dumps(dict(state), sort_keys=True), encoding="utf-8")
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _safe_name(name: str) -> str:
    """A file name for a suite name (suite names come from spec names; hash anything else)."""
    if name and all(c.isalnum() or c in "-_" for c in name):
        return name
    return "suite-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]


def scrub_result(suite_result: Any, pii: set[str]) -> bool:
    """Drop data values of PII columns from a GX suite validation result, in place."""
    changed = False
    for res in suite_result.results:
        if pii.isdisjoint(expectation_columns(res.expectation_config.kwargs)):
            continue
        for key in VALUE_KEYS:
            if key in res.result:
                res.result[key] = PII_HIDDEN if key == "observed_value" else []
                changed = True
    return changed


#: exception_info keys the Data Docs renderer writes as raw HTML (the message is a template
#: parameter, which GX escapes itself: escaping it here would show ``&lt;`` on the page).
_RAW_HTML_EXCEPTION_KEYS: Final = frozenset({"exception_traceback"})


def _html_escaped(value: Any) -> Any:
    """``value`` with every string in it (nested lists, tuples and dict keys/values) HTML-escaped."""
    if isinstance(value, str):
        return html.escape(value, quote=True)
    if isinstance(value, Mapping):
        return {_html_escaped(k): _html_escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_html_escaped(v) for v in value]
    return value


def _html_safe_exception(info: Mapping[str, Any]) -> dict[str, Any]:
    """exception_info with its tracebacks escaped (GX nests them per metric)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, Mapping):
            out[key] = _html_safe_exception(value)
        elif key in _RAW_HTML_EXCEPTION_KEYS and isinstance(value, str):
            out[key] = html.escape(value, quote=True)
        else:
            out[key] = value
    return out


def html_safe_result(suite_result: Any) -> Any:
    """A copy of a GX suite validation result that the Data Docs renderer can inline safely.

    GX 1.24 escapes the parameters of its string templates (expectation kwargs
    such as value sets, exception messages) but writes the unexpected-value
    tables, observed values (e.g. a window's column names), result details and
    exception tracebacks into the page as raw HTML: a window value like
    ``<img src=x onerror=...>`` would run in the browser. Every string under
    ``result`` and every traceback is HTML-escaped here; column names shown as
    section titles are escaped by the site's page view (:func:`safe_page_view`).
    ``suite_result`` itself is not modified (outcomes keep the raw text).
    """
    safe = copy.deepcopy(suite_result)
    for res in safe.results:
        if res.result:
            res.result = _html_escaped(dict(res.result))
        if res.exception_info:
            res.exception_info = _html_safe_exception(res.exception_info)
    return safe


@cache
def safe_page_view() -> type:
    """DefaultJinjaPageView that escapes column names where GX writes them as raw HTML.

    GX 1.24 puts a column's name raw into its section's title and into the
    table of contents (the name is the template, not a parameter). The Data
    Docs site of every file context the runtime opens renders its expectation
    and validation pages with this view (:func:`use_safe_page_view`); GX finds
    it as ``modelwatch.io.datadocs.SafeDataDocsPageView`` (module
    ``__getattr__``: GX is imported only when a page is rendered).
    """
    from great_expectations.render.renderer.column_section_renderer import (
        convert_to_string_and_escape,
    )
    from great_expectations.render.view.view import DefaultJinjaPageView

    class SafeDataDocsPageView(DefaultJinjaPageView):
        def render(self, document: Any, template: Any = None, **kwargs: Any) -> Any:
            document = copy.deepcopy(document)
            for section in getattr(document, "sections", None) or []:
                name = getattr(section, "section_name", None)
                if not isinstance(name, str):
                    continue
                raw_title = convert_to_string_and_escape(name)  # type: ignore[no-untyped-call]
                for block in section.content_blocks or []:
                    header = getattr(block, "header", None)
                    string_template = getattr(header, "string_template", None)
                    if (
                        isinstance(string_template, dict)
                        and string_template.get("template") == raw_title
                    ):
                        string_template["template"] = html.escape(raw_title, quote=True)
                section.section_name = html.escape(name, quote=True)
            return super().render(document, template, **kwargs)  # type: ignore[no-untyped-call]

    SafeDataDocsPageView.__module__ = __name__
    return SafeDataDocsPageView


def __getattr__(name: str) -> Any:
    """``SafeDataDocsPageView``, built on first access (GX loads it by module and class name)."""
    if name == "SafeDataDocsPageView":
        return safe_page_view()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def use_safe_page_view(context: Any) -> None:
    """Point the expectation and validation pages of every Data Docs site at the safe view."""
    view = {"module_name": __name__, "class_name": "SafeDataDocsPageView"}
    for site_name, site in dict(context.variables.data_docs_sites or {}).items():
        config = copy.deepcopy(dict(site))
        builders = config.setdefault("site_section_builders", {})
        for section in ("expectations", "validations"):
            builders.setdefault(section, {})
            if isinstance(builders[section], dict):
                builders[section]["view"] = dict(view)
        if config != site:
            context.update_data_docs_site(site_name, config)


def page_url(context: Any, result_key: Any, index: Path) -> str | None:
    """file:// URL of the Data Docs page of one validation result; the site index if GX has none."""
    try:
        sites = context.get_docs_sites_urls(resource_identifier=result_key, only_if_exists=True)
    except Exception:  # an older/other site layout: fall back to the index
        sites = []
    for site in sites:
        url = site.get("site_url")
        if url:
            return str(url)
    return index.resolve().as_uri() if index.exists() else None
