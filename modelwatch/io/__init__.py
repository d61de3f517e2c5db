"""Adapters: data sources, monitoring store, MLflow registry, Great Expectations, alerts, reports."""
