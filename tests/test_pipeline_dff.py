"""compute_dff: baselines, neuropil, validation and BaselineError."""

import numpy as np
import pytest
from scipy import ndimage

from pipeline import DFF_METHODS, BaselineError, compute_dff


@pytest.fixture
def traces():
    rng = np.random.default_rng(0)
    base = rng.uniform(100, 1000, (20, 1))
    drift = 1 - 0.05 * np.linspace(0, 1, 300)[None, :]
    return (base * drift * (1 + 0.1 * rng.random((20, 300)))).astype(np.float32)


def test_methods_listed():
    assert DFF_METHODS == ("percentile", "sliding_percentile", "none", "seed2020")


def test_percentile_baseline_per_roi(traces):
    out = compute_dff(traces, "percentile", percentile=8.0)
    f = traces.astype(np.float64)
    f0 = np.percentile(f, 8.0, axis=1)[:, None]
    np.testing.assert_allclose(out, (f - f0) / f0, rtol=1e-12, atol=1e-15)
    assert out.dtype == np.float64 and out.shape == traces.shape


def test_sliding_percentile_matches_2d_percentile_filter(traces):
    out = compute_dff(traces, "sliding_percentile", frame_period_s=0.5, window_s=10.0, percentile=10.0)
    f = traces.astype(np.float64)
    f0 = ndimage.percentile_filter(f, 10.0, size=(1, 21), mode="nearest")
    np.testing.assert_allclose(out, (f - f0) / f0, rtol=1e-12, atol=1e-15)


def test_sliding_window_made_odd_and_clipped(traces):
    # 4 s at 1 s/frame -> 5 frames (odd); 1000 s -> clipped to 299 frames.
    f = traces.astype(np.float64)
    for window_s, size in ((4.0, 5), (1000.0, 299)):
        out = compute_dff(traces, "sliding_percentile", frame_period_s=1.0, window_s=window_s, percentile=8.0)
        f0 = ndimage.percentile_filter(f, 8.0, size=(1, size), mode="nearest")
        np.testing.assert_allclose(out, (f - f0) / f0, rtol=1e-12)


def test_sliding_needs_frame_period(traces):
    with pytest.raises(ValueError, match="frame_period_s"):
        compute_dff(traces, "sliding_percentile")


def test_none_returns_float64_copy(traces):
    out = compute_dff(traces, "none")
    np.testing.assert_array_equal(out, traces.astype(np.float64))
    assert out.dtype == np.float64
    assert not np.shares_memory(out, traces)
    f64 = traces.astype(np.float64)
    assert compute_dff(f64, "none") is not f64


def test_seed2020_is_notebook_formula(traces):
    f = traces.astype(np.float64)
    f0 = np.percentile(f, 5, 0)  # per FRAME across ROIs, as published
    np.testing.assert_array_equal(compute_dff(f, "seed2020"), (f - f0) / f0)
    # percentile is ignored: the notebook always used 5
    np.testing.assert_array_equal(compute_dff(f, "seed2020", percentile=50), (f - f0) / f0)


def test_neuropil_subtracted_before_baseline(traces):
    neuropil = 0.3 * traces
    out = compute_dff(traces, "percentile", neuropil=neuropil, neuropil_factor=0.7)
    f = traces.astype(np.float64) - 0.7 * neuropil.astype(np.float64)
    f0 = np.percentile(f, 8.0, axis=1)[:, None]
    np.testing.assert_allclose(out, (f - f0) / f0, rtol=1e-12)
    # factor 0 disables it; "none" ignores it
    np.testing.assert_array_equal(compute_dff(traces, neuropil=neuropil, neuropil_factor=0.0), compute_dff(traces))
    np.testing.assert_array_equal(compute_dff(traces, "none", neuropil=neuropil), traces.astype(np.float64))
    with pytest.raises(ValueError, match="neuropil shape"):
        compute_dff(traces, neuropil=neuropil[:, :10])


def test_baseline_error_names_roi(traces):
    bad = traces.copy()
    bad[2] -= 2000  # negative fluorescence, baseline < 0
    ids = [f"roi-{i}" for i in range(len(bad))]
    with pytest.raises(BaselineError) as info:
        compute_dff(bad, roi_ids=ids)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.roi == "roi-2" and err.value < 0 and err.frame is None
    assert "roi-2" in str(err)
    with pytest.raises(BaselineError) as info:
        compute_dff(bad)  # no ids: the row index
    assert info.value.roi == 2


def test_baseline_error_sliding_names_roi_and_frame(traces):
    bad = traces.copy()
    bad[5, 100:] = 0.0
    with pytest.raises(BaselineError) as info:
        compute_dff(bad, "sliding_percentile", frame_period_s=1.0, window_s=11)
    assert info.value.roi == 5 and info.value.frame is not None
    assert info.value.value == 0.0


def test_baseline_error_seed2020_names_frame(traces):
    bad = traces.astype(np.float64)
    bad[:, 42] = -1.0
    with pytest.raises(BaselineError, match="frame 42") as info:
        compute_dff(bad, "seed2020")
    assert info.value.frame == 42 and info.value.roi is None


def test_non_finite_names_first_bad_roi(traces):
    bad = traces.copy()
    bad[3, 7] = np.nan
    bad[9, 1] = np.inf
    with pytest.raises(ValueError, match="'c3'"):
        compute_dff(bad, roi_ids=[f"c{i}" for i in range(len(bad))])
    with pytest.raises(ValueError, match="ROI 3"):
        compute_dff(bad, "none")


def test_validation(traces):
    with pytest.raises(ValueError, match="unknown dF/F method"):
        compute_dff(traces, "median")
    with pytest.raises(ValueError, match="2-D"):
        compute_dff(traces[0])
    with pytest.raises(ValueError, match="roi_ids"):
        compute_dff(traces, roi_ids=[1, 2])
    with pytest.raises(ValueError, match="percentile"):
        compute_dff(traces, percentile=120)
