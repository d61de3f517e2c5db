"""Window read time against history size (issue 11): pruned sources vs read-everything.

Builds prediction logs of 1, 100, 1,000 and 10,000 hourly files (one small
hour each, ``--rows-per-hour`` rows, 12 columns of a credit-like log) in the
hive layout ``date=YYYY-MM-DD/hour=HH/part-0.parquet``, plus the same history
as flat files (``<hour>.parquet`` in one folder, no partitions) for the
row-group-statistics path, and a PostgreSQL table of ``--sql-rows`` rows
(10,000,000 by default; generated inside the server with ``generate_series``,
indexed on the timestamp). For each it times reading one hour (the last one):

(a) ``modelwatch.io.sources.load_window`` — the new path: partition pruning,
    timestamp pushed into the Parquet scan, only the spec's columns (SQL: bound
    window, server-side cursor);
(b) the naive reader this replaced (kept below as ``naive_window``): list every
    file, read each whole with ``pd.read_parquet``, filter by timestamp;
(c) ``count_window_rows`` (metadata / ``COUNT(*)``).

Wall time is the best of ``--repeat`` runs; memory is the peak of
numpy/Python allocations during one more run (``tracemalloc``) and the peak RSS
growth of a forked child that runs the read once (it sees Arrow's buffers,
where pandas 3 keeps text, which tracemalloc does not). The
naive reader is skipped above ``--naive-max-files`` files (default 10,000:
all) and on the SQL table unless ``--sql-naive`` (it reads the whole table).

Usage::

    python benchmarks/source_benchmark.py                    # full (~3-5 min here)
    python benchmarks/source_benchmark.py --quick            # 1/100/1000 files, 1M-row table

Writes ``benchmarks/results/source_benchmark.json`` (``--output`` to change).
Needs PostgreSQL on 127.0.0.1:5432 (user postgres) for the SQL rows; without
it they are skipped and the JSON says so.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from modelwatch.io import sources
from modelwatch.spec import MonitorSpec, parse_spec

RESULTS = Path(__file__).resolve().parent / "results"
FIRST_HOUR = datetime(2025, 12, 1, tzinfo=UTC)
PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
ENV = "MODELWATCH_BENCH_LOG_DB"


def _spec(predictions: dict[str, Any]) -> MonitorSpec:
    return parse_spec(
        {
            "name": "bench",
            "task": "binary",
            "sources": {"reference": {"path": "unused.parquet"}, "predictions": predictions},
            "columns": {
                "id": "prediction_id",
                "timestamp": "timestamp",
                "numeric": ["age", "income", "debt_ratio", "utilization"],
                "categorical": ["region", "product"],
                "prediction": "prediction",
                "score": "score",
                "target": "defaulted",
                "latency_ms": "latency_ms",
            },
        },
        source="benchmark",
    )


def _hour_table(hour: int, rows: int, rng: np.random.Generator) -> pa.Table:
    start = pd.Timestamp(FIRST_HOUR) + pd.Timedelta(hours=hour)
    offsets = np.sort(rng.integers(0, 3_600_000_000, rows))
    return pa.table(
        {
            "prediction_id": pa.array([f"h{hour}-{i}" for i in range(rows)]),
            "timestamp": pa.array(
                (start.value // 1000 + offsets).astype("datetime64[us]"), pa.timestamp("us", "UTC")
            ),
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(50_000, 9_000, rows),
            "debt_ratio": rng.uniform(0, 1, rows),
            "utilization": rng.uniform(0, 1, rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "product": rng.choice(["card", "loan", "mortgage"], rows),
            "prediction": rng.integers(0, 2, rows),
            "score": rng.uniform(0, 1, rows),
            "latency_ms": rng.gamma(2.0, 10.0, rows),
            "debug_payload": pa.array(["x" * 200] * rows),  # undeclared: never read by (a)
        }
    )


def write_history(root: Path, n_files: int, rows: int, *, hive: bool) -> Path:
    rng = np.random.default_rng(n_files)
    folder = root / f"{'hive' if hive else 'flat'}-{n_files}"
    template = _hour_table(0, rows, rng)
    for hour in range(n_files):
        at = pd.Timestamp(FIRST_HOUR) + pd.Timedelta(hours=hour)
        table = template.set_column(
            1,
            "timestamp",
            pa.array(
                template.column("timestamp").to_numpy() + np.timedelta64(hour, "h"),
                pa.timestamp("us", "UTC"),
            ),
        ).set_column(0, "prediction_id", pa.array([f"h{hour}-{i}" for i in range(rows)]))
        if hive:
            path = folder / f"date={at:%Y-%m-%d}" / f"hour={at:%H}" / "part-0.parquet"
        else:
            path = folder / f"{at:%Y-%m-%dT%H%M}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    return folder


def naive_window(folder: Path, start: datetime, end: datetime) -> pd.DataFrame:
    """The reader this issue replaced: every file read whole, then filtered by timestamp."""
    ts_start, ts_end = pd.Timestamp(start), pd.Timestamp(end)
    parts = []
    for path in sorted(str(p) for p in folder.rglob("*.parquet")):
        frame = pd.read_parquet(path)
        ts = pd.to_datetime(frame["timestamp"], utc=True)
        mask = ((ts >= ts_start) & (ts < ts_end)).to_numpy()
        if mask.any():
            part = frame.loc[mask].copy()
            part["timestamp"] = ts[mask]
            parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _child_rss_growth(fn: Callable[[], Any]) -> int | None:
    """Peak RSS growth of a forked child that runs ``fn`` once (Arrow buffers included).

    The child runs ``fn`` once to warm up, resets its peak RSS (``/proc/self/clear_refs``)
    and runs it again: the number is the growth during the second run.
    """
    if not hasattr(os, "fork") or not os.path.exists("/proc/self/clear_refs"):
        return None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        try:
            fn()  # warm-up: the child's own one-time costs (Arrow's thread pool after fork)
            gc.collect()
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # reset the peak RSS (VmHWM) to the current RSS
            start = _status_bytes("VmRSS")
            fn()
            os.write(write, str(max(0, _status_bytes("VmHWM") - start)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        text = fh.read()
    os.waitpid(pid, 0)
    return int(text) if text else None


def _memory(fn: Callable[[], Any]) -> dict[str, int | None]:
    """Peak numpy/Python allocations (tracemalloc) and peak RSS growth of a forked child.

    pandas 3 keeps text in Arrow buffers, which tracemalloc does not see: the child's RSS
    growth counts them (it starts from the parent's RSS, so it is the growth of one read).
    """
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "peak_python_numpy_bytes": int(peak - base),
        "child_peak_rss_growth_bytes": _child_rss_growth(fn),
    }


def _case(
    label: str,
    spec: MonitorSpec,
    home: Path,
    window: tuple[datetime, datetime],
    args: Any,
    *,
    naive: Callable[[], pd.DataFrame] | None,
    files: int = 0,
) -> dict[str, Any]:
    start, end = window
    sources.load_window(spec, start, end, home)  # warm-up: imports and first-use costs
    seconds, data = _time(lambda: sources.load_window(spec, start, end, home), args.repeat)
    count_s, count = _time(lambda: sources.count_window_rows(spec, start, end, home), args.repeat)
    row: dict[str, Any] = {
        "case": label,
        "files": files,
        "window_rows": data.n_rows,
        "load_window_s": seconds,
        "count_window_rows_s": count_s,
        "count": count,
        "load_window_memory": _memory(lambda: sources.load_window(spec, start, end, home)),
    }
    assert count == data.n_rows, (label, count, data.n_rows)

    def batches() -> pd.DataFrame:
        return pd.concat(list(sources.iter_window_batches(spec, start, end, home)))

    row["batches_projected_s"], projected = _time(batches, args.repeat)
    assert len(projected) == data.n_rows and "debug_payload" not in projected.columns
    if naive is not None:
        naive_s, frame = _time(naive, 2 if args.repeat > 1 and files < 1000 else 1)
        assert len(frame) == data.n_rows, (label, len(frame), data.n_rows)
        row["naive_s"] = naive_s
        row["naive_memory"] = _memory(naive) if files <= 1000 else "not measured"
        row["speedup"] = naive_s / seconds
    print(
        f"{label:<26} rows={data.n_rows:>8,}  load_window={seconds * 1e3:8.1f} ms  "
        f"batches={row['batches_projected_s'] * 1e3:8.1f} ms  count={count_s * 1e3:7.1f} ms  "
        + (
            f"naive={row['naive_s'] * 1e3:10.1f} ms  x{row['speedup']:7.1f}"
            if naive
            else "naive: skipped"
        ),
        flush=True,
    )
    return row


def sql_case(args: Any, home: Path) -> dict[str, Any] | None:
    import sqlalchemy as sa

    try:
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        print(f"PostgreSQL not reachable ({type(exc).__name__}): SQL case skipped")
        return None
    name = f"mw_srcbench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # a generated name, not input
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    engine = sa.create_engine(url)
    hours = max(1, args.sql_rows // args.rows_per_hour)
    try:
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    """
                    CREATE TABLE predictions AS
                    SELECT 'p' || g AS prediction_id,
                           :first + (g * (3600.0 / :per_hour)) * interval '1 second' AS "timestamp",
                           18 + (g % 70) AS age, 30000 + (g % 9973) * 4.1 AS income,
                           random() AS debt_ratio, random() AS utilization,
                           (ARRAY['north','south','east','west'])[1 + g % 4] AS region,
                           (ARRAY['card','loan','mortgage'])[1 + g % 3] AS product,
                           (g % 2) AS prediction, random() AS score, random() * 50 AS latency_ms,
                           repeat('x', 200) AS debug_payload
                    FROM generate_series(0, :n - 1) AS g
                    """
                ),
                {"first": FIRST_HOUR, "per_hour": args.rows_per_hour, "n": args.sql_rows},
            )
            conn.execute(
                sa.text('ALTER TABLE predictions ALTER COLUMN "timestamp" TYPE timestamptz')
            )
        with engine.begin() as conn:
            conn.execute(
                sa.text('CREATE INDEX ix_predictions_timestamp ON predictions ("timestamp")')
            )
            conn.execute(sa.text("ANALYZE predictions"))
        built = time.perf_counter() - t0
        print(f"SQL table: {args.sql_rows:,} rows over {hours:,} hours built in {built:.1f} s")
        os.environ[ENV] = url
        spec = _spec({"kind": "sql", "url_env": ENV, "table": "predictions"})
        last = FIRST_HOUR + timedelta(hours=hours - 1)
        naive = None
        if args.sql_naive:

            def naive() -> pd.DataFrame:
                frame = pd.read_sql_table("predictions", url)
                ts = pd.to_datetime(frame["timestamp"], utc=True)
                return frame.loc[
                    (
                        (ts >= pd.Timestamp(last)) & (ts < pd.Timestamp(last + timedelta(hours=1)))
                    ).to_numpy()
                ]

        row = _case(
            f"sql table {args.sql_rows:,} rows",
            spec,
            home,
            (last, last + timedelta(hours=1)),
            args,
            naive=naive,
        )
        row.update(table_rows=args.sql_rows, table_build_s=built)
        return row
    finally:
        engine.dispose()
        os.environ.pop(ENV, None)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="1,100,1000,10000", help="hourly files per history")
    parser.add_argument("--flat-files", default="1000", help="flat (unpartitioned) histories")
    parser.add_argument("--rows-per-hour", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--naive-max-files", type=int, default=10_000)
    parser.add_argument("--sql-rows", type=int, default=10_000_000)
    parser.add_argument("--sql-naive", action="store_true", help="also read the whole table")
    parser.add_argument("--no-sql", action="store_true")
    parser.add_argument("--quick", action="store_true", help="1/100/1000 files, 1M-row table")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS / "source_benchmark.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.sql_rows, args.repeat = "1,100,1000", 1_000_000, 3
    work = Path(tempfile.mkdtemp(prefix="mw-srcbench-", dir=args.workdir))
    rows: list[dict[str, Any]] = []
    ratio_runs: dict[int, float] = {}
    try:
        kept: dict[int, tuple[MonitorSpec, tuple[datetime, datetime]]] = {}
        for hive, sizes in ((True, args.files), (False, args.flat_files)):
            for n in [int(s) for s in sizes.split(",") if s]:
                t0 = time.perf_counter()
                folder = write_history(work, n, args.rows_per_hour, hive=hive)
                written = time.perf_counter() - t0
                last = FIRST_HOUR + timedelta(hours=n - 1)
                window = (last, last + timedelta(hours=1))
                spec = _spec({"path": str(folder)})
                label = f"{'hive' if hive else 'flat'} {n:,} file(s)"
                naive = (
                    (lambda f=folder, w=window: naive_window(f, *w))
                    if n <= args.naive_max_files
                    else None
                )
                row = _case(label, spec, work, window, args, naive=naive, files=n)
                row.update(layout="hive" if hive else "flat", history_write_s=written)
                rows.append(row)
                if hive and n in (1, 1000):
                    kept[n] = (spec, window)
                else:
                    shutil.rmtree(folder)
        # the ratio the issue sets, measured interleaved so load on the machine hits both alike
        for _ in range(max(10, 6 * args.repeat)):
            for n, (spec, (start, end)) in kept.items():
                gc.collect()
                t0 = time.perf_counter()
                sources.load_window(spec, start, end, work)
                ratio_runs[n] = min(ratio_runs.get(n, float("inf")), time.perf_counter() - t0)
        sql = None if args.no_sql else sql_case(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = ratio_runs[1000] / ratio_runs[1] if {1, 1000} <= set(ratio_runs) else None
    if ratio is not None:
        print(
            f"\n1,000 hourly files vs 1 file (interleaved, best of {max(10, 6 * args.repeat)}): "
            f"{ratio_runs[1000] * 1e3:.1f} ms / {ratio_runs[1] * 1e3:.1f} ms = x{ratio:.2f} "
            "(target <= 1.5)"
        )
    payload = {
        "benchmark": "source_benchmark",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else argv,
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "cpu_count": os.cpu_count(),
        "rows_per_hour": args.rows_per_hour,
        "repeat": args.repeat,
        "cases": rows,
        "sql": sql if sql is not None else "skipped",
        "ratio_1000_files_vs_1_file": ratio,
        "ratio_runs_s": {str(k): v for k, v in ratio_runs.items()},
        "target_ratio": 1.5,
        "process_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
