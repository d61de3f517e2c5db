"""Speed and memory of window validation with Great Expectations (issue 4).

Generates a reference (features + target) and a prediction-log window of N rows
(default 100k) × 30 columns: 10 numeric and 8 categorical features, id,
timestamp, prediction, score, latency, A/B variant, 3 segment columns and 3 PII
columns. The window has a little realistic dirt (0.5 % missing values, a few
unseen categories and outliers) so GX computes unexpected values, as on a real
run. The suite is built from the reference with :func:`build_suite`.

Stages, each timed as the best of ``--repeat`` runs (first runs reported apart):

* ``import_gx``: ``import great_expectations`` (first call; a new process pays it once);
* ``build_suite``: the suite from the reference (pure pandas);
* ``validate_first``: first :func:`validate_frame` (ephemeral context + suite setup);
* ``validate``: a repeated :func:`validate_frame` (cached validation definition,
  default result format ``BASIC``), also with ``SUMMARY`` and ``BOOLEAN_ONLY``;
* ``validate_data_docs``: :func:`validate_frame` with a Checkpoint that updates
  the local Data Docs site (file context under a temporary folder);
* ``data_quality_stats``: the pandas statistics computed beside the suite;
* ``read_parquet``: reading the window back from Parquet (the monitor run's input).

Memory: the peak of numpy/Python allocations during the stage (``tracemalloc``;
Arrow-backed strings are not seen by it), and the peak RSS of a forked child
that runs the stage once, above its RSS before the stage (frames, GX loaded).

Usage::

    python benchmarks/validation_benchmark.py                    # N = 100k
    python benchmarks/validation_benchmark.py --rows 1000000 --repeat 3

Writes ``benchmarks/results/validation_benchmark.json`` (``--output`` to change).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelwatch.io import gx_runtime, suites
from modelwatch.spec import MonitorSpec, parse_spec
from modelwatch.stats.data_quality import data_quality_stats

RESULTS = Path(__file__).resolve().parent / "results"
NUMERIC = [f"num_{i:02d}" for i in range(10)]
CATEGORICAL = [f"cat_{j}" for j in range(8)]
SEGMENTS = ["country", "device", "store"]
PII = ["email", "phone", "customer_name"]
START = datetime(2026, 11, 23, 10, tzinfo=UTC)
WINDOW = (START, START + timedelta(hours=1))
DIRT_SHARE = 0.005


def make_spec() -> MonitorSpec:
    return parse_spec(
        {
            "name": "bench",
            "task": "binary",
            "sources": {"reference": {"path": "ref"}, "predictions": {"path": "log"}},
            "columns": {
                "id": "prediction_id",
                "timestamp": "timestamp",
                "numeric": NUMERIC,
                "categorical": CATEGORICAL,
                "prediction": "prediction",
                "score": "score",
                "target": "label",
                "segments": SEGMENTS,
                "variant": "variant",
                "latency_ms": "latency_ms",
                "pii": PII,
            },
        },
        source="validation_benchmark",
    )


def _levels(j: int) -> np.ndarray:
    return np.array([f"c{j}_{k}" for k in range(3 + 3 * j)])


def _features(n: int, rng: np.random.Generator) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        kind = i % 4
        if kind == 0:
            values = rng.normal(50, 10, n)
        elif kind == 1:
            values = rng.lognormal(10, 0.5, n)
        elif kind == 2:
            values = rng.beta(2, 5, n)
        else:
            values = rng.poisson(4, n).astype("float64")
        columns[name] = values
    for j, name in enumerate(CATEGORICAL):
        columns[name] = pd.array(rng.choice(_levels(j), n), dtype="str")
    return columns


def make_reference(n: int, rng: np.random.Generator) -> pd.DataFrame:
    frame = pd.DataFrame(_features(n, rng))
    frame["label"] = rng.integers(0, 2, n)
    return frame


def make_window(n: int, rng: np.random.Generator) -> pd.DataFrame:
    frame = pd.DataFrame(_features(n, rng))
    dirty = rng.random((n, len(NUMERIC))) < DIRT_SHARE
    for i, name in enumerate(NUMERIC):
        frame.loc[dirty[:, i], name] = np.nan
    outliers = rng.random(n) < DIRT_SHARE / 5
    frame.loc[outliers, NUMERIC[1]] = 1e9
    unseen = rng.random(n) < DIRT_SHARE / 5
    frame.loc[unseen, CATEGORICAL[0]] = "never_seen"
    offsets = np.sort(rng.uniform(0, 3600, n))
    frame.insert(0, "timestamp", pd.Timestamp(START) + pd.to_timedelta(offsets, unit="s"))
    frame.insert(0, "prediction_id", pd.array([f"p{i:08d}" for i in range(n)], dtype="str"))
    frame["score"] = rng.random(n)
    frame["prediction"] = (frame["score"] >= 0.5).astype("int64")
    frame["latency_ms"] = rng.lognormal(np.log(35.0), 0.35, n)
    frame["variant"] = pd.array(rng.choice(["A", "B"], n), dtype="str")
    for name, levels in zip(
        SEGMENTS, (["de", "fr", "us"], ["web", "app"], ["s1", "s2"]), strict=True
    ):
        frame[name] = pd.array(rng.choice(levels, n), dtype="str")
    frame["email"] = pd.array([f"user{i}@example.com" for i in range(n)], dtype="str")
    frame["phone"] = pd.array([f"+49-{i:09d}" for i in range(n)], dtype="str")
    frame["customer_name"] = pd.array([f"Customer {i}" for i in range(n)], dtype="str")
    return frame


# --------------------------------------------------------------------------- measuring


def best_time(function: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(best, median) seconds over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


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


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def forked_peak_rss(function: Callable[[], object]) -> dict[str, int] | None:
    """Peak RSS of a forked child running the function once, and its RSS before (bytes).

    Linux only: the child resets its RSS high-water mark (``/proc/self/clear_refs``)
    so the peak is that of the stage, on top of the frames and GX already loaded.
    """
    if not hasattr(os, "fork") or not Path("/proc/self/status").exists():
        return None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        try:
            with contextlib.suppress(OSError):  # not allowed: the peak includes the fork's RSS
                Path("/proc/self/clear_refs").write_text("5")
            base = _status_kib("VmRSS") * 1024
            function()
            peak = _status_kib("VmHWM") * 1024
            os.write(write_end, f"{base} {peak}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    if not text:
        return None
    base, peak = map(int, text.split())
    return {"base_rss_bytes": base, "peak_rss_bytes": peak, "peak_over_base_bytes": peak - base}


# --------------------------------------------------------------------------- run


def run(rows: int, repeat: int, seed: int, data_docs: bool) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    spec = make_spec()
    reference = make_reference(max(20_000, rows // 5), rng)
    window = make_window(rows, rng)
    stages: dict[str, Any] = {}

    start = time.perf_counter()
    gx_runtime.import_gx()  # the lazy import validate_frame pays on its first call
    stages["import_gx"] = {"seconds": time.perf_counter() - start}

    best, median, suite = best_time(
        lambda: suites.build_suite(reference, spec, typical_rows=rows), repeat
    )
    stages["build_suite"] = {"seconds": best, "median_seconds": median}
    assert isinstance(suite, dict)

    def validate(result_format: str = "BASIC") -> gx_runtime.ValidationReport:
        return gx_runtime.validate_frame(
            window, suite, pii=PII, window=WINDOW, result_format=result_format
        )

    start = time.perf_counter()
    report = validate()
    stages["validate_first"] = {"seconds": time.perf_counter() - start}
    for result_format in ("BASIC", "SUMMARY", "BOOLEAN_ONLY"):
        best, median, _ = best_time(functools.partial(validate, result_format), repeat)
        key = "validate" if result_format == "BASIC" else f"validate_{result_format.lower()}"
        stages[key] = {"seconds": best, "median_seconds": median}
    stages["validate"].update(
        traced_peak_bytes=traced_peak(validate), forked=forked_peak_rss(validate)
    )

    if data_docs:
        with tempfile.TemporaryDirectory(prefix="mw-docs-") as docs:

            def with_docs() -> gx_runtime.ValidationReport:
                return gx_runtime.validate_frame(
                    window, suite, pii=PII, window=WINDOW, data_docs_dir=Path(docs)
                )

            start = time.perf_counter()
            docs_report = with_docs()
            first = time.perf_counter() - start
            best, median, _ = best_time(with_docs, repeat)
            stages["validate_data_docs"] = {
                "first_seconds": first,
                "seconds": best,
                "median_seconds": median,
                "index_html_written": bool(
                    docs_report.data_docs_path and Path(docs_report.data_docs_path).is_file()
                ),
                "site_bytes": sum(f.stat().st_size for f in Path(docs).rglob("*") if f.is_file()),
            }

    best, median, _ = best_time(lambda: data_quality_stats(window, spec, reference), repeat)
    stages["data_quality_stats"] = {
        "seconds": best,
        "median_seconds": median,
        "traced_peak_bytes": traced_peak(lambda: data_quality_stats(window, spec, reference)),
    }

    with tempfile.TemporaryDirectory(prefix="mw-parquet-") as tmp:
        path = Path(tmp) / "window.parquet"
        window.to_parquet(path)
        best, median, _ = best_time(lambda: pd.read_parquet(path), repeat)
        stages["read_parquet"] = {
            "seconds": best,
            "median_seconds": median,
            "file_bytes": path.stat().st_size,
        }

    return {
        "rows": rows,
        "columns": window.shape[1],
        "reference_rows": len(reference),
        "expectations": len(suite["expectations"]),
        "window_bytes": int(window.memory_usage(deep=True).sum()),
        "report": {
            "success": report.success,
            "critical_failures": len(report.critical_failures),
            "warnings": len(report.warnings),
            "summary_first_line": report.summary().splitlines()[0],
        },
        "stages": stages,
    }


def _drift_seconds(rows: int) -> float | None:
    """Dataset-drift time at the same size from drift_benchmark.json, when present."""
    path = RESULTS / "drift_benchmark.json"
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
        (match,) = [r for r in runs if r["n"] == rows]
        return float(match["stages"]["a_profile_fitted"]["seconds"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def print_report(result: dict[str, Any]) -> None:
    stages = result["stages"]
    print(
        f"{result['rows']:,} rows x {result['columns']} columns, "
        f"{result['expectations']} expectations ({result['window_bytes'] / 1e6:.0f} MB in memory)"
    )
    print(f"report: {result['report']['summary_first_line']}")
    for name, stage in stages.items():
        line = f"  {name:<24} {stage['seconds']:8.3f} s"
        if "median_seconds" in stage:
            line += f"  (median {stage['median_seconds']:.3f} s)"
        if "first_seconds" in stage:
            line += f"  (first {stage['first_seconds']:.3f} s)"
        if "traced_peak_bytes" in stage:
            line += f"  traced peak {stage['traced_peak_bytes'] / 1e6:.0f} MB"
        forked = stage.get("forked")
        if forked:
            line += (
                f"  RSS peak {forked['peak_rss_bytes'] / 1e6:.0f} MB"
                f" (+{forked['peak_over_base_bytes'] / 1e6:.0f} MB)"
            )
        print(line)
    share = result.get("validation_share_of_monitor_work")
    if share is not None:
        print(f"  validation share of (read + validate + stats + drift): {share:.0%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the window")
    parser.add_argument("--repeat", type=int, default=5, help="runs per stage (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-data-docs", action="store_true", help="skip the Data Docs stage")
    parser.add_argument("--output", type=Path, default=RESULTS / "validation_benchmark.json")
    args = parser.parse_args(argv)

    result = run(args.rows, args.repeat, args.seed, data_docs=not args.no_data_docs)
    stages = result["stages"]
    drift = _drift_seconds(args.rows)
    parts = [stages[k]["seconds"] for k in ("read_parquet", "validate", "data_quality_stats")]
    if drift is not None:
        parts.append(drift)
        result["drift_seconds_from_drift_benchmark"] = drift
    result["validation_share_of_monitor_work"] = stages["validate"]["seconds"] / sum(parts)
    import great_expectations  # already imported by the run

    payload = {
        "benchmark": "validation_benchmark",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "great_expectations": great_expectations.__version__,
        },
        "process_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        **result,
    }
    print_report(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
