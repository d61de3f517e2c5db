"""A window larger than memory through the streaming path (issue 11, part 4), against in-memory.

Generates a window as Parquet files under a temporary directory, one file of
``--file-rows`` rows at a time (never the whole window in memory): 44 numeric
features (normal, lognormal, integer with ties, 2 % missing), 4 categorical
features (4–30 levels, an unseen level in the drifted files), a model score
(float64, all distinct), the predicted label and the joined label (binary target,
25 % unlabeled): 51 columns + the timestamp. Every other file drifts (mean shift
on 6 numeric columns, a category share shift, an unseen category). The reference (200k
rows, compacted as the monitor persists it) is fitted once.

Stages, each run in its own child process (``--stage``) whose peak RSS is read
from ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at its end:

(a) ``stream-small``: the first ``--memory-rows`` rows, streamed (local engine,
    one partition per file, batches of ``--batch-rows``);
(b) ``memory-small``: the same rows loaded whole (``pyarrow.dataset``) and
    measured with ``analysis.window_drift`` + ``analysis.realized_metrics`` (the
    in-memory path of the monitor);
(c) ``stream-large``: the whole window (``--rows``) streamed, local engine;
(d) ``dask-large``: the whole window on a ``LocalCluster(n_workers=2,
    processes=True, threads_per_worker=1)``; the workers' peak RSS is read on the
    workers (``client.run``), the cluster's start time is reported apart.

Checks: (a) equals (b) — per column statistic (≤ 1e-12), p-value (≤ 1e-9), drift
decision, and every realized metric value (≤ 1e-12); (d) is bit-identical to (c)
(the JSON of both reports and metric lists, intervals included).

Usage::

    python benchmarks/streaming_benchmark.py                 # 20M rows, 2M in memory
    python benchmarks/streaming_benchmark.py --rows 5000000  # a smaller window

Writes ``benchmarks/results/streaming_benchmark.json`` (``--output`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
N_NUMERIC = 44
N_CATEGORICAL = 4
NUMERIC = [f"x{i:02d}" for i in range(N_NUMERIC)]
CATEGORICAL = [f"c{j}" for j in range(N_CATEGORICAL)]
LEVELS = [4, 8, 15, 30]
REFERENCE_ROWS = 200_000


def spec_dict() -> dict[str, Any]:
    return {
        "name": "bench",
        "task": "binary",
        "sources": {
            "reference": {"path": "bench/reference.parquet"},
            "predictions": {"path": "bench/predictions", "format": "parquet"},
            "labels": {"path": "bench/labels", "format": "parquet"},
        },
        "columns": {
            "id": "prediction_id",
            "timestamp": "timestamp",
            "numeric": NUMERIC,
            "categorical": CATEGORICAL,
            "prediction": "prediction",
            "score": "score",
            "target": "label",
        },
        "drift": {"prediction_drift": True, "target_drift": True},
    }


def load_spec(engine: str = "local") -> Any:
    from modelwatch.spec import MonitorSpec

    raw = spec_dict()
    raw["execution"] = {"engine": engine, "dask_workers": 2}
    return MonitorSpec.model_validate(raw)


def make_rows(
    n: int, seed: int, *, drift: bool, start: datetime, unlabeled: float = 0.25
) -> pd.DataFrame:
    """``n`` rows of the window's columns (float64 features, text categories)."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {
        "timestamp": pd.date_range(start, periods=n, freq="10ms", tz="UTC"),
    }
    for i, name in enumerate(NUMERIC):
        kind = i % 3
        if kind == 0:
            values = rng.normal(0.3 if drift and i < 18 else 0.0, 1.0, n)
        elif kind == 1:
            values = rng.lognormal(0.0, 0.5, n)
        else:
            values = rng.integers(0, 20, n).astype(np.float64)
        values[rng.random(n) < 0.02] = np.nan
        data[name] = values
    for j, name in enumerate(CATEGORICAL):
        levels = np.array([f"v{k}" for k in range(LEVELS[j])] + (["new"] if drift else []))
        weights = np.ones(levels.size)
        weights[0] += 1.0 if drift else 0.0
        data[name] = rng.choice(levels, n, p=weights / weights.sum())
    logit = (
        0.8 * np.nan_to_num(data["x00"]) - 0.5 * np.nan_to_num(data["x03"]) + rng.normal(0, 1, n)
    )
    score = 1.0 / (1.0 + np.exp(-logit))
    data["score"] = score
    data["prediction"] = (score >= 0.5).astype(np.int64)
    label = (rng.random(n) < score).astype(np.float64)
    label[rng.random(n) < unlabeled] = np.nan  # the label has not arrived
    data["label"] = label
    return pd.DataFrame(data)


