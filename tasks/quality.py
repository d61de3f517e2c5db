"""Great Expectations validation tasks."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from prefect import task

from modelwatch.io import quality
from modelwatch.settings import get_settings
from modelwatch.spec import MonitorSpec
from tasks import TASK_DEFAULTS


@task(name="run-expectation-suite", task_run_name="gx-{spec.name}", **TASK_DEFAULTS)
def run_suite(
    spec: MonitorSpec, frame: pd.DataFrame, window: tuple[datetime, datetime], run_name: str
) -> quality.ValidationReport:
    settings = get_settings()
    suite = quality.load_suite(settings.resolved_expectations_dir / f"{spec.name}.json")
    return quality.validate_frame(
        frame,
        suite,
        pii=spec.columns.pii,
        data_docs_dir=settings.data_docs_dir,
        run_name=run_name,
        window=window,
    )
