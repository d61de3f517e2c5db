"""Hand-written inline SVG: the few primitives the report's charts are drawn with.

No plotting library: a chart is a string of SVG elements inside a ``viewBox`` (it
scales with the page), coordinates rounded to 0.01 user unit. Every text and
attribute value goes through :func:`text` (:func:`html.escape`, control characters
replaced), so a column name or a category is shown as typed: HTML in it stays text and
``$x$`` is not math.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

BLUE = "#1f77b4"
ORANGE = "#ff7f0e"
RED = "#d62728"
GREEN = "#2ca02c"
INK = "#222"
AXIS = "#666"
GRID = "#e5e5e5"

#: average advance of a character as a share of the font size (system-ui / sans-serif)
CHAR_WIDTH = 0.6

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text(value: object) -> str:
    """``value`` as SVG/HTML text or attribute value: escaped, control characters replaced."""
    return html.escape(_CONTROL.sub("\ufffd", str(value)), quote=True)


def num(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros (``12.5``, ``3``, ``-0.25``)."""
    out = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def attributes(attrs: dict[str, object]) -> str:
    """`` name="value"`` pairs (``_`` in a name becomes ``-``; ``None`` values are left out)."""
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        shown = num(value) if isinstance(value, float) else text(value)
        parts.append(f' {name.rstrip("_").replace("_", "-")}="{shown}"')
    return "".join(parts)


def element(tag: str, content: str = "", /, **attrs: object) -> str:
    """``<tag attrs>content</tag>``, or ``<tag attrs/>`` without content (content is markup)."""
    if content:
        return f"<{tag}{attributes(attrs)}>{content}</{tag}>"
    return f"<{tag}{attributes(attrs)}/>"


def tooltip(value: object) -> str:
    """A ``<title>`` child: the browser's tooltip and the element's accessible name."""
    return f"<title>{text(value)}</title>"


def text_width(value: str, size: float) -> float:
    """Estimated width of ``value`` drawn at font size ``size`` (user units)."""
    return CHAR_WIDTH * size * len(value)


def shorten(value: str, max_chars: int) -> str:
    """``value`` cut to ``max_chars`` characters with an ellipsis when longer."""
    if max_chars < 1:
        return "…"
    return value if len(value) <= max_chars else value[: max_chars - 1] + "…"


def label(x: float, y: float, value: str, *, max_chars: int | None = None, **attrs: object) -> str:
    """A ``<text>`` showing ``value``; a shortened one carries the full text as its tooltip."""
    shown = value if max_chars is None else shorten(value, max_chars)
    content = text(shown) if shown == value else tooltip(value) + text(shown)
    return element("text", content, x=float(x), y=float(y), **attrs)


