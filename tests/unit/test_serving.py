"""Routing by a stable hash of the prediction id, and serving with champion / canary / shadow."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelwatch.errors import DataError, ParameterError
from modelwatch.serving import (
    CANARY,
    CHAMPION,
    Router,
    route,
    route_many,
    route_points,
    score_with_stages,
)
from modelwatch.simulate import generate_reference
from modelwatch.spec import MonitorSpec, load_spec

SPEC_PATH = Path(__file__).resolve().parents[2] / "deployments" / "specs" / "credit.yaml"


class _Constant:
    """A classifier double that answers ``label`` with probability ``p`` on every row."""

    classes_ = np.array([0, 1])

    def __init__(self, label: int, p: float) -> None:
        self.label, self.p, self.rows = label, p, 0

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        self.rows += len(X)
        return np.full(len(X), self.label)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([np.full(len(X), 1 - self.p), np.full(len(X), self.p)])


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return load_spec(SPEC_PATH)


IDS = [f"pred-{i}" for i in range(100_000)]


def test_the_canary_share_is_kept_within_binomial_noise_on_100k_ids() -> None:
    for share in (0.01, 0.1, 0.5):
        got = (route_many(IDS, canary_share=share, salt="credit") == CANARY).mean()
        assert abs(got - share) <= 4 * np.sqrt(share * (1 - share) / len(IDS))
    assert (route_many(IDS, canary_share=0.0, salt="credit") == CHAMPION).all()
    assert (route_many(IDS, canary_share=1.0, salt="credit") == CANARY).all()


def test_routing_is_the_documented_hash_and_independent_of_order_and_batch() -> None:
    points = route_points(IDS[:1000], salt="credit")
    digest = hashlib.blake2b(b"credit\x1fpred-7", digest_size=8).digest()
    assert points[7] == int.from_bytes(digest, "big") / 2**64
    order = np.random.default_rng(0).permutation(1000)
    shuffled = route_many([IDS[i] for i in order], canary_share=0.2, salt="credit")
    assert (shuffled == route_many(IDS[:1000], canary_share=0.2, salt="credit")[order]).all()
    assert [route(i, canary_share=0.2, salt="credit") for i in IDS[:50]] == list(
        route_many(IDS[:50], canary_share=0.2, salt="credit")
    )
    assert route(7, canary_share=0.3, salt="m") == route("7", canary_share=0.3, salt="m")
    assert route_many(np.arange(5), canary_share=0.3, salt="m").tolist() == [
        route(str(i), canary_share=0.3, salt="m") for i in range(5)
    ]


def test_routing_is_stable_across_processes() -> None:
    """Another interpreter (another PYTHONHASHSEED, nothing of modelwatch imported) computing
    the documented hash routes the same ids the same way."""
    code = (
        "import hashlib;"
        "print(''.join('c' if int.from_bytes(hashlib.blake2b(f'credit\\x1fpred-{i}'.encode(),"
        " digest_size=8).digest(), 'big') / 2**64 < 0.3 else '-' for i in range(2000)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    ).stdout.strip()
    here = route_many(IDS[:2000], canary_share=0.3, salt="credit")
    assert out == "".join("c" if v == CANARY else "-" for v in here)
    assert 400 < out.count("c") < 800


def test_raising_the_share_only_adds_canary_ids_and_salts_split_independently() -> None:
    small = route_many(IDS[:20_000], canary_share=0.05, salt="credit") == CANARY
    large = route_many(IDS[:20_000], canary_share=0.2, salt="credit") == CANARY
    assert (large[small]).all() and large.sum() > small.sum()
    other = route_many(IDS[:20_000], canary_share=0.2, salt="churn") == CANARY
    both = (large & other).mean()
    assert abs(both - 0.04) < 0.006  # independent: 0.2 x 0.2


def test_bad_routing_arguments_are_refused() -> None:
    with pytest.raises(ParameterError, match="'canary_share' parameter of route"):
        route("a", canary_share=1.5, salt="m")
    with pytest.raises(ParameterError, match="'salt' parameter of route"):
        route("a", canary_share=0.1, salt="")
    with pytest.raises(DataError, match="1 prediction id"):
        route_many(["a", None], canary_share=0.1, salt="m")
    with pytest.raises(ParameterError):
        Router("m", canary_share=-0.1)
    assert Router("m", 0.3).route_many(IDS[:10]).tolist() == list(
        route_many(IDS[:10], canary_share=0.3, salt="m")
    )


def test_score_with_stages_serves_each_row_from_its_variant_and_logs_the_shadow(
    spec: MonitorSpec,
) -> None:
    frame = generate_reference(3000, seed=1)
    frame["prediction_id"] = [f"id-{i}" for i in range(len(frame))]
    frame.index = frame.index + 1000  # a non-default index is kept
    champion, canary, shadow = _Constant(0, 0.2), _Constant(1, 0.9), _Constant(1, 0.6)
    served = score_with_stages(
        frame, spec, champion=champion, canary=canary, shadow=shadow, canary_share=0.25
    )
    expected = route_many(frame["prediction_id"], canary_share=0.25, salt="credit")
    assert (served["variant"].to_numpy() == expected).all()
    on_canary = expected == CANARY
    assert served.index.equals(frame.index) and len(served) == len(frame)
    assert (served["prediction"].to_numpy() == np.where(on_canary, 1, 0)).all()
    assert served["score"].to_numpy() == pytest.approx(np.where(on_canary, 0.9, 0.2))
    assert (served["shadow_prediction"] == 1).all() and (served["shadow_score"] == 0.6).all()
    assert champion.rows == (~on_canary).sum() and canary.rows == on_canary.sum()
    assert shadow.rows == len(frame)
    assert "variant" not in frame.columns and "prediction" not in frame.columns
    assert served["prediction"].dtype.kind == "i"


def test_without_a_canary_every_row_is_the_champion_s(spec: MonitorSpec) -> None:
    frame = generate_reference(200, seed=2)
    frame["prediction_id"] = [f"id-{i}" for i in range(len(frame))]
    served: Any = score_with_stages(frame, spec, champion=_Constant(1, 0.7), canary_share=0.5)
    assert (served["variant"] == CHAMPION).all() and (served["prediction"] == 1).all()
    assert not any(c.startswith("shadow_") for c in served.columns)
    empty = score_with_stages(
        frame.iloc[:0], spec, champion=_Constant(1, 0.7), shadow=_Constant(0, 0.1)
    )
    assert len(empty) == 0
    assert {"variant", "prediction", "score", "shadow_prediction"} <= set(empty.columns)
    with pytest.raises(DataError, match="'prediction_id'"):
        score_with_stages(frame.drop(columns="prediction_id"), spec, champion=_Constant(1, 0.7))
