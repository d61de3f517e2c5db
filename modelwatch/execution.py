"""Where a window's statistics are computed: in this process, or on a ``dask.distributed`` cluster.

A streamed window is a list of **partitions**: picklable callables that yield the
window's rows as record batches (:class:`ParquetPartition`: one file of a
Parquet source, read with ``pyarrow.dataset``, projected to the needed columns
and filtered on the window's timestamp; or any ``functools.partial`` of a
module-level reader). Every partition is folded into a :class:`WindowAggregate`
(:mod:`modelwatch.stats.streaming`: bin / category / KS-cell counts, confusion
counts, score groups, Poisson bootstrap replicates seeded by ``(partition,
batch)``); the partials are merged **in partition order**, so the local and the
Dask engines give bit-identical results (each partition's aggregate is the same
computation, wherever it runs). :func:`finalize_window` then gives the
:class:`~modelwatch.stats.drift.DriftReport` and the realized
:class:`~modelwatch.stats.performance.MetricValue` list that
:func:`modelwatch.analysis.window_drift` and :func:`modelwatch.analysis.realized_metrics`
give on the same window in memory.

``spec.execution.engine``:

* ``local`` — partitions are folded one after the other in this process
  (memory: one batch + the aggregate);
* ``dask`` — ``Client.map`` of the same fold over the partitions; the client is
  ``Client(os.environ[execution.dask_address_env])`` when the spec names an
  address variable, else a ``LocalCluster(n_workers=execution.dask_workers,
  processes=True, threads_per_worker=1, dashboard_address=None)`` on 127.0.0.1,
  closed after the window. Each worker reads its own partitions (the client
  ships only the small plan and receives only the partials).

Labels: a batch row is *labeled* when the batch has the target column and the
row's target is not missing (the source joins the labels per batch).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelwatch.errors import SourceError, SpecError, StatisticsError, TransientError
from modelwatch.stats.drift import (
    DriftReport,
    ReferenceProfile,
    fit_reference_profile,
    with_output_drift,
)
from modelwatch.stats.performance import MetricValue
from modelwatch.stats.streaming import (
    BatchKey,
    BinaryAggregate,
    DriftAggregate,
    DriftPlan,
    MulticlassAggregate,
    RegressionAggregate,
    batch_rng,
    segment_stream,
)

if TYPE_CHECKING:  # workers unpickle plans and partitions: they never import these
    from modelwatch.analysis import ReferenceOutputs
    from modelwatch.io.gx_runtime import ValidationReport
    from modelwatch.spec import Execution, MonitorSpec

# The same names as modelwatch.analysis (test_streaming checks): importing analysis would load
# sklearn (multivariate) into every Dask worker that unpickles a plan.
PREDICTION_PREFIX = "prediction:"
TARGET_PREFIX = "target:"
MIN_ROWS_BOOTSTRAP = 10
MIN_ROWS_SEGMENT = 30

__all__ = [
    "SAMPLE_ROWS",
    "ParquetPartition",
    "Partition",
    "ReferenceState",
    "SourcePartition",
    "StreamedWindow",
    "WindowAggregate",
    "WindowPlan",
    "aggregate_partition",
    "compute_window_aggregates",
    "dask_client",
    "finalize_window",
    "merge_slice_reports",
    "parquet_partitions",
    "reference_state",
    "should_stream",
    "streamed_window",
    "window_partitions",
]

#: A partition: called (in any process) it yields the window's rows of that partition in
#: batches: frames (labeled rows = non-missing target), or ``(predictions, labeled)`` pairs.
Partition = Callable[[], Iterable[pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]]]

_SEED = 0
_SAMPLE_STREAM = 0x5A  # seed word of the sample's draws (apart from the bootstrap's)

#: Seconds to wait for a remote Dask scheduler before the window fails (transient: retried later).
CONNECT_TIMEOUT_S = 30

#: Expected size of the seeded sample of a streamed window (multivariate drift, CBPE).
SAMPLE_ROWS = 5000


# --------------------------------------------------------------------------- reference side


@dataclass(frozen=True, eq=False)
class ReferenceState:
    """The champion's reference side of a streamed window (profiles only; built once per champion).

    ``profile``: the features' profile (the persisted one, or fitted from the
    reference); ``prediction`` / ``target``: one-column profiles of the champion's
    reference output and the reference target, fitted exactly as
    :func:`modelwatch.analysis.window_drift` fits them (``None`` when that drift
    does not apply).
    """

    profile: ReferenceProfile
    prediction: ReferenceProfile | None
    target: ReferenceProfile | None
    reference: pd.DataFrame | None = None
    """Kept only for ``drift.thresholds: calibrated`` (chunks of the reference)."""


def _prediction_column(spec: MonitorSpec) -> tuple[str, bool]:
    cols = spec.columns
    if cols.score is not None:
        return cols.score, True
    return cols.prediction, spec.task == "regression"


def _one_column_profile(name: str, values: Any, numeric: bool) -> ReferenceProfile:
    frame = pd.DataFrame({name: np.asarray(values)})
    return fit_reference_profile(
        frame, numeric=[name] if numeric else [], categorical=[] if numeric else [name]
    )


def reference_state(
    spec: MonitorSpec,
    *,
    reference: pd.DataFrame,
    reference_outputs: ReferenceOutputs,
    profile: ReferenceProfile | None = None,
) -> ReferenceState:
    """Profiles of the features, the champion's reference output and the reference target."""
    cols, policy = spec.columns, spec.drift
    if profile is None:
        profile = fit_reference_profile(
            reference, numeric=list(cols.numeric), categorical=list(cols.categorical)
        )
    ref_pred, ref_scores = reference_outputs
    column, numeric = _prediction_column(spec)
    ref_values = ref_scores if cols.score is not None else ref_pred
    prediction = None
    if policy.prediction_drift and ref_values is not None and np.ndim(ref_values) == 1:
        prediction = _one_column_profile(PREDICTION_PREFIX + column, ref_values, numeric)
    target = None
    if policy.target_drift:
        target = _one_column_profile(
            TARGET_PREFIX + cols.target,
            reference[cols.target].to_numpy(),
            spec.task == "regression",
        )
    calibrated = reference if policy.thresholds == "calibrated" else None
    return ReferenceState(profile, prediction, target, calibrated)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True, eq=False)
