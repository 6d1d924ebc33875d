"""The analysis stages, each a pure function of arrays and its parameters.

These are the functions the database layer calls, one per computed table:

dF/F (:func:`dff_stage`) -> regressors (:func:`regressor_stage`) -> fit
(:func:`fit_stage`) -> classes (:func:`classify`, from stored columns) and
amplitudes (:func:`amplitude_stage`) -> clustering
(:func:`clustering_stage`).

Every stage takes its method and the parameters of that method; parameters
are (re)validated and completed with :func:`pipeline.params.resolve_params`,
the only place defaults live. ROIs excluded by the dF/F stage are NaN rows:
later stages skip them (NaN results, never selected, never clustered).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ._validation import as_2d_array, check_positive_float
from .amplitudes import baseline_amplitudes, seed2020_response_amplitudes, window_frames
from .classes import classify
from .clustering import ClusterResult, cluster_rois, correlation_distance
from .dff import compute_dff
from .kernel_fit import choose_kernel
from .kernels import check_sensor, kernel_length_s, make_kernel, seed2020_kernel
from .params import resolve_params
from .regression import fit_ols
from .regressors import convolve_trains, events_frame, fir_design, stimulus_trains
from .shift_null import admissible_shifts, shift_null

__all__ = [
    "DffResult",
    "RegressorResult",
    "FitResult",
    "AmplitudeResult",
    "dff_stage",
    "regressor_stage",
    "fit_stage",
    "classify",
    "amplitude_stage",
    "clustering_stage",
]

_TRACE_KINDS = ("raw", "dff")


# --------------------------------------------------------------------- dF/F
@dataclass(eq=False)
class DffResult:
    """dF/F of a recording.

    Attributes
    ----------
    dff : ndarray (n_rois, n_frames), float64
        NaN rows for excluded ROIs.
    excluded : list
        Per ROI None, or why it is excluded ("non-finite values",
        "baseline <= 0", "non-finite baseline", "zero variance").
    method : str
    params : dict
    """

    dff: np.ndarray
    excluded: list
    method: str
    params: dict

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of ROIs not excluded."""
        return np.array([r is None for r in self.excluded], dtype=bool)


def dff_stage(traces, method, params, *, frame_period_s, trace_kind="raw", neuropil=None, roi_ids=None):
    """dF/F of every ROI; ROIs without a usable baseline are excluded.

    Parameters
    ----------
    traces : array-like (n_rois, n_frames)
        Raw fluorescence, or dF/F when ``trace_kind="dff"`` (which forces
        method "none").
    method : str
        A ``dff`` method of :data:`pipeline.params.REGISTRY`.
    params : dict
        Its parameters (completed with defaults).
    frame_period_s : float
    trace_kind : {"raw", "dff"}, default "raw"
    neuropil : array-like (n_rois, n_frames), optional
        Subtracted (x neuropil_factor) before the baseline; ignored by
        "none" and "seed2020" (the notebook had none).
    roi_ids : sequence, optional
        Used to name ROIs in the error raised when all are excluded.

    Returns
    -------
    DffResult

    Raises
    ------
    ValueError
        Bad inputs, or every ROI excluded (the message gives the reasons).
    """
    if trace_kind not in _TRACE_KINDS:
        raise ValueError(f"trace_kind must be one of {_TRACE_KINDS}, got {trace_kind!r}")
    if trace_kind == "dff":
        method, params = "none", {}
    params = resolve_params("dff", method, params)
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    kwargs = dict(frame_period_s=frame_period_s, roi_ids=roi_ids, exclude=True)
    if method in ("percentile", "sliding_percentile"):
        kwargs.update(percentile=params["percentile"], neuropil=neuropil, neuropil_factor=params["neuropil_factor"])
        if method == "sliding_percentile":
            kwargs["window_s"] = params["window_s"]
    dff, excluded = compute_dff(traces, method, **kwargs)
    if excluded and all(r is not None for r in excluded):
        counts = pd.Series(excluded).value_counts()
        summary = ", ".join(f"{n} {reason}" for reason, n in counts.items())
        raise ValueError(
            f"every ROI is excluded from dF/F ({summary}); check the "
            "background subtraction / neuropil factor, or the traces"
        )
    return DffResult(dff=dff, excluded=list(excluded), method=method, params=params)


