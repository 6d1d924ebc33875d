"""One-call analysis of a recording: dF/F -> regressors -> OLS -> classes.

Thin orchestration of the pure functions of this package, shared by the
database layer and the benchmarks.
"""

from __future__ import annotations

import numpy as np

from .amplitudes import response_amplitudes, seed2020_response_amplitudes
from .classes import assign_classes
from .clustering import cluster_rois
from .dff import compute_dff
from .kernels import canonical_sensor, seed2020_kernel, sensor_kernel
from .regression import fit_ols
from .regressors import build_regressors
from .selection import select_rois

__all__ = ["analyse_recording", "DEFAULT_PARAMS", "SENSOR_KERNEL_DELAY_S",
           "resolve_params"]

#: Default parameters of each stage (see :func:`analyse_recording`).
DEFAULT_PARAMS = {
    "dff": dict(method="percentile", percentile=8.0, window_s=60.0,
                neuropil_factor=0.7),
    "regressors": dict(kernel="sensor", mode="onset", groups=None,
                       delay_s=None),
    "fit": dict(r2_threshold=0.05, fdr_alpha=0.05, class_by="coef",
                response_window_frames=5, amplitude_method="correct"),
    "clustering": dict(method="average", n_clusters=8,
                       distance_threshold=None, optimal_ordering=True,
                       max_rois=5000),
}

#: Default onset delay of the "sensor" kernel (see analyse_recording).
SENSOR_KERNEL_DELAY_S = 0.5

_TRACE_KINDS = ("raw", "dff")
_CLASS_BY = {"coef": "coef", "t": "t"}


def resolve_params(dff=None, regressors=None, fit=None, clustering=None):
    """Merge user parameters over :data:`DEFAULT_PARAMS` (unknown keys fail).

    ``clustering=False`` disables clustering. Returns a dict of four dicts
    (``clustering`` may be None).
    """
    given = dict(dff=dff, regressors=regressors, fit=fit,
                 clustering=clustering)
    resolved = {}
    for stage, defaults in DEFAULT_PARAMS.items():
        user = given[stage]
        if stage == "clustering" and user is False:
            resolved[stage] = None
            continue
        user = {} if user is None else dict(user)
        unknown = set(user) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown {stage} parameter(s) {sorted(unknown)}; allowed: "
                f"{sorted(defaults)}")
        resolved[stage] = {**defaults, **user}
    return resolved


