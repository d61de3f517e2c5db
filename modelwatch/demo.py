"""Library side of the demo: bootstrap a champion and "serve" generated windows.

The demo plays the serving system: each window's ground truth comes from
:mod:`modelwatch.simulate`, the models the registry names score it — the
``champion``, and during a staged rollout the ``shadow`` (its answers logged in
``shadow_<column>`` columns, never served) or the ``canary`` (answers the share of
requests the router gives it) — through :func:`modelwatch.serving.score_with_stages`,
which writes the ``variant`` column (kept while a canary serves, or always when the spec
declares ``columns.variant``); the prediction log and the label feed are
appended as Parquet files under the modelwatch home — exactly what a real serving
system would leave for the monitor to read.

The demo resets its model before it starts (data, store rows, registered model),
so it refuses a model it did not create (:func:`check_resettable`): what it
generates carries a marker — the file ``.modelwatch-demo`` in the data folder and
the version tag ``modelwatch.demo=true`` on the registered version it bootstraps.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from modelwatch import simulate
from modelwatch.champion_state import fit_version_state
from modelwatch.errors import DemoRefused, RegistryError, SpecError
from modelwatch.evaluation import validation_metrics
from modelwatch.io.aliases import RolloutStage
from modelwatch.io.registry import ModelVersionRef, Registry
from modelwatch.io.store import Store
from modelwatch.io.suites import build_suite, write_suite
from modelwatch.outcomes import Alias, Stage
from modelwatch.serving import CANARY, DEFAULT_VARIANT_COLUMN, score_with_stages
from modelwatch.settings import Settings
from modelwatch.spec import FileSource, MonitorSpec, SqlSource, resolve_path
from modelwatch.train import build_pipeline, model_card, reference_profile, score_frame

#: how the demo lays out its files: ``hive`` (``date=YYYY-MM-DD/hour=HH/part-<window>.parquet``,
#: what :mod:`modelwatch.io.sources` prunes by) or ``flat`` (``<window>.parquet``, the former one)
LogLayout = Literal["hive", "flat"]
DEMO_LAYOUT: LogLayout = "hive"


@dataclass(frozen=True)
class StageView:
    """The staged rollout as the serving step saw it: which version, in which stage."""

    stage: Stage
    version: str
    canary_share: float | None = None

    @classmethod
    def of(cls, stage: RolloutStage | None) -> StageView | None:
        return None if stage is None else cls(stage.stage, stage.version, stage.canary_share)

    def __str__(self) -> str:
        if self.stage is Stage.CANARY and self.canary_share is not None:
            return f"canary v{self.version} {self.canary_share:.0%}"
        return f"{self.stage} v{self.version}"


@dataclass(frozen=True)
class ServedWindow:
    index: int
    start: datetime
    end: datetime
    rows: int
    labeled: int
    champion_version: str
    rollout: StageView | None = None
    """The version in shadow or canary that served with the champion (None: champion alone)."""
    canary_rows: int = 0
    """Rows the canary answered (the router's share of this window's requests)."""


def rollout_label(before: StageView | None, after: StageView | None, champion: str) -> str:
    """The demo table's ``rollout`` cell: the stage after a window's monitor run, and how it
    moved in that run.

    ``before`` is the stage the window was served with, ``after`` the stage once its
    monitor run ended, ``champion`` the champion's version then. A version that left its
    stage was promoted when it is the champion now, else rejected::

        rollout_label(None, shadow v2, "1")        == "-> shadow v2"
        rollout_label(shadow v2, canary v2, "1")   == "shadow -> canary v2 20%"
        rollout_label(canary v2, None, "2")        == "canary -> promoted v2"
    """
    if before is not None and (after is None or after.version != before.version):
        ended = "promoted" if champion == before.version else "rejected"
        moved = f"{before.stage} -> {ended} v{before.version}"
        return moved if after is None else f"{moved}; -> {after}"
    if after is None:
        return "-"
    if before is None:
        return f"-> {after}"
    if before.stage is not after.stage:
        return f"{before.stage} -> {after}"
    return str(after)


#: file the demo writes into the data folder it generates (reset deletes only such a folder)
DEMO_MARKER = ".modelwatch-demo"
#: version tag of the version the demo bootstraps (reset deletes only such a registered model)
DEMO_TAG = "modelwatch.demo"
#: how versions bootstrapped before the marker existed are recognized
_DEMO_REASON = ("modelwatch.trigger.reason", "demo bootstrap")


def open_registry(settings: Settings) -> Registry:
    return Registry(settings.resolved_tracking_uri, artifact_root=settings.artifacts_dir)


def data_root(spec: MonitorSpec, settings: Settings) -> Path:
    return Path(resolve_path(spec.sources.reference.path, settings.home_dir)).parent


def _first_version_tags(registry: Registry, model_name: str) -> dict[str, str] | None:
    """Tags of the model's oldest registered version; None when it has none (not registered)."""
    from mlflow.exceptions import MlflowException

    try:  # model names are checked (no quotes): the filter cannot be broken out of
        versions = registry.client.search_model_versions(f"name = '{model_name}'")
    except (MlflowException, OSError) as exc:
        raise RegistryError(f"reading the versions of model {model_name!r} failed: {exc}") from exc
    if not versions:  # registered without versions (a foreign model, or a crashed bootstrap)?
        try:
            found = registry.client.search_registered_models(f"name = '{model_name}'")
        except (MlflowException, OSError) as exc:
            raise RegistryError(f"reading registered model {model_name!r} failed: {exc}") from exc
        return {} if found else None
    first = min(versions, key=lambda mv: int(mv.version))
    return {str(k): str(v) for k, v in (first.tags or {}).items()}