# --------------------------------------------------------------- regressors
@dataclass(eq=False)
class RegressorResult:
    """The design of a recording.

    Attributes
    ----------
    names : list of str
        Regressor names (a group, or a stimulus of its own).
    stimuli : dict
        Regressor -> stimulus names pooled into it (those presented).
    design : ndarray (n_frames, n_columns)
        The OLS design (no intercept).
    columns : list of ndarray of int
        Per regressor, its design columns (1 for kernel methods, one per
        lag for "fir").
    raw : ndarray (n_reg, n_frames)
        0/1 trains (boxcar or onset as the method's ``train``; onset for
        "fir").
    convolved : ndarray (n_reg, n_frames)
        The regressor as used: for kernel methods the design column; for
        "fir" the sum of its lag columns (the response to a flat FIR, for
        plots).
    onset_frames : list of ndarray of int
        Per regressor, sorted unique onset frames.
    presentation_index : list of ndarray of int
        Per regressor, the 0-based rows of ``events`` it uses, by onset.
    kernel : ndarray or None
        The kernel (None for "fir").
    kernel_name : str
    kernel_info : dict (JSON-able)
        ``tau_decay_s``, ``tau_rise_s``, ``delay_s`` (None where not
        applicable), ``response_length_s`` (how long a response lasts
        after onset: kernel length + longest stimulus, or the FIR window;
        the shift null's default minimum shift), ``train``, and for
        "fitted" the ``objective`` grid (see
        :func:`pipeline.kernel_fit.choose_kernel`).
    method : str
    params : dict
    """

    names: list
    stimuli: dict
    design: np.ndarray
    columns: list
    raw: np.ndarray
    convolved: np.ndarray
    onset_frames: list
    presentation_index: list
    kernel: np.ndarray | None
    kernel_name: str
    kernel_info: dict
    method: str
    params: dict

    @property
    def n_regressors(self) -> int:
        """Number of regressors (stimuli or groups), not design columns."""
        return len(self.names)

    def contrasts(self) -> np.ndarray:
        """Contrast matrix, shape (n_reg, n_columns).

        Each regressor's coefficient, or the mean of its FIR lag coefficients.
        """
        c = np.zeros((len(self.names), self.design.shape[1]))
        for r, cols in enumerate(self.columns):
            c[r, cols] = 1.0 / len(cols)
        return c


def _scale_to_peak(convolved):
    """Scale each regressor to a maximum of 1.

    Its coefficient is then the peak dF/F of the modelled response
    (comparable across stimuli).
    """
    peak = convolved.max(axis=1, keepdims=True)
    return convolved / np.where(peak > 0, peak, 1.0)