def write_window(directory: Path, rows: int, file_rows: int) -> list[str]:
    """Parquet files of ``file_rows`` rows each, one generated at a time."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    n_files = -(-rows // file_rows)
    for i in range(n_files):
        n = min(file_rows, rows - i * file_rows)
        start = T0 + timedelta(milliseconds=10 * i * file_rows)
        frame = make_rows(n, 1000 + i, drift=i % 2 == 1, start=start)
        path = directory / f"part-{i:04d}.parquet"
        frame.to_parquet(path, row_group_size=100_000)
        paths.append(str(path))
        del frame
    return paths


def reference_state(spec: Any) -> Any:
    from modelwatch.execution import reference_state as build
    from modelwatch.stats.drift import ReferenceProfile

    reference = make_rows(
        REFERENCE_ROWS, 7, drift=False, start=T0 - timedelta(days=30), unlabeled=0.0
    )
    profile = ReferenceProfile.fit(reference, numeric=NUMERIC, categorical=CATEGORICAL)
    profile = profile.compacted()  # as persisted with the version (>100k values: compact)
    outputs = (reference["prediction"].to_numpy(), reference["score"].to_numpy())
    return (
        reference,
        outputs,
        build(spec, reference=reference, reference_outputs=outputs, profile=profile),
    )


def partitions(paths: list[str], batch_rows: int) -> list[Any]:
    from modelwatch.execution import parquet_partitions

    columns = [*NUMERIC, *CATEGORICAL, "score", "prediction", "label"]
    return parquet_partitions(
        paths,
        timestamp="timestamp",
        start=T0 - timedelta(days=1),
        end=T0 + timedelta(days=30),
        columns=columns,
        batch_rows=batch_rows,
    )


def summary(drift: Any, metrics: Any) -> dict[str, Any]:
    return {
        "drift": [asdict(r) for r in drift.columns],
        "share_drifted": drift.share_drifted,
        "dataset_drift": drift.dataset_drift,
        "metrics": [asdict(m) for m in metrics],
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


# --------------------------------------------------------------------------- child stages


def stage_stream(paths: list[str], batch_rows: int, engine: str) -> dict[str, Any]:
    from modelwatch.execution import dask_client, streamed_window

    spec = load_spec(engine)
    _, _, state = reference_state(spec)
    parts = partitions(paths, batch_rows)
    out: dict[str, Any] = {"rss_after_reference_mb": peak_rss_mb()}
    if engine == "dask":
        started = time.perf_counter()
        with dask_client(spec.execution) as client:
            client.wait_for_workers(2)
            out["cluster_start_seconds"] = time.perf_counter() - started
            begin = time.perf_counter()
            result = streamed_window(spec, parts, state, client=client)
            out["seconds"] = time.perf_counter() - begin
            workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            out["worker_peak_rss_mb"] = {k: v / 1024.0 for k, v in workers.items()}
    else:
        begin = time.perf_counter()
        result = streamed_window(spec, parts, state)
        out["seconds"] = time.perf_counter() - begin
    out.update(
        rows=result.n_rows,
        labeled=result.n_labeled,
        partitions=result.n_partitions,
        result=summary(result.drift, result.metrics),
    )
    return out


def stage_memory(paths: list[str]) -> dict[str, Any]:
    import pyarrow.dataset as ds

    from modelwatch import analysis

    spec = load_spec()
    reference, outputs, state = reference_state(spec)
    out: dict[str, Any] = {"rss_after_reference_mb": peak_rss_mb()}
    begin = time.perf_counter()
    columns = [*NUMERIC, *CATEGORICAL, "score", "prediction", "label"]
    window = ds.dataset(paths, format="parquet").to_table(columns=columns).to_pandas()
    labeled = window[window["label"].notna()]
    out["read_seconds"] = time.perf_counter() - begin
    drift = analysis.window_drift(
        spec,
        reference=reference,
        reference_outputs=outputs,
        predictions=window,
        labeled=labeled,
        profile=state.profile,
    )
    metrics = analysis.realized_metrics(spec, labeled)
    out["seconds"] = time.perf_counter() - begin
    out.update(rows=len(window), labeled=len(labeled), result=summary(drift, metrics))
    return out


def child(args: argparse.Namespace) -> int:
    paths = json.loads(Path(args.paths).read_text())
    if args.stage == "memory":
        out = stage_memory(paths)
    else:
        out = stage_stream(paths, args.batch_rows, "dask" if args.stage == "dask" else "local")
    out["peak_rss_mb"] = peak_rss_mb()
    Path(args.result).write_text(json.dumps(out, default=str))
    return 0


def run_child(stage: str, paths: list[str], work: Path, batch_rows: int) -> dict[str, Any]:
    listing = work / f"{stage}-{len(paths)}-paths.json"
    listing.write_text(json.dumps(paths))
    result = work / f"{stage}-{len(paths)}-result.json"
    command = [
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--paths",
        str(listing),
        "--result",
        str(result),
        "--batch-rows",
        str(batch_rows),
    ]
    begin = time.perf_counter()
    subprocess.run(command, check=True)
    out: dict[str, Any] = json.loads(result.read_text())
    out["process_seconds"] = time.perf_counter() - begin
    return out


# --------------------------------------------------------------------------- comparison


def compare(streamed: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    """Largest differences between two results (statistic, p-value, metric value, decisions)."""
    worst_stat = worst_p = worst_metric = 0.0
    decisions_equal = True
    for s, m in zip(streamed["drift"], memory["drift"], strict=True):
        assert s["column"] == m["column"]
        worst_stat = max(worst_stat, abs(s["statistic"] - m["statistic"]))
        if m["p_value"] is not None:
            worst_p = max(worst_p, abs(s["p_value"] - m["p_value"]))
        decisions_equal &= (s["method"], s["drifted"]) == (m["method"], m["drifted"])
        decisions_equal &= abs(s["threshold"] - m["threshold"]) <= 1e-12
    names = [(m["name"], m["segment"]) for m in streamed["metrics"]]
    for s, m in zip(streamed["metrics"], memory["metrics"], strict=True):
        worst_metric = max(worst_metric, abs(s["value"] - m["value"]))
    return {
        "columns": len(streamed["drift"]),
        "max_abs_statistic_difference": worst_stat,
        "max_abs_p_value_difference": worst_p,
        "max_abs_metric_difference": worst_metric,
        "decisions_equal": bool(decisions_equal),
        "metric_names_equal": names == [(m["name"], m["segment"]) for m in memory["metrics"]],
        "drifted_columns": [d["column"] for d in streamed["drift"] if d["drifted"]],
        "equal": bool(
            decisions_equal and worst_stat <= 1e-12 and worst_p <= 1e-9 and worst_metric <= 1e-12
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--memory-rows", type=int, default=2_000_000)
    parser.add_argument("--file-rows", type=int, default=500_000)
    parser.add_argument("--batch-rows", type=int, default=250_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--output", type=Path, default=RESULTS / "streaming_benchmark.json")
    parser.add_argument("--stage", choices=["stream", "memory", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        return child(args)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="modelwatch-streaming-bench-"))
    try:
        begin = time.perf_counter()
        paths = write_window(work / "window", args.rows, args.file_rows)
        generate_seconds = time.perf_counter() - begin
        size_gb = sum(os.path.getsize(p) for p in paths) / 1e9
        print(f"window: {args.rows:,} rows in {len(paths)} files, {size_gb:.2f} GB, "
              f"generated in {generate_seconds:.0f} s")  # fmt: skip
        small = paths[: max(1, args.memory_rows // args.file_rows)]
        stages = {}
        for name, stage, chosen in (
            ("a_stream_small", "stream", small),
            ("b_memory_small", "memory", small),
            ("c_stream_large", "stream", paths),
            ("d_dask_large", "dask", paths),
        ):
            stages[name] = run_child(stage, chosen, work, args.batch_rows)
            row = stages[name]
            print(f"{name:16s} rows={row['rows']:>11,} seconds={row['seconds']:8.1f} "
                  f"peak_rss_mb={row['peak_rss_mb']:8.0f}")  # fmt: skip
        small_equal = compare(
            stages["a_stream_small"]["result"], stages["b_memory_small"]["result"]
        )
        dask_identical = stages["d_dask_large"]["result"] == stages["c_stream_large"]["result"]
        print(f"stream vs in-memory ({stages['a_stream_small']['rows']:,} rows): {small_equal}")
        print(f"dask LocalCluster(2) identical to local streaming: {dask_identical}")
        for stage in stages.values():
            stage["result_columns_drifted"] = [
                d["column"] for d in stage["result"]["drift"] if d["drifted"]
            ]
            stage["metrics"] = {
                m["name"]: [m["value"], m["ci_low"], m["ci_high"]]
                for m in stage["result"]["metrics"]
                if m["segment"] is None
            }
            del stage["result"]
        payload = {
            "benchmark": "streaming",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average_at_end": os.getloadavg(),
                "platform": platform.platform(),
            },
            "window": {
                "rows": args.rows,
                "columns": N_NUMERIC + N_CATEGORICAL + 3,
                "files": len(paths),
                "file_rows": args.file_rows,
                "batch_rows": args.batch_rows,
                "parquet_gb": size_gb,
                "generate_seconds": generate_seconds,
                "reference_rows": REFERENCE_ROWS,
            },
            "stages": stages,
            "stream_vs_memory": small_equal,
            "dask_identical_to_local": dask_identical,
            "peak_rss_limit_mb": 2048,
            "stream_large_within_limit": stages["c_stream_large"]["peak_rss_mb"] <= 2048,
            "ratios": {
                "memory_small_rss_over_stream_small": stages["b_memory_small"]["peak_rss_mb"]
                / stages["a_stream_small"]["peak_rss_mb"],
                "memory_small_seconds_over_stream_small": stages["b_memory_small"]["seconds"]
                / stages["a_stream_small"]["seconds"],
                "dask_seconds_over_local": stages["d_dask_large"]["seconds"]
                / stages["c_stream_large"]["seconds"],
            },
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"wrote {args.output}")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
