"""The Dask engine: a LocalCluster with 2 worker processes gives the local engine's results.

One cluster for the module (started once, ~3-5 s); the window is written as
Parquet files that each worker reads itself (``ParquetPartition``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from modelwatch.errors import SpecError
from modelwatch.execution import (
    ParquetPartition,
    StreamedWindow,
    dask_client,
    parquet_partitions,
    streamed_window,
)
from modelwatch.stats.drift import ReferenceProfile
from tests.unit.test_streaming import (
    T0,
    _assert_same_drift,
    _assert_same_metrics,
    _frame,
    _in_memory,
    _spec,
    _state,
)

pytestmark = pytest.mark.integration

ENV = "MODELWATCH_TEST_DASK_SCHEDULER"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            host="127.0.0.1",
        ) as local,
        Client(local) as client,  # type: ignore[no-untyped-call]
    ):
        client.wait_for_workers(2, timeout=60)
        yield client


def _window_files(tmp: Path, name: str) -> tuple[Any, Any, Any, list[ParquetPartition]]:
    spec = _spec(name)
    reference = _frame(spec, 6000, seed=21)
    window = _frame(spec, 12_000, seed=22, shift=0.2)
    paths = []
    for i, start in enumerate(range(0, len(window), 2500)):
        path = tmp / f"{name}-{i:02d}.parquet"
        window.iloc[start : start + 2500].to_parquet(path, row_group_size=1000)
        paths.append(path)
    cols = spec.columns
    columns = [c for c in window.columns if c != cols.timestamp]
    partitions = parquet_partitions(
        paths,
        timestamp=cols.timestamp,
        start=T0,
        end=T0 + timedelta(days=1),
        columns=columns,
        batch_rows=1700,
    )
    return spec, reference, window, partitions


@pytest.mark.parametrize("name", ["credit", "house"])
def test_the_dask_engine_gives_the_local_result_and_the_in_memory_values(
    cluster: Any, tmp_path: Path, name: str
) -> None:
    spec, reference, window, partitions = _window_files(tmp_path, name)
    cols = spec.columns
    profile = ReferenceProfile.fit(reference, numeric=cols.numeric, categorical=cols.categorical)
    state = _state(spec, reference, profile)
    dask_spec = spec.model_copy(
        update={"execution": spec.execution.model_copy(update={"engine": "dask"})}
    )

    local = streamed_window(spec, partitions, state)
    on_dask = streamed_window(dask_spec, partitions, state, client=cluster)

    assert isinstance(on_dask, StreamedWindow) and on_dask.engine == "dask"
    assert on_dask.drift == local.drift  # bit-identical, bootstrap intervals included
    assert on_dask.metrics == local.metrics
    assert on_dask.n_rows == len(window) and on_dask.n_partitions == len(partitions) == 5
    memory_drift, memory_metrics = _in_memory(spec, reference, window, profile)
    _assert_same_drift(on_dask.drift, memory_drift)
    _assert_same_metrics(list(on_dask.metrics), memory_metrics)
    workers = {w for keys in cluster.has_what().values() for w in keys}
    assert len(cluster.scheduler_info()["workers"]) == 2, workers


def test_a_scheduler_address_from_the_environment_is_used(
    cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec("credit", execution={"engine": "dask", "dask_address_env": ENV})
    monkeypatch.setenv(ENV, cluster.scheduler.address)
    with dask_client(spec.execution) as client:
        assert client.scheduler.address == cluster.scheduler.address
        assert client.submit(sum, [1, 2, 3]).result() == 6
    monkeypatch.delenv(ENV)
    with (
        pytest.raises(SpecError, match=rf"execution.dask_address_env names '{ENV}', which is not"),
        dask_client(spec.execution),
    ):
        pass


def test_an_unreachable_scheduler_is_a_transient_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelwatch import execution
    from modelwatch.errors import TransientError, is_transient

    spec = _spec("credit", execution={"engine": "dask", "dask_address_env": ENV})
    monkeypatch.setenv(ENV, "tcp://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setattr(execution, "CONNECT_TIMEOUT_S", 2)
    with (
        pytest.raises(
            TransientError, match=r"Dask scheduler 'tcp://127.0.0.1:9' .* cannot be"
        ) as err,
        dask_client(spec.execution),
    ):
        pass
    assert is_transient(err.value)