class WindowPlan:
    """What a worker needs to aggregate a batch (picklable; no reference rows)."""

    task: str
    prediction: str
    score: str | None
    target: str
    class_scores: tuple[tuple[str, str], ...] | None
    segments: tuple[str, ...]
    features: DriftPlan
    prediction_drift: DriftPlan | None
    target_drift: DriftPlan | None
    seed: int = _SEED
    sample_fraction: float = 0.0
    """Share of rows kept as a seeded sample (multivariate drift, CBPE); 0: none."""
    sample_columns: tuple[str, ...] = ()
    """The sample's columns: features, prediction, scores, target (never PII or ids)."""

    @classmethod
    def build(
        cls, spec: MonitorSpec, state: ReferenceState, *, expected_rows: int | None = None
    ) -> WindowPlan:
        """The plan of a window; ``expected_rows`` (e.g. ``count_window_rows``) sizes the
        seeded sample (about :data:`SAMPLE_ROWS` rows; none without it)."""
        cols, policy = spec.columns, spec.drift
        features = DriftPlan.for_profile(
            state.profile,
            numeric=list(cols.numeric),
            categorical=list(cols.categorical),
            method=policy.method,
            methods=dict(policy.methods),
        )
        prediction = None
        if state.prediction is not None:
            column, _ = _prediction_column(spec)
            prediction = DriftPlan.for_profile(
                state.prediction, sources={PREDICTION_PREFIX + column: column}
            )
        target = None
        if state.target is not None:
            target = DriftPlan.for_profile(
                state.target, sources={TARGET_PREFIX + cols.target: cols.target}
            )
        return cls(
            task=spec.task,
            prediction=cols.prediction,
            score=cols.score,
            target=cols.target,
            class_scores=tuple(cols.class_scores.items()) if cols.class_scores else None,
            segments=tuple(cols.segments) if spec.task == "binary" else (),
            features=features,
            prediction_drift=prediction,
            target_drift=target,
            sample_fraction=min(1.0, SAMPLE_ROWS / expected_rows) if expected_rows else 0.0,
            sample_columns=tuple(
                dict.fromkeys([*cols.features, cols.prediction, *cols.score_columns, cols.target])
            ),
        )

    def empty(self) -> WindowAggregate:
        performance: BinaryAggregate | RegressionAggregate | MulticlassAggregate
        if self.task == "regression":
            performance = RegressionAggregate(seed=self.seed)
        elif self.task == "multiclass":
            classes = tuple(c for c, _ in self.class_scores) if self.class_scores else None
            performance = MulticlassAggregate(classes=classes, seed=self.seed)
        else:
            performance = BinaryAggregate(seed=self.seed)
        return WindowAggregate(
            features=self.features.empty(),
            prediction=None if self.prediction_drift is None else self.prediction_drift.empty(),
            target=None if self.target_drift is None else self.target_drift.empty(),
            performance=performance,
        )

    def aggregate(
        self, batch: pd.DataFrame, key: BatchKey, *, labeled: pd.DataFrame | None = None
    ) -> WindowAggregate:
        """The partial aggregate of one batch (``key`` = ``(partition, batch)`` seeds its draws).

        ``labeled``: the batch's predictions joined with their labels (as
        ``WindowData.labeled``); without it, the rows of ``batch`` whose target is
        not missing are the labeled ones (none when it has no target column).
        """
        out = self.empty()
        out.n_rows = len(batch)
        self.features.update(out.features, batch)
        if self.prediction_drift is not None and out.prediction is not None:
            self.prediction_drift.update(out.prediction, batch)
        if self.sample_fraction > 0 and len(batch):
            keep = batch_rng(self.seed, key, _SAMPLE_STREAM).random(len(batch))
            present = [c for c in self.sample_columns if c in batch.columns]
            out.sample = batch.loc[keep < self.sample_fraction, present].reset_index(drop=True)
        if labeled is None:
            if self.target not in batch.columns:
                return out
            labeled = batch[batch[self.target].notna().to_numpy()]
        out.n_labeled = len(labeled)
        if labeled.empty:
            return out
        if self.target_drift is not None and out.target is not None:
            self.target_drift.update(out.target, labeled)
        self._performance(out, labeled, key)
        return out

    def _performance(self, out: WindowAggregate, labeled: pd.DataFrame, key: BatchKey) -> None:
        y_true = labeled[self.target].to_numpy()
        y_pred = labeled[self.prediction].to_numpy()
        perf = out.performance
        if isinstance(perf, RegressionAggregate):
            perf.update(y_true, y_pred, key=key)
        elif isinstance(perf, MulticlassAggregate):
            proba = (
                labeled[[c for _, c in self.class_scores]].to_numpy() if self.class_scores else None
            )
            perf.update(_as_text(y_true), _as_text(y_pred), proba, key=key)
        else:
            scores = labeled[self.score].to_numpy() if self.score else None
            perf.update(y_true, y_pred, scores, key=key)
            for column in self.segments:
                values = labeled[column].reset_index(drop=True)
                missing = values.isna().to_numpy()
                text = values.astype(object).map(str).to_numpy()
                for value in sorted(set(text[~missing].tolist())):
                    mask = (text == value) & ~missing
                    segment = f"{column}={value}"
                    part = out.segments.setdefault(
                        (column, value),
                        BinaryAggregate(seed=self.seed, stream=segment_stream(segment)),
                    )
                    part.update(
                        y_true[mask],
                        y_pred[mask],
                        None if scores is None else scores[mask],
                        key=key,
                    )


