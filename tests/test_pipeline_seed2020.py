"""The seed2020 path reproduces the published 2020 notebook.

The notebook's helpers are re-implemented here independently, loop-style and
with scikit-learn exactly as published (dFoverF_ROIs, the GCaMP6s kernel,
make_reg / find_timepoints_reg_high, convolve_regressors, filter_rois,
mean_for_timepoints_with_ROIs, max_correlation_values), and compared with
the pipeline's seed2020 options on a synthetic recording.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn import linear_model, metrics

from pipeline import (
    SEED2020_PARAMSET,
    analyse_recording,
    assign_classes,
    build_regressors,
    compute_dff,
    fit_ols,
    make_recording,
    seed2020_kernel,
    seed2020_response_amplitudes,
    select_rois,
)

# --- the notebook, re-implemented -------------------------------------------


def nb_dFoverF_ROIs(traces_ROIs, take_lowest_percentile=5):
    F0 = np.percentile(traces_ROIs, take_lowest_percentile, 0)
    return (traces_ROIs - F0) / F0


def nb_exp_decay_kernel(n_frames, dt, tau):
    time = np.arange(n_frames) * dt
    decay = np.exp(-time / tau)
    return decay / decay.sum()


def nb_make_reg(onsets_s, n_frames, frame_rate):
    reg = np.zeros(n_frames)
    frames = (pd.Series(onsets_s) * frame_rate).values.astype(int)
    reg[frames] = 1
    return reg


def nb_find_timepoints_reg_high(reg):
    return np.asarray(np.where(reg > 0))


def nb_convolve_regressors(reg, kernel):
    return np.convolve(reg, kernel)[: len(reg)]


def nb_filter_rois(regressors, dff, r_threshold, reg):
    reg.fit(regressors.T, dff.T)
    r2 = metrics.r2_score(dff.T, reg.predict(regressors.T), multioutput="raw_values")
    return r2 > r_threshold, r2, reg.coef_


def nb_mean_for_timepoints_with_ROIs(rois, regs, how_long):
    roi_arr = np.asarray(rois)
    num_reg_timepoints = [len(r[0]) for r in regs]
    roi_res = np.zeros((roi_arr.shape[0], len(regs), num_reg_timepoints[0]))
    for ridx, reg in enumerate(regs):
        for tidx, timepoint in enumerate(reg[0]):
            roi_res[:, ridx, tidx] = roi_arr[:, timepoint : timepoint + how_long].mean(-1)
    return roi_res.mean(-1)


def nb_max_correlation_values(list1, list2, list3):
    return [max(value) for value in zip(list1, list2, list3)]


def run_notebook(traces, events, dt):
    n_frames = traces.shape[1]
    frame_rate = float(1 / dt)
    kernel = nb_exp_decay_kernel(n_frames, dt, 1.8)  # gcamp6s
    stim = events["stimulus"]
    onsets = [
        events.loc[stim.str.startswith("prey"), "onset_s"],
        events.loc[stim == "looming", "onset_s"],
        events.loc[stim == "dimming", "onset_s"],
    ]
    regs = [nb_make_reg(o, n_frames, frame_rate) for o in onsets]
    regs_high = [nb_find_timepoints_reg_high(r) for r in regs]
    regs_conv = np.asarray([nb_convolve_regressors(r, kernel) for r in regs])
    dff = nb_dFoverF_ROIs(traces)
    idx, r2, coefs = nb_filter_rois(regs_conv, dff, 0.05, linear_model.LinearRegression())
    activity = nb_mean_for_timepoints_with_ROIs(dff[idx, :], regs_high, 5)
    c1, c2, c3 = (coefs[idx, :][:, k] for k in range(3))
    best = nb_max_correlation_values(c1, c2, c3)
    classes = [np.where(c == best)[0] for c in (c1, c2, c3)]
    return dict(
        dff=dff,
        kernel=kernel,
        regs=np.asarray(regs),
        regs_conv=regs_conv,
        idx=idx,
        r2=r2,
        coefs=coefs,
        activity=activity,
        classes=classes,
    )


# --- comparison -------------------------------------------------------------

GROUPS = {"prey": ["prey-nasalward", "prey-temporalward"], "looming": ["looming"], "dimming": ["dimming"]}


@pytest.fixture(scope="module")
def recording():
    return make_recording(n_rois=300, n_frames=420, seed=11, snr=4.0)


@pytest.fixture(scope="module")
def notebook(recording):
    return run_notebook(recording.traces.astype(np.float64), recording.events, recording.frame_period_s)


def test_seed2020_path_reproduces_notebook(recording, notebook):
    dt, n_frames = recording.frame_period_s, recording.traces.shape[1]
    dff = compute_dff(recording.traces, "seed2020")
    np.testing.assert_array_equal(dff, notebook["dff"])

    kernel = seed2020_kernel("GCaMP6s", dt, n_frames)
    np.testing.assert_array_equal(kernel, notebook["kernel"])

    regs = build_regressors(recording.events, n_frames, dt, kernel, groups=GROUPS, mode="onset")
    np.testing.assert_array_equal(regs.raw, notebook["regs"])
    np.testing.assert_allclose(regs.convolved, notebook["regs_conv"], rtol=0, atol=1e-12)

    ols = fit_ols(regs.design, dff)
    np.testing.assert_allclose(ols.r2, notebook["r2"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ols.coef, notebook["coefs"], rtol=1e-7, atol=1e-9)

    selected, _ = select_rois(ols.r2, ols.p_value, r2_threshold=0.05)
    np.testing.assert_array_equal(selected, notebook["idx"])
    assert 0 < selected.sum() < len(selected)

    class_index, _, _ = assign_classes(ols.coef, selected, method="coef")
    cls_sel = class_index[selected]
    for k in range(3):
        np.testing.assert_array_equal(np.flatnonzero(cls_sel == k), notebook["classes"][k])

    amp = seed2020_response_amplitudes(dff[selected], regs.onset_frames, 5)
    np.testing.assert_allclose(amp, notebook["activity"], rtol=1e-12, atol=1e-15)
    print(
        f"\nseed2020 reproduction: {selected.sum()} / {len(selected)} ROIs "
        f"selected, classes {np.bincount(cls_sel, minlength=3).tolist()}"
    )


def test_analyse_recording_seed2020_paramset(recording, notebook):
    """SEED2020_PARAMSET through the stages gives the notebook's numbers."""
    res = analyse_recording(
        recording.traces,
        recording.events,
        recording.frame_period_s,
        sensor="gcamp6s",
        clustering=False,
        **{stage: SEED2020_PARAMSET[stage] for stage in ("dff", "regressors", "fit")},
    )
    np.testing.assert_array_equal(res.dff.dff, notebook["dff"])
    np.testing.assert_array_equal(res.regressors.kernel, notebook["kernel"])
    np.testing.assert_allclose(res.regressors.design.T, notebook["regs_conv"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res.fit.selected, notebook["idx"])
    np.testing.assert_allclose(res.fit.r2, notebook["r2"], atol=1e-9)
    np.testing.assert_allclose(res.fit.coef, notebook["coefs"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.amplitudes.mean[res.fit.selected], notebook["activity"], rtol=1e-12, atol=1e-15)
    labels = res.labels[res.fit.selected]
    for k, name in enumerate(res.regressors.names):
        np.testing.assert_array_equal(np.flatnonzero(labels == name), notebook["classes"][k])
    assert res.regressors.names == ["prey", "looming", "dimming"]
    assert res.regressors.kernel_info["delay_s"] == 0.0
    assert np.isnan(res.fit.p_permutation).all()
