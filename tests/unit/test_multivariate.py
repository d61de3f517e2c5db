"""Multivariate drift (``modelwatch.multivariate``) against scikit-learn's ``roc_auc_score`` and ``PCA``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from modelwatch.errors import StatisticsError
from modelwatch.multivariate import (
    PCAReconstructionResult,
    delong_auc_variance,
    domain_classifier_drift,
    pca_reconstruction_drift,
)


def _frame(seed: int, n: int, *, shift: float = 0.0, rho: float = 0.8) -> pd.DataFrame:
    """Two correlated numeric columns (``a`` shifted by ``shift``) and a noise column."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rho * a + math.sqrt(1 - rho**2) * rng.normal(size=n)
    return pd.DataFrame({"a": a + shift, "b": b, "noise": rng.normal(size=n)})


NUMERIC = ["a", "b", "noise"]


def _slow_delong_variance(scores: np.ndarray, labels: np.ndarray) -> float:
    x, y = scores[labels == 1], scores[labels == 0]
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    return float(psi.mean(axis=1).var(ddof=1) / x.size + psi.mean(axis=0).var(ddof=1) / y.size)


def test_delong_auc_variance_is_sklearn_auc_and_the_pairwise_variance() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(200) < 0.5).astype(np.int64)
    scores = np.round(labels * 0.4 + rng.random(200), 1)  # ties across classes
    auc, variance = delong_auc_variance(scores, labels)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert variance == pytest.approx(_slow_delong_variance(scores, labels), rel=1e-10)


def test_delong_auc_variance_needs_two_rows_of_each_class() -> None:
    with pytest.raises(StatisticsError, match="two rows of each class; got 1 and 3"):
        delong_auc_variance([0.1, 0.2, 0.3, 0.9], [0, 0, 0, 1])


def _out_of_fold(
    reference: pd.DataFrame, current: pd.DataFrame, n_folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The domain classifier's out-of-fold scores, built directly with scikit-learn."""
    x = np.vstack([reference[NUMERIC].to_numpy(), current[NUMERIC].to_numpy()])
    y = np.r_[np.zeros(len(reference), np.int64), np.ones(len(current), np.int64)]
    scores = np.empty(len(y))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for train, test in folds.split(x, y):
        model = HistGradientBoostingClassifier(
            max_iter=60,
            learning_rate=0.1,
            max_leaf_nodes=15,
            early_stopping=False,
            random_state=seed,
        ).fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
    return y, scores


def test_domain_classifier_auc_is_sklearn_roc_auc_of_the_out_of_fold_scores() -> None:
    reference, current = _frame(1, 400), _frame(2, 300, shift=0.6)
    result = domain_classifier_drift(reference, current, numeric=NUMERIC, n_folds=3, seed=5)
    y, scores = _out_of_fold(reference, current, n_folds=3, seed=5)
    assert result.auc == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    half = stats.norm.ppf(0.975) * math.sqrt(_slow_delong_variance(scores, y))
    assert result.ci_low == pytest.approx(max(result.auc - half, 0.0), abs=1e-9)
    assert result.ci_high == pytest.approx(min(result.auc + half, 1.0), abs=1e-9)
    assert result.drifted and result.ci_low > 0.55
    assert result.top_features[0][0] == "a"  # the shifted column separates the sets
    assert (result.n_reference, result.n_current) == (400, 300)


def test_domain_classifier_sees_no_drift_between_samples_of_one_distribution() -> None:
    result = domain_classifier_drift(_frame(3, 400), _frame(4, 400), numeric=NUMERIC, n_folds=3)
    assert not result.drifted
    assert result.ci_low <= result.auc <= result.ci_high
    assert abs(result.auc - 0.5) < 0.1


def test_domain_classifier_subsamples_each_side_to_max_rows() -> None:
    result = domain_classifier_drift(
        _frame(5, 300), _frame(6, 200), numeric=NUMERIC, n_folds=3, max_rows=100
    )
    assert (result.n_reference, result.n_current) == (100, 100)


def test_pca_reconstruction_error_equals_sklearn_pca_on_standardized_columns() -> None:
    reference, current = _frame(7, 1000), _frame(8, 200, rho=-0.8)
    result = pca_reconstruction_drift(reference, current, numeric=NUMERIC, chunk_size=200)
    x_ref = reference[NUMERIC].to_numpy()
    mean, std = x_ref.mean(axis=0), x_ref.std(axis=0)
    pca = PCA(n_components=0.65, svd_solver="full").fit((x_ref - mean) / std)

    def error(x: np.ndarray) -> float:
        z = (x - mean) / std
        return float(np.mean(np.linalg.norm(z - pca.inverse_transform(pca.transform(z)), axis=1)))

    assert result.n_components == pca.n_components_
    assert result.error == pytest.approx(error(current[NUMERIC].to_numpy()), rel=1e-9)
    chunks = [error(x_ref[i * 200 : (i + 1) * 200]) for i in range(5)]
    assert result.n_chunks == 5
    assert result.chunk_mean == pytest.approx(np.mean(chunks), rel=1e-9)
    assert result.chunk_std == pytest.approx(np.std(chunks, ddof=1), rel=1e-9)
    assert result.upper == pytest.approx(result.chunk_mean + 3 * result.chunk_std)
    assert result.drifted  # the correlation flipped: far outside the reference chunks


def test_pca_reconstruction_sees_no_drift_on_the_reference_distribution() -> None:
    result = pca_reconstruction_drift(_frame(9, 1000), _frame(10, 200), numeric=NUMERIC)
    assert not result.drifted
    assert result.lower <= result.error <= result.upper


def test_pca_reconstruction_one_hot_encodes_categories() -> None:
    """A category tied to ``a`` in the reference and flipped in the window is drift."""

    def with_kind(frame: pd.DataFrame, flip: bool) -> pd.DataFrame:
        return frame.assign(kind=np.where((frame["a"] > 0) != flip, "x", "y"))

    reference = with_kind(_frame(11, 800), flip=False)

    def drift(current: pd.DataFrame) -> PCAReconstructionResult:
        return pca_reconstruction_drift(
            reference, current, numeric=NUMERIC, categorical=["kind"], chunk_size=200
        )

    same = drift(with_kind(_frame(12, 200), flip=False))
    flipped = drift(with_kind(_frame(12, 200), flip=True))
    assert not same.drifted
    assert flipped.drifted and flipped.error > same.error


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda r, c: domain_classifier_drift(r, c, numeric=NUMERIC, threshold=0.4),
            r"The 'threshold' parameter of domain_classifier_drift must be a float in \[0.5, 1\)",
        ),
        (
            lambda r, c: domain_classifier_drift(r, c, numeric=NUMERIC, n_folds=1),
            "The 'n_folds' parameter of domain_classifier_drift must be an int >= 2. Got 1",
        ),
        (
            lambda r, c: pca_reconstruction_drift(r, c, numeric=NUMERIC, variance=1.0),
            r"The 'variance' parameter of pca_reconstruction_drift must be a float in \(0, 1\)",
        ),
        (
            lambda r, c: pca_reconstruction_drift(r, c, numeric=["a", "gone"]),
            r"columns \['gone'\] are missing from the reference data",
        ),
        (
            lambda r, c: pca_reconstruction_drift(r, c.head(5), numeric=NUMERIC),
            "pca_reconstruction_drift needs at least 10 current rows; got 5",
        ),
        (
            lambda r, c: domain_classifier_drift(r, c),
            "needs at least one numeric or categorical column",
        ),
    ],
)
def test_bad_inputs_are_named(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StatisticsError, match=message):
        call(_frame(13, 100), _frame(14, 100))
