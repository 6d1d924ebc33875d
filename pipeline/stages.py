"""PLACEHOLDER (lead): stage-function contract, replaced by the science branch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .amplitudes import response_amplitudes, seed2020_response_amplitudes
from .classes import assign_classes
from .clustering import cluster_rois
from .dff import BaselineError, compute_dff
from .kernels import exponential_kernel, seed2020_kernel, double_exponential_kernel
from .regression import fit_ols
from .regressors import build_regressors
from .selection import select_rois


@dataclass(eq=False)
class DffResult:
    dff: np.ndarray
    excluded: list


@dataclass(eq=False)
class RegressorResult:
    names: list
    stimuli: dict
    design: np.ndarray
    columns: list
    raw: np.ndarray
    convolved: np.ndarray
    onset_frames: list
    kernel: np.ndarray | None
    kernel_name: str
    kernel_info: dict
    presentation_index: list


@dataclass(eq=False)
class FitResult:
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
    df_resid: int


@dataclass(eq=False)
class AmplitudeResult:
    mean: np.ndarray
    trials: np.ndarray
    trial_presentation: np.ndarray
    trial_regressor: np.ndarray
    info: dict = field(default_factory=dict)


def sensor_from_name(name):
    from .kernels import SENSORS, SEED2020_TAUS, canonical_sensor
    name = canonical_sensor(name)
    spec = SENSORS[name]
    return dict(name=name, tau_decay_s=spec["tau_decay_s"], tau_rise_s=spec["tau_rise_s"],
                seed2020_tau_s=SEED2020_TAUS.get(name))


def dff_stage(traces, method, params, *, frame_period_s, trace_kind="raw", neuropil=None, roi_ids=None):
    if trace_kind == "dff":
        method = "none"
    traces = np.asarray(traces)
    excluded = [None] * traces.shape[0]
    if method in ("percentile", "sliding_percentile"):
        f = traces.astype(np.float64)
        if neuropil is not None:
            f = f - params.get("neuropil_factor", 0.7) * np.asarray(neuropil, dtype=np.float64)
        f0 = np.percentile(f, params["percentile"], axis=1)
        bad = ~(np.isfinite(f0) & (f0 > 0))
        for i in np.flatnonzero(bad):
            excluded[i] = "baseline <= 0" if np.isfinite(f0[i]) else "non-finite baseline"
        if bad.all():
            raise BaselineError(f"every ROI has a baseline <= 0 or not finite (first: ROI {roi_ids[0] if roi_ids is not None else 0})")
        good = ~bad
        dff = np.full(traces.shape, np.nan)
        dff[good] = compute_dff(traces[good], method, frame_period_s=frame_period_s,
                                percentile=params["percentile"], window_s=params.get("window_s", 60.0),
                                neuropil=None if neuropil is None else np.asarray(neuropil)[good],
                                neuropil_factor=params.get("neuropil_factor", 0.7))
        return DffResult(dff, excluded)
    dff = compute_dff(traces, method, frame_period_s=frame_period_s, roi_ids=roi_ids)
    return DffResult(dff, excluded)


def regressor_stage(events, dff, method, params, *, frame_period_s, sensor):
    n_frames = dff.shape[1]
    delay = params.get("delay_s", 0.0)
    if method == "seed2020":
        tau = sensor.get("seed2020_tau_s")
        t = np.arange(n_frames) * frame_period_s
        kernel = np.exp(-t / tau)
        kernel = kernel / kernel.sum()
        name = f"seed2020 {sensor['name']}"
    elif method == "sensor":
        if sensor.get("tau_rise_s"):
            kernel = double_exponential_kernel(frame_period_s, sensor["tau_rise_s"], sensor["tau_decay_s"], delay_s=delay)
        else:
            kernel = exponential_kernel(frame_period_s, sensor["tau_decay_s"], delay_s=delay)
        name = f"{sensor['name']} literature, {delay:g} s delay"
    else:
        kernel = exponential_kernel(frame_period_s, params["tau_decay_s"], delay_s=delay)
        name = f"exponential tau {params['tau_decay_s']:g} s, {delay:g} s delay"
    events = pd.DataFrame(events).reset_index(drop=True)
    present = list(dict.fromkeys(events["stimulus"]))
    groups = params.get("groups")
    resolved = {}
    if groups:
        for g, members in groups.items():
            m = [s for s in members if s in present]
            if m:
                resolved[g] = m
    covered = {s for m in resolved.values() for s in m}
    for s in present:
        if s not in covered:
            resolved[s] = [s]
    regs = build_regressors(events, n_frames, frame_period_s, kernel, groups=resolved, mode=params.get("train", "onset"))
    pres = [np.flatnonzero(events["stimulus"].isin(resolved[n]).to_numpy()) for n in regs.names]
    return RegressorResult(names=regs.names, stimuli=regs.stimuli, design=regs.design,
                           columns=[np.array([i]) for i in range(len(regs.names))], raw=regs.raw,
                           convolved=regs.convolved, onset_frames=regs.onset_frames, kernel=kernel,
                           kernel_name=name, kernel_info=dict(tau_decay_s=params.get("tau_decay_s", sensor.get("tau_decay_s")), delay_s=delay),
                           presentation_index=pres)


def fit_stage(dff, regs, params, *, frame_period_s):
    valid = np.isfinite(dff).all(axis=1)
    n, k = dff.shape[0], len(regs.names)
    out = {name: np.full(n, np.nan) for name in ("r2", "adj_r2", "intercept", "f_stat", "p_parametric")}
    coef = np.full((n, k), np.nan)
    tval = np.full((n, k), np.nan)
    ols = fit_ols(regs.design, dff[valid])
    for name, src in (("r2", ols.r2), ("adj_r2", ols.adj_r2), ("intercept", ols.intercept),
                      ("f_stat", ols.f_stat), ("p_parametric", ols.p_value)):
        out[name][valid] = src
    coef[valid] = ols.coef
    tval[valid] = ols.t_values
    selected, q = select_rois(out["r2"], out["p_parametric"], r2_threshold=params["r2_threshold"],
                              fdr_alpha=params["fdr_alpha"])
    return FitResult(**out, p_permutation=np.full(n, np.nan), n_shifts=np.zeros(n, dtype=np.int64),
                     q_value=q, selected=selected, coef=coef, t_value=tval, coef_z=np.full((n, k), np.nan),
                     coef_p=np.full((n, k), np.nan), df_resid=ols.df_resid)


def classify(coef, t_value, coef_z, coef_p, selected, names, params):
    idx, score, margin = assign_classes(coef, np.asarray(selected, dtype=bool), method="coef")
    labels = np.array([names[i] if i >= 0 else None for i in idx], dtype=object)
    return labels, score, margin


def amplitude_stage(dff, regs, events, params, *, frame_period_s):
    fn = seed2020_response_amplitudes if params["amplitude_method"] == "seed2020" else response_amplitudes
    mean = fn(dff, regs.onset_frames, params["response_window_frames"])
    onsets = (pd.DataFrame(events)["onset_s"].to_numpy() / frame_period_s).astype(int)
    trials = np.stack([dff[:, f:f + params["response_window_frames"]].mean(axis=1) for f in onsets], axis=1)
    reg_of = np.empty(len(onsets), dtype=np.int64)
    for r, rows in enumerate(regs.presentation_index):
        reg_of[rows] = r
    return AmplitudeResult(mean=mean, trials=trials, trial_presentation=np.arange(len(onsets)),
                           trial_regressor=reg_of, info=dict(response_window_s=[0.0, 5.0], baseline_window_s=3.0))


def clustering_stage(dff, r2, selected, method, params, *, distance=None):
    valid = np.isfinite(dff).all(axis=1)
    priority = np.nan_to_num(np.asarray(r2, dtype=float), nan=-np.inf)
    kwargs = dict(method=method, n_clusters=params.get("n_clusters"),
                  distance_threshold=params.get("distance_threshold"),
                  optimal_ordering=params.get("optimal_ordering", True), max_rois=params.get("max_rois"),
                  priority=priority)
    filled = np.where(valid[:, None], dff, 0.0)
    return {"all": cluster_rois(filled, candidates=np.flatnonzero(valid), **kwargs),
            "selected": cluster_rois(filled, candidates=np.flatnonzero(np.asarray(selected) & valid), **kwargs)}