def _as_text(values: Any) -> np.ndarray:
    """Class labels as text (as :func:`modelwatch.analysis.realized_metrics` compares them)."""
    return np.asarray(pd.Series(values).astype(str).to_numpy(), dtype=object)


@dataclass
class WindowAggregate:
    """Everything a window's drift and realized metrics need, for some of its rows."""

    features: DriftAggregate
    prediction: DriftAggregate | None
    target: DriftAggregate | None
    performance: BinaryAggregate | RegressionAggregate | MulticlassAggregate
    segments: dict[tuple[str, str], BinaryAggregate] = field(default_factory=dict)
    n_rows: int = 0
    n_labeled: int = 0
    sample: pd.DataFrame | None = None
    """Seeded Bernoulli sample of the window's rows (``WindowPlan.sample_fraction``)."""

    def merge(self, other: WindowAggregate) -> WindowAggregate:
        """Add ``other`` (in place; returned)."""
        self.features.merge(other.features)
        if self.prediction is not None and other.prediction is not None:
            self.prediction.merge(other.prediction)
        if self.target is not None and other.target is not None:
            self.target.merge(other.target)
        self.performance.merge(other.performance)  # type: ignore[arg-type]
        for key, part in other.segments.items():
            if key in self.segments:
                self.segments[key].merge(part)
            else:
                self.segments[key] = part
        self.n_rows += other.n_rows
        self.n_labeled += other.n_labeled
        if other.sample is not None and len(other.sample):
            self.sample = (
                other.sample
                if self.sample is None
                else pd.concat([self.sample, other.sample], ignore_index=True)
            )
        return self


