"""Speed of the dashboard over a year of hourly windows of one model (issue 12).

Fills a SQLite monitoring store with ``--windows`` hourly runs (default 8,760 = a
year) of one model, each with 10 overall metric rows (5 metrics, realized and
estimated), 4 serving-health rows, 11 drift rows and 66 validation rows, then times
the pages a team opens through Starlette's TestClient (best of ``--repeat``):
the fleet page, ``/metrics``, and the model page with 500 (the default), 2,000 and
every window. Compared, in the same run, with the naive page a user would write
first: one query per window for its metric, drift and validation rows.

Usage::

    python benchmarks/dashboard_benchmark.py                  # a year of hourly windows
    python benchmarks/dashboard_benchmark.py --windows 2000   # shorter

Writes ``benchmarks/results/dashboard_benchmark.json`` (``--output`` to change).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import tracemalloc
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from modelwatch.io.store import (
    Store,
    drift_results,
    metric_values,
    monitor_runs,
    validation_results,
)
from modelwatch.settings import Settings

T0 = datetime(2025, 12, 1, tzinfo=UTC)
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
SERVING = ("rows_per_hour", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")


def fill(store: Store, n_windows: int) -> dict[str, int]:
    """One model's runs and their children, written in four bulk inserts."""
    runs, metrics, drift, validation = [], [], [], []
    for i in range(n_windows):
        run_id, start = str(uuid.uuid4()), T0 + timedelta(hours=i)
        runs.append({
            "id": run_id, "model": "credit", "window_start": start,
            "window_end": start + timedelta(hours=1), "flow_run_id": None,
            "champion_version": str(1 + i // 2000), "status": "ok", "validation_passed": True,
            "n_rows": 2000, "n_labeled": 1600, "bad": False, "reason": "ok",
            "share_drifted": 0.1, "threshold": 0.7, "created_at": start,
        })  # fmt: skip
        for kind in ("realized", "estimated"):
            metrics += [
                {"run_id": run_id, "name": m, "kind": kind, "segment": None, "value": 0.8,
                 "ci_low": 0.77, "ci_high": 0.83, "n": 1600}
                for m in METRICS
            ]  # fmt: skip
        metrics += [
            {"run_id": run_id, "name": m, "kind": "serving", "segment": None, "value": 40.0,
             "ci_low": None, "ci_high": None, "n": 2000}
            for m in SERVING
        ]  # fmt: skip
        drift += [
            {"run_id": run_id, "column_name": f"col{c}", "method": "psi", "statistic": 0.003,
             "p_value": None, "threshold": 0.005, "drifted": False,
             "missing_share_current": 0.0, "unseen_categories": ""}
            for c in range(11)
        ]  # fmt: skip
        validation += [
            {"run_id": run_id, "expectation": f"expect_{e}", "column_name": f"col{e % 11}",
             "severity": "warning" if e % 3 else "critical",
             "success": bool(e != 5 or i % 10), "observed": None}
            for e in range(66)
        ]  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(monitor_runs.insert(), runs)
        conn.execute(metric_values.insert(), metrics)
        conn.execute(drift_results.insert(), drift)
        conn.execute(validation_results.insert(), validation)
    return {"runs": len(runs), "metric_rows": len(metrics), "drift_rows": len(drift),
            "validation_rows": len(validation)}  # fmt: skip


def naive_page(store: Store, windows: int) -> int:
    """What a first dashboard does: the runs, then three queries per window."""
    rows = 0
    with store.engine.connect() as conn:
        runs = conn.execute(
            sa.select(monitor_runs.c.id)
            .where(monitor_runs.c.model == "credit")
            .order_by(monitor_runs.c.window_start.desc())
            .limit(windows)
        ).all()
        for (run_id,) in runs:
            for table in (metric_values, drift_results, validation_results):
                rows += len(conn.execute(sa.select(table).where(table.c.run_id == run_id)).all())
    return rows


def timed(call: Any, repeat: int) -> tuple[float, int]:
    """Best wall time of ``repeat`` calls and the peak of Python allocations of one."""
    call()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=8760, help="hourly windows stored")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best of)")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).parent / "results" / "dashboard_benchmark.json",
        help="where the JSON results go",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

    from modelwatch.dashboard import create_app

    root = Path(tempfile.mkdtemp(prefix="mw-dashboard-bench-"))
    settings = Settings(home=root / "home", specs_dir=root / "specs")
    settings.ensure_home()
    settings.specs_dir.mkdir()
    store = Store(settings.resolved_store_url)
    store.upgrade_schema()
    started = time.perf_counter()
    sizes = fill(store, args.windows)
    print(f"filled {sizes} in {time.perf_counter() - started:.1f} s")
    pages = ["/", "/metrics"] + [
        f"/models/credit?windows={n}" for n in (500, 2000, args.windows) if n <= args.windows
    ]
    results: list[dict[str, Any]] = []
    with TestClient(create_app(settings)) as client:
        for path in pages:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            best, peak = timed(lambda path=path: client.get(path), args.repeat)
            results.append({"page": path, "seconds": round(best, 4), "bytes": len(response.content),
                            "peak_alloc_mb": round(peak / 1e6, 1)})  # fmt: skip
            print(f"{path:<32} {best * 1000:8.0f} ms  {len(response.content) / 1e6:6.2f} MB  "
                  f"peak {peak / 1e6:6.1f} MB")  # fmt: skip
    naive = []
    for n in (500, 2000):
        if n > args.windows:
            continue
        best, peak = timed(lambda n=n: naive_page(store, n), 1)
        naive.append(
            {"windows": n, "seconds": round(best, 4), "peak_alloc_mb": round(peak / 1e6, 1)}
        )
        print(f"naive: 3 queries per window, {n:>5} windows {best * 1000:8.0f} ms (rows only)")
    store.dispose()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "windows": args.windows,
                "stored": sizes,
                "pages": results,
                "naive_per_window_queries": naive,
                "python": platform.python_version(),
                "machine": platform.machine(),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
