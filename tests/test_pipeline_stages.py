"""The stage functions: exclusions, designs, NaN rows, classes, amplitudes."""

import numpy as np
import pandas as pd
import pytest

from pipeline import (
    DEFAULT_PARAMSET,
    amplitude_stage,
    analyse_recording,
    classify,
    clustering_stage,
    dff_stage,
    fit_stage,
    make_recording,
    regressor_stage,
    resolve_params,
    sensor_info,
)

FIT = DEFAULT_PARAMSET["fit"][1]


@pytest.fixture(scope="module")
def rec():
    return make_recording(300, seed=5)


def _events(*rows):
    return pd.DataFrame(rows, columns=["stimulus", "onset_s", "duration_s"])


# ------------------------------------------------------------------- dF/F
def test_dff_stage_excludes_bad_rois_with_reasons(rec):
    traces = rec.traces.astype(np.float64)
    traces[1] -= 5000.0  # negative baseline
    traces[2, 10] = np.nan  # non-finite values
    traces[3] = 250.0  # zero variance
    res = dff_stage(traces, "percentile", {}, frame_period_s=1.0)
    assert res.excluded[1] == "baseline <= 0"
    assert res.excluded[2] == "non-finite values"
    assert res.excluded[3] == "zero variance"
    assert res.excluded[0] is None and sum(r is not None for r in res.excluded) == 3
    assert np.isnan(res.dff[1:4]).all() and np.isfinite(res.dff[0]).all()
    np.testing.assert_array_equal(res.valid[:5], [True, False, False, False, True])
    sliding = dff_stage(traces, "sliding_percentile", {"window_s": 30.0}, frame_period_s=1.0)
    assert sliding.excluded[1] == "baseline <= 0"
    as_dff = dff_stage(res.dff[[0, 4]], "percentile", {}, frame_period_s=1.0, trace_kind="dff")
    assert as_dff.method == "none"
    np.testing.assert_array_equal(as_dff.dff, res.dff[[0, 4]])


def test_dff_stage_all_excluded_is_an_error(rec):
    with pytest.raises(ValueError, match="every ROI is excluded.*baseline"):
        dff_stage(rec.traces[:4] - 1e5, "percentile", {}, frame_period_s=1.0)


def test_seed2020_dff_unchanged(rec):
    from pipeline import compute_dff

    res = dff_stage(rec.traces, "seed2020", {}, frame_period_s=1.0)
    np.testing.assert_array_equal(res.dff, compute_dff(rec.traces, "seed2020"))


# ------------------------------------------------------------- regressors
def test_group_absent_and_new_stimulus_become_regressors(rec):
    events = pd.concat(
        [rec.events[rec.events.stimulus != "dimming"], _events(("grating", 100.5, 4.0), ("grating", 300.2, 4.0))],
        ignore_index=True,
    )
    regs = regressor_stage(
        events, rec.traces, "exponential", {"groups": rec.groups}, frame_period_s=1.0, sensor="GCaMP6s"
    )
    assert regs.names == ["prey", "looming", "grating"]  # dimming absent
    assert regs.stimuli["grating"] == ["grating"]
    np.testing.assert_array_equal(regs.presentation_index[2], np.flatnonzero(events.stimulus == "grating"))
    assert regs.design.shape == (rec.traces.shape[1], 3)
    np.testing.assert_allclose(regs.design.max(axis=0), 1.0)  # unit peak
    assert regs.kernel_info["response_length_s"] == pytest.approx(0.5 + 3 * 2.0 + 5.0)


def test_reserved_stimulus_name_rejected(rec):
    with pytest.raises(ValueError, match="reserved"):
        regressor_stage(
            _events(("mixed", 10.0, 1.0)), rec.traces, "exponential", {}, frame_period_s=1.0, sensor="GCaMP6s"
        )


def test_single_stimulus_recording_end_to_end():
    rec = make_recording(400, protocol="flash", seed=3)
    res = analyse_recording(rec.traces, rec.events, rec.frame_period_s, sensor=rec.sensor, clustering=False)
    assert res.regressors.names == ["flash"]
    tuned = rec.truth == "flash"
    assert res.fit.selected[tuned].mean() > 0.95
    assert set(res.labels[res.fit.selected]) <= {"flash", "inhibited", "unclassified"}


def test_fir_design_and_contrasts(rec):
    regs = regressor_stage(
        rec.events, rec.traces, "fir", {"groups": rec.groups, "window_s": 8.0}, frame_period_s=1.0, sensor="GCaMP6s"
    )
    assert regs.kernel is None and regs.kernel_name == "fir"
    assert [len(c) for c in regs.columns] == [8, 8, 8]
    assert regs.design.shape[1] == 24
    np.testing.assert_array_equal(regs.design[:, regs.columns[1]].sum(axis=1), regs.convolved[1])
    c = regs.contrasts()
    np.testing.assert_allclose(c.sum(axis=1), 1.0)
    fit = fit_stage(rec.traces / rec.traces.mean(1, keepdims=True), regs, FIT, frame_period_s=1.0)
    assert fit.coef.shape == (300, 3) and fit.min_shift_frames == 8
    assert np.isfinite(fit.coef_z).all()


