"""Files the dashboard serves from the home: window reports and Great Expectations Data Docs.

Safe path handling (:func:`resolve_inside`): the request's path is split on ``/``;
empty, ``.``, ``..`` and hidden (``.x``) parts, backslashes and NUL are refused
before the file system is touched; the joined path is resolved (symlinks followed)
and must still lie inside the resolved root, be a regular file and carry an
allowed suffix (:data:`CONTENT_TYPES`). Anything else is "not found".

Data Docs pages load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega
from CDNs, and the index table is drawn by bootstrap-table from inline data: offline
the pages are unstyled and the index is empty. Great Expectations ships none of
those libraries (only its own images, fonts and two stylesheets, which the site
already copies under ``static/``), so :func:`offline_data_docs` rewrites each page
as it is served: every ``http(s)`` stylesheet, script, image and CSS ``url()`` is
removed (the GX logo comes from the site's own ``static/images``), and a local
minimal stylesheet and a ~100-line script (a jQuery subset that renders the index
tables from their inline data, tabs, collapsibles) are linked instead. The
response's Content-Security-Policy allows only this origin, so a reference the
rewrite missed is blocked by the browser instead of fetched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

__all__ = [
    "CONTENT_TYPES",
    "DATA_DOCS_SITE",
    "offline_data_docs",
    "resolve_inside",
]

#: suffix -> Content-Type of every file kind the dashboard serves from the home
CONTENT_TYPES: Final[dict[str, str]] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}

#: the Data Docs site inside ``settings.data_docs_dir`` (see modelwatch/io/gx_runtime.py)
DATA_DOCS_SITE: Final = Path("gx") / "uncommitted" / "data_docs" / "local_site"

_MAX_PATH = 1024


def resolve_inside(root: Path, relative: str) -> Path | None:
    """The file ``relative`` (``/``-separated) under ``root``, or None when it is not a safe one.

    None for: empty, overlong, absolute or backslashed paths, NUL, ``.``/``..``/hidden
    parts, a suffix outside :data:`CONTENT_TYPES`, a path that is missing, not a
    regular file, or that resolves (through a symlink) outside ``root``.
    """
    if not relative or len(relative) > _MAX_PATH or "\\" in relative or "\x00" in relative:
        return None
    parts = relative.split("/")
    if any(not p or p.startswith(".") for p in parts):
        return None
    if Path(parts[-1]).suffix.lower() not in CONTENT_TYPES:
        return None
    try:
        base = root.resolve(strict=True)
        target = base.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, symlink loop, permission
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    if target.suffix.lower() not in CONTENT_TYPES:  # a symlink to another kind of file
        return None
    return target


_EXTERNAL = r"""["']\s*(?:https?:)?//[^"']*["']"""
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*" + _EXTERNAL + r"[^>]*>", re.I)
_EXTERNAL_SCRIPT = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*" + _EXTERNAL + r"[^>]*>\s*</script\s*>", re.I
)
_EXTERNAL_IMG = re.compile(r"(<img\b[^>]*\bsrc\s*=\s*)" + _EXTERNAL, re.I)
_EXTERNAL_CSS_URL = re.compile(r"url\(\s*" + _EXTERNAL + r"\s*\)", re.I)
_HEAD = re.compile(r"<head\b[^>]*>", re.I)

#: what replaces the CDN assets (served by the dashboard under /static/)
OFFLINE_HEAD: Final = (
    '<link rel="stylesheet" href="/static/datadocs.css"><script src="/static/datadocs.js"></script>'
)
_LOGO: Final = '"/data-docs/static/images/logo-long.png"'


def offline_data_docs(page: str) -> str:
    """A Data Docs page with its CDN assets replaced by the dashboard's local ones."""
    page = _EXTERNAL_SCRIPT.sub("", page)
    page = _EXTERNAL_LINK.sub("", page)
    page = _EXTERNAL_IMG.sub(lambda m: m.group(1) + _LOGO, page)
    page = _EXTERNAL_CSS_URL.sub("none", page)
    head = _HEAD.search(page)
    if head is None:
        return OFFLINE_HEAD + page
    return page[: head.end()] + OFFLINE_HEAD + page[head.end() :]