# --------------------------------------------------------------------------- finalize


@dataclass(frozen=True)
class StreamedWindow:
    """A streamed window's results: what the in-memory drift and realized metrics give."""

    drift: DriftReport
    metrics: tuple[MetricValue, ...]
    n_rows: int
    n_labeled: int
    n_partitions: int
    engine: str
    sample: pd.DataFrame | None = field(default=None, compare=False)
    """Seeded sample of the window's rows (multivariate drift, CBPE; see ``streamed_window``)."""

    def extent(self, start: datetime, end: datetime) -> WindowCounts:
        """The window's bounds and counts (what a stored run row needs)."""
        return WindowCounts(start, end, self.n_rows, self.n_labeled)

    def describe(self) -> str:
        """One line for the run's log: how the window was computed."""
        sample = 0 if self.sample is None else len(self.sample)
        return (
            f"streamed {self.n_rows} rows ({self.n_labeled} labeled) in {self.n_partitions} "
            f"slices on the {self.engine} engine; CBPE, multivariate drift and latency "
            f"percentiles on a seeded sample of {sample} rows"
        )


@dataclass(frozen=True)
class WindowCounts:
    """Bounds and row counts of a window that was never one frame."""

    start: datetime
    end: datetime
    n_rows: int
    n_labeled: int


def finalize_window(
    spec: MonitorSpec, plan: WindowPlan, aggregate: WindowAggregate, state: ReferenceState
) -> tuple[DriftReport, list[MetricValue]]:
    """``(window_drift(...), realized_metrics(...))`` of the window the aggregate summarizes."""
    policy = spec.drift
    if aggregate.n_rows == 0:
        raise StatisticsError("a streamed window with no rows has no drift (NoData upstream)")
    methods: dict[str, str] | None = None
    column_thresholds = None
    if policy.thresholds == "calibrated":
        if state.reference is None:
            raise StatisticsError("drift.thresholds 'calibrated' needs the reference frame")
        from modelwatch.stats.thresholds import calibrate_thresholds

        calibrated = calibrate_thresholds(
            state.reference,
            numeric=spec.columns.numeric,
            categorical=spec.columns.categorical,
            method=policy.method,
            methods=dict(policy.methods),
            chunk_size=aggregate.n_rows,
            n_chunks=policy.calibration_chunks,
            k=policy.calibration_k,
        )
        methods, column_thresholds = dict(calibrated.methods), calibrated.thresholds
    features = plan.features.finalize(
        aggregate.features,
        state.profile,
        alpha=policy.alpha,
        correction=policy.correction,
        psi_threshold=policy.psi_threshold,
        dataset_drift_share=policy.dataset_drift_share,
        column_thresholds=column_thresholds,
        methods=methods,
    )
    extra = []
    kw: dict[str, Any] = {"alpha": policy.alpha, "psi_threshold": policy.psi_threshold}
    if plan.prediction_drift is not None and aggregate.prediction is not None:
        assert state.prediction is not None
        extra.append(
            plan.prediction_drift.finalize(
                aggregate.prediction, state.prediction, role="prediction", **kw
            )
        )
    if plan.target_drift is not None and aggregate.target is not None and aggregate.n_labeled:
        assert state.target is not None
        extra.append(
            plan.target_drift.finalize(aggregate.target, state.target, role="target", **kw)
        )
    return with_output_drift(features, *extra), _metrics(plan, aggregate)


