"""One-call analysis of a recording: the stages of :mod:`pipeline.stages`.

Thin composition shared by the benchmarks, the tests and interactive use;
the database layer calls the stages one by one. Defaults live only in
:mod:`pipeline.params`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import DEFAULT_PARAMSET, effective_groups, resolve_stage
from .stages import (
    AmplitudeResult,
    DffResult,
    FitResult,
    RegressorResult,
    amplitude_stage,
    classify,
    clustering_stage,
    dff_stage,
    fit_stage,
    regressor_stage,
)

__all__ = ["AnalysisResult", "analyse_recording"]


@dataclass(eq=False)
class AnalysisResult:
    """Everything :func:`analyse_recording` computed.

    Attributes
    ----------
    dff : DffResult
    regressors : RegressorResult
    fit : FitResult
    labels : ndarray of object (n_rois,)
        Class of each selected ROI (regressor name, "inhibited", "mixed" or
        "unclassified"), None for unselected ROIs.
    class_score, class_margin : ndarray (n_rois,)
    amplitudes : AmplitudeResult
    clusters : dict or None
        ``{"all": ClusterResult, "selected": ClusterResult}``.
    params : dict
        stage -> (method, complete params) actually used.
    """

    dff: DffResult
    regressors: RegressorResult
    fit: FitResult
    labels: np.ndarray
    class_score: np.ndarray
    class_margin: np.ndarray
    amplitudes: AmplitudeResult
    clusters: dict | None
    params: dict

    @property
    def selected(self) -> np.ndarray:
        """Boolean mask of the ROIs the fit stage selected."""
        return self.fit.selected


def analyse_recording(
    traces,
    events,
    frame_period_s,
    *,
    sensor,
    trace_kind="raw",
    neuropil=None,
    roi_ids=None,
    dff=None,
    regressors=None,
    fit=None,
    clustering=None,
    stimulus_groups=None,
):
    """Run every stage on one recording.

    Parameters
    ----------
    traces : array-like (n_rois, n_frames)
        Raw fluorescence (``trace_kind="raw"``) or dF/F (``"dff"``, which
        forces the dF/F method "none").
    events : DataFrame or list of dict
        stimulus, onset_s, duration_s.
    frame_period_s : float
    sensor : dict or str
        Sensor dict (:func:`pipeline.kernels.sensor_info`) or a name of
        :data:`pipeline.kernels.SENSORS`.
    trace_kind : {"raw", "dff"}
    neuropil : array-like, optional
    roi_ids : sequence, optional
    dff, regressors, fit, clustering : optional
        Each stage as a ``(method, params)`` tuple, a method name, or a dict
        with a ``"method"`` key and parameters; parameters not given take
        the method's defaults. None: the stage of
        :data:`pipeline.params.DEFAULT_PARAMSET`. ``clustering=False``
        skips clustering. Pass ``**SEED2020_PARAMSET``-style tuples to run
        the notebook.
    stimulus_groups : dict of str to list of str, optional
        The recording's own regressor groups (as a manifest's ``groups``);
        they take precedence over the parameter set's ``groups`` (see
        :func:`pipeline.params.effective_groups`).

    Returns
    -------
    AnalysisResult
    """
    given = dict(dff=dff, regressors=regressors, fit=fit, clustering="none" if clustering is False else clustering)
    params = {stage: resolve_stage(stage, spec, DEFAULT_PARAMSET[stage]) for stage, spec in given.items()}
    if trace_kind == "dff":
        params["dff"] = resolve_stage("dff", "none")
    d = dff_stage(
        traces, *params["dff"], frame_period_s=frame_period_s, trace_kind=trace_kind, neuropil=neuropil, roi_ids=roi_ids
    )
    reg_method, reg_params = params["regressors"]
    if "groups" in reg_params:
        reg_params = dict(reg_params, groups=effective_groups(reg_method, reg_params, stimulus_groups))
    regs = regressor_stage(events, d.dff, reg_method, reg_params, frame_period_s=frame_period_s, sensor=sensor)
    f = fit_stage(d.dff, regs, params["fit"][1], frame_period_s=frame_period_s)
    labels, score, margin = classify(f, regs.names, params["fit"][1])
    amps = amplitude_stage(d.dff, regs, events, params["fit"][1], frame_period_s=frame_period_s)
    method, p_clu = params["clustering"]
    clusters = clustering_stage(d.dff, f.r2, f.selected, p_clu, method)
    return AnalysisResult(
        dff=d,
        regressors=regs,
        fit=f,
        labels=labels,
        class_score=score,
        class_margin=margin,
        amplitudes=amps,
        clusters=clusters,
        params=params,
    )
