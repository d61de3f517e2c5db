"""A model version's drift reference and profile: their files, and the local cache of them.

Each registered version's run holds ``reference/reference.parquet`` (the training data,
PII dropped) and, for versions logged with one, ``reference/profile.npz`` (the arrays of
:meth:`~modelwatch.stats.drift.ReferenceProfile.to_arrays`, written with ``np.savez`` and
read with ``allow_pickle=False``: no object arrays, no code).

The cache keeps a downloaded file as ``<cache_dir>/<run_id>/<file name>``; a run's
artifacts never change, so an entry never goes stale. It is per worker
(``$MODELWATCH_HOME/cache``), used only for plain run ids (no separators or dots, so
nothing lands outside ``cache_dir`` and no two runs share an entry) and written
atomically (uuid-named temp file + rename), so readers never see a partial file and
concurrent writers never clash. Downloading is the caller's (:class:`Download`): this
module has no MLflow client.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "PROFILE_ARTIFACT",
    "REFERENCE_ARTIFACT",
    "Download",
    "cache_file",
    "cached_artifact",
    "read_profile",
    "write_profile",
    "write_reference",
]

_log = logging.getLogger(__name__)

REFERENCE_ARTIFACT = "reference/reference.parquet"
PROFILE_ARTIFACT = "reference/profile.npz"
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
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f".{cached.name}.{uuid.uuid4().hex}.tmp")
    try:
        shutil.copyfile(local, partial)
        os.replace(partial, cached)
    finally:
        partial.unlink(missing_ok=True)


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


def read_profile(path: Path) -> dict[str, Any]:
    """The arrays of a ``profile.npz`` (``allow_pickle=False``: plain arrays only)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


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