def _metrics(plan: WindowPlan, aggregate: WindowAggregate) -> list[MetricValue]:
    if aggregate.n_labeled == 0:
        return []
    intervals = aggregate.n_labeled >= MIN_ROWS_BOOTSTRAP
    overall = list(aggregate.performance.finalize(intervals=intervals).values())
    if not isinstance(aggregate.performance, BinaryAggregate) or not plan.segments:
        return overall
    if aggregate.n_labeled < MIN_ROWS_SEGMENT:
        return overall
    per_segment: list[MetricValue] = []
    for column in plan.segments:
        values = sorted(v for c, v in aggregate.segments if c == column)
        for value in values:
            part = aggregate.segments[(column, value)]
            if part.n >= MIN_ROWS_SEGMENT:
                segment = f"{column}={value}"
                per_segment.extend(
                    replace(m, segment=segment) for m in part.finalize(intervals=True).values()
                )
    return [*overall, *per_segment]


# --------------------------------------------------------------------------- running


def aggregate_partition(plan: WindowPlan, partition: Partition, index: int) -> WindowAggregate:
    """Fold one partition's batches into one aggregate (runs on a worker or in process)."""
    total = plan.empty()
    for b, batch in enumerate(partition()):
        if isinstance(batch, tuple):  # (predictions, labeled) of one slice
            total.merge(plan.aggregate(batch[0], (index, b), labeled=batch[1]))
        else:
            total.merge(plan.aggregate(batch, (index, b)))
    return total


@contextmanager
def dask_client(execution: Execution) -> Iterator[Any]:
    """A ``dask.distributed.Client``: the spec's scheduler address, else a LocalCluster.

    The LocalCluster (``processes=True``, one thread per worker, no dashboard,
    127.0.0.1) is closed on exit; a remote cluster is left running. A scheduler
    that cannot be reached within :data:`CONNECT_TIMEOUT_S` is a
    :class:`~modelwatch.errors.TransientError` naming the address.
    """
    from dask.distributed import Client, LocalCluster

    if execution.dask_address_env is not None:
        address = os.environ.get(execution.dask_address_env, "").strip()
        if not address:
            raise SpecError(
                f"execution.dask_address_env names {execution.dask_address_env!r}, which is "
                "not set in the environment (it must hold a scheduler address, "
                "tcp://host:8786)"
            )
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            raise TransientError(
                f"the Dask scheduler {address!r} (from ${execution.dask_address_env}) cannot be "
                f"reached: {exc}"
            ) from exc
        with client:
            yield client
        return
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=execution.dask_workers,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


def compute_window_aggregates(
    spec: MonitorSpec,
    partitions: Sequence[Partition],
    plan: WindowPlan,
    *,
    client: Any | None = None,
) -> WindowAggregate:
    """Every partition aggregated (locally or on Dask per ``spec.execution``), merged in order.

    ``client``: an open ``dask.distributed.Client`` to use instead of opening one
    (tests share one LocalCluster); ignored by the local engine.
    """
    total = plan.empty()
    if spec.execution.engine != "dask":
        for index, partition in enumerate(partitions):
            total.merge(aggregate_partition(plan, partition, index))
        return total
    if client is None:
        with dask_client(spec.execution) as opened:
            return _on_dask(opened, plan, partitions, total)
    return _on_dask(client, plan, partitions, total)


def _on_dask(
    client: Any, plan: WindowPlan, partitions: Sequence[Partition], total: WindowAggregate
) -> WindowAggregate:
    shipped = client.scatter(plan, broadcast=True)
    futures = client.map(
        aggregate_partition,
        [shipped] * len(partitions),
        list(partitions),
        list(range(len(partitions))),
        pure=False,
    )
    for future in futures:  # merged in partition order: identical to the local engine
        total.merge(future.result())
        future.release()
    return total


