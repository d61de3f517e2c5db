"""Speed and memory of dataset drift detection (issue 3), with the calibration of the defaults.

Generates a reference and a current frame of N rows each, 50 columns (40 numeric
from mixed distributions with some missing values, 10 categorical with 5–50
levels), and a known drifted subset in the current frame. For every N it times:

(a) ``detect_drift(profile, current)`` with the default ``"auto"`` methods, the
    :class:`~modelwatch.stats.drift.ReferenceProfile` fitted beforehand;
(b) the same including ``fit_reference_profile`` on the reference frame;
(c) the naive loop a user writes: ``scipy.stats.ks_2samp`` per numeric column and
    ``scipy.stats.chi2_contingency`` on value counts per categorical column;
(d) the floor: ``np.sort`` of every numeric column of the current frame.

Wall time is the best of ``--repeat`` runs. Memory per stage: the peak of
numpy/Python allocations above the inputs (``tracemalloc``), and the peak RSS of
a forked child that runs the stage once (it includes the frames held by the
parent). It also reports the calibration of the defaults: the share of columns
flagged on no-drift data, and which of the issue's subtle drifts (mean shift of
0.1 std, variance × 1.2, category frequency shift of 10 points) are flagged.

The calibration table (``--calibration-sizes``, default 1k, 10k, 100k) repeats
that on independent seeded replicates per N (20 at 1k, 10 at 10k, 3 at 100k,
1 at 1M) with the defaults (``"auto"``, Benjamini–Hochberg, the sample-size
PSI rule): no-drift share of the 50 columns flagged (mean and worst replicate),
the share of replicates in which each subtle drift is found, and the columns
flagged besides the injected ones.

Usage::

    python benchmarks/drift_benchmark.py                      # N = 10k, 100k
    python benchmarks/drift_benchmark.py --sizes 10000,100000,1000000 \
        --calibration-sizes 1000,10000,100000,1000000

Writes ``benchmarks/results/drift_benchmark.json`` (``--output`` to change).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy
from scipy import stats

from modelwatch.stats.drift import detect_drift, fit_reference_profile

N_NUMERIC = 40
N_CATEGORICAL = 10
MISSING_SHARE = 0.01
NUMERIC = [f"num_{i:02d}" for i in range(N_NUMERIC)]
CATEGORICAL = [f"cat_{j}" for j in range(N_CATEGORICAL)]
STRONG_DRIFT = ["num_00", "num_09", "num_18", "cat_0", "cat_5"]
SUBTLE_DRIFT = {"num_08": "mean +0.1 std", "num_16": "variance x1.2", "cat_1": "10-point shift"}
RESULTS = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------- data


def _numeric_column(i: int, n: int, rng: np.random.Generator) -> np.ndarray:
    kind = i % 8
    if kind == 0:
        values = rng.normal(0.0, 1.0, n)
    elif kind == 1:
        values = rng.lognormal(0.0, 0.5, n)
    elif kind == 2:
        values = rng.exponential(1.0, n)
    elif kind == 3:
        values = rng.uniform(0.0, 1.0, n)
    elif kind == 4:
        values = rng.standard_t(5, n)
    elif kind == 5:
        values = rng.poisson(3.0, n).astype(np.float64)  # many ties
    elif kind == 6:
        values = np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(1, 1, n))
    else:
        values = rng.gamma(2.0, 1.0, n)
    if i % 5 == 0:
        values[rng.random(n) < MISSING_SHARE] = np.nan
    return values


def _levels(j: int) -> tuple[np.ndarray, np.ndarray]:
    k = 5 + 5 * j  # 5 .. 50 levels
    levels = np.array([f"level_{j}_{v:02d}" for v in range(k)], dtype=object)
    weights = 1.0 / np.arange(1, k + 1)
    return levels, weights / weights.sum()


def _categorical_column(j: int, n: int, rng: np.random.Generator) -> np.ndarray:
    levels, p = _levels(j)
    return levels[rng.choice(levels.size, size=n, p=p)]


def make_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    data: dict[str, Any] = {c: _numeric_column(i, n, rng) for i, c in enumerate(NUMERIC)}
    data.update({c: _categorical_column(j, n, rng) for j, c in enumerate(CATEGORICAL)})
    return pd.DataFrame(data)


def _std(values: pd.Series) -> float:
    return float(np.nanstd(values.to_numpy()))


def inject_strong(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Drift any sensible monitor should flag at every N: the default methods must find it."""
    out = frame.copy()
    n = len(out)
    out["num_00"] = out["num_00"] + 1.0 * _std(out["num_00"])  # mean shift 1 std
    mean = np.nanmean(out["num_09"].to_numpy())
    out["num_09"] = mean + 2.0 * (out["num_09"] - mean)  # spread x2
    spike = rng.random(n) < 0.3
    out.loc[spike, "num_18"] = 0.0  # 30% of the rows stuck at a sentinel value
    levels, p = _levels(0)
    q = p.copy()
    q[0], q[1] = p[0] - 0.3, p[1] + 0.3  # 30-point frequency shift
    out["cat_0"] = levels[rng.choice(levels.size, size=n, p=q)]
    new = rng.random(n) < 0.2
    cat_5 = out["cat_5"].to_numpy(dtype=object).copy()
    cat_5[new] = "unseen_level"
    out["cat_5"] = cat_5
    return out


