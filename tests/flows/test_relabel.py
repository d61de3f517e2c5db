"""Delayed labels: the relabel flow re-judges windows whose labels arrived late.

Late labels are simulated by holding back part (or all) of a served window's label
file while the window is monitored, and putting it back before ``relabel-model``.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import tasks.publish
from flows.monitor import monitor_model
from flows.relabel import relabel_model
from modelwatch import demo as demo_lib
from modelwatch.spec import find_spec
from tests.flows.conftest import World


def _label_file(world: World, index: int) -> Path:
    return world.label_file(index)


def _hold_back(world: World, index: int, keep: float, aside: Path) -> None:
    """Move window ``index``'s labels aside, leaving only the first ``keep`` share in place."""
    path = _label_file(world, index)
    aside.mkdir(exist_ok=True)
    shutil.copy2(path, aside / path.name)
    labels = pd.read_parquet(path)
    if keep:
        labels.head(int(len(labels) * keep)).to_parquet(path, index=False)
    else:
        path.unlink()


def _arrive_wrong(world: World, index: int, aside: Path, kept: int) -> None:
    """The held-back labels arrive, and they say the model was wrong (the target flipped)."""
    labels = pd.read_parquet(aside / _label_file(world, index).name)
    late = labels.index >= kept
    labels.loc[late, "defaulted"] = 1 - labels.loc[late, "defaulted"]
    labels.to_parquet(_label_file(world, index), index=False)


def _runs(world: World) -> dict[int, dict[str, Any]]:
    """Stored runs by window index, each with its overall realized metric rows."""
    store = world.store()
    try:
        rows = store.runs("credit")
        out = {}
        for row in rows:
            index = int((row["window_start"] - world.first).total_seconds() // 3600)
            realized = [
                m
                for m in store.metrics(row["id"])
                if m["kind"] == "realized" and m["name"] == "roc_auc" and m["segment"] is None
            ]
            assert index not in out, "one run row per window"
            out[index] = {**row, "realized": realized}
        return out
    finally:
        store.dispose()


def _versions(world: World) -> list[str]:
    found = world.registry().client.search_model_versions("name='credit'")
    return sorted(str(v.version) for v in found)


def test_late_labels_rejudge_their_windows_against_the_champion_that_served_them(
    fresh_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = fresh_world
    served = {index: world.serve(index) for index in (1, 2, 3)}
    aside = tmp_path / "late-labels"
    _hold_back(world, 2, 0.25, aside)  # a quarter of the labels in time
    _hold_back(world, 3, 0.0, aside)  # none: judged on the CBPE estimate
    for index in (1, 2, 3):
        monitor_model(model_name="credit", window_end=world.window(index)[1])
    before = _runs(world)
    assert [before[i]["status"] for i in (1, 2, 3)] == ["ok", "ok", "ok"]
    assert before[2]["n_labeled"] == int(served[2].labeled * 0.25)
    assert (before[3]["n_labeled"], before[3]["realized"]) == (0, [])
    # a new champion since: the windows were served by v1 and are judged against v1
    spec = find_spec("credit", world.settings.resolved_specs_dir)
    demo_lib.bootstrap(spec, world.settings, seed=1)
    aliases = world.registry().aliases("credit")
    assert aliases["champion"] == "2" and _versions(world) == ["1", "2"]
    # the late labels arrive and condemn windows 2 and 3: 2 bad of the last 3 is degraded
    _arrive_wrong(world, 2, aside, kept=before[2]["n_labeled"])
    _arrive_wrong(world, 3, aside, kept=0)
    emitted: list[Any] = []
    monkeypatch.setattr(tasks.publish, "emit_model_event", lambda *a, **k: emitted.append(a))
    monkeypatch.setattr(tasks.publish, "send_alert", lambda *a, **k: emitted.append(a))

    state = relabel_model(model_name="credit", return_state=True)

    assert state.name == "Relabeled", state.message
    assert (state.message or "").startswith("2 window(s) re-judged: 2026-11-20T02 (v1, labels ")
    after = _runs(world)
    assert sorted(after) == [1, 2, 3]  # one run row per window, replaced in place
    assert after[1]["id"] == before[1]["id"]  # its labels did not grow: not re-judged
    for index in (2, 3):
        row = after[index]
        assert row["id"] != before[index]["id"]
        assert row["n_labeled"] == served[index].labeled > before[index]["n_labeled"]
        assert row["champion_version"] == "1"  # the champion that served it
        (realized,) = row["realized"]  # the realized metric on every label now
        assert realized["n"] == served[index].labeled
        assert realized["value"] < 0.5
        assert row["bad"] is True
        # the decision acted on then stands: no episode starts or grows by a re-judge
        assert row["status"] == "ok" and "status kept as decided then (ok)" in row["reason"]
    # what a live run would have decided ...
    assert "2 of the last 3 windows bad (rule: 2 of 3): degraded;" in after[3]["reason"]
    # ... but a re-judge never emits, alerts, retrains or promotes
    assert emitted == []
    assert world.registry().aliases("credit") == aliases
    assert _versions(world) == ["1", "2"]
    store = world.store()
    try:
        assert store.decisions("credit", kind="retrain") == []
        assert store.decisions("credit", kind="retrain-episode") == []
    finally:
        store.dispose()

    again = relabel_model(model_name="credit", return_state=True)

    assert again.name == "NoNewLabels", again.message
    assert {i: r["id"] for i, r in _runs(world).items()} == {i: r["id"] for i, r in after.items()}


def test_a_champion_version_is_only_for_a_rejudge() -> None:
    state = monitor_model(
        model_name="credit",
        window_end=datetime(2026, 11, 20, 1, tzinfo=UTC),
        window_hours=1,
        champion_version="1",
        return_state=True,
    )
    assert state.is_failed()
    assert "'champion_version' parameter of monitor_model is only for rejudge=True" in (
        state.message or ""
    )