def check_resettable(spec: MonitorSpec, settings: Settings) -> None:
    """Refuse a model the demo did not create: reset would delete its data, rows and versions.

    Resettable: nothing of the model exists yet (the first demo), or everything there
    is carries the demo's marker — the data folder its ``DEMO_MARKER`` file, the
    registered model's first version the tag ``DEMO_TAG=true`` (or the bootstrap
    reason of a demo from before the tag) — and store rows are deleted only when one
    of those marks the model as the demo's.
    """
    root = data_root(spec, settings)
    data_marked = (root / DEMO_MARKER).is_file()
    why = []
    tags = _first_version_tags(open_registry(settings), spec.name)
    model_marked = tags is not None and (
        tags.get(DEMO_TAG) == "true" or tags.get(_DEMO_REASON[0]) == _DEMO_REASON[1]
    )
    # a demo from before the marker file: its registered demo version vouches for its data
    if root.is_dir() and any(root.iterdir()) and not (data_marked or model_marked):
        why.append(f"its data folder {root} has no {DEMO_MARKER} marker")
    if tags is not None and not model_marked:
        why.append(f"its registered model in MLflow has no version tagged {DEMO_TAG}=true")
    if not why and not (data_marked or model_marked):
        with Store.open(settings.resolved_store_url) as store:
            if store.runs(spec.name, limit=1) or store.decisions(spec.name):
                why.append(
                    "the monitoring store holds runs or decisions of it, and no demo data "
                    "or demo version marks it as the demo's"
                )
    if why:
        raise DemoRefused(
            f"the demo refuses model {spec.name!r}: it deletes its model's data, "
            f"store rows and registered versions before it starts, and {spec.name!r} was not "
            f"created by the demo ({'; '.join(why)}). Run the demo with a demo model "
            f"(--task binary|multiclass|regression) or in another MODELWATCH_HOME and MLflow."
        )


def reset(spec: MonitorSpec, settings: Settings) -> None:
    """Forget an earlier demo of this model: its generated data, store rows, registered versions.

    Refuses (:func:`check_resettable`) a model the demo did not create.
    """
    check_resettable(spec, settings)
    root = data_root(spec, settings)
    if root.exists():
        shutil.rmtree(root)
    with Store(settings.resolved_store_url) as store:
        store.upgrade_schema()
        store.delete_model(spec.name)
    open_registry(settings).delete_registered_model(spec.name)


def check_world(spec: MonitorSpec) -> None:
    """The generated world of ``spec.task`` must have the columns the spec declares."""
    frame = simulate.sample(spec.task, 5, drift=0.0, concept=0.0, rng=np.random.default_rng(0))
    wanted = [*spec.columns.features, spec.columns.target]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise SpecError(
            f"the demo's generated {spec.task} world has no column(s) {missing} that the spec "
            f"of model {spec.name!r} declares; it has {sorted(frame.columns)}"
        )


def mark_demo_data(spec: MonitorSpec, settings: Settings) -> None:
    """Write the demo's marker into the model's data folder (created when missing)."""
    root = data_root(spec, settings)
    root.mkdir(parents=True, exist_ok=True)
    (root / DEMO_MARKER).write_text(
        f"generated by `modelwatch demo` for model {spec.name!r}; the demo deletes this folder "
        "when it starts again\n"
    )