def regressor_stage(events, dff, method, params, *, frame_period_s, sensor):
    """Build the design of a recording.

    Parameters
    ----------
    events : DataFrame or list of dict
        stimulus, onset_s, duration_s (one row per presentation).
    dff : array-like (n_rois, n_frames)
        Gives n_frames; the "fitted" method chooses its kernel from it (NaN
        rows ignored).
    method : str
        A ``regressors`` method: "fitted", "sensor", "exponential",
        "double_exponential", "fir" or "seed2020".
    params : dict
    frame_period_s : float
    sensor : dict or str
        ``{"name", "tau_decay_s", "tau_rise_s", "seed2020_tau_s"}`` (see
        :func:`pipeline.kernels.sensor_info`); a name of
        :data:`pipeline.kernels.SENSORS` is looked up.

    Returns
    -------
    RegressorResult
    """
    params = resolve_params("regressors", method, params)
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    sensor = check_sensor(sensor)
    dff = as_2d_array(dff, "dff")
    n_frames = dff.shape[1]
    ev = events_frame(events, require_duration=True)
    train = params.get("train", "onset")
    regs = stimulus_trains(ev, n_frames, frame_period_s, groups=params["groups"], train=train)
    longest = float(ev["duration_s"].max()) if len(ev) else 0.0
    info = dict(tau_decay_s=None, tau_rise_s=None, delay_s=None, train=train)
    kernel = None
    columns = [np.array([r]) for r in range(len(regs.names))]

    if method == "seed2020":
        kernel = seed2020_kernel(sensor, frame_period_s, n_frames)
        convolved = convolve_trains(regs.raw, kernel)
        tau = sensor["seed2020_tau_s"]
        info.update(tau_decay_s=tau, delay_s=0.0, response_length_s=kernel_length_s(tau) + longest)
        name = f"seed2020 {sensor['name']}"
        design = convolved.T
    elif method == "fir":
        n_lags = max(1, int(math.ceil(params["window_s"] / frame_period_s)))
        design, columns = fir_design(regs.raw, n_lags)
        convolved = np.stack([design[:, c].sum(axis=1) for c in columns])
        info.update(n_lags=n_lags, response_length_s=params["window_s"])
        name = "fir"
    else:
        if method == "fitted":
            choice = choose_kernel(
                dff,
                regs.raw,
                frame_period_s,
                tau_decay_grid_s=params["tau_decay_grid_s"],
                delay_grid_s=params["delay_grid_s"],
                tau_rise_grid_s=params["tau_rise_grid_s"],
                objective=params["objective"],
                max_rois=params["max_rois"],
            )
            tau_d, tau_r, delay = (choice["tau_decay_s"], choice["tau_rise_s"], choice["delay_s"])
            info["fit"] = choice
        elif method == "sensor":
            if sensor["tau_decay_s"] is None:
                raise ValueError(f"sensor {sensor['name']!r} has no tau_decay_s for the 'sensor' kernel")
            tau_d, tau_r, delay = (sensor["tau_decay_s"], sensor["tau_rise_s"], params["delay_s"])
        elif method == "exponential":
            tau_d, tau_r, delay = params["tau_decay_s"], None, params["delay_s"]
        elif method == "double_exponential":
            tau_d, tau_r, delay = (params["tau_decay_s"], params["tau_rise_s"], params["delay_s"])
        else:  # pragma: no cover - resolve_params knows the methods
            raise AssertionError(method)
        kernel = make_kernel(frame_period_s, tau_d, tau_r, delay_s=delay)
        convolved = _scale_to_peak(convolve_trains(regs.raw, kernel))
        info.update(
            tau_decay_s=tau_d,
            tau_rise_s=tau_r,
            delay_s=delay,
            response_length_s=kernel_length_s(tau_d, delay) + longest,
        )
        name = method if method != "sensor" else f"sensor {sensor['name']}"
        design = convolved.T
    return RegressorResult(
        names=list(regs.names),
        stimuli=regs.stimuli,
        design=np.ascontiguousarray(design),
        columns=columns,
        raw=regs.raw,
        convolved=convolved,
        onset_frames=regs.onset_frames,
        presentation_index=regs.presentation_index,
        kernel=kernel,
        kernel_name=name,
        kernel_info=info,
        method=method,
        params=params,
    )


# ---------------------------------------------------------------------- fit
@dataclass(eq=False)
class FitResult:
    """Per-ROI fit, significance and selection.

    Per ROI (n_rois,): ``r2``, ``adj_r2``, ``intercept``, ``f_stat``,
    ``p_parametric`` (F-test, assumes white noise), ``p_permutation``
    (circular-shift null; NaN with significance "parametric"),
    ``n_shifts`` (int, 0 if no null), ``q_value`` (Benjamini-Hochberg of the
    p used for selection), ``selected`` (bool).

    Per ROI x regressor (n_rois, n_reg): ``coef`` (the coefficient; for
    "fir" the mean of its lag coefficients), ``t_value`` (parametric),
    ``coef_z`` (null-standardised, NaN if parametric), ``coef_p`` (the
    two-sided p the class rule uses: shift null, or t-test).

    Also ``names``, ``significance``, ``min_shift_frames`` (0 if no null),
    ``df_resid`` and ``params``. Excluded (NaN) ROIs have NaN results and
    are never selected.
    """

    names: list
    r2: np.ndarray
    adj_r2: np.ndarray
    intercept: np.ndarray
    f_stat: np.ndarray
    p_parametric: np.ndarray
    p_permutation: np.ndarray
    n_shifts: np.ndarray
    q_value: np.ndarray
    selected: np.ndarray
    coef: np.ndarray
    t_value: np.ndarray
    coef_z: np.ndarray
    coef_p: np.ndarray
    significance: str
    min_shift_frames: int
    df_resid: int
    params: dict = field(default_factory=dict)

    @property
    def p_value(self) -> np.ndarray:
        """The p used for selection."""
        return self.p_permutation if self.significance == "shift" else self.p_parametric


