"""fit_ols against scikit-learn and statsmodels."""

import tracemalloc
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from pipeline import fit_ols


def _data(n_rois=40, n_frames=250, n_reg=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    # Sparse onsets convolved with an exponential, like stimulus regressors.
    raw = (rng.random((n_reg, n_frames)) < 0.03).astype(float)
    kernel = np.exp(-np.arange(10) / 2.0)
    design = np.stack([np.convolve(r, kernel)[:n_frames] for r in raw]).T
    beta = rng.normal(0, 1, (n_rois, n_reg)) * (rng.random((n_rois, 1)) < 0.6)
    y = beta @ design.T + rng.normal(0, 0.5, (n_rois, n_frames)) + 3.0
    y[7] = 2.5  # zero-variance ROI
    return design, y.astype(dtype)


def _sklearn(design, y):
    lr = LinearRegression().fit(design, y.T)
    r2 = r2_score(y.T, lr.predict(design), multioutput="raw_values")
    return lr, r2


def test_matches_sklearn_coef_intercept_r2():
    design, y = _data()
    res = fit_ols(design, y)
    lr, r2 = _sklearn(design, y)
    ok = np.ones(len(y), bool)
    ok[7] = False
    np.testing.assert_allclose(res.r2[ok], r2[ok], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.coef, lr.coef_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(res.intercept, lr.intercept_, rtol=1e-9, atol=1e-10)
    assert res.coef.shape == (len(y), design.shape[1])
    assert res.df_resid == design.shape[0] - design.shape[1] - 1
    assert res.rank == design.shape[1] + 1


def test_matches_statsmodels_t_f_p_adj_r2():
    design, y = _data(n_rois=12, seed=1)
    res = fit_ols(design, y)
    for i in (0, 3, 11):
        sm_fit = sm.OLS(y[i], sm.add_constant(design)).fit()
        np.testing.assert_allclose(res.t_values[i], sm_fit.tvalues[1:], rtol=1e-8)
        np.testing.assert_allclose(res.f_stat[i], sm_fit.fvalue, rtol=1e-8)
        np.testing.assert_allclose(res.p_value[i], sm_fit.f_pvalue, rtol=1e-6, atol=1e-300)
        np.testing.assert_allclose(res.adj_r2[i], sm_fit.rsquared_adj, rtol=0, atol=1e-10)
        np.testing.assert_allclose(res.r2[i], sm_fit.rsquared, atol=1e-10)
        assert res.df_resid == sm_fit.df_resid


def test_zero_variance_roi_gives_nan_without_warnings():
    design, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit_ols(design, y)
    assert np.all(res.coef[7] == 0)
    assert res.intercept[7] == 2.5
    for arr in (res.r2, res.adj_r2, res.f_stat, res.p_value):
        assert np.isnan(arr[7])
    assert np.isnan(res.t_values[7]).all()
    others = np.delete(np.arange(len(y)), 7)
    assert np.isfinite(res.r2[others]).all()


def test_constant_row_with_unrepresentable_mean_is_detected():
    design, y = _data(n_rois=10)
    y[1] = 0.1  # 0.1 * n is not exact in binary: a naive mean leaves residue
    res = fit_ols(design, y)
    assert np.isnan(res.r2[1]) and res.intercept[1] == 0.1


def test_float32_input_computed_in_float64():
    design, y32 = _data(dtype=np.float32, seed=2)
    res32 = fit_ols(design, y32)
    res64 = fit_ols(design, y32.astype(np.float64))
    np.testing.assert_array_equal(res32.coef, res64.coef)
    np.testing.assert_array_equal(res32.r2, res64.r2)
    assert res32.coef.dtype == np.float64
    lr, r2 = _sklearn(design, y32.astype(np.float64))
    ok = ~np.isnan(res32.r2)
    np.testing.assert_allclose(res32.r2[ok], r2[ok], atol=1e-9)


def test_blocks_give_identical_results():
    design, y = _data(n_rois=37, seed=3)
    a = fit_ols(design, y)
    b = fit_ols(design, y, block_size=5)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(a.r2, b.r2, rtol=1e-13, equal_nan=True)


def test_single_regressor_and_1d_design():
    design, y = _data(n_reg=1, seed=4)
    res = fit_ols(design[:, 0], y)
    lr, r2 = _sklearn(design, y)
    np.testing.assert_allclose(res.coef, lr.coef_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "make_bad, match",
    [
        (lambda d: np.column_stack([d, d[:, 0]]), "identical"),
        (lambda d: np.column_stack([d, np.zeros(len(d))]), "constant"),
        (lambda d: np.column_stack([d, np.full(len(d), 4.0)]), "constant"),
        (lambda d: np.column_stack([d, d[:, 0] + 2 * d[:, 1]]), "rank deficient"),
    ],
)
def test_rank_deficient_design_rejected(make_bad, match):
    design, y = _data()
    with pytest.raises(ValueError, match=match):
        fit_ols(make_bad(design), y)


def test_shape_validation():
    design, y = _data()
    with pytest.raises(ValueError, match="transposed"):
        fit_ols(design, y.T)
    with pytest.raises(ValueError, match="more frames"):
        fit_ols(design[:4], y[:, :4])
    with pytest.raises(ValueError, match="2-D"):
        fit_ols(design[None], y)
    bad = y.copy()
    bad[4, 10] = np.nan
    with pytest.raises(ValueError, match="row 4"):
        fit_ols(design, bad)
    with pytest.raises(ValueError, match="design"):
        fit_ols(np.where(design > 0, np.inf, 0), y)


def test_memory_stays_within_two_copies_of_y():
    rng = np.random.default_rng(5)
    n_frames = 500
    design = rng.random((n_frames, 3))
    y = rng.standard_normal((20_000, n_frames))  # 80 MB
    tracemalloc.start()
    try:
        fit_ols(design, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * y.nbytes, f"peak {peak / 1e6:.0f} MB"
