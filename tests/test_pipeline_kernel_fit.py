"""Kernel choice: closed-form shift-null moments and the objective."""

import json

import numpy as np
import pytest

from pipeline import choose_kernel, compute_dff, make_kernel, make_null_recording, make_recording, roi_null_distribution
from pipeline.kernel_fit import kernel_objective
from pipeline.regressors import convolve_trains, stimulus_trains

TAUS = [0.25, 0.5, 1.0, 2.0, 4.0]


def _trains(rec, n_frames, train="boxcar"):
    return stimulus_trains(rec.events, n_frames, rec.frame_period_s, groups=rec.groups, train=train).raw


def test_closed_form_null_moments_match_all_shifts():
    rec = make_recording(40, seed=1)
    dff = compute_dff(rec.traces)
    trains = _trains(rec, dff.shape[1])
    kernel = make_kernel(1.0, 1.5, delay_s=0.5)
    design = convolve_trains(trains, kernel).T
    z, r2_sum, null_sum, used = kernel_objective(dff, trains, 1.0, [kernel])
    dists = [roi_null_distribution(design, row) for row in dff]
    assert used == 40
    assert null_sum[0] == pytest.approx(sum(d["r2"].mean() for d in dists), rel=1e-10)
    assert r2_sum[0] == pytest.approx(sum(d["r2_observed"] for d in dists), rel=1e-10)
    r2_obj, _, _, _ = kernel_objective(dff, trains, 1.0, [kernel], objective="r2")
    assert r2_obj[0] == pytest.approx(r2_sum[0] - null_sum[0])
    # the z objective's sd is a Gaussian approximation: same order as exact
    exact = sum((d["r2_observed"] - d["r2"].mean()) / d["r2"].std() for d in dists)
    assert 0.5 < z[0] / exact < 2.0


def test_raw_r2_grows_with_tau_on_noise_but_the_objective_does_not():
    rec = make_null_recording(600, seed=3)
    dff = compute_dff(rec.traces)
    trains = _trains(rec, dff.shape[1])
    kernels = [make_kernel(1.0, tau, delay_s=0.5) for tau in TAUS]
    z, r2_sum, null_sum, used = kernel_objective(dff, trains, 1.0, kernels)
    assert np.all(np.diff(r2_sum) > 0)  # fooled by autocorrelation
    excess = r2_sum - null_sum
    # corrected: no growth with tau, and small against the raw growth
    growth = r2_sum[-1] - r2_sum[0]
    assert excess[-1] - excess[0] < 0.1 * growth
    assert np.abs(excess).max() < 0.2 * growth
    assert np.abs(z).max() < 3 * np.sqrt(used)  # ~ noise of a sum of z


def test_choice_on_a_mixed_recording_is_json_and_on_the_grid():
    rec = make_recording(600, seed=2)
    dff = compute_dff(rec.traces)
    trains = _trains(rec, dff.shape[1])
    choice = choose_kernel(dff, trains, 1.0, tau_decay_grid_s=TAUS, delay_grid_s=[0.0, 0.5], max_rois=300)
    json.dumps(choice)
    assert choice["n_rois"] == 300
    assert choice["tau_decay_s"] in TAUS and choice["delay_s"] in (0.0, 0.5)
    assert len(choice["grid"]["objective"]) == len(TAUS) * 2
    assert choice["objective"] == max(choice["grid"]["objective"])
    # the detection objective prefers short kernels here (evoked and
    # spontaneous transients share the decay; their timing differs), the
    # r2 objective tracks the response's decay (truth 1.5-3 s)
    r2 = choose_kernel(dff, trains, 1.0, tau_decay_grid_s=TAUS, delay_grid_s=[0.0, 0.5], objective="r2")
    assert r2["tau_decay_s"] >= choice["tau_decay_s"]
    assert 1.0 <= r2["tau_decay_s"] <= 4.0
    with_rise = choose_kernel(
        dff, trains, 1.0, tau_decay_grid_s=[0.5, 2.0], delay_grid_s=[0.0], tau_rise_grid_s=[0.0, 1.0]
    )
    # rise >= decay is skipped: 2 + 1 candidates
    assert len(with_rise["grid"]["objective"]) == 3
    with pytest.raises(ValueError, match="no ROI"):
        choose_kernel(np.full((3, dff.shape[1]), np.nan), trains, 1.0, tau_decay_grid_s=TAUS, delay_grid_s=[0.0])
