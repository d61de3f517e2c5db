"""The inline-SVG primitives of the report charts: escaping, numbers, scales, ticks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest

from modelwatch.io import svg

NS = "{http://www.w3.org/2000/svg}"


def test_text_is_escaped_and_control_characters_replaced() -> None:
    assert svg.text('<img src=x onerror="alert(1)">') == (
        "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    )
    assert svg.text("a'b&c") == "a&#x27;b&amp;c"
    assert svg.text("$x^{$") == "$x^{$"  # no math, nothing to escape
    assert svg.text("a\x00b\x1bc\td") == "a\ufffdb\ufffdc\td"


def test_numbers_have_at_most_two_decimals_and_no_trailing_zeros() -> None:
    assert [svg.num(v) for v in (12.5, 3.0, -0.25, 0.004, -0.001, 1 / 3, 100.0)] == [
        "12.5",
        "3",
        "-0.25",
        "0",
        "0",
        "0.33",
        "100",
    ]


def test_attributes_escape_values_turn_underscores_into_dashes_and_skip_none() -> None:
    markup = svg.element("rect", x=1.5, fill_opacity=0.5, class_='a"b', stroke=None)
    assert markup == '<rect x="1.5" fill-opacity="0.5" class="a&quot;b"/>'
    assert svg.element("g", "<x/>", fill="red") == '<g fill="red"><x/></g>'


def test_a_shortened_label_keeps_the_full_text_as_its_tooltip() -> None:
    full = "<b>" + "x" * 30
    markup = svg.label(1, 2, full, max_chars=10)
    node = ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg">{markup}</svg>')[0]
    assert node.find(f"{NS}title") is not None
    assert node.find(f"{NS}title").text == full  # type: ignore[union-attr]
    assert "".join(node.itertext()) == full + "<b>xxxxxx…"
    assert svg.label(0, 0, "short", max_chars=10) == '<text x="0" y="0">short</text>'


def test_the_document_scales_through_its_viewbox_and_is_labelled() -> None:
    markup = svg.document(["<g/>"], width=340, height=200.5, title="A <b>", css_class="c")
    root = ET.fromstring(markup)
    assert root.get("viewBox") == "0 0 340 200.5"
    assert root.get("role") == "img" and root.get("aria-label") == "A <b>"
    assert root.find(f"{NS}title").text == "A <b>"  # type: ignore[union-attr]


def test_a_scale_maps_linearly_and_an_empty_domain_to_the_middle() -> None:
    scale = svg.Scale(0.0, 10.0, 100.0, 300.0)
    assert [scale(0), scale(2.5), scale(10)] == [100.0, 150.0, 300.0]
    flipped = svg.Scale(0.0, 1.0, 200.0, 50.0)  # y grows downwards in SVG
    assert flipped(0.2) == pytest.approx(170.0)
    assert svg.Scale(5.0, 5.0, 0.0, 80.0)(5.0) == 40.0


def test_padding_widens_by_five_percent_and_equal_ends_by_five_percent_of_the_value_or_005() -> (
    None
):
    assert svg.padded(0.0, 10.0) == pytest.approx((-0.5, 10.5))
    assert svg.padded(22.0, 22.0) == pytest.approx((20.9, 23.1))
    assert svg.padded(0.74, 0.74) == pytest.approx((0.69, 0.79))  # at least 0.05 each side
    assert svg.padded(0.0, 0.0) == pytest.approx((-0.05, 0.05))


def test_ticks_are_round_and_labelled_with_the_decimals_of_their_step() -> None:
    assert svg.nice_ticks(0.0, 10.5) == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert svg.nice_ticks(0.0, 1.05) == [0.0, 0.25, 0.5, 0.75, 1.0]  # at most 5 intervals
    assert svg.nice_ticks(-3.0, 3.0) == [-2.0, 0.0, 2.0]
    assert [label for _, label in svg.ticks(0.0, 10.5)] == ["0", "2.5", "5.0", "7.5", "10.0"]
    assert [label for _, label in svg.ticks(0.69, 0.75)] == ["0.70", "0.72", "0.74"]
    assert svg.nice_ticks(3.0, 3.0) == [3.0]
    assert svg.ticks(float("nan"), 1.0) == []


def test_time_ticks_are_round_utc_times_with_the_date_where_the_day_changes() -> None:
    start = datetime(2026, 11, 20, 3, 17, tzinfo=UTC).timestamp()
    ticks = svg.time_ticks(start, start + 24 * 3600)  # 6-hour steps
    assert [label for _, label in ticks] == ["11-20 06:00", "12:00", "18:00", "11-21 00:00"]
    assert [datetime.fromtimestamp(t, tz=UTC).hour for t, _ in ticks] == [6, 12, 18, 0]
    days = svg.time_ticks(start, start + 20 * 86400)  # weekly steps: 3 ticks, dates only
    first = datetime.fromtimestamp(days[0][0], tz=UTC)
    assert [label for _, label in days] == [
        f"{first:%Y-%m-%d}",
        f"{first + timedelta(days=7):%m-%d}",
        f"{first + timedelta(days=14):%m-%d}",
    ]
    assert first.hour == 0 and start <= days[0][0] < start + 7 * 86400
    assert svg.time_ticks(start, start) == []


def test_a_naive_datetime_is_taken_as_utc() -> None:
    naive = datetime(2026, 11, 20, 10)
    berlin = datetime(2026, 11, 20, 11, tzinfo=timezone(timedelta(hours=1)))
    assert svg.epoch_seconds(naive) == svg.epoch_seconds(berlin)
    assert svg.utc(berlin).hour == 10


def test_a_path_starts_a_new_segment_after_each_gap() -> None:
    markup = svg.path([[(0, 0), (1, 2.5)], [], [(3, 4)]], stroke="red")
    assert markup == '<path d="M0 0 L1 2.5 M3 4" fill="none" stroke="red"/>'
    assert svg.path([[]]) == ""


def test_the_legend_lays_out_one_entry_per_item_with_its_text() -> None:
    items = [
        svg.LegendItem("line-marker", svg.BLUE, "<roc>"),
        svg.LegendItem("dashed", svg.RED, "t"),
    ]
    root = ET.fromstring(
        f'<svg xmlns="http://www.w3.org/2000/svg">{svg.legend(items, x=0, y=10)}</svg>'
    )
    texts = root.findall(f".//{NS}text")
    assert [t.text for t in texts] == ["<roc>", "t"]
    assert float(texts[1].get("x", "0")) > float(texts[0].get("x", "0")) + 18
    dashed = [n for n in root.iter(f"{NS}line") if n.get("stroke-dasharray")]
    assert len(dashed) == 1 and dashed[0].get("stroke") == svg.RED
