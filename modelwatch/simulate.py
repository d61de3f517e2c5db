"""Demo data with known drift scenarios, generated here (nothing is downloaded).

The demo model ``credit`` predicts whether a loan applicant defaults. The
"world" has a pre-drift regime and a drifted regime, entered at a known window:

* covariate shift: ``income`` drops and ``utilization`` rises, the sales
  ``channel`` mix moves towards ``app``;
* concept drift: the relationship between features and default changes
  (utilization matters much more, income less, ``app`` customers are riskier).

Two more worlds, for the other model kinds (``task`` argument):

* ``regression`` — model ``house`` predicts a sale ``price`` (thousands, always
  > 0, so MAPE is defined). Drift: homes get bigger and farther out
  (covariate), the price per square metre rises by half and the ``east``
  premium flips (concept).
* ``multiclass`` — model ``churn3`` predicts a subscriber's next step
  (``stay`` / ``downgrade`` / ``churn``). Drift: usage falls and the ``app``
  channel grows (covariate), low usage drives churn and support calls stop
  mattering (concept).

Everything is reproducible from a seed. :func:`generate_window` returns the
ground truth of one window (features, PII column, target, ids, timestamps,
latency); the demo "serves" it with the current champion (adding ``score`` and
``prediction``) and writes the prediction log and the label feed separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from modelwatch.errors import ParameterError

NUMERIC = ("age", "income", "debt_ratio", "credit_lines", "utilization", "months_employed")
CATEGORICAL = ("region", "product", "channel")
TARGET = "defaulted"
ID = "prediction_id"
TIMESTAMP = "timestamp"
PII = ("email",)

_REGIONS = np.array(["north", "south", "east", "west"])
_PRODUCTS = np.array(["card", "loan", "mortgage"])
_CHANNELS = np.array(["web", "app", "branch"])


HOUSE_NUMERIC = ("area", "rooms", "age_years", "distance_km", "lot_m2")
HOUSE_CATEGORICAL = ("city", "kind")
HOUSE_TARGET = "price"
CHURN_NUMERIC = ("tenure_months", "monthly_spend", "support_calls", "usage_hours", "discount")
CHURN_CATEGORICAL = ("plan", "channel")
CHURN_TARGET = "next_step"
CHURN_CLASSES = ("stay", "downgrade", "churn")
TASKS = ("binary", "multiclass", "regression")
TARGETS = {"binary": TARGET, "multiclass": CHURN_TARGET, "regression": HOUSE_TARGET}

_CITIES = np.array(["north", "south", "east", "west"])
_KINDS = np.array(["flat", "house", "villa"])
_PLANS = np.array(["basic", "plus", "pro"])


@dataclass(frozen=True)
class Scenario:
    """How strongly the drifted regime differs; 0 = no drift."""

    drift_start: int = 6
    covariate_shift: float = 1.0
    concept_shift: float = 1.0


def sample_world(n: int, *, drift: float, concept: float, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``n`` applicants (features + target) from the world at a drift level in [0, 1]."""
    age = np.clip(rng.normal(40, 10, n), 18, 90).round(0)
    income = rng.lognormal(10.8 - 0.35 * drift, 0.5, n).round(2)
    debt_ratio = rng.beta(2, 5, n)
    credit_lines = rng.poisson(4, n).astype("float64")
    utilization = np.clip(rng.beta(2 + 2.0 * drift, 3, n), 0, 1)
    months_employed = rng.gamma(2, 24, n).round(0)
    region = rng.choice(_REGIONS, n, p=[0.3, 0.3, 0.2, 0.2])
    product = rng.choice(_PRODUCTS, n, p=[0.5, 0.3, 0.2])
    p_app = 0.3 + 0.35 * drift
    channel = rng.choice(_CHANNELS, n, p=[0.7 - p_app, p_app, 0.3])

    logit = (
        -1.2
        + 4.0 * (debt_ratio - 0.3)
        + (2.5 - 6.0 * concept) * (utilization - 0.45)
        - 0.03 * (age - 40)
        - (1.0 - 1.6 * concept) * (np.log(income) - 10.8)
        + np.where(product == "card", 0.4, 0.0)
        + np.where(region == "south", 0.3, 0.0)
        + 1.6 * concept * np.where(channel == "app", 1.0, -0.6)
        - 0.005 * (months_employed - 48)
    )
    target = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "debt_ratio": debt_ratio,
            "credit_lines": credit_lines,
            "utilization": utilization,
            "months_employed": months_employed,
            "region": pd.array(region, dtype="str"),
            "product": pd.array(product, dtype="str"),
            "channel": pd.array(channel, dtype="str"),
            TARGET: target,
        }
    )