def inject_subtle(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The issue's calibration drifts: mean +0.1 std, variance x1.2, 10-point category shift."""
    out = frame.copy()
    n = len(out)
    out["num_08"] = out["num_08"] + 0.1 * _std(out["num_08"])
    mean = np.nanmean(out["num_16"].to_numpy())
    out["num_16"] = mean + np.sqrt(1.2) * (out["num_16"] - mean)
    levels, p = _levels(1)
    q = p.copy()
    q[0], q[1] = p[0] - 0.1, p[1] + 0.1
    out["cat_1"] = levels[rng.choice(levels.size, size=n, p=q)]
    return out


# --------------------------------------------------------------------------- stages


def naive_scipy_loop(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """What users write today: one scipy call per column, p < 0.05."""
    flagged = []
    for column in NUMERIC:
        result = stats.ks_2samp(reference[column].dropna(), current[column].dropna())
        if result.pvalue < 0.05:
            flagged.append(column)
    for column in CATEGORICAL:
        table = pd.concat(
            [reference[column].value_counts(), current[column].value_counts()], axis=1
        ).fillna(0)
        result = stats.chi2_contingency(table.to_numpy().T)
        if result.pvalue < 0.05:
            flagged.append(column)
    return flagged


def sort_floor(current: pd.DataFrame) -> None:
    for column in NUMERIC:
        np.sort(current[column].to_numpy())


def best_time(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def traced_peak(function: Callable[[], object]) -> int:
    """Peak bytes allocated (numpy + Python) above what was allocated before the call."""
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base


def forked_peak_rss(function: Callable[[], object]) -> int | None:
    """Peak RSS (bytes) of a forked child running the function once (Linux/macOS)."""
    if not hasattr(os, "fork"):
        return None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        try:
            function()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            scale = 1 if sys.platform == "darwin" else 1024
            os.write(write_end, str(peak * scale).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return int(text) if text else None


# --------------------------------------------------------------------------- run


def run_size(n: int, repeat: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    reference = make_frame(n, rng)
    current_null = make_frame(n, rng)
    current = inject_strong(current_null, rng)
    frames_bytes = int(
        reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum()
    )
    profile = fit_reference_profile(reference, numeric=NUMERIC, categorical=CATEGORICAL)

    stages: dict[str, Callable[[], object]] = {
        "a_profile_fitted": lambda: detect_drift(profile, current),
        "b_including_fit": lambda: detect_drift(
            fit_reference_profile(reference, numeric=NUMERIC, categorical=CATEGORICAL), current
        ),
        "c_naive_scipy_loop": lambda: naive_scipy_loop(reference, current),
        "d_np_sort_floor": lambda: sort_floor(current),
    }
    results: dict[str, dict[str, Any]] = {}
    outputs: dict[str, object] = {}
    for name, function in stages.items():
        runs = 1 if name == "c_naive_scipy_loop" and n >= 1_000_000 else repeat
        seconds, outputs[name] = best_time(function, runs)
        results[name] = {
            "seconds": seconds,
            "repeat": runs,
            "traced_peak_bytes": traced_peak(function),
            "peak_rss_bytes": forked_peak_rss(function),
        }
    for row in results.values():
        row["ratio_to_naive"] = row["seconds"] / results["c_naive_scipy_loop"]["seconds"]
        row["ratio_to_sort_floor"] = row["seconds"] / results["d_np_sort_floor"]["seconds"]
        row["traced_peak_over_frames"] = row["traced_peak_bytes"] / frames_bytes

    report = outputs["a_profile_fitted"]
    flagged = report.drifted_columns  # type: ignore[attr-defined]
    methods = sorted({r.method for r in report.columns})  # type: ignore[attr-defined]

    null_report = detect_drift(profile, current_null)
    subtle_report = detect_drift(profile, inject_subtle(current_null, rng))
    subtle_flagged = [c for c in SUBTLE_DRIFT if subtle_report[c].drifted]
    return {
        "n": n,
        "frames_bytes": frames_bytes,
        "stages": results,
        "auto_methods_used": methods,
        "injected": STRONG_DRIFT,
        "flagged": flagged,
        "flagged_equals_injected": sorted(flagged) == sorted(STRONG_DRIFT),
        "naive_flagged": outputs["c_naive_scipy_loop"],
        "calibration": {
            "no_drift_share_flagged": null_report.share_drifted,
            "no_drift_flagged": null_report.drifted_columns,
            "subtle_injected": SUBTLE_DRIFT,
            "subtle_flagged": subtle_flagged,
            "subtle_statistics": {
                c: {
                    "method": subtle_report[c].method,
                    "statistic": subtle_report[c].statistic,
                    "threshold": subtle_report[c].threshold,
                }
                for c in SUBTLE_DRIFT
            },
        },
    }


REPLICATES = {1000: 20, 10_000: 10, 100_000: 3}


def calibration_row(n: int, seed: int) -> dict[str, Any]:
    """No-drift flag rate and subtle-drift detection of the defaults over seeded replicates."""
    replicates = REPLICATES.get(n, 1)
    null_shares: list[float] = []
    found = dict.fromkeys(SUBTLE_DRIFT, 0)
    extra_flags = 0
    methods: set[str] = set()
    for r in range(replicates):
        rng = np.random.default_rng([seed, n, r])
        reference = make_frame(n, rng)
        profile = fit_reference_profile(reference, numeric=NUMERIC, categorical=CATEGORICAL)
        null = make_frame(n, rng)
        null_report = detect_drift(profile, null)
        null_shares.append(null_report.share_drifted)
        methods |= {c.method for c in null_report.columns}
        subtle = detect_drift(profile, inject_subtle(make_frame(n, rng), rng))
        for column in SUBTLE_DRIFT:
            found[column] += int(subtle[column].drifted)
        extra_flags += len([c for c in subtle.drifted_columns if c not in SUBTLE_DRIFT])
    others = (N_NUMERIC + N_CATEGORICAL - len(SUBTLE_DRIFT)) * replicates
    return {
        "n": n,
        "replicates": replicates,
        "methods": sorted(methods),
        "no_drift_share_flagged_mean": float(np.mean(null_shares)),
        "no_drift_share_flagged_max": float(np.max(null_shares)),
        "subtle_found_share": {
            f"{column} ({what})": found[column] / replicates
            for column, what in SUBTLE_DRIFT.items()
        },
        "subtle_run_other_columns_flagged_share": extra_flags / others,
    }


def print_calibration(rows: list[dict[str, Any]]) -> None:
    names = list(rows[0]["subtle_found_share"]) if rows else []
    short = [name.split(" ", 1)[1].strip("()") for name in names]
    header = (
        f"{'N':>9} {'reps':>4}  {'no-drift flagged':>16} {'(worst)':>8}  "
        + "  ".join(f"{s:>14}" for s in short)
        + f"  {'other flagged':>13}  methods"
    )
    print(
        "\ncalibration of the defaults (auto, BH, PSI sample-size rule): share of columns flagged"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        found = "  ".join(f"{row['subtle_found_share'][name]:>14.0%}" for name in names)
        print(
            f"{row['n']:>9} {row['replicates']:>4}  {row['no_drift_share_flagged_mean']:>16.2%} "
            f"{row['no_drift_share_flagged_max']:>8.1%}  {found}  "
            f"{row['subtle_run_other_columns_flagged_share']:>13.2%}  {','.join(row['methods'])}"
        )


def print_table(runs: list[dict[str, Any]]) -> None:
    header = (
        f"{'N':>9}  {'stage':<20} {'seconds':>9} {'x naive':>8} {'x floor':>8} "
        f"{'extra MB':>9} {'peak RSS MB':>11}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        for name, row in run["stages"].items():
            rss = row["peak_rss_bytes"]
            print(
                f"{run['n']:>9}  {name:<20} {row['seconds']:>9.3f} {row['ratio_to_naive']:>8.3f} "
                f"{row['ratio_to_sort_floor']:>8.2f} {row['traced_peak_bytes'] / 2**20:>9.1f} "
                f"{(rss or 0) / 2**20:>11.1f}"
            )
        calibration = run["calibration"]
        print(
            f"{'':>11}frames {run['frames_bytes'] / 2**20:.1f} MB; auto methods "
            f"{run['auto_methods_used']}; flagged == injected: {run['flagged_equals_injected']} "
            f"({run['flagged']}); naive flagged {len(run['naive_flagged'])} columns"
        )
        print(
            f"{'':>11}calibration: no-drift share flagged "
            f"{calibration['no_drift_share_flagged']:.3f}; subtle drifts flagged "
            f"{calibration['subtle_flagged']} of {list(calibration['subtle_injected'])}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10000,100000",
        help="comma-separated row counts per frame (default: 10000,100000; add 1000000)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    parser.add_argument(
        "--calibration-sizes",
        default="1000,10000,100000",
        help="row counts per side of the calibration table (default: 1000,10000,100000)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS / "drift_benchmark.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    runs = [run_size(n, args.repeat, args.seed) for n in sizes]
    print_table(runs)
    calibration_sizes = [int(s) for s in args.calibration_sizes.split(",") if s.strip()]
    calibration = [calibration_row(n, args.seed) for n in calibration_sizes]
    print_calibration(calibration)
    payload = {
        "benchmark": "drift_benchmark",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pandas": pd.__version__,
        },
        "columns": {"numeric": N_NUMERIC, "categorical": N_CATEGORICAL},
        "process_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "runs": runs,
        "calibration": calibration,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