def _bh(p):
    q = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    return q


def fit_stage(dff, regs, params, *, frame_period_s):
    """OLS of every ROI on the design, p-values, q-values and selection.

    Parameters
    ----------
    dff : array-like (n_rois, n_frames)
        NaN rows (excluded ROIs) are skipped.
    regs : RegressorResult
    params : dict
        The ``fit`` stage's (method "ols") parameters.
    frame_period_s : float

    Returns
    -------
    FitResult
    """
    params = resolve_params("fit", "ols", params)
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    dff = as_2d_array(dff, "dff")
    n_rois, n_frames = dff.shape
    n_reg = len(regs.names)
    if regs.design.shape[0] != n_frames:
        raise ValueError(f"the design has {regs.design.shape[0]} frames, dff {n_frames}")
    for name, cols in zip(regs.names, regs.columns):
        if np.ptp(regs.design[:, cols], axis=0).min() == 0:
            raise ValueError(
                f"regressor {name!r} is constant over the recording (its "
                "presentations leave no response inside it); leave its "
                "stimuli out or use a shorter delay / window"
            )
    valid = np.isfinite(dff).all(axis=1)
    rows = np.flatnonzero(valid)
    y = dff if rows.size == n_rois else dff[rows]
    contrasts = regs.contrasts()

    def full(shape_tail=(), fill=np.nan, dtype=np.float64):
        return np.full((n_rois,) + shape_tail, fill, dtype=dtype)

    res = dict(
        r2=full(),
        adj_r2=full(),
        intercept=full(),
        f_stat=full(),
        p_parametric=full(),
        p_permutation=full(),
        n_shifts=full(fill=0, dtype=np.int64),
        coef=full((n_reg,)),
        t_value=full((n_reg,)),
        coef_z=full((n_reg,)),
        coef_p=full((n_reg,)),
    )
    min_shift = 0
    df_resid = n_frames - regs.design.shape[1] - 1
    if rows.size:
        ols = fit_ols(regs.design, y)
        df_resid = ols.df_resid
        c_obs = ols.coef @ contrasts.T
        se = np.sqrt(ols.sigma2[:, None] * np.einsum("ij,jk,ik->i", contrasts, ols.xtx_inv, contrasts)[None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            t_c = c_obs / se
        for key, value in (
            ("r2", ols.r2),
            ("adj_r2", ols.adj_r2),
            ("intercept", ols.intercept),
            ("f_stat", ols.f_stat),
            ("p_parametric", ols.p_value),
            ("coef", c_obs),
            ("t_value", t_c),
        ):
            res[key][rows] = value
        if params["significance"] == "shift":
            min_shift = _min_shift_frames(params, regs, frame_period_s)
            shifts = admissible_shifts(n_frames, min_shift, params["max_shifts"])
            null = shift_null(
                regs.design,
                y,
                shifts,
                contrasts=contrasts,
                tail=params["tail"],
                tail_min_exceed=params["tail_min_exceed"],
            )
            res["p_permutation"][rows] = null.p_value
            res["n_shifts"][rows] = np.where(np.isfinite(null.p_value), shifts.size, 0)
            res["coef_z"][rows] = null.contrast_z
            res["coef_p"][rows] = null.contrast_p
        else:
            res["coef_p"][rows] = 2.0 * stats.t.sf(np.abs(t_c), df_resid)

    p_used = res["p_permutation"] if params["significance"] == "shift" else res["p_parametric"]
    q = _bh(p_used)
    with np.errstate(invalid="ignore"):
        selected = res["r2"] > params["r2_min"]
        if params["fdr_alpha"] is not None:
            selected &= q <= params["fdr_alpha"]
    selected &= valid
    return FitResult(
        names=list(regs.names),
        q_value=q,
        selected=selected,
        significance=params["significance"],
        min_shift_frames=int(min_shift),
        df_resid=int(df_resid),
        params=params,
        **res,
    )


def _min_shift_frames(params, regs, frame_period_s):
    length_s = params["min_shift_s"]
    if length_s is None:
        length_s = regs.kernel_info.get("response_length_s") or 0.0
    return max(1, int(math.ceil(length_s / frame_period_s - 1e-9)))


# --------------------------------------------------------------- amplitudes
@dataclass(eq=False)
class AmplitudeResult:
    """Stimulus-evoked amplitudes.

    Attributes
    ----------
    mean : ndarray (n_rois, n_reg)
        Per regressor, the mean over its presentations.
    per_presentation : ndarray (n_rois, n_presentations)
        One column per presentation used by a regressor.
    presentation_row : ndarray of int (n_presentations,)
        The 0-based row of ``events`` of each column.
    presentation_regressor : ndarray of int (n_presentations,)
        Index into ``names`` of each column.
    names : list of str
    method : str
        "baseline" (response minus baseline window) or "seed2020" (the
        notebook's padded window average; ``per_presentation`` then holds
        each presentation's plain window mean).
    windows : dict
        ``response_window_s``, ``baseline_window_s`` (None for seed2020),
        ``response_frames``, ``baseline_frames`` (offsets [start, stop)
        from the onset frame).
    """

    mean: np.ndarray
    per_presentation: np.ndarray
    presentation_row: np.ndarray
    presentation_regressor: np.ndarray
    names: list
    method: str
    windows: dict


def amplitude_stage(dff, regs, events, params, *, frame_period_s):
    """Response amplitudes per ROI, per presentation and per regressor.

    Parameters
    ----------
    dff : array-like (n_rois, n_frames)
    regs : RegressorResult
    events : DataFrame or list of dict
        The events the regressors were built from (rows are referenced).
    params : dict
        The ``fit`` stage's parameters (``amplitude_method``,
        ``response_window_s``, ``baseline_window_s``,
        ``response_window_frames``).
    frame_period_s : float

    Returns
    -------
    AmplitudeResult
    """
    params = resolve_params("fit", "ols", params)
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    dff = as_2d_array(dff, "dff")
    ev = events_frame(events)
    rows = (
        np.concatenate([np.asarray(p, dtype=np.int64) for p in regs.presentation_index])
        if regs.presentation_index
        else np.zeros(0, dtype=np.int64)
    )
    which = (
        np.concatenate([np.full(len(p), r, dtype=np.int64) for r, p in enumerate(regs.presentation_index)])
        if regs.presentation_index
        else np.zeros(0, dtype=np.int64)
    )
    onset = (ev["onset_s"].to_numpy()[rows] * (1.0 / frame_period_s)).astype(np.int64)
    n_reg = len(regs.names)
    if params["amplitude_method"] == "seed2020":
        k = params["response_window_frames"]
        mean = seed2020_response_amplitudes(dff, regs.onset_frames, k)
        per = _window_means(dff, onset, k)
        windows = dict(response_window_s=None, baseline_window_s=None, response_frames=[0, k], baseline_frames=None)
    else:
        resp = window_frames(params["response_window_s"], frame_period_s)
        base = window_frames(params["baseline_window_s"], frame_period_s)
        per = baseline_amplitudes(dff, onset, resp, base)
        mean = np.full((dff.shape[0], n_reg), np.nan)
        with np.errstate(invalid="ignore"):
            for r in range(n_reg):  # regressors, not ROIs
                cols = per[:, which == r]
                ok = np.isfinite(cols)
                n = ok.sum(axis=1)
                total = np.where(ok, cols, 0.0).sum(axis=1)
                mean[:, r] = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        windows = dict(
            response_window_s=list(params["response_window_s"]),
            baseline_window_s=list(params["baseline_window_s"]),
            response_frames=list(resp),
            baseline_frames=list(base),
        )
    return AmplitudeResult(
        mean=mean,
        per_presentation=per,
        presentation_row=rows,
        presentation_regressor=which,
        names=list(regs.names),
        method=params["amplitude_method"],
        windows=windows,
    )


def _window_means(dff, onset, k):
    out = np.empty((dff.shape[0], onset.size))
    for j, f in enumerate(onset):  # presentations, not ROIs
        out[:, j] = dff[:, f : f + k].mean(axis=1, dtype=np.float64)
    return out


# --------------------------------------------------------------- clustering
def clustering_stage(dff, r2, selected, params, method="hierarchical"):
    """Cluster all ROIs and the selected ROIs (excluded ROIs never).

    Parameters
    ----------
    dff : array-like (n_rois, n_frames)
    r2 : array-like (n_rois,)
        Priority for the ``max_rois`` cap (highest first).
    selected : array-like of bool (n_rois,)
    params : dict
        The ``clustering`` stage's parameters.
    method : {"hierarchical", "none"}, default "hierarchical"

    Returns
    -------
    dict or None
        ``{"all": ClusterResult, "selected": ClusterResult}`` (``rows``
        index the input ROIs); None for method "none". The selected ROIs'
        distances are taken from the all-ROI distances when they are among
        the ROIs clustered there.
    """
    params = resolve_params("clustering", method, params)
    if method == "none":
        return None
    dff = as_2d_array(dff, "dff")
    r2 = np.asarray(r2, dtype=np.float64)
    selected = np.asarray(selected, dtype=bool)
    valid = np.isfinite(dff).all(axis=1)
    kwargs = dict(method=params["linkage"], optimal_ordering=params["optimal_ordering"])
    if params["distance_threshold"] is not None:
        kwargs["distance_threshold"] = params["distance_threshold"]
    else:
        kwargs["n_clusters"] = params["n_clusters"]
    cap = params["max_rois"]

    def top(mask):
        rows = np.flatnonzero(mask & valid)
        if cap is not None and rows.size > cap:
            key = np.where(np.isnan(r2[rows]), -np.inf, r2[rows])
            rows = np.sort(rows[np.argsort(-key, kind="stable")[:cap]])
            return rows, True
        return rows, False

    all_rows, all_capped = top(np.ones(dff.shape[0], bool))
    sel_rows, sel_capped = top(selected)
    dist = correlation_distance(dff[all_rows]) if all_rows.size > 1 else None
    res_all = _cluster_subset(dff, all_rows, all_capped, kwargs, all_rows, dist)
    res_sel = _cluster_subset(dff, sel_rows, sel_capped, kwargs, all_rows, dist)
    return {"all": res_all, "selected": res_sel}


def _cluster_subset(dff, rows, capped, kwargs, dist_rows, dist):
    """cluster_rois on ``rows``, reusing ``dist`` (over ``dist_rows``)."""
    pos = np.searchsorted(dist_rows, rows)
    inside = (
        dist is not None
        and rows.size > 1
        and (pos < dist_rows.size).all()
        and np.array_equal(dist_rows[np.minimum(pos, dist_rows.size - 1)], rows)
    )
    if inside:
        res = cluster_rois(dff[dist_rows], candidates=pos, distance=dist, **kwargs)
    else:
        res = cluster_rois(dff[rows], **kwargs) if rows.size else cluster_rois(dff[:0], **kwargs)
        pos = np.arange(rows.size)
        res.rows = pos
    rows_out = dist_rows[res.rows] if inside else rows[res.rows]
    return ClusterResult(
        linkage=res.linkage,
        leaf_order=res.leaf_order,
        labels=res.labels,
        rows=rows_out,
        capped=capped,
        optimally_ordered=res.optimally_ordered,
    )
