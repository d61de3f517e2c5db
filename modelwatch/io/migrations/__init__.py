"""Alembic migrations of the monitoring store (run by :mod:`modelwatch.io.migrate`)."""