def test_sensor_dict_for_a_lab_sensor(rec):
    lab = {"name": "GCaMP-lab", "tau_decay_s": 1.1, "tau_rise_s": 0.1, "seed2020_tau_s": 1.8}
    regs = regressor_stage(rec.events, rec.traces, "sensor", {}, frame_period_s=1.0, sensor=lab)
    assert regs.kernel_info["tau_decay_s"] == 1.1
    assert regs.kernel_info["tau_rise_s"] == 0.1
    seed = regressor_stage(rec.events, rec.traces, "seed2020", {}, frame_period_s=1.0, sensor=lab)
    ref = regressor_stage(rec.events, rec.traces, "seed2020", {}, frame_period_s=1.0, sensor=sensor_info("GCaMP6s"))
    np.testing.assert_array_equal(seed.design, ref.design)
    with pytest.raises(ValueError, match="notebook tau"):
        regressor_stage(
            rec.events, rec.traces, "seed2020", {}, frame_period_s=1.0, sensor=dict(lab, seed2020_tau_s=None)
        )


@pytest.mark.parametrize("method", ["fitted", "sensor", "exponential", "double_exponential", "fir", "seed2020"])
def test_every_kernel_method_runs_and_reports_json(rec, method):
    import json

    regs = regressor_stage(
        rec.events, rec.traces / rec.traces.mean(1, keepdims=True), method, {}, frame_period_s=1.0, sensor="GCaMP6s"
    )
    json.dumps(regs.kernel_info)
    assert regs.kernel_info["response_length_s"] > 0
    assert regs.design.shape[0] == rec.traces.shape[1]
    assert len(regs.columns) == len(regs.names) == regs.convolved.shape[0]


def test_fitted_kernel_reports_choice_and_curve(rec):
    regs = regressor_stage(
        rec.events,
        rec.traces / rec.traces.mean(1, keepdims=True),
        *DEFAULT_PARAMSET["regressors"],
        frame_period_s=1.0,
        sensor="GCaMP6s",
    )
    info = regs.kernel_info
    grid = info["fit"]["grid"]
    assert info["tau_decay_s"] in grid["tau_decay_s"]
    assert len(grid["objective"]) == len(grid["tau_decay_s"])
    best = int(np.argmax(grid["objective"]))
    assert grid["tau_decay_s"][best] == info["tau_decay_s"]
    assert grid["delay_s"][best] == info["delay_s"]


# -------------------------------------------------------------------- fit
def test_fit_stage_skips_excluded_rows(rec):
    d = dff_stage(rec.traces, "percentile", {}, frame_period_s=1.0)
    d.dff[[7, 8]] = np.nan
    regs = regressor_stage(
        rec.events, d.dff, "exponential", {"groups": rec.groups}, frame_period_s=1.0, sensor="GCaMP6s"
    )
    fit = fit_stage(d.dff, regs, FIT, frame_period_s=1.0)
    for name in ("r2", "p_permutation", "p_parametric", "q_value"):
        assert np.isnan(getattr(fit, name)[[7, 8]]).all(), name
    assert not fit.selected[[7, 8]].any() and (fit.n_shifts[[7, 8]] == 0).all()
    assert (fit.n_shifts[np.arange(300) > 8] > 0).all()
    assert np.isfinite(fit.q_value[9:]).all()
    par = fit_stage(d.dff, regs, dict(FIT, significance="parametric"), frame_period_s=1.0)
    assert np.isnan(par.p_permutation).all() and (par.n_shifts == 0).all()
    assert np.isnan(par.coef_z).all()
    np.testing.assert_allclose(par.r2, fit.r2, equal_nan=True)
    labels, _, _ = classify(fit, regs.names, FIT)
    assert all(lab is None for lab in labels[[7, 8]])


def test_fit_stage_names_a_regressor_without_response():
    dff = np.random.default_rng(0).normal(size=(5, 100))
    events = _events(("x", 10.0, 1.0), ("late", 99.5, 0.0))
    regs = regressor_stage(events, dff, "exponential", {"delay_s": 1.0}, frame_period_s=1.0, sensor="GCaMP6s")
    with pytest.raises(ValueError, match="regressor 'late' is constant"):
        fit_stage(dff, regs, FIT, frame_period_s=1.0)


