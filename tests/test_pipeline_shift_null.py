"""Circular-shift null: FFT vs brute force, shifts, tails, calibration."""

import numpy as np
import pytest

from pipeline import (
    admissible_shifts,
    build_regressors,
    compute_dff,
    fit_ols,
    make_kernel,
    make_null_recording,
    roi_null_distribution,
    shift_null,
)


def _design_and_traces(n_frames=300, n_rois=12, seed=0):
    rng = np.random.default_rng(seed)
    events = [
        {"stimulus": s, "onset_s": float(o), "duration_s": 3.0}
        for s, o in zip("abcabcab", rng.uniform(5, n_frames - 20, 8))
    ]
    kernel = make_kernel(1.0, 1.5, delay_s=0.3)
    design = build_regressors(events, n_frames, 1.0, kernel, mode="boxcar").design
    # AR(1) noise plus a response to "a" in the first ROIs
    noise = rng.standard_normal((n_rois, n_frames))
    for t in range(1, n_frames):
        noise[:, t] += 0.6 * noise[:, t - 1]
    y = noise + np.outer(np.r_[np.ones(3), np.zeros(n_rois - 3)], design[:, 0]) * 2.0
    return design, y


def _brute(design, y, shifts, contrasts=None):
    """np.roll + fit_ols for every shift: r2 (rois x shifts), contrasts."""
    r2, coef = [], []
    for s in shifts:
        ols = fit_ols(np.roll(design, s, axis=0), y)
        r2.append(ols.r2)
        c = ols.coef if contrasts is None else ols.coef @ contrasts.T
        coef.append(c)
    return np.array(r2).T, np.moveaxis(np.array(coef), 0, 1)


@pytest.mark.parametrize("n_frames", [300, 431])  # 431: prime, padded FFT
def test_fft_null_equals_brute_force(n_frames):
    design, y = _design_and_traces(n_frames)
    shifts = admissible_shifts(n_frames, 15)
    res = shift_null(design, y, shifts, precision="double", tail="none", block_size=5)
    r2_b, coef_b = _brute(design, y, shifts)
    ols = fit_ols(design, y)
    np.testing.assert_allclose(res.r2, ols.r2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.contrast, ols.coef, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.r2_null_mean, r2_b.mean(axis=1), rtol=1e-10)
    np.testing.assert_allclose(res.r2_null_sd, r2_b.std(axis=1), rtol=1e-8)
    np.testing.assert_allclose(res.contrast_null_mean, coef_b.mean(axis=1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.contrast_null_sd, coef_b.std(axis=1), rtol=1e-8)
    exceed = (r2_b >= ols.r2[:, None]).sum(axis=1)
    np.testing.assert_array_equal(res.n_exceed, exceed)
    np.testing.assert_allclose(res.p_empirical, (1 + exceed) / (1 + shifts.size))
    dev = np.abs(coef_b - coef_b.mean(axis=1, keepdims=True))
    obs = np.abs(ols.coef - coef_b.mean(axis=1))
    p_coef = (1 + (dev >= obs[:, None, :]).sum(axis=1)) / (1 + shifts.size)
    np.testing.assert_allclose(res.contrast_p, p_coef)
    # single precision: the same null to ~1e-5
    single = shift_null(design, y, shifts, tail="none")
    np.testing.assert_allclose(single.r2_null_mean, res.r2_null_mean, rtol=1e-5)
    # the observed fit is always double precision (BLAS may differ in the last bit)
    np.testing.assert_allclose(single.r2, res.r2, rtol=1e-12, atol=0)


def test_one_roi_distribution_and_contrasts():
    design, y = _design_and_traces()
    contrasts = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) / [[2], [1]]
    shifts = np.arange(300)
    d = roi_null_distribution(design, y[0], contrasts=contrasts)
    r2_b, coef_b = _brute(design, y[:1], shifts[1:], contrasts)
    np.testing.assert_allclose(d["r2"][1:], r2_b[0], rtol=1e-10)
    np.testing.assert_allclose(d["contrast"][1:], coef_b[0], rtol=1e-9, atol=1e-12)
    assert d["r2_observed"] == pytest.approx(fit_ols(design, y[:1]).r2[0])
    # a responsive ROI beats nearly every shift, a noise ROI does not
    res = shift_null(design, y, admissible_shifts(300, 15), contrasts=contrasts)
    assert res.p_value[:3].max() < 0.01
    assert np.median(res.p_value[3:]) > 0.05