def streamed_window(
    spec: MonitorSpec,
    partitions: Sequence[Partition],
    state: ReferenceState,
    *,
    expected_rows: int | None = None,
    client: Any | None = None,
) -> StreamedWindow:
    """Aggregate the partitions and finalize: the window's drift report and realized metrics.

    ``expected_rows`` (the window's row count) turns on the seeded sample of
    about :data:`SAMPLE_ROWS` rows (``StreamedWindow.sample``) for the analyses
    that need rows (multivariate drift, CBPE).
    """
    plan = WindowPlan.build(spec, state, expected_rows=expected_rows)
    aggregate = compute_window_aggregates(spec, partitions, plan, client=client)
    drift, metrics = finalize_window(spec, plan, aggregate, state)
    return StreamedWindow(
        drift=drift,
        metrics=tuple(metrics),
        n_rows=aggregate.n_rows,
        n_labeled=aggregate.n_labeled,
        n_partitions=len(partitions),
        engine=spec.execution.engine,
        sample=aggregate.sample,
    )


def should_stream(spec: MonitorSpec, n_rows: int) -> bool:
    """Stream the window (not one in-memory frame): Dask engine, or more rows than
    ``execution.stream_above_rows``."""
    execution = spec.execution
    return execution.engine == "dask" or n_rows > execution.stream_above_rows


@dataclass(frozen=True)
class SourcePartition:
    """A time slice ``[start, end)`` of a window, read through :mod:`modelwatch.io.sources`.

    With a label source, the slice is loaded with ``load_window`` (labels joined by
    the sources' rules: latest label wins, ``max_delay_hours``) and yielded as one
    ``(predictions, labeled)`` pair; without one, its prediction rows are yielded
    in batches of ``batch_rows`` (``iter_window_batches``). Picklable: a Dask
    worker reads its own slice (files pruned by partition and row group; SQL
    with the slice's bounds as parameters).
    """

    spec: MonitorSpec
    start: datetime
    end: datetime
    home: str
    batch_rows: int

    def __call__(self) -> Iterator[pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]]:
        from pathlib import Path

        from modelwatch.io import sources

        home = Path(self.home)
        if self.spec.sources.labels is not None:
            window = sources.load_window(self.spec, self.start, self.end, home)
            if window.predictions.empty:
                return
            yield window.predictions, window.labeled
            return
        yield from sources.iter_window_batches(
            self.spec, self.start, self.end, home, batch_rows=self.batch_rows
        )


