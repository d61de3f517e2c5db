"""Pure statistics of modelwatch: drift, performance metrics and A/B comparison.

Everything here is computation on numpy / scipy / pandas objects: no I/O, no
Prefect, no scikit-learn at runtime. Results are frozen dataclasses
(:class:`~modelwatch.stats.drift.DriftReport`,
:class:`~modelwatch.stats.performance.MetricValue`,
:class:`~modelwatch.stats.abtest.ABDecision`) that hold the value, the
threshold, the decision and the evidence. Bad inputs raise
:class:`modelwatch.errors.StatisticsError`.

Two modules serve the others, and no module imports another's private names:

* :mod:`~modelwatch.stats.kernels` — the one implementation of each shared
  statistic (midranks, ROC AUC on score tie groups, DeLong's covariance,
  expected calibration error, confusion counts, per-row log loss) and the one
  bootstrap driver (chunked index matrices from ``default_rng(seed)``,
  percentile intervals), all vectorized over resamples.
* :mod:`~modelwatch.stats.params` — declarative parameter constraints
  (``Interval``, ``Options``, ``check_param``) and array-argument checks, with
  one message template: ``The 'n_bins' parameter of population_stability_index
  must be an int >= 2. Got 1 instead.``
"""
