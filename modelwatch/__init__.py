"""modelwatch: keep ML models healthy in production.

The library package is pure computation plus adapters (store, MLflow registry,
Great Expectations, sources). It never imports :mod:`prefect`; the Prefect layer
lives in the top-level ``tasks`` and ``flows`` packages.
"""

__version__ = "0.1.0"
