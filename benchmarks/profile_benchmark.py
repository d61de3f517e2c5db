"""Size, speed and accuracy of the persisted drift profile: full (every value) vs compact.

A reference of N rows × C numeric columns (default 1M × 50; distributions cycle
through normal, lognormal, Cauchy (heavy tails), Poisson (ties), exponential,
uniform, a 90 % point mass + exponential, Student t3, a bimodal mixture and
rounded integers, 2 % missing values) is summarized with
``fit_reference_profile`` and saved the way a version's ``reference/profile.npz``
is logged (``np.savez`` of ``ReferenceProfile.to_arrays()``):

* **full** — ``to_arrays(max_exact_rows=None)``: every sorted value (the format
  before compact profiles, 8 bytes per value);
* **compact** — ``to_arrays()``: above ``COMPACT_MIN_ROWS`` values a column keeps
  ``COMPACT_QUANTILES + 1`` order statistics and their ranks.

For each: file size, fit time (shared: the profile is fitted once, then
compacted), compaction + save time, load time (``np.load(allow_pickle=False)`` +
``ReferenceProfile.from_arrays``), and the time of ``detect_drift`` on a window
of ``--window`` rows with method ``ks``. Accuracy of the compact profile against
the exact statistics, per column, on a drifted window: ``|D_compact - D_exact|``
(KS, with ``scipy.stats.ks_2samp(method="asymp")`` as the exact value) against
the stated bound ``ecdf_error``, and the normalized Wasserstein error against
its bound ``wasserstein_error / std``. Peak memory: ``tracemalloc`` peak per
stage (numpy allocations included).

Usage::

    python benchmarks/profile_benchmark.py                  # 1M x 50
    python benchmarks/profile_benchmark.py --rows 200000 --columns 10

Writes ``benchmarks/results/profile_benchmark.json`` (``--output`` to change).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import tempfile
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

from modelwatch.stats.drift import ReferenceProfile, detect_drift, fit_reference_profile
from modelwatch.stats.drift.profile import COMPACT_MIN_ROWS, COMPACT_QUANTILES

RESULTS = Path(__file__).resolve().parent / "results"


def _column(kind: int, n: int, rng: np.random.Generator, shift: float) -> np.ndarray:
    makers: list[Callable[[], np.ndarray]] = [
        lambda: rng.normal(shift, 1.0, n),
        lambda: rng.lognormal(shift, 1.0, n),
        lambda: rng.standard_cauchy(n) + shift,
        lambda: rng.poisson(3.0 + shift, n).astype(np.float64),
        lambda: rng.exponential(1.0 + shift, n),
        lambda: rng.uniform(shift, 1.0 + shift, n),
        lambda: np.where(rng.random(n) < 0.9 - shift / 4, 0.0, rng.exponential(1.0, n)),
        lambda: rng.standard_t(3, n) + shift,
        lambda: np.where(rng.random(n) < 0.5, rng.normal(-2, 1, n), rng.normal(2 + shift, 1, n)),
        lambda: np.round(rng.normal(50 + 5 * shift, 10, n)),
    ]
    values = makers[kind % len(makers)]()
    values[rng.random(n) < 0.02] = np.nan
    return values


def make_frame(n: int, columns: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"x{j}": _column(j, n, rng, shift) for j in range(columns)})


def measure(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, seconds, tracemalloc peak bytes above the start)."""
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, max(peak - base, 0)


def save(arrays: dict[str, Any], path: Path) -> int:
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    return path.stat().st_size