def line(x1: float, y1: float, x2: float, y2: float, **attrs: object) -> str:
    """A straight ``<line>``."""
    return element("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), **attrs)


def rect(
    x: float, y: float, width: float, height: float, content: str = "", **attrs: object
) -> str:
    """A ``<rect>`` (``content``: e.g. a :func:`tooltip`)."""
    return element(
        "rect", content, x=float(x), y=float(y), width=float(width), height=float(height), **attrs
    )


def circle(cx: float, cy: float, r: float, content: str = "", **attrs: object) -> str:
    """A ``<circle>``."""
    return element("circle", content, cx=float(cx), cy=float(cy), r=float(r), **attrs)


def path(segments: Iterable[Sequence[tuple[float, float]]], **attrs: object) -> str:
    """One ``<path>`` of polylines (each segment starts with a move: a gap between segments)."""
    data = " ".join(
        "M" + " L".join(f"{num(x)} {num(y)}" for x, y in segment) for segment in segments if segment
    )
    return element("path", d=data, fill="none", **attrs) if data else ""


def document(
    body: Iterable[str], *, width: float, height: float, title: str, css_class: str
) -> str:
    """The ``<svg>`` element: ``viewBox`` sized (it scales down with the page), with a
    ``<title>`` and an ``aria-label`` for screen readers."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{text(css_class)}" '
        f'viewBox="0 0 {num(width)} {num(height)}" width="{num(width)}" height="{num(height)}" '
        f'role="img" aria-label="{text(title)}" font-family="system-ui,sans-serif" '
        f'font-size="11" fill="{INK}"><title>{text(title)}</title>' + "".join(body) + "</svg>"
    )


@dataclass(frozen=True)
class Scale:
    """Linear map from data values (``lo``..``hi``) to user units (``start``..``end``)."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return (self.start + self.end) / 2
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def padded(lo: float, hi: float, *, margin: float = 0.05) -> tuple[float, float]:
    """``lo``..``hi`` widened by ``margin`` of the span each side (equal ends: by 5 % of
    the value, at least 0.05)."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = max(abs(lo) * 0.05, 0.05)
        return lo - pad, hi + pad
    pad = (hi - lo) * margin
    return lo - pad, hi + pad


def nice_step(span: float, count: int) -> float:
    """A step of 1, 2, 2.5 or 5 × 10^k giving about ``count`` intervals over ``span``."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * power * (1 + 1e-9):
            return factor * power
    return 10.0 * power


def nice_ticks(lo: float, hi: float, *, count: int = 5) -> list[float]:
    """Round tick values inside ``lo``..``hi`` (multiples of :func:`nice_step`)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi == lo:
        return [lo]
    step = nice_step(hi - lo, count)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [0.0 if i == 0 else i * step for i in range(first, last + 1)]


def tick_label(value: float, step: float) -> str:
    """``value`` with as many decimals as ``step`` needs (``0.25`` → 2, ``5`` → 0)."""
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or (0 < step < 1e-4):
        return f"{value:.3g}"
    decimals = 0
    while decimals < 6 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    return f"{value:.{decimals}f}"


def ticks(lo: float, hi: float, *, count: int = 5) -> list[tuple[float, str]]:
    """:func:`nice_ticks` with their labels (as many decimals as the step needs)."""
    values = nice_ticks(lo, hi, count=count)
    step = values[1] - values[0] if len(values) > 1 else abs(hi - lo) or 1.0
    return [(v, tick_label(v, step)) for v in values]


_TIME_STEPS = (
    60,
    5 * 60,
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    28 * 86400,
    91 * 86400,
    364 * 86400,
)


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def epoch_seconds(moment: datetime) -> float:
    """POSIX seconds of ``moment`` (a naive datetime is taken as UTC)."""
    return utc(moment).timestamp()


def time_ticks(lo: float, hi: float, *, count: int = 6) -> list[tuple[float, str]]:
    """Ticks (POSIX seconds, UTC label) at round times inside ``lo``..``hi``: at most
    ``count``, with the date on the first tick and wherever the day changes."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    step = next((s for s in _TIME_STEPS if (hi - lo) / s <= count), None)
    if step is None:  # more than `count` years: yearly-ish steps
        step = math.ceil((hi - lo) / count / _TIME_STEPS[-1]) * _TIME_STEPS[-1]
    ticks: list[tuple[float, str]] = []
    previous_day = None
    for i in range(math.ceil(lo / step), math.floor(hi / step) + 1):
        moment = datetime.fromtimestamp(i * step, tz=UTC)
        day = moment.date()
        if step >= 86400:
            shown = f"{moment:%Y-%m-%d}" if previous_day is None else f"{moment:%m-%d}"
        elif day != previous_day:
            shown = f"{moment:%m-%d %H:%M}"
        else:
            shown = f"{moment:%H:%M}"
        previous_day = day
        ticks.append((float(i * step), shown))
    return ticks


@dataclass(frozen=True)
class LegendItem:
    """One entry of a legend: how its swatch is drawn, its colour and its text."""

    kind: str  # "line", "dashed", "marker", "line-marker", "box"
    color: str
    text: str
    opacity: float = 1.0


def legend(items: Sequence[LegendItem], *, x: float, y: float, size: float = 10) -> str:
    """A row of legend entries starting at (``x``, ``y``) (``y``: the text's middle)."""
    parts = []
    for item in items:
        if item.kind == "box":
            parts.append(rect(x, y - 5, 14, 10, fill=item.color, fill_opacity=item.opacity or None))
        else:
            if item.kind in ("line", "dashed", "line-marker"):
                dash = "4 3" if item.kind == "dashed" else None
                parts.append(
                    line(
                        x, y, x + 14, y, stroke=item.color, stroke_width=1.5, stroke_dasharray=dash
                    )
                )
            if item.kind in ("marker", "line-marker"):
                parts.append(circle(x + 7, y, 3.5, fill=item.color))
        parts.append(label(x + 18, y + size * 0.35, item.text, font_size=size))
        x += 18 + text_width(item.text, size) + 12
    return element("g", "".join(parts), class_="legend")
