"""select_rois (r2 threshold + Benjamini-Hochberg) and assign_classes."""

import numpy as np
import pytest
from scipy import stats

from pipeline import assign_classes, select_rois


def test_r2_threshold_only():
    r2 = np.array([0.01, 0.05, 0.051, np.nan, 0.9])
    p = np.array([0.5, 0.01, 0.2, np.nan, 1e-9])
    selected, q = select_rois(r2, p)
    np.testing.assert_array_equal(selected, [False, False, True, False, True])
    assert np.isnan(q[3]) and np.isfinite(q[[0, 1, 2, 4]]).all()


def test_fdr_matches_scipy_on_finite_p():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 1, 80), rng.uniform(0, 1e-3, 20)])
    p[[5, 50]] = np.nan
    r2 = rng.uniform(0, 0.3, p.size)
    selected, q = select_rois(r2, p, r2_threshold=0.05, fdr_alpha=0.05)
    finite = np.isfinite(p)
    expected_q = stats.false_discovery_control(p[finite], method="bh")
    np.testing.assert_allclose(q[finite], expected_q, rtol=1e-15)
    assert np.isnan(q[~finite]).all()
    expected = (r2 > 0.05) & (np.nan_to_num(q, nan=2) <= 0.05)
    np.testing.assert_array_equal(selected, expected)
    assert selected.sum() < (r2 > 0.05).sum()


def test_all_nan_p_gives_nan_q():
    selected, q = select_rois(np.array([0.5, 0.6]), np.array([np.nan] * 2), fdr_alpha=0.05)
    assert np.isnan(q).all() and not selected.any()


def test_selection_validation():
    with pytest.raises(ValueError, match="differ"):
        select_rois(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        select_rois(np.zeros(2), np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="fdr_alpha"):
        select_rois(np.zeros(2), np.zeros(2), fdr_alpha=0)


def test_assign_classes_argmax_ties_margin():
    scores = np.array(
        [
            [0.1, 0.5, 0.2],  # looming
            [0.3, 0.3, 0.1],  # tie -> first (prey)
            [0.9, 0.1, 0.4],  # prey
            [0.2, 0.1, 0.7],  # not selected
            [-0.3, -0.1, -0.2],
        ]
    )  # all negative -> looming
    selected = np.array([True, True, True, False, True])
    idx, score, margin = assign_classes(scores, selected)
    np.testing.assert_array_equal(idx, [1, 0, 0, -1, 1])
    np.testing.assert_allclose(score[[0, 1, 2, 4]], [0.5, 0.3, 0.9, -0.1])
    np.testing.assert_allclose(margin[[0, 1, 2, 4]], [0.3, 0.0, 0.5, 0.1])
    assert np.isnan(score[3]) and np.isnan(margin[3])
    assert idx.dtype.kind == "i"


def test_assign_classes_notebook_equivalence():
    # The notebook took np.where(coef_k == max over k) per class.
    rng = np.random.default_rng(1)
    coef = rng.normal(size=(200, 3))
    idx, _, _ = assign_classes(coef, np.ones(200, bool))
    best = np.max(coef, axis=1)
    for k in range(3):
        np.testing.assert_array_equal(np.where(coef[:, k] == best)[0], np.flatnonzero(idx == k))


def test_assign_classes_single_regressor_and_validation():
    idx, score, margin = assign_classes(np.array([[1.0], [2.0]]), np.array([True, False]), method="t")
    np.testing.assert_array_equal(idx, [0, -1])
    assert np.isnan(margin).all()
    with pytest.raises(ValueError, match="method"):
        assign_classes(np.ones((2, 2)), np.ones(2, bool), method="beta")
    with pytest.raises(ValueError, match="boolean"):
        assign_classes(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="shape"):
        assign_classes(np.ones((2, 2)), np.ones(3, bool))
    with pytest.raises(ValueError, match="only NaN"):
        assign_classes(np.array([[np.nan, np.nan]]), np.array([True]))
    # NaN never wins; infinities (t of a perfect fit) are ordinary values
    idx, score, margin = assign_classes(
        np.array([[np.nan, 1.0], [np.inf, 2.0], [np.nan, np.nan]]), np.array([True, True, False])
    )
    np.testing.assert_array_equal(idx, [1, 0, -1])
    assert score[1] == np.inf and margin[0] == np.inf and margin[1] == np.inf