def analyse_recording(traces, events, frame_period_s, *, sensor,
                      trace_kind="raw", neuropil=None, roi_ids=None,
                      dff=None, regressors=None, fit=None, clustering=None):
    """Run the regression-based functional classification on one recording.

    Parameters
    ----------
    traces : array-like (n_rois, n_frames)
        Raw fluorescence (``trace_kind="raw"``) or dF/F (``"dff"``).
    events : DataFrame or list of dict
        Stimulus presentations: stimulus, onset_s, duration_s.
    frame_period_s : float
        Time between frames (s).
    sensor : str
        Calcium indicator (key of :data:`pipeline.kernels.SENSORS`,
        case-insensitive); selects the kernel.
    trace_kind : {"raw", "dff"}, default "raw"
        ``"dff"`` forces dF/F method ``"none"``.
    neuropil : array-like (n_rois, n_frames), optional
        Neuropil traces, subtracted (times ``dff["neuropil_factor"]``)
        before the baseline.
    roi_ids : sequence, optional
        ROI ids used in error messages.
    dff : dict, optional
        ``method`` ("percentile", "sliding_percentile", "none", "seed2020";
        default "percentile"), ``percentile`` (8.0), ``window_s`` (60.0,
        sliding window), ``neuropil_factor`` (0.7). See
        :func:`pipeline.dff.compute_dff`.
    regressors : dict, optional
        ``kernel``: "sensor" (published 1-AP kinetics, default), "seed2020"
        (the notebook's whole-recording kernel, GCaMP6s/6f only) or a 1-D
        array; ``mode``: "onset" (default) or "boxcar"; ``groups``:
        regressor -> stimulus names (default one regressor per stimulus);
        ``delay_s``: kernel onset delay in s; None (default) means
        :data:`SENSOR_KERNEL_DELAY_S` (0.5 s) for the "sensor" kernel and 0
        otherwise (the "seed2020" kernel has no delay). The onset frame is
        ``floor(onset / frame_period)``, so a stimulus starts on average half
        a frame after its frame begins, and the visual response latency and
        the sensor's rise add a few hundred ms: a 1-AP kernel starting at
        the onset frame precedes most of the response (at 1 Hz it is nearly
        orthogonal to it). At 1 Hz any delay in (0, 1] s gives the same
        sampled kernel, i.e. a response starting in the next frame.
    fit : dict, optional
        ``r2_threshold`` (0.05), ``fdr_alpha`` (0.05, None to disable the
        Benjamini-Hochberg requirement), ``class_by`` ("coef" as in the
        notebook, or "t"), ``response_window_frames`` (5),
        ``amplitude_method`` ("correct" or "seed2020" to reproduce the
        notebook's zero-padding bug).
    clustering : dict or False, optional
        ``method`` ("average"), ``n_clusters`` (8), ``distance_threshold``
        (None; if given, ``n_clusters`` is ignored), ``optimal_ordering``
        (True), ``max_rois`` (5000, ROIs of highest r2 are kept). False
        skips clustering.

    Returns
    -------
    dict with keys
        ``dff`` (n_rois x n_frames float64), ``regressors`` (RegressorSet),
        ``kernel`` (1-D array), ``ols`` (OLSResult), ``selected`` (bool),
        ``q_value``, ``class_index`` (-1 = not selected), ``class_score``,
        ``class_margin``, ``amplitudes`` (n_rois x n_reg, all ROIs),
        ``clusters`` ({"all": ClusterResult, "selected": ClusterResult},
        rows indexing the input ROIs; None if disabled) and ``params`` (the
        resolved parameters, with the effective ``delay_s``).
    """
    if trace_kind not in _TRACE_KINDS:
        raise ValueError(
            f"trace_kind must be one of {_TRACE_KINDS}, got {trace_kind!r}")
    params = resolve_params(dff, regressors, fit, clustering)
    p_dff, p_reg, p_fit, p_clu = (params["dff"], params["regressors"],
                                  params["fit"], params["clustering"])
    if trace_kind == "dff":
        p_dff["method"] = "none"
    sensor = canonical_sensor(sensor)
    if p_fit["class_by"] not in _CLASS_BY:
        raise ValueError(
            f"fit class_by must be 'coef' or 't', got {p_fit['class_by']!r}")
    if p_fit["amplitude_method"] not in ("correct", "seed2020"):
        raise ValueError(
            "fit amplitude_method must be 'correct' or 'seed2020', got "
            f"{p_fit['amplitude_method']!r}")

    dff_arr = compute_dff(
        traces, p_dff["method"], frame_period_s=frame_period_s,
        percentile=p_dff["percentile"], window_s=p_dff["window_s"],
        neuropil=neuropil, neuropil_factor=p_dff["neuropil_factor"],
        roi_ids=roi_ids)
    n_frames = dff_arr.shape[1]

    kernel, p_reg["delay_s"] = _kernel(p_reg, sensor, frame_period_s,
                                       n_frames)
    regs = build_regressors(events, n_frames, frame_period_s, kernel,
                            groups=p_reg["groups"], mode=p_reg["mode"])
    ols = fit_ols(regs.design, dff_arr)
    selected, q_value = select_rois(ols.r2, ols.p_value,
                                    r2_threshold=p_fit["r2_threshold"],
                                    fdr_alpha=p_fit["fdr_alpha"])
    scores = ols.coef if p_fit["class_by"] == "coef" else ols.t_values
    class_index, class_score, class_margin = assign_classes(
        scores, selected, method=p_fit["class_by"])
    amp_fn = (response_amplitudes if p_fit["amplitude_method"] == "correct"
              else seed2020_response_amplitudes)
    amplitudes = amp_fn(dff_arr, regs.onset_frames,
                        p_fit["response_window_frames"])

    clusters = None
    if p_clu is not None:
        kwargs = dict(method=p_clu["method"],
                      optimal_ordering=p_clu["optimal_ordering"],
                      max_rois=p_clu["max_rois"], priority=ols.r2)
        if p_clu["distance_threshold"] is not None:
            kwargs["distance_threshold"] = p_clu["distance_threshold"]
        else:
            kwargs["n_clusters"] = p_clu["n_clusters"]
        clusters = {
            "all": cluster_rois(dff_arr, **kwargs),
            "selected": cluster_rois(dff_arr, candidates=selected, **kwargs),
        }

    return dict(dff=dff_arr, regressors=regs, kernel=kernel, ols=ols,
                selected=selected, q_value=q_value, class_index=class_index,
                class_score=class_score, class_margin=class_margin,
                amplitudes=amplitudes, clusters=clusters, params=params)


def _kernel(p_reg, sensor, frame_period_s, n_frames):
    kernel = p_reg["kernel"]
    delay_s = p_reg["delay_s"]
    if isinstance(kernel, str):
        if kernel == "sensor":
            if delay_s is None:
                delay_s = SENSOR_KERNEL_DELAY_S
            return (sensor_kernel(sensor, frame_period_s, delay_s=delay_s),
                    float(delay_s))
        if kernel == "seed2020":
            if delay_s:
                raise ValueError("the seed2020 kernel has no delay; set "
                                 "regressors delay_s=0 or None")
            return seed2020_kernel(sensor, frame_period_s, n_frames), 0.0
        raise ValueError(
            f"regressors kernel must be 'sensor', 'seed2020' or an array, "
            f"got {kernel!r}")
    if delay_s:
        raise ValueError("delay_s applies to the 'sensor' kernel only; shift "
                         "a kernel array yourself")
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 1:
        raise ValueError("a regressors kernel array must be 1-D")
    return kernel, 0.0
