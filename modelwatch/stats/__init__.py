"""Pure statistics of modelwatch: drift, performance metrics and A/B comparison.

Everything here is computation on numpy / scipy / pandas objects: no I/O, no
Prefect, no scikit-learn at runtime. Results are frozen dataclasses
(:class:`~modelwatch.stats.drift.DriftReport`,
:class:`~modelwatch.stats.performance.MetricValue`,
:class:`~modelwatch.stats.abtest.ABDecision`) that hold the value, the
threshold, the decision and the evidence. Bad inputs raise
:class:`modelwatch.errors.StatisticsError`.
"""