def bootstrap(spec: MonitorSpec, settings: Settings, *, seed: int = 0) -> ModelVersionRef:
    """Generate the reference, train the first model, register it as ``champion``."""
    cols = spec.columns
    check_world(spec)
    reference = simulate.generate_reference(6000, seed=seed, task=spec.task)
    validation = simulate.sample(
        spec.task, 3000, drift=0.0, concept=0.0, rng=np.random.default_rng([seed, 9])
    )
    ref_path = Path(resolve_path(spec.sources.reference.path, settings.home_dir))
    ref_path.parent.mkdir(parents=True, exist_ok=True)
    mark_demo_data(spec, settings)
    reference.to_parquet(ref_path, index=False)

    model = build_pipeline(spec, seed=seed)
    model.fit(reference[list(cols.features)], reference[cols.target])
    predictions, scores = score_frame(model, validation, spec)
    metrics = validation_metrics(spec, validation, (predictions, scores))
    return open_registry(settings).log_model_version(
        spec.name,
        model,
        training_data=reference,
        input_example=reference[list(cols.features)].head(5),
        params={"n_reference": len(reference), "seed": seed},
        metrics=metrics,
        tags={_DEMO_REASON[0]: _DEMO_REASON[1], DEMO_TAG: "true"},
        run_name=f"bootstrap-{spec.name}",
        pii=cols.pii,
        alias=Alias.CHAMPION.value,
        target=cols.target,
        profile=reference_profile(reference, spec),
        champion_state=fit_version_state(spec, model, reference).to_arrays(with_profile=False),
        model_card=model_card(spec, metrics, {"n_reference": len(reference), "seed": seed}),
        trust_pickle=spec.model.trust_pickle,
    )


def ensure_suite(spec: MonitorSpec, settings: Settings, *, rows_per_window: int) -> Path:
    """Build ``expectations/<model>.json`` from the reference when it does not exist yet."""
    path = settings.resolved_expectations_dir / f"{spec.name}.json"
    if not path.exists():
        reference = pd.read_parquet(resolve_path(spec.sources.reference.path, settings.home_dir))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_suite(build_suite(reference, spec, typical_rows=rows_per_window), path)
    return path


def serve_window(
    spec: MonitorSpec,
    settings: Settings,
    *,
    index: int,
    start: datetime,
    end: datetime,
    rows: int,
    seed: int,
    scenario: simulate.Scenario,
    label_fraction: float = 0.8,
) -> ServedWindow:
    """Serve window ``index`` as the registry says and append log + labels files.

    The champion answers; a version in the ``shadow`` stage is scored on every row (its
    answers in ``shadow_<column>`` columns); a version in the ``canary`` stage answers
    the rows the router gives it (its ``canary_share``, stable hash of the prediction
    id). The ``variant`` column (``champion`` / ``canary``) is logged when the spec
    declares ``columns.variant`` or a canary serves. Labels are written for both variants
    alike (the same delayed label feed, joined on the prediction id).
    """
    registry = open_registry(settings)
    champion = registry.get_version(spec.name, Alias.CHAMPION.value)
    stage = registry.alias_book.rollout(spec.name)

    def load(version: str) -> object:
        return registry.load_model(spec.name, version, trust_pickle=spec.model.trust_pickle)

    hours = (end - start).total_seconds() / 3600
    truth = simulate.generate_window(
        index, start=start, hours=hours, rows=rows, seed=seed, scenario=scenario, task=spec.task
    )
    canary = shadow = None
    share = 0.0
    if stage is not None and stage.stage is Stage.CANARY:
        canary, share = load(stage.version), stage.canary_share or 0.0
    elif stage is not None:
        shadow = load(stage.version)
    served = score_with_stages(
        truth,
        spec,
        champion=load(champion.version),
        canary=canary,
        shadow=shadow,
        canary_share=share,
    )
    variant = spec.columns.variant or DEFAULT_VARIANT_COLUMN
    if canary is None and spec.columns.variant is None:
        # every row is the champion's: a column the spec does not declare would carry
        # nothing and only trip the suite's columns check (it is logged while a canary serves)
        served = served.drop(columns=variant)
    log, labels = simulate.split_log_and_labels(
        served,
        label_fraction=label_fraction,
        seed=seed,
        index=index,
        target=spec.columns.target,
    )
    write_window_files(spec, settings.home_dir, start=start, end=end, log=log, labels=labels)
    return ServedWindow(
        index,
        start,
        end,
        len(log),
        len(labels),
        champion.version,
        rollout=StageView.of(stage),
        canary_rows=int((log[variant] == CANARY).sum()) if variant in log.columns else 0,
    )


# --------------------------------------------------------------------------- writing the log


