# ruff: noqa: F811  (pytest fixtures imported from test_quality are redefined as arguments)
"""The Data Docs rebuild rule: a site is rebuilt for a failed or changed result only, its
record written atomically, two processes building one site both get their page."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelwatch.io import datadocs
from modelwatch.io.gx_runtime import GXRuntime, validate_frame
from tests.unit.test_quality import (  # noqa: F401  (fixtures)
    NOW,
    PII,
    WINDOW,
    _score_above_one,
    log,
    reference,
    spec,
    suite,
)


def _pages(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.html") if "validations" in p.parts)


def test_a_window_that_passes_like_the_last_built_page_does_not_rebuild_the_docs(
    log: pd.DataFrame, suite: dict[str, Any], tmp_path: Path
) -> None:
    kwargs = {"pii": PII, "data_docs_dir": tmp_path, "window": WINDOW, "now": NOW}
    first = validate_frame(log, suite, run_name="credit-w1", rebuild_docs="changed", **kwargs)
    assert first.success and len(_pages(tmp_path)) == 1
    record = json.loads(
        (tmp_path / "gx/uncommitted/modelwatch" / f"{suite['name']}.json").read_text()
    )
    assert record["url"] == first.data_docs_url and set(record) >= {"suite", "result", "url"}
    second = validate_frame(
        log.iloc[::2], suite, run_name="credit-w2", rebuild_docs="changed", **kwargs
    )
    assert second.success and len(_pages(tmp_path)) == 1  # counts differ, outcomes do not
    assert second.data_docs_url == first.data_docs_url
    assert second.data_docs_path == first.data_docs_path
    # the next window: other suite parameters (window bounds, now), same outcomes
    later = {**kwargs, "window": tuple(t + pd.Timedelta(hours=1) for t in WINDOW)}
    later["now"] = NOW + pd.Timedelta(hours=1)
    shifted = log.assign(timestamp=log["timestamp"] + pd.Timedelta(hours=1))
    third = validate_frame(shifted, suite, run_name="credit-w2b", rebuild_docs="changed", **later)
    assert third.success and len(_pages(tmp_path)) == 1
    assert third.data_docs_url == first.data_docs_url
    # a new process: new GX contexts, new expectation ids, same suite and outcomes
    fresh = GXRuntime().validate(
        shifted, suite, run_name="credit-w2c", rebuild_docs="changed", **later
    )
    assert fresh.success and len(_pages(tmp_path)) == 1
    assert fresh.data_docs_url == first.data_docs_url
    always = validate_frame(log, suite, run_name="credit-w3", **kwargs)  # the default: always
    assert len(_pages(tmp_path)) == 2 and always.data_docs_url != first.data_docs_url


def test_a_failed_window_always_gets_its_page_and_a_changed_suite_rebuilds(
    log: pd.DataFrame, suite: dict[str, Any], tmp_path: Path
) -> None:
    kwargs = {"pii": PII, "data_docs_dir": tmp_path, "window": WINDOW, "now": NOW}
    bad = _score_above_one(log)
    one = validate_frame(bad, suite, run_name="credit-f1", rebuild_docs="changed", **kwargs)
    two = validate_frame(bad, suite, run_name="credit-f2", rebuild_docs="changed", **kwargs)
    assert not one.success and not two.success
    assert one.data_docs_url != two.data_docs_url and len(_pages(tmp_path)) == 2
    passed = validate_frame(log, suite, run_name="credit-p1", rebuild_docs="changed", **kwargs)
    assert len(_pages(tmp_path)) == 3  # passing after failing: the outcomes changed
    fewer = {**suite, "expectations": suite["expectations"][:-1]}
    changed = validate_frame(log, fewer, run_name="credit-p2", rebuild_docs="changed", **kwargs)
    assert len(_pages(tmp_path)) == 4 and changed.data_docs_url != passed.data_docs_url


def test_rebuild_docs_is_checked(log: pd.DataFrame, suite: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="'rebuild_docs' parameter of validate_frame"):
        validate_frame(log, suite, rebuild_docs="sometimes")


def test_the_build_record_is_written_atomically_and_an_unreadable_one_means_rebuild(
    tmp_path: Path,
) -> None:
    datadocs.record_build(tmp_path, "credit", {"result": "abc"})
    folder = tmp_path / "gx" / "uncommitted" / "modelwatch"
    assert datadocs.last_build(tmp_path, "credit") == {"result": "abc"}
    assert [p.name for p in folder.iterdir()] == ["credit.json"]  # no temp file left
    (folder / "credit.json").write_text("{half")
    assert datadocs.last_build(tmp_path, "credit") == {}
    datadocs.record_build(tmp_path, "../../evil name", {"result": "x"})
    assert all(p.parent == folder for p in folder.iterdir())


def _build_in_child(root: str, run_name: str, queue: Any) -> None:  # pragma: no cover - child
    from tests.unit.test_quality import (
        SPEC_PATH,
        _served_log,
        build_suite,
        generate_reference,
        load_spec,
    )

    frame = _served_log()
    suite = build_suite(generate_reference(3000, seed=1), load_spec(SPEC_PATH), typical_rows=1000)
    report = validate_frame(frame, suite, pii=PII, data_docs_dir=Path(root), run_name=run_name)
    queue.put(report.data_docs_url)


def test_two_processes_building_one_site_both_get_their_page(tmp_path: Path) -> None:
    """The flock serializes two workers' builds: both pages exist, the record is valid JSON."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [
        context.Process(target=_build_in_child, args=(str(tmp_path), f"credit-p{i}", queue))
        for i in range(2)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=300)
        assert child.exitcode == 0
    urls = {queue.get(timeout=5) for _ in children}
    assert len(urls) == 2 and all(Path(u.removeprefix("file://")).is_file() for u in urls)
    assert len(_pages(tmp_path)) == 2
    assert datadocs.last_build(tmp_path, "credit")["url"] in urls
