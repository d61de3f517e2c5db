"""Univariate data drift: statistics, a method registry and dataset-level reports.

Reference side and current side
-------------------------------
The reference (the champion's training/validation data) is summarized once into
a :class:`ReferenceProfile`: per numeric column the sorted non-missing values,
quantile bin edges and bin counts; per categorical column the category counts.
:func:`detect_drift` accepts either a profile or a reference DataFrame (then the
profile is fitted on the fly). :meth:`ReferenceProfile.to_arrays` /
:meth:`ReferenceProfile.from_arrays` turn a profile into plain numpy arrays and
back (``np.savez`` / ``np.load(allow_pickle=False)``), so it can be stored with
the model version it describes. Each window then costs one 2-D ``np.sort`` of the
numeric columns whose method needs the full distribution (KS, Wasserstein,
Anderson–Darling, Cramér–von Mises), bin counts against the reference's edges
for the binned methods (PSI, Jensen–Shannon, Hellinger, KL: one vectorized
comparison per edge, no sort) and one ``factorize`` + ``bincount`` per
categorical column. KS and the binned methods never touch more
of the reference than a ``searchsorted`` into it; Wasserstein, Anderson–Darling
and Cramér–von Mises merge the two sorted samples (cost ``O(n_ref + n_cur)``).

Methods (``DRIFT_METHODS``)
---------------------------
==============  ===========  ==========  ===============================================
key             kinds        kind        agrees with
==============  ===========  ==========  ===============================================
``ks``          numeric      test        ``scipy.stats.ks_2samp(ref, cur, method="asymp")``
``chi2``        categorical  test        ``scipy.stats.chi2_contingency`` on the 2×K table
                                         (default ``correction=True``: Yates when K = 2)
``z``           categorical  test        two-proportion pooled z-test (binary columns);
                                         statistic is ``|z|``
``anderson``    numeric      test        ``scipy.stats.anderson_ksamp([ref, cur],
                                         variant="midrank")`` (p-value capped to
                                         [0.001, 0.25] like scipy)
``cvm``         numeric      test        ``scipy.stats.cramervonmises_2samp(ref, cur,
                                         method="asymptotic")``
``psi``         both         distance    population stability index on reference
                                         quantile bins (numeric) or categories
``jensenshannon``  both      distance    ``scipy.spatial.distance.jensenshannon(p, q,
                                         base=2)`` on the same bins, in [0, 1]
``hellinger``   both         distance    ``sqrt(sum((sqrt p - sqrt q)^2) / 2)``, in [0, 1]
``kl``          both         distance    ``scipy.stats.entropy(p_ref, p_cur)`` (KL of
                                         reference from current) after ``eps`` smoothing
``wasserstein`` numeric      distance    ``scipy.stats.wasserstein_distance(ref, cur) /
                                         std(ref)`` (raw distance when ``std(ref) == 0``)
==============  ===========  ==========  ===============================================

The KS p-value is Smirnov's asymptotic distribution (``kstwo.sf(D, round(n·m/(n+m)))``),
i.e. what ``ks_2samp`` uses with ``method="asymp"`` and with ``method="auto"`` as
soon as a sample has more than 10 000 rows; the exact small-sample recursion is
not used (it is a Python-level double loop). The statistic equals ``ks_2samp``'s.

``"auto"`` picks per column, from the non-missing row counts ``n = min(n_ref,
n_cur)``: numeric → ``ks`` when ``n <= AUTO_TEST_MAX_ROWS`` (5000) else ``psi``;
categorical → ``chi2`` when ``n <= AUTO_TEST_MAX_ROWS`` else ``psi``. P-values
flag every column at 10^5–10^6 rows, so large samples use an effect size.

Calibrated defaults (the rule behind ``"auto"``)
------------------------------------------------
* Small samples (``n <= 5000`` per side): KS / chi-squared p-values with
  Benjamini–Hochberg at ``alpha = 0.05`` across the window's columns (the
  default ``correction`` of :func:`detect_drift` and of the spec; without a
  correction 5 % of the columns are flagged on no-drift data). Under no drift BH keeps the family-wise error at
  ``alpha``, i.e. about ``alpha / m`` of the ``m`` columns flagged on average.
* Large samples: PSI on 10 reference-quantile bins (numeric) or on the
  categories (categorical, unseen categories as cells of their own), with a
  threshold that depends on the sample sizes and the number of cells ``K``::

      threshold = max(PSI_MIN_EFFECT, chi2.ppf(1 - PSI_FALSE_ALARM, K - 1) · (1/n_ref + 1/n_cur))

  Under no drift ``PSI · n_ref·n_cur/(n_ref+n_cur)`` is asymptotically
  chi-squared with ``K - 1`` degrees of freedom (PSI is the symmetric KL
  divergence, whose second-order term is Pearson's statistic), so the second
  term is the PSI that sampling noise alone exceeds with probability
  ``PSI_FALSE_ALARM = 0.001`` per column; it grows with the number of levels
  of a categorical column and shrinks as ``1/n``. ``PSI_MIN_EFFECT = 0.005``
  is the smallest shift worth reporting however large the sample (a normal
  column: mean shift ≈ 0.07 std, or variance × 1.15). For reference, PSI of
  a mean shift of 0.1 std is 0.009 (normal) to 0.29 (exponential); of a
  variance × 1.2, 0.009 (Student t5) to 0.05; of a 10-point frequency shift
  between two levels, ≥ 0.02.
  Measured (``benchmarks/drift_benchmark.py``, 40 numeric columns from 8
  distributions and 10 categorical with 5–50 levels): no-drift share flagged
  ≤ 1 % at n = 1k, 10k, 100k, 1M; the three subtle drifts above flagged at
  n ≥ 10k.
* An explicit ``psi_threshold`` (e.g. the textbook 0.2) replaces the rule by a
  constant; ``column_thresholds`` (e.g. from
  :func:`modelwatch.stats.thresholds.calibrate_thresholds`, chunks of the
  reference against the rest) replaces it per column, for any method, on the
  statistic.

Decisions
---------
* Tests: drifted iff ``p_value <= threshold`` where the threshold is ``alpha``,
  ``alpha / m`` (Bonferroni over the ``m`` tested columns) or the
  Benjamini–Hochberg step-up cut-off ``k·alpha/m`` (``alpha/m`` when nothing is
  rejected).
* Distances: drifted iff ``statistic > threshold`` (PSI: the sample-size rule
  above, or ``psi_threshold``; others: ``DEFAULT_THRESHOLDS`` or the
  ``thresholds`` argument).
* ``column_thresholds[column]`` (any method): drifted iff ``statistic >
  threshold`` (the p-value is still reported).
* Prediction and target drift use the same machinery; their results carry
  ``role = "prediction"`` / ``"target"`` and are left out of
  ``share_drifted`` (see :func:`with_output_drift`).
* Dataset drift iff ``share_drifted >= dataset_drift_share``.

Missing values, unseen categories, degenerate columns
-----------------------------------------------------
Missing values (NaN / None / pd.NA) are dropped before every statistic and
their share is reported per side. Unseen categories (in the current window but
not in the reference) are cells of their own in every categorical method and
are listed in ``DriftResult.unseen_categories``. Categories are compared as
strings (``str(value)``). ±inf are ordinary values for the rank and binned
methods; Wasserstein rejects them with a :class:`StatisticsError`. A column with
no non-missing value on one side (or both) gets ``statistic = 0.0``,
``p_value = 1.0`` (tests) or ``None`` (distances), ``drifted = False`` and a
``note``; its missing shares show the problem. An empty frame (0 rows) raises.
"""

from modelwatch.stats.drift.methods import (
    DRIFT_METHODS,
    DriftMethod,
    population_stability_index,
)
from modelwatch.stats.drift.profile import (
    CategoricalProfile,
    NumericProfile,
    NumericSample,
    ReferenceProfile,
    fit_reference_profile,
)
from modelwatch.stats.drift.report import (
    AUTO_TEST_MAX_ROWS,
    DEFAULT_THRESHOLDS,
    PSI_FALSE_ALARM,
    PSI_MIN_EFFECT,
    DriftReport,
    DriftResult,
    detect_drift,
    drift_statistic,
    psi_noise_threshold,
    with_output_drift,
)

__all__ = [
    "AUTO_TEST_MAX_ROWS",
    "DEFAULT_THRESHOLDS",
    "DRIFT_METHODS",
    "PSI_FALSE_ALARM",
    "PSI_MIN_EFFECT",
    "CategoricalProfile",
    "DriftMethod",
    "DriftReport",
    "DriftResult",
    "NumericProfile",
    "NumericSample",
    "ReferenceProfile",
    "detect_drift",
    "drift_statistic",
    "fit_reference_profile",
    "population_stability_index",
    "psi_noise_threshold",
    "with_output_drift",
]
