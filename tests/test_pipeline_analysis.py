"""analyse_recording orchestration."""

import numpy as np
import pytest

from pipeline import (DEFAULT_PARAMS, ClusterResult, OLSResult, RegressorSet,
                      analyse_recording, compute_dff, make_recording)


@pytest.fixture(scope="module")
def rec():
    return make_recording(n_rois=120, n_frames=420, seed=4)


@pytest.fixture(scope="module")
def result(rec):
    return analyse_recording(rec.traces, rec.events, rec.frame_period_s,
                             sensor=rec.sensor,
                             regressors=dict(groups=rec.groups),
                             clustering=dict(max_rois=50))


def test_result_keys_and_types(rec, result):
    assert set(result) == {"dff", "regressors", "kernel", "ols", "selected",
                           "q_value", "class_index", "class_score",
                           "class_margin", "amplitudes", "clusters",
                           "params"}
    n = len(rec.truth)
    assert result["dff"].shape == rec.traces.shape
    assert isinstance(result["regressors"], RegressorSet)
    assert result["regressors"].names == ["prey", "looming", "dimming"]
    assert isinstance(result["ols"], OLSResult)
    assert result["ols"].coef.shape == (n, 3)
    assert result["selected"].dtype == bool and result["selected"].any()
    assert result["amplitudes"].shape == (n, 3)
    assert (result["class_index"][~result["selected"]] == -1).all()
    assert (result["class_index"][result["selected"]] >= 0).all()
    assert result["params"]["regressors"]["delay_s"] == 0.5
    assert result["params"]["fit"]["fdr_alpha"] == 0.05


def test_clusters(result):
    clusters = result["clusters"]
    assert set(clusters) == {"all", "selected"}
    for res in clusters.values():
        assert isinstance(res, ClusterResult)
    assert clusters["all"].capped and clusters["all"].rows.size == 50
    # the capped "all" clustering keeps the best-fitting ROIs
    r2 = result["ols"].r2
    assert r2[clusters["all"].rows].min() >= np.sort(r2)[-50]
    sel_rows = clusters["selected"].rows
    assert result["selected"][sel_rows].all()
    assert sel_rows.size == min(50, result["selected"].sum())


def test_dff_input_and_options(rec, result):
    dff = compute_dff(rec.traces, "percentile", percentile=8.0)
    res = analyse_recording(dff, rec.events, rec.frame_period_s,
                            sensor="GCaMP6s", trace_kind="dff",
                            regressors=dict(groups=rec.groups),
                            clustering=False)
    assert res["params"]["dff"]["method"] == "none"
    assert res["clusters"] is None
    np.testing.assert_allclose(res["ols"].r2, result["ols"].r2, atol=1e-12)
    by_t = analyse_recording(rec.traces, rec.events, rec.frame_period_s,
                             sensor="GCaMP6s",
                             regressors=dict(groups=rec.groups,
                                             kernel=result["kernel"]),
                             fit=dict(class_by="t", fdr_alpha=None),
                             clustering=False)
    np.testing.assert_array_equal(by_t["ols"].coef, result["ols"].coef)
    assert by_t["params"]["regressors"]["delay_s"] == 0.0


def test_parameter_validation(rec):
    args = (rec.traces, rec.events, rec.frame_period_s)
    with pytest.raises(ValueError, match="unknown fit parameter"):
        analyse_recording(*args, sensor="GCaMP6s", fit=dict(alpha=0.1))
    with pytest.raises(ValueError, match="trace_kind"):
        analyse_recording(*args, sensor="GCaMP6s", trace_kind="spikes")
    with pytest.raises(ValueError, match="known sensors"):
        analyse_recording(*args, sensor="GCaMP3")
    with pytest.raises(ValueError, match="class_by"):
        analyse_recording(*args, sensor="GCaMP6s", fit=dict(class_by="r2"))
    with pytest.raises(ValueError, match="no delay"):
        analyse_recording(*args, sensor="GCaMP6s",
                          regressors=dict(kernel="seed2020", delay_s=1.0))
    assert DEFAULT_PARAMS["dff"]["method"] == "percentile"
