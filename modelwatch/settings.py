"""Runtime settings from the environment (prefix ``MODELWATCH_``).

Nothing here touches the file system at import time; :func:`get_settings`
reads the environment each time it is called, and :meth:`Settings.ensure_home`
creates the folders when a command actually needs them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where modelwatch keeps its state. Every path can be overridden."""

    model_config = SettingsConfigDict(env_prefix="MODELWATCH_", extra="ignore")

    home: Path = Field(
        default=Path(".modelwatch"),
        description="Local home: SQLite files, MLflow artifacts, reports, demo data.",
    )
    store_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the monitoring store (default: SQLite in home).",
    )
    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else SQLite in home).",
    )
    specs_dir: Path = Field(
        default=Path("deployments/specs"), description="Folder of monitor specs <model>.yaml."
    )
    expectations_dir: Path = Field(
        default=Path("expectations"), description="Folder of Great Expectations suites."
    )
    fleet_concurrency: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Models a `monitor-fleet` run monitors at the same time (threads of one "
        "process; validation with Great Expectations is serialized). 1: one after the other.",
    )
    warm_starts: bool = Field(
        default=True,
        description="`modelwatch serve` starts each flow run as a fork of a process that "
        "has imported the flows and libraries once (multiprocessing forkserver) instead of "
        "a new interpreter that imports them again (flows.warm). false: Prefect's spawn.",
    )
    dashboard_url: str | None = Field(
        default=None,
        description="Base URL of `modelwatch dashboard` as people reach it (e.g. "
        "http://mw.internal:8765): reports and Data Docs are linked there instead of file://.",
    )

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_store_url(self) -> str:
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.home_dir / 'store.db'}"

    @property
    def resolved_tracking_uri(self) -> str:
        import os

        if self.tracking_uri:
            return self.tracking_uri
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        return f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def resolved_specs_dir(self) -> Path:
        """``specs_dir``; a relative one missing from the cwd falls back to the source checkout."""
        return _beside_checkout(self.specs_dir)

    @property
    def resolved_expectations_dir(self) -> Path:
        return _beside_checkout(self.expectations_dir)

    @property
    def artifacts_dir(self) -> Path:
        return self.home_dir / "mlartifacts"

    @property
    def reports_dir(self) -> Path:
        return self.home_dir / "reports"

    @property
    def data_docs_dir(self) -> Path:
        return self.home_dir / "data_docs"

    @property
    def cache_dir(self) -> Path:
        return self.home_dir / "cache"

    def ensure_home(self) -> Path:
        """Create the home folders (called by commands, never at import)."""
        for path in (self.home_dir, self.artifacts_dir, self.reports_dir, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self.home_dir


def _beside_checkout(path: Path) -> Path:
    if path.is_absolute() or path.exists():
        return path.resolve()
    checkout = Path(__file__).resolve().parents[1] / path
    return checkout if checkout.exists() else path.resolve()


def get_settings() -> Settings:
    """Read the settings from the current environment."""
    return Settings()