# ---------------------------------------------------------------- classes
def test_classify_significant_rule():
    names = ["a", "b", "c"]
    z = np.array(
        [
            [8.0, 1.0, 0.5],  # a
            [6.0, 5.0, 0.0],  # mixed (margin 1/6 < 0.5)
            [9.0, 3.0, 0.0],  # a: b significant but margin 2/3
            [0.5, -7.0, 1.0],  # inhibited
            [1.0, 0.5, 0.2],  # unclassified
            [-6.0, 4.0, 0.0],  # b: excited by b, inhibited by a
            [9.0, 0.0, 0.0],
        ]
    )  # not selected
    p = np.where(np.abs(z) > 2.5, 1e-5, 0.5)
    sel = np.array([True] * 6 + [False])
    labels, score, margin = classify({"coef": z, "t_value": z, "coef_z": z, "coef_p": p, "selected": sel}, names, FIT)
    assert list(labels) == ["a", "mixed", "a", "inhibited", "unclassified", "b", None]
    assert score[0] == 8.0 and score[3] == -7.0 and np.isnan(score[6])
    assert margin[0] == pytest.approx((8 - 1) / 8)
    assert margin[2] == pytest.approx((9 - 3) / 9)
    # parametric fits: t-values as scores
    labels_t, _, _ = classify({"coef": z, "t_value": z, "coef_z": None, "coef_p": p, "selected": sel}, names, FIT)
    assert list(labels_t) == list(labels)
    # Bonferroni over regressors: p just above alpha / 3 is not significant
    p2 = np.full((1, 3), 0.5)
    p2[0, 0] = FIT["class_alpha"] / 3 * 1.01
    lab, _, _ = classify(
        {"coef_z": np.array([[4.0, 0, 0]]), "t_value": np.zeros((1, 3)), "coef_p": p2, "selected": np.array([True])},
        names,
        FIT,
    )
    assert lab[0] == "unclassified"


def test_classify_largest_coef_rule():
    coef = np.array([[0.1, 0.5, 0.2], [0.3, 0.3, 0.1]])
    params = resolve_params("fit", "ols", {"class_rule": "largest_coef"})
    labels, score, margin = classify({"coef": coef, "selected": np.array([True, True])}, ["p", "l", "d"], params)
    assert list(labels) == ["l", "p"]
    np.testing.assert_allclose(margin, [0.3, 0.0])


# ------------------------------------------------------------- amplitudes
def test_amplitudes_per_presentation_keyed_to_events():
    n = 200
    dff = np.zeros((2, n))
    dff[0, 50:55] = 1.0  # response after the onset at 50 s
    dff[0, 47:50] = 0.2  # baseline before it
    events = _events(("x", 50.3, 2.0), ("y", 120.0, 2.0), ("x", 150.0, 2.0))
    regs = regressor_stage(events, dff, "exponential", {}, frame_period_s=1.0, sensor="GCaMP6s")
    amp = amplitude_stage(dff, regs, events, FIT, frame_period_s=1.0)
    np.testing.assert_array_equal(amp.presentation_row, [0, 2, 1])
    np.testing.assert_array_equal(amp.presentation_regressor, [0, 0, 1])
    assert amp.per_presentation[0, 0] == pytest.approx(1.0 - 0.2)
    assert amp.per_presentation[0, 1] == 0.0
    assert amp.mean[0, 0] == pytest.approx(0.4)
    assert amp.windows["response_frames"] == [0, 5]
    assert amp.windows["baseline_frames"] == [-3, 0]
    # an onset without a full baseline window before it: clipped, not NaN
    early = _events(("x", 1.0, 1.0), ("x", 100.0, 1.0))
    regs = regressor_stage(early, dff, "exponential", {}, frame_period_s=1.0, sensor="GCaMP6s")
    amp = amplitude_stage(dff, regs, early, FIT, frame_period_s=1.0)
    assert np.isfinite(amp.per_presentation).all()


def test_seed2020_amplitudes_keep_the_notebook_bug(rec):
    from pipeline import seed2020_response_amplitudes

    regs = regressor_stage(rec.events, rec.traces, "seed2020", {}, frame_period_s=1.0, sensor="GCaMP6s")
    params = resolve_params("fit", "ols", {"amplitude_method": "seed2020"})
    amp = amplitude_stage(rec.traces, regs, rec.events, params, frame_period_s=1.0)
    np.testing.assert_array_equal(amp.mean, seed2020_response_amplitudes(rec.traces, regs.onset_frames))


# ------------------------------------------------------------- clustering
def test_clustering_stage_never_clusters_excluded_rois(rec):
    d = dff_stage(rec.traces, "percentile", {}, frame_period_s=1.0)
    d.dff[[0, 5]] = np.nan
    r2 = np.linspace(0, 1, 300)
    selected = np.zeros(300, bool)
    selected[[0, 10, 20, 30, 40]] = True
    res = clustering_stage(d.dff, r2, selected, {"max_rois": 100, "n_clusters": 3})
    assert 0 not in res["all"].rows and 5 not in res["all"].rows
    assert res["all"].capped and res["all"].rows.size == 100
    np.testing.assert_array_equal(res["selected"].rows, [10, 20, 30, 40])
    assert res["selected"].labels.max() <= 3
    assert clustering_stage(d.dff, r2, selected, {}, "none") is None