def window_partitions(
    spec: MonitorSpec, start: datetime, end: datetime, home: os.PathLike[str] | str, *, n_rows: int
) -> list[SourcePartition]:
    """The window cut into equal time slices of about ``execution.batch_rows`` rows each.

    Slices are disjoint and cover ``[start, end)``; with the Dask engine there are at
    least ``2 x dask_workers`` of them (every worker gets work).
    """
    execution = spec.execution
    count = max(1, -(-n_rows // execution.batch_rows))
    if execution.engine == "dask":
        count = max(count, 2 * execution.dask_workers)
    step = (end - start) / count
    bounds = [start + step * i for i in range(count)] + [end]
    return [
        SourcePartition(spec, lo, hi, str(home), execution.batch_rows)
        for lo, hi in itertools.pairwise(bounds)
        if hi > lo
    ]


# --------------------------------------------------------------------------- Parquet partitions


@dataclass(frozen=True)
class ParquetPartition:
    """One Parquet file of a window: its rows in ``[start, end)`` as record batches.

    ``pyarrow.dataset`` reads only ``columns`` and pushes the timestamp filter
    down (row groups whose statistics fall outside the window are skipped).
    """

    path: str
    timestamp: str
    start: datetime
    end: datetime
    columns: tuple[str, ...]
    batch_rows: int = 500_000

    def __call__(self) -> Iterator[pd.DataFrame]:
        import pyarrow as pa
        import pyarrow.dataset as ds

        try:
            dataset = ds.dataset(self.path, format="parquet")
            names = set(dataset.schema.names)
            missing = [c for c in (self.timestamp, *self.columns) if c not in names]
            if missing:
                raise SourceError(f"{self.path} has no column(s) {missing}")
            stamp = ds.field(self.timestamp)
            kind = dataset.schema.field(self.timestamp).type
            if not pa.types.is_timestamp(kind):
                raise SourceError(
                    f"column {self.timestamp!r} in {self.path} has type {kind}; "
                    "a streamed window needs a timestamp column"
                )
            start, end = (_utc(t, aware=kind.tz is not None) for t in (self.start, self.end))
            scanner = dataset.scanner(
                columns=[c for c in self.columns if c != self.timestamp] or [self.timestamp],
                filter=(stamp >= start) & (stamp < end),
                batch_size=self.batch_rows,
            )
            for record_batch in scanner.to_batches():
                if record_batch.num_rows:
                    yield record_batch.to_pandas()
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"cannot read the window from {self.path}: {exc}") from exc


def _utc(moment: datetime, *, aware: bool) -> Any:
    """``moment`` as an Arrow scalar in UTC (naive when the column is naive: read as UTC)."""
    import pyarrow as pa

    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return pa.scalar(stamp.to_pydatetime() if aware else stamp.tz_localize(None).to_pydatetime())


def parquet_partitions(
    paths: Sequence[str | os.PathLike[str]],
    *,
    timestamp: str,
    start: datetime,
    end: datetime,
    columns: Sequence[str],
    batch_rows: int = 500_000,
) -> list[ParquetPartition]:
    """One partition per file, in sorted path order (the order results are merged in)."""
    return [
        ParquetPartition(str(p), timestamp, start, end, tuple(columns), batch_rows)
        for p in sorted(str(p) for p in paths)
    ]


# --------------------------------------------------------------------------- validation by slice

#: Failing slices quoted per expectation in a merged validation report.
SLICES_QUOTED = 3


def merge_slice_reports(reports: Sequence[tuple[str, ValidationReport]]) -> ValidationReport:
    """One report for a window validated slice by slice (``(slice label, report)``, in order).

    Each slice ran the same suite (an expectation a slice skipped, e.g. one on the labels
    of a slice without labels, is judged on the slices that ran it). An expectation
    succeeds iff it succeeded on every slice that ran it; its observed text quotes the first :data:`SLICES_QUOTED` failing slices
    (``slice <label>: <observed>``) and counts the rest. ``n_rows`` is the sum. Row-level
    expectations thus see every row; aggregate ones (a mean, a row count, ``mostly``)
    are judged per slice, and the observed text of a passing one says over how many
    slices. Data Docs: the last slice's page.
    """
    from modelwatch.io.gx_runtime import ExpectationOutcome, ValidationReport

    if not reports:
        raise StatisticsError("merge_slice_reports needs at least one slice report")
    first = reports[0][1]

    def key(outcome: ExpectationOutcome) -> tuple[str, str | None, str, str, str]:
        return (outcome.expectation_type, outcome.column, outcome.frame, outcome.expected,
                outcome.severity)  # fmt: skip

    seen: dict[tuple[str, str | None, str, str, str], list[tuple[str, ExpectationOutcome]]] = {}
    for label, report in reports:
        if report.suite_name != first.suite_name:
            raise StatisticsError(
                f"slice {label!r} was validated with suite {report.suite_name!r}, slice "
                f"{reports[0][0]!r} with {first.suite_name!r}"
            )
        for outcome in report.outcomes:
            seen.setdefault(key(outcome), []).append((label, outcome))
    outcomes = []
    for results in seen.values():  # an expectation a slice did not run (e.g. on labels of a
        outcome = results[0][1]  # slice without any) is judged on the slices that ran it
        failed = [(label, o) for label, o in results if not o.success]
        if failed:
            quoted = [f"slice {label}: {o.observed}" for label, o in failed[:SLICES_QUOTED]]
            more = len(failed) - SLICES_QUOTED
            observed = "; ".join(quoted) + (f"; +{more} more failing slices" if more > 0 else "")
        else:
            observed = f"{outcome.observed} (first of {len(results)} slices, all passed)"
        outcomes.append(replace(outcome, success=not failed, observed=observed))
    last = reports[-1][1]
    return ValidationReport(
        suite_name=first.suite_name,
        n_rows=sum(r.n_rows for _, r in reports),
        outcomes=tuple(outcomes),
        data_docs_path=last.data_docs_path,
        data_docs_url=last.data_docs_url,
    )
