"""PLACEHOLDER (lead): parameter registry contract, replaced by the science branch."""

from __future__ import annotations

import copy
import difflib

__all__ = ["ParamError", "resolve_params", "resolve_paramset", "applicable",
           "DEFAULT_PARAMSET", "SEED2020_PARAMSET", "STAGES", "METHODS"]


class ParamError(ValueError):
    """A parameter set's stage parameters are invalid."""


SEED2020_GROUPS = {"prey": ["prey", "prey-nasalward", "prey-temporalward"],
                   "looming": ["looming"], "dimming": ["dimming"]}

STAGES = {
    "dff": {
        "percentile": {"percentile": 8.0, "neuropil_factor": 0.7},
        "sliding_percentile": {"percentile": 8.0, "window_s": 60.0, "neuropil_factor": 0.7},
        "none": {},
        "seed2020": {},
    },
    "regressors": {
        "sensor": {"train": "onset", "delay_s": 0.5, "groups": None},
        "exponential": {"train": "onset", "tau_decay_s": 2.0, "delay_s": 0.5, "groups": None},
        "seed2020": {"train": "onset", "groups": SEED2020_GROUPS},
    },
    "fit": {
        "ols": {"significance": "parametric", "r2_threshold": 0.05, "fdr_alpha": 0.05,
                "class_rule": "largest_coef", "amplitude_method": "baseline",
                "response_window_frames": 5},
    },
    "clustering": {
        m: {"n_clusters": 8, "distance_threshold": None, "optimal_ordering": True, "max_rois": 5000}
        for m in ("average", "complete", "single", "weighted")
    },
}
METHODS = {stage: tuple(methods) for stage, methods in STAGES.items()}


def resolve_params(stage, method, params=None):
    if stage not in STAGES:
        raise ParamError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    if method not in STAGES[stage]:
        raise ParamError(f"{stage}: unknown method {method!r}; choose one of {', '.join(STAGES[stage])}")
    defaults = STAGES[stage][method]
    params = dict(params or {})
    for name in params:
        if name not in defaults:
            close = difflib.get_close_matches(name, list(defaults), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ParamError(f"{stage} method {method!r}: unknown parameter {name!r}{hint} "
                             f"(allowed: {', '.join(sorted(defaults)) or 'none'})")
    return {**copy.deepcopy(defaults), **params}


def resolve_paramset(**stages):
    return {stage: (method, resolve_params(stage, method, params)) for stage, (method, params) in stages.items()}


DEFAULT_PARAMSET = resolve_paramset(
    dff=("percentile", {}), regressors=("sensor", {}), fit=("ols", {}), clustering=("average", {}))
SEED2020_PARAMSET = resolve_paramset(
    dff=("seed2020", {}), regressors=("seed2020", {}),
    fit=("ols", {"fdr_alpha": None, "amplitude_method": "seed2020"}),
    clustering=("average", {"optimal_ordering": False}))


def applicable(stage_params, stimuli, sensor):
    """(ok, reason): can this parameter set analyse a recording with these stimuli and sensor?"""
    method, params = stage_params["regressors"]
    if method != "seed2020":
        return True, ""
    if sensor.get("seed2020_tau_s") is None:
        return False, f"the seed2020 kernel exists only for GCaMP6s/6f, not {sensor.get('name')}"
    stimuli = set(stimuli)
    groups = params["groups"]
    missing = [g for g, members in groups.items() if not stimuli & set(members)]
    extra = stimuli - {s for members in groups.values() for s in members}
    if missing or extra:
        return False, "the notebook's protocol is prey, looming and dimming"
    return True, ""