def sample_house(n: int, *, drift: float, concept: float, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``n`` home sales (features + ``price``, thousands) at a drift level in [0, 1]."""
    area = np.clip(rng.normal(95 + 25 * drift, 30, n), 25, 400).round(1)
    rooms = np.clip(np.round(area / 28 + rng.normal(0, 0.8, n)), 1, 12)
    age_years = rng.gamma(2.0, 15.0, n).round(0)
    distance_km = rng.gamma(2.0, 4.0 + 3.0 * drift, n).round(2)
    lot_m2 = rng.lognormal(5.5, 0.6, n).round(0)
    city = rng.choice(_CITIES, n, p=[0.3, 0.3, 0.2, 0.2])
    kind = rng.choice(_KINDS, n, p=[0.5, 0.4, 0.1])
    per_m2 = 2.2 * (1.0 + 0.5 * concept)
    price = (
        60.0
        + per_m2 * area
        + 8.0 * rooms
        - 0.9 * age_years
        - 3.5 * distance_km
        + 0.02 * lot_m2
        + np.where(city == "east", 40.0 - 80.0 * concept, 0.0)
        + np.where(city == "north", 25.0, 0.0)
        + np.where(kind == "villa", 60.0, np.where(kind == "house", 20.0, 0.0))
        + rng.normal(0.0, 18.0, n)
    )
    return pd.DataFrame(
        {
            "area": area,
            "rooms": rooms,
            "age_years": age_years,
            "distance_km": distance_km,
            "lot_m2": lot_m2,
            "city": pd.array(city, dtype="str"),
            "kind": pd.array(kind, dtype="str"),
            HOUSE_TARGET: np.clip(price, 20.0, None).round(2),
        }
    )


def sample_churn(n: int, *, drift: float, concept: float, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``n`` subscribers (features + ``next_step`` class) at a drift level in [0, 1]."""
    tenure = rng.gamma(2.0, 12.0, n).round(0)
    spend = rng.lognormal(3.5, 0.4, n).round(2)
    support = rng.poisson(1.0 + 0.5 * drift, n).astype("float64")
    usage = np.clip(rng.normal(20.0 - 6.0 * drift, 6.0, n), 0, None).round(1)
    discount = rng.beta(1.5, 8.0, n).round(3)
    plan = rng.choice(_PLANS, n, p=[0.5, 0.3, 0.2])
    p_app = 0.3 + 0.3 * drift
    channel = rng.choice(_CHANNELS, n, p=[0.7 - p_app, p_app, 0.3])
    z_tenure, z_usage = (tenure - 24.0) / 17.0, (usage - 20.0) / 6.0
    z_support = support - 1.0
    down = (
        -0.6
        + (0.9 - 0.9 * concept) * z_support
        - 0.6 * z_usage
        + np.where(plan == "pro", 0.8, 0.0)
        + 1.5 * concept * np.where(channel == "app", 1.0, -0.5)
    )
    churn = (
        -1.0
        + (1.1 - 1.1 * concept) * z_support
        - (0.9 - 0.5 * concept) * z_tenure
        - (0.2 + 1.8 * concept) * z_usage
        - 2.0 * discount
        + np.where(plan == "basic", 0.4, 0.0)
    )
    logits = np.column_stack([np.zeros(n), down, churn])
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    step = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_spend": spend,
            "support_calls": support,
            "usage_hours": usage,
            "discount": discount,
            "plan": pd.array(plan, dtype="str"),
            "channel": pd.array(channel, dtype="str"),
            CHURN_TARGET: pd.array(np.asarray(CHURN_CLASSES)[np.minimum(step, 2)], dtype="str"),
        }
    )


_SAMPLERS = {"binary": sample_world, "multiclass": sample_churn, "regression": sample_house}


def sample(
    task: str, n: int, *, drift: float, concept: float, rng: np.random.Generator
) -> pd.DataFrame:
    """The world of ``task`` (``binary``: credit, ``multiclass``: churn3, ``regression``: house)."""
    if task not in _SAMPLERS:
        raise ParameterError(
            f"The 'task' parameter of simulate.sample must be one of {list(TASKS)}. "
            f"Got {task!r} instead."
        )
    return _SAMPLERS[task](n, drift=drift, concept=concept, rng=rng)


def generate_reference(n: int = 6000, *, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    """The champion's training data: pre-drift world, features and target."""
    return sample(task, n, drift=0.0, concept=0.0, rng=np.random.default_rng([seed, 0]))


def generate_window(
    index: int,
    *,
    start: datetime,
    hours: float = 1.0,
    rows: int = 2000,
    seed: int = 0,
    scenario: Scenario | None = None,
    task: str = "binary",
) -> pd.DataFrame:
    """Ground truth of window ``index`` (0-based) starting at ``start`` (UTC)."""
    scenario = scenario or Scenario()
    rng = np.random.default_rng([seed, 1, index])
    drifted = index >= scenario.drift_start
    frame = sample(
        task,
        rows,
        drift=scenario.covariate_shift if drifted else 0.0,
        concept=scenario.concept_shift if drifted else 0.0,
        rng=rng,
    )
    offsets = np.sort(rng.uniform(0, hours * 3600.0, rows))
    ts = (
        pd.Timestamp(start).tz_convert("UTC")
        if pd.Timestamp(start).tzinfo
        else pd.Timestamp(start, tz="UTC")
    )
    frame.insert(0, TIMESTAMP, ts + pd.to_timedelta(offsets, unit="s"))
    frame.insert(0, ID, [f"{ts:%Y%m%dT%H%M}-{i:06d}" for i in range(rows)])
    frame["email"] = pd.array(
        [f"applicant{index}_{i}@example.com" for i in range(rows)], dtype="str"
    )
    frame["latency_ms"] = rng.lognormal(np.log(35.0), 0.35, rows).round(2)
    return frame


def window_starts(first: datetime, n_windows: int, hours: float = 1.0) -> list[datetime]:
    return [first + timedelta(hours=hours * i) for i in range(n_windows)]


def split_log_and_labels(
    served: pd.DataFrame,
    *,
    label_fraction: float = 0.8,
    seed: int = 0,
    index: int = 0,
    target: str = TARGET,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a served window into the prediction log (no target) and the label feed.

    Only ``label_fraction`` of the predictions get a label (delayed feedback);
    the label feed has ``prediction_id``, the target and ``label_timestamp``.
    """
    rng = np.random.default_rng([seed, 2, index])
    log = served.drop(columns=[target])
    mask = rng.random(len(served)) < label_fraction
    labels = served.loc[mask, [ID, target]].reset_index(drop=True)
    delay = pd.to_timedelta(rng.uniform(600, 3000, int(mask.sum())), unit="s")
    labels["label_timestamp"] = served.loc[mask, TIMESTAMP].reset_index(drop=True) + delay
    return log.reset_index(drop=True), labels