def load(path: Path) -> ReferenceProfile:
    with np.load(path, allow_pickle=False) as data:
        return ReferenceProfile.from_arrays({key: data[key] for key in data.files})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--window", type=int, default=5_000)
    parser.add_argument("--output", type=Path, default=RESULTS / "profile_benchmark.json")
    args = parser.parse_args()
    columns = [f"x{j}" for j in range(args.columns)]

    reference = make_frame(args.rows, args.columns, seed=1)
    window = make_frame(args.window, args.columns, seed=2, shift=0.05)
    profile, fit_s, fit_peak = measure(lambda: fit_reference_profile(reference, numeric=columns))
    out: dict[str, Any] = {
        "benchmark": "profile_benchmark",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "platform": platform.platform(),
        },
        "rows": args.rows,
        "columns": args.columns,
        "window_rows": args.window,
        "compact_min_rows": COMPACT_MIN_ROWS,
        "compact_quantiles": COMPACT_QUANTILES,
        "fit_seconds": round(fit_s, 3),
        "fit_peak_mb": round(fit_peak / 2**20, 1),
        "formats": {},
    }
    loaded: dict[str, ReferenceProfile] = {}
    with tempfile.TemporaryDirectory(prefix="profile-benchmark-") as tmp:
        for name, limit in (("full", None), ("compact", COMPACT_MIN_ROWS)):
            path = Path(tmp) / f"{name}.npz"

            def saving(path: Path = path, limit: int | None = limit) -> int:
                return save(profile.to_arrays(max_exact_rows=limit), path)

            size, save_s, save_peak = measure(saving)
            restored, load_s, load_peak = measure(lambda path=path: load(path))  # type: ignore[misc]

            def ks(restored: ReferenceProfile = restored) -> Any:
                return detect_drift(restored, window, method="ks")

            _, ks_s, ks_peak = measure(ks)
            loaded[name] = restored
            out["formats"][name] = {
                "file_mb": round(size / 2**20, 3),
                "save_seconds": round(save_s, 3),
                "save_peak_mb": round(save_peak / 2**20, 1),
                "load_seconds": round(load_s, 3),
                "load_peak_mb": round(load_peak / 2**20, 1),
                "ks_window_seconds": round(ks_s, 3),
                "ks_window_peak_mb": round(ks_peak / 2**20, 1),
            }
            print(f"{name:8s} {out['formats'][name]}")

    compact = loaded["compact"]
    ks_rows: list[dict[str, Any]] = []
    ks_compact = detect_drift(compact, window, method="ks")
    w_full = detect_drift(loaded["full"], window, method="wasserstein")
    w_compact = detect_drift(compact, window, method="wasserstein")
    for column in columns:
        ref = reference[column].dropna().to_numpy()
        cur = window[column].dropna().to_numpy()
        exact = float(stats.ks_2samp(ref, cur, method="asymp").statistic)
        col = compact.numeric_profile(column)
        approx = ks_compact[column].statistic
        w_bound = col.wasserstein_error / col.std if col.std > 0 else float("nan")
        w_error = abs(w_compact[column].statistic - w_full[column].statistic)
        ks_rows.append(
            {
                "column": column,
                "ks_exact": exact,
                "ks_compact": approx,
                "ks_error": abs(approx - exact),
                "ks_bound": col.ecdf_error,
                "within_bound": abs(approx - exact) <= col.ecdf_error + 1e-12,
                "wasserstein_error": w_error,
                "wasserstein_bound": w_bound,
                "wasserstein_within_bound": bool(w_error <= w_bound + 1e-12)
                if np.isfinite(w_bound)
                else None,
            }
        )
    out["accuracy"] = {
        "max_ks_error": max(r["ks_error"] for r in ks_rows),
        "max_ks_bound": max(r["ks_bound"] for r in ks_rows),
        "all_ks_within_bound": all(r["within_bound"] for r in ks_rows),
        "all_wasserstein_within_bound": all(
            r["wasserstein_within_bound"] in (True, None) for r in ks_rows
        ),
        "per_column": ks_rows,
    }
    full, small = out["formats"]["full"], out["formats"]["compact"]
    out["ratios"] = {
        "size_full_over_compact": round(full["file_mb"] / small["file_mb"], 1),
        "load_full_over_compact": round(full["load_seconds"] / max(small["load_seconds"], 1e-9), 1),
    }
    print(
        f"compact {small['file_mb']} MB vs full {full['file_mb']} MB; "
        f"max |D_compact - D_exact| = {out['accuracy']['max_ks_error']:.2e} "
        f"(bound {out['accuracy']['max_ks_bound']:.2e}); "
        f"all within bound: {out['accuracy']['all_ks_within_bound']}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
