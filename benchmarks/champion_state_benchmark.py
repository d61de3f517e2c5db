"""Cost of one window's analysis (the work of ``flows.monitor._assess``) before and after the
champion state: re-scoring the reference and refitting per window vs loading the state.

For each reference size (default: the demo's 6 000 rows, and 1 000 000 rows) the
credit model of the demo is trained on 6 000 rows, and a drifted window of
``--window`` rows (default 2 000, the demo's) is served with its scores and labels.
Then, per window, the library calls ``_assess``'s tasks make:

* **before** (per window): ``train.score_frame`` on the whole reference, CBPE fitted
  (``analysis.estimated_metrics(reference=..., reference_outputs=...)``), window drift
  (``analysis.window_drift`` with the persisted feature profile loaded from its
  ``.npz``, output profiles fitted), multivariate drift on the whole reference;
* **after**: ``reference/champion_state.npz`` read (``np.load(allow_pickle=False)`` +
  ``ChampionState.from_arrays``) and the same analyses with the state
  (``state=``; multivariate drift on ``state.multivariate``).

Realized metrics (the same in both) are timed once beside. Reported: seconds per
stage (best of ``--repeat``), the one-time cost of fitting and saving the state,
the state file's size, and whether both paths give equal estimates, drift and
multivariate results. Prefect's per-task overhead is not included (it is the same
in both paths, one task fewer after: no ``load-model``). BLAS / OpenMP pools are
limited to ``--threads`` (default 1) with ``threadpoolctl``, so that the gradient
boosting of the multivariate step does not swing with the machine's load.

Usage::

    python benchmarks/champion_state_benchmark.py                   # 6k and 1M references
    python benchmarks/champion_state_benchmark.py --references 6000 --repeat 3

Writes ``benchmarks/results/champion_state_benchmark.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from threadpoolctl import threadpool_limits

from modelwatch import analysis, simulate
from modelwatch.champion_state import ChampionState, fit_champion_state
from modelwatch.spec import MonitorSpec
from modelwatch.stats.drift import ReferenceProfile, fit_reference_profile
from modelwatch.train import build_pipeline, score_frame

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def best(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return result, min(times)


def load_npz(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def run(spec: MonitorSpec, n_reference: int, window_rows: int, repeat: int) -> dict[str, Any]:
    cols = spec.columns
    train = simulate.generate_reference(6000, seed=0)
    model = build_pipeline(spec, seed=0)
    model.fit(train[list(cols.features)], train[cols.target])
    reference = train if n_reference == 6000 else simulate.generate_reference(n_reference, seed=0)
    truth = simulate.sample(
        "binary", window_rows, drift=0.4, concept=0.0, rng=np.random.default_rng(5)
    )
    predictions, scores = score_frame(model, truth, spec)
    assert cols.score is not None  # the credit spec logs a score
    window = truth.assign(**{cols.prediction: predictions, cols.score: scores})
    out: dict[str, Any] = {"reference_rows": len(reference), "window_rows": len(window)}

    with tempfile.TemporaryDirectory(prefix="champion-state-benchmark-") as tmp:
        profile_path, state_path = Path(tmp) / "profile.npz", Path(tmp) / "state.npz"
        profile_arrays: dict[str, Any] = fit_reference_profile(
            reference, numeric=cols.numeric, categorical=cols.categorical
        ).to_arrays()
        np.savez(profile_path, **profile_arrays)

        def fit_and_save() -> ChampionState:
            state = fit_champion_state(spec, reference, score_frame(model, reference, spec))
            arrays: dict[str, Any] = state.to_arrays()
            np.savez_compressed(state_path, **arrays)  # as logged
            return state

        _, out["one_time_fit_and_save_seconds"] = best(fit_and_save, 1)
        out["state_file_mb"] = round(state_path.stat().st_size / 2**20, 3)

        stages: dict[str, dict[str, float]] = {"before": {}, "after": {}}
        before = stages["before"]
        outputs, before["score_reference"] = best(
            lambda: score_frame(model, reference, spec), repeat
        )
        old_estimates, before["cbpe_fit_and_estimate"] = best(
            lambda: analysis.estimated_metrics(
                spec, reference=reference, reference_outputs=outputs, predictions=window
            ),
            repeat,
        )

        def old_drift() -> Any:
            profile = ReferenceProfile.from_arrays(load_npz(profile_path))
            return analysis.window_drift(
                spec,
                reference=reference,
                reference_outputs=outputs,
                predictions=window,
                labeled=window,
                profile=profile,
            )

        old_report, before["drift"] = best(old_drift, repeat)
        old_mv, before["multivariate"] = best(
            lambda: analysis.multivariate_drift(spec, reference, window), repeat
        )

        after = stages["after"]
        state, after["load_state"] = best(
            lambda: ChampionState.from_arrays(load_npz(state_path)), repeat
        )
        new_estimates, after["cbpe_estimate"] = best(
            lambda: analysis.estimated_metrics(spec, predictions=window, state=state), repeat
        )
        new_report, after["drift"] = best(
            lambda: analysis.window_drift(spec, predictions=window, labeled=window, state=state),
            repeat,
        )
        assert state.multivariate is not None
        new_mv, after["multivariate"] = best(
            lambda: analysis.multivariate_drift(spec, state.multivariate, window), repeat
        )
        _, realized_s = best(lambda: analysis.realized_metrics(spec, window), repeat)

    for name, stage in stages.items():
        stage["total"] = sum(stage.values())
        out[name] = {k: round(v, 4) for k, v in stage.items()}
    out["realized_metrics_seconds_both"] = round(realized_s, 4)
    out["speedup_total"] = round(stages["before"]["total"] / stages["after"]["total"], 1)
    out["speedup_without_multivariate"] = round(
        (stages["before"]["total"] - stages["before"]["multivariate"])
        / (stages["after"]["total"] - stages["after"]["multivariate"]),
        1,
    )
    out["equal_estimates"] = new_estimates == old_estimates
    out["equal_drift"] = new_report == old_report
    out["equal_multivariate"] = new_mv == old_mv
    if not out["equal_drift"]:  # above COMPACT_MIN_ROWS the profiles are compact (bounded)
        out["max_drift_statistic_difference"] = max(
            abs(a.statistic - b.statistic)
            for a, b in zip(new_report.columns, old_report.columns, strict=True)
        )
        out["same_drift_decisions"] = [r.drifted for r in new_report.columns] == [
            r.drifted for r in old_report.columns
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--references", default="6000,1000000")
    parser.add_argument("--window", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS / "champion_state_benchmark.json")
    args = parser.parse_args()
    raw = yaml.safe_load((REPO / "deployments" / "specs" / "credit.yaml").read_text())
    spec = MonitorSpec.model_validate(raw)
    results = []
    for n in (int(v) for v in args.references.split(",")):
        with threadpool_limits(limits=args.threads):
            result = run(spec, n, args.window, args.repeat)
        print(json.dumps(result))
        results.append(result)
    out = {
        "benchmark": "champion_state_benchmark",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "repeat": args.repeat,
        "threads": args.threads,
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
