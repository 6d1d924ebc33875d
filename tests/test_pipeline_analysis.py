"""analyse_recording: composition of the stages, stage spellings, defaults."""

import numpy as np
import pytest

from pipeline import (
    DEFAULT_PARAMSET,
    SEED2020_PARAMSET,
    AnalysisResult,
    ClusterResult,
    FitResult,
    ParamError,
    RegressorResult,
    analyse_recording,
    compute_dff,
    make_recording,
)


@pytest.fixture(scope="module")
def rec():
    return make_recording(n_rois=150, seed=4)


@pytest.fixture(scope="module")
def result(rec):
    return analyse_recording(
        rec.traces, rec.events, rec.frame_period_s, sensor=rec.sensor, clustering=("hierarchical", {"max_rois": 50})
    )


def test_result_fields(rec, result):
    n = len(rec.truth)
    assert isinstance(result, AnalysisResult)
    assert isinstance(result.regressors, RegressorResult)
    assert isinstance(result.fit, FitResult)
    assert result.dff.dff.shape == rec.traces.shape
    assert result.regressors.names == ["prey", "looming", "dimming"]
    assert result.fit.coef.shape == (n, 3)
    assert result.selected.dtype == bool and result.selected.any()
    assert result.amplitudes.mean.shape == (n, 3)
    assert all(lab is None for lab in result.labels[~result.selected])
    assert all(lab is not None for lab in result.labels[result.selected])
    assert result.params["regressors"] == DEFAULT_PARAMSET["regressors"]
    assert result.params["clustering"][1]["max_rois"] == 50
    assert (result.fit.n_shifts[result.dff.valid] > 0).all()


def test_clusters(result):
    clusters = result.clusters
    assert set(clusters) == {"all", "selected"}
    for res in clusters.values():
        assert isinstance(res, ClusterResult)
    assert clusters["all"].capped and clusters["all"].rows.size == 50
    r2 = result.fit.r2
    assert r2[clusters["all"].rows].min() >= np.sort(r2)[-50]
    sel_rows = clusters["selected"].rows
    assert result.selected[sel_rows].all()
    assert sel_rows.size == min(50, result.selected.sum())


def test_dff_input_and_stage_spellings(rec, result):
    dff = compute_dff(rec.traces, "percentile", percentile=8.0)
    res = analyse_recording(dff, rec.events, rec.frame_period_s, sensor="GCaMP6s", trace_kind="dff", clustering=False)
    assert res.params["dff"] == ("none", {})
    assert res.clusters is None
    np.testing.assert_allclose(res.fit.r2, result.fit.r2, atol=1e-12)
    by_dict = analyse_recording(
        rec.traces,
        rec.events,
        rec.frame_period_s,
        sensor="GCaMP6s",
        regressors={"method": "exponential", "tau_decay_s": 1.5},
        fit="ols",
        clustering="none",
    )
    assert by_dict.regressors.kernel_info["tau_decay_s"] == 1.5
    assert by_dict.params["fit"] == DEFAULT_PARAMSET["fit"]


def test_parameter_validation(rec):
    args = (rec.traces, rec.events, rec.frame_period_s)
    with pytest.raises(ParamError, match="did you mean 'fdr_alpha'"):
        analyse_recording(*args, sensor="GCaMP6s", fit=("ols", {"fdr_alph": 0.1}))
    with pytest.raises(ValueError, match="trace_kind"):
        analyse_recording(*args, sensor="GCaMP6s", trace_kind="spikes")
    with pytest.raises(ValueError, match="known sensors"):
        analyse_recording(*args, sensor="GCaMP3")
    with pytest.raises(ValueError, match="notebook tau"):
        analyse_recording(*args, sensor="jGCaMP8m", regressors=SEED2020_PARAMSET["regressors"])
