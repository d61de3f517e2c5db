"""A model version's drift reference, profile and champion state: their files, and the cache.

Each registered version's run holds ``reference/reference.parquet`` (the training data,
PII dropped) and, for versions logged with them, ``reference/profile.npz`` (the arrays of
:meth:`~modelwatch.stats.drift.ReferenceProfile.to_arrays`) and
``reference/champion_state.npz`` (the arrays of
:meth:`~modelwatch.champion_state.ChampionState.to_arrays`), both written with
``np.savez`` and read with ``allow_pickle=False``: no object arrays, no code.

Besides downloaded artifacts, the cache keeps what a worker fitted itself for a run
(:func:`write_cached_arrays` / :func:`read_cached_arrays`: the champion state of a
version logged without one, keyed by the spec's fingerprint; :func:`cached_json`: the
calibrated thresholds of a window size) so it is fitted once per worker, not per window.

The cache keeps a downloaded file as ``<cache_dir>/<run_id>/<file name>``; a run's
artifacts never change, so an entry never goes stale. It is per worker
(``$MODELWATCH_HOME/cache``), used only for plain run ids (no separators or dots, so
nothing lands outside ``cache_dir`` and no two runs share an entry) and written
atomically (uuid-named temp file + rename), so readers never see a partial file and
concurrent writers never clash. Downloading is the caller's (:class:`Download`): this
module has no MLflow client.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "PROFILE_ARTIFACT",
    "REFERENCE_ARTIFACT",
    "STATE_ARTIFACT",
    "Download",
    "cache_file",
    "cached_artifact",
    "cached_json",
    "read_arrays",
    "read_cached_arrays",
    "read_profile",
    "write_arrays",
    "write_cached_arrays",
    "write_profile",
    "write_reference",
]

_log = logging.getLogger(__name__)

REFERENCE_ARTIFACT = "reference/reference.parquet"
PROFILE_ARTIFACT = "reference/profile.npz"
STATE_ARTIFACT = "reference/champion_state.npz"
# A locally written cache entry's file name: no separators, no leading dot.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# A run id used as a cache folder name: no separators, no dots.
_SAFE_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

#: ``download(artifact_path, dst_dir) -> local path`` of one artifact of a known run
Download = Callable[[str, str], str]


def cache_file(cache_dir: Path | None, run_id: str, name: str) -> Path | None:
    """``<cache_dir>/<run_id>/<name>``; None (no cache) without a dir or for an odd run id.

    The run id comes from the tracking server: it is used as a folder name only when it is
    a plain id (no separators, no ``..``, not empty), so no two runs share a cache entry
    and nothing is written outside ``cache_dir``.
    """
    if cache_dir is None:
        return None
    if not _SAFE_RUN_ID.fullmatch(run_id):
        _log.warning("not caching %s of run %r: not a plain MLflow run id", name, run_id)
        return None
    return Path(cache_dir) / run_id / name


def _cache_put(local: str | Path, cached: Path) -> None:
    """Copy ``local`` to ``cached`` atomically: readers never see a partial file, and
    concurrent writers (threads, processes, machines sharing the folder) never clash."""
    _atomic_write(cached, lambda partial: shutil.copyfile(local, partial))


def _atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    """``write(temp path)`` then rename onto ``target`` (uuid-named temp in the same folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _local_entry(cache_dir: Path | None, run_id: str, name: str) -> Path | None:
    """The cache file of something fitted locally for a run (None: not cacheable)."""
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"cache entry name {name!r} is not a plain file name")
    return cache_file(cache_dir, run_id, name)


def read_cached_arrays(cache_dir: Path | None, run_id: str, name: str) -> dict[str, Any] | None:
    """The arrays a worker cached for the run under ``name``; None when it has none.

    An unreadable entry (a foreign or damaged file) is logged, removed and reported as
    missing, so the caller fits again instead of failing every window.
    """
    path = _local_entry(cache_dir, run_id, name)
    if path is None or not path.exists():
        return None
    try:
        return read_arrays(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        _log.warning("dropping unreadable cache entry %s: %s", path, exc)
        path.unlink(missing_ok=True)
        return None


def write_cached_arrays(
    cache_dir: Path | None, run_id: str, name: str, arrays: Mapping[str, Any]
) -> Path | None:
    """Keep ``arrays`` (``np.savez``, atomically) as the run's cache entry ``name``."""
    import numpy as np

    path = _local_entry(cache_dir, run_id, name)
    if path is None:
        return None

    def write(partial: Path) -> None:
        with partial.open("wb") as handle:  # a file object: savez adds no ".npz" suffix
            np.savez_compressed(handle, **dict(arrays))

    _atomic_write(path, write)
    return path


def cached_json(cache_dir: Path | None, run_id: str, name: str, compute: Callable[[], Any]) -> Any:
    """The JSON cache entry ``name`` of the run, computed (and kept atomically) when missing."""
    path = _local_entry(cache_dir, run_id, name)
    if path is not None and path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _log.warning("dropping unreadable cache entry %s: %s", path, exc)
            path.unlink(missing_ok=True)
    value = compute()
    if path is not None:
        text = json.dumps(value)
        _atomic_write(path, lambda partial: partial.write_text(text, encoding="utf-8"))
    return value


@contextmanager
def cached_artifact(
    run_id: str, artifact_path: str, download: Download, *, cache_dir: Path | None
) -> Iterator[Path]:
    """The local file of one artifact of run ``run_id``, valid inside the ``with`` block.

    Taken from the cache when it holds it; otherwise ``download`` fetches it into a
    temporary folder (removed afterwards) and, with a ``cache_dir``, it is kept there.
    """
    cached = cache_file(cache_dir, run_id, Path(artifact_path).name)
    if cached is not None and cached.exists():
        yield cached
        return
    with tempfile.TemporaryDirectory(prefix="modelwatch-artifact-") as tmp:
        local = Path(download(artifact_path, tmp))
        if cached is not None:
            _cache_put(local, cached)
        yield local


def read_arrays(path: Path) -> dict[str, Any]:
    """The arrays of an ``.npz`` file (``allow_pickle=False``: plain arrays only)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


read_profile = read_arrays
"""The arrays of a ``profile.npz``."""


def write_arrays(arrays: Mapping[str, Any], directory: Path, artifact: str) -> Path:
    """``<directory>/<file name of artifact>``: the arrays as plain ``np.savez_compressed``
    (no pickle; reference outputs such as 0/1 predictions shrink a lot)."""
    import numpy as np

    path = Path(directory) / Path(artifact).name
    np.savez_compressed(path, **dict(arrays))
    return path


def write_reference(frame: pd.DataFrame, directory: Path) -> Path:
    """``<directory>/reference.parquet`` (no index): the file logged as the reference."""
    path = Path(directory) / Path(REFERENCE_ARTIFACT).name
    frame.to_parquet(path, index=False)
    return path


def write_profile(profile: Mapping[str, Any], directory: Path) -> Path:
    """``<directory>/profile.npz``: the profile's arrays as plain ``np.savez`` (no pickle)."""
    import numpy as np

    path = Path(directory) / Path(PROFILE_ARTIFACT).name
    np.savez(path, **dict(profile))
    return path