def test_admissible_shifts():
    np.testing.assert_array_equal(admissible_shifts(10, 3), [3, 4, 5, 6, 7])
    sub = admissible_shifts(1000, 10, max_shifts=100)
    assert sub.size == 100 and sub[0] == 10 and sub[-1] == 990
    assert np.all(np.diff(sub) > 0)
    with pytest.raises(ValueError, match="twice the response length"):
        admissible_shifts(10, 6)
    with pytest.raises(ValueError, match="max_shifts"):
        admissible_shifts(100, 3, max_shifts=0)


def test_nan_and_constant_rows_give_nan():
    design, y = _design_and_traces()
    y[2] = np.nan
    y[4] = 7.0
    res = shift_null(design, y, admissible_shifts(300, 15))
    for i in (2, 4):
        assert np.isnan(res.p_value[i]) and np.isnan(res.contrast_z[i]).all()
        assert res.n_exceed[i] == -1
    assert np.isfinite(res.p_value[[0, 1, 3, 5]]).all()
    with pytest.raises(ValueError, match="tail"):
        shift_null(design, y, [20], tail="normal")
    with pytest.raises(ValueError, match="shifts"):
        shift_null(design, y, [0])


@pytest.fixture(scope="module")
def null_recording():
    """All ROIs spontaneous: transients, slow noise, drift (1000 ROIs)."""
    rec = make_null_recording(1000, seed=200)
    dff = compute_dff(rec.traces)
    design = build_regressors(
        rec.events, dff.shape[1], 1.0, make_kernel(1.0, 2.0, delay_s=0.5), groups=rec.groups, mode="boxcar"
    ).design
    return dff, design


def test_parametric_f_test_is_anticonservative_on_autocorrelated_nulls(null_recording):
    """Documentation: the white-noise F-test fails where the shift null
    holds (targets: permutation p < 0.05 in <= 6.5 % of null ROIs)."""
    dff, design = null_recording
    f_test = fit_ols(design, dff).p_value
    null = shift_null(design, dff, admissible_shifts(dff.shape[1], 15))
    print(
        f"\nnull ROIs with p < 0.05: F-test {np.mean(f_test < 0.05):.1%}, shift null {np.mean(null.p_value < 0.05):.1%}"
    )
    assert np.mean(f_test < 0.05) > 0.15
    assert np.mean(null.p_value < 0.05) <= 0.065


def test_tail_calibrated_on_null_rois(null_recording):
    """p-values below the empirical resolution (GPD tail) stay calibrated:
    pseudo-observations at other alignments of the design on null ROIs."""
    dff, design = null_recording
    n = dff.shape[1]
    shifts = admissible_shifts(n, 15)
    p_r2, p_coef = [], []
    for s0 in (0, 90, 180, 270):
        res = shift_null(np.roll(design, s0, axis=0), dff, shifts)
        p_r2.append(res.p_value)
        p_coef.append(res.contrast_p.ravel())
    p_r2, p_coef = np.concatenate(p_r2), np.concatenate(p_coef)
    for alpha in (0.05, 0.01, 0.002):
        assert np.mean(p_r2 < alpha) <= 1.5 * alpha
        assert np.mean(p_coef < alpha) <= 1.5 * alpha
    # the Beta tail, the other option, is not: heavy-tailed nulls
    beta = shift_null(design, dff, shifts, tail="beta")
    assert np.isfinite(beta.p_value).all()