def window_file(
    source: FileSource,
    home: Path,
    start: datetime,
    *,
    hour: datetime | None = None,
    layout: LogLayout = DEMO_LAYOUT,
) -> Path:
    """Where the demo writes the rows of window ``start`` that fall in ``hour`` (default: start).

    ``hive``: ``<source>/date=YYYY-MM-DD/hour=HH/part-<start>.<format>`` (UTC); the file name
    carries the window, so re-serving a window replaces its own files and two windows whose
    rows share an hour (late labels) never overwrite each other. ``flat``: ``<start>.<format>``.
    """
    folder = Path(resolve_path(source.path, home))
    start_utc = (
        pd.Timestamp(start).tz_convert("UTC") if pd.Timestamp(start).tzinfo else pd.Timestamp(start)
    )
    name = f"{start_utc:%Y-%m-%dT%H%M}"
    if layout == "flat":
        return folder / f"{name}.{source.format}"
    at = pd.Timestamp(hour) if hour is not None else start_utc
    at = at.tz_convert("UTC") if at.tzinfo else at
    return folder / f"date={at:%Y-%m-%d}" / f"hour={at:%H}" / f"part-{name}.{source.format}"


def _write_atomically(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write next to ``path`` then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    if fmt == "parquet":
        frame.to_parquet(partial, index=False)
    else:
        frame.to_csv(partial, index=False, encoding="utf-8")
    partial.replace(path)


def _append_to_table(
    source: SqlSource,
    frame: pd.DataFrame,
    *,
    model: str,
    role: str,
    replace_where: tuple[str, object],
) -> None:
    """Replace this window's rows of a SQL table (create it, indexed, if missing), one transaction."""
    import sqlalchemy as sa

    from modelwatch.io.sources import sql as sql_source

    engine = sql_source.engine_for(source, model, role)
    column, values = replace_where
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(source.table, schema=source.db_schema):
                table = sa.Table(
                    source.table, sa.MetaData(), schema=source.db_schema, autoload_with=conn
                )
                conn.execute(
                    table.delete().where(table.c[column].in_(sa.bindparam("v", expanding=True))),
                    {"v": values},
                )
                frame.to_sql(
                    source.table, conn, schema=source.db_schema, if_exists="append", index=False
                )
            else:
                frame.to_sql(source.table, conn, schema=source.db_schema, index=False)
                table = sa.Table(
                    source.table, sa.MetaData(), schema=source.db_schema, autoload_with=conn
                )
                sa.Index(f"ix_{source.table}_{column}"[:60], table.c[column]).create(conn)
    finally:
        engine.dispose()


def write_window_files(
    spec: MonitorSpec,
    home: Path,
    *,
    start: datetime,
    end: datetime,
    log: pd.DataFrame,
    labels: pd.DataFrame,
    layout: LogLayout = DEMO_LAYOUT,
) -> tuple[str, ...]:
    """Append one served window to the prediction log and the label feed; returns what it wrote.

    File sources: ``layout`` (see :func:`window_file`); with ``hive`` the log's rows go to the
    partition of their timestamp's UTC hour (a one-hour window: one file), so a partition holds
    only its hour's rows, and labels to the partition of the prediction they label (a label
    window ``[start, end + max_delay_hours)`` always contains it; rows are then filtered on
    ``label_timestamp``).
    SQL sources: the window's rows replace any earlier copy (re-serving is idempotent).
    """
    cols = spec.columns
    written: list[str] = []
    ts = pd.to_datetime(log[cols.timestamp], utc=True) if len(log) else None
    for role, source, frame in (
        ("predictions", spec.sources.predictions, log),
        ("labels", spec.sources.labels, labels),
    ):
        if source is None:
            continue
        if isinstance(source, SqlSource):
            key = cols.id
            _append_to_table(
                source,
                frame,
                model=spec.name,
                role=role,
                replace_where=(key, [str(v) for v in frame[key]] if len(frame) else [""]),
            )
            written.append(f"sql:{source.qualified_name}")
            continue
        groups: list[tuple[datetime | None, pd.DataFrame]] = [(None, frame)]
        if layout == "hive" and ts is not None and len(frame):
            # the UTC hour of each row's prediction (labels: of the prediction they label)
            by_id = pd.Series(ts.to_numpy(), index=log[cols.id].to_numpy())
            when = ts if frame is log else frame[cols.id].map(by_id)
            first = pd.Timestamp(start)
            first = first.tz_convert("UTC") if first.tzinfo else first.tz_localize("UTC")
            hours = pd.to_datetime(when, utc=True).fillna(first).dt.floor("h")
            groups = [(h.to_pydatetime(), part) for h, part in frame.groupby(hours, sort=True)]
        for hour, part in groups:
            path = window_file(source, home, start, hour=hour, layout=layout)
            _write_atomically(part.reset_index(drop=True), path, source.format)
            written.append(str(path))
    return tuple(written)
