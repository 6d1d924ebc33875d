"""Numerical core of the regression-based functional classification pipeline.

Regression-based identification of stimulus-locked neurons in calcium imaging
(after Miri et al. 2011, J Neurophysiol 105:964), re-implemented as pure,
vectorised functions on ROI x frame arrays. The stages
(:mod:`pipeline.stages`), each with the parameters declared in
:mod:`pipeline.params`:

dF/F (:mod:`pipeline.dff`) -> regressors: stimulus trains
(:mod:`pipeline.regressors`) convolved with a kernel
(:mod:`pipeline.kernels`, chosen per recording by
:mod:`pipeline.kernel_fit`) or FIR lags -> OLS for all ROIs
(:mod:`pipeline.regression`) with a circular-shift permutation null
(:mod:`pipeline.shift_null`) and Benjamini-Hochberg selection
(:mod:`pipeline.selection`) -> classes (:mod:`pipeline.classes`) and
response amplitudes (:mod:`pipeline.amplitudes`) -> hierarchical clustering
(:mod:`pipeline.clustering`). :func:`analyse_recording` runs them all;
:mod:`pipeline.synthetic` makes recordings with known ground truth.
"""

from .amplitudes import baseline_amplitudes, response_amplitudes, seed2020_response_amplitudes
from .analysis import AnalysisResult, analyse_recording
from .classes import assign_classes, classify
from .clustering import ClusterResult, cluster_rois, correlation_distance, zscore_rows
from .dff import DFF_METHODS, BaselineError, compute_dff
from .kernel_fit import choose_kernel
from .kernels import (
    SEED2020_TAUS,
    SENSORS,
    double_exponential_kernel,
    exponential_kernel,
    make_kernel,
    seed2020_kernel,
    sensor_info,
    sensor_kernel,
)
from .params import DEFAULT_PARAMSET, SEED2020_PARAMSET, ParamError, applicable, describe, paramset, resolve_params
from .regression import OLSResult, fit_ols
from .regressors import RegressorSet, build_regressors
from .selection import select_rois
from .shift_null import admissible_shifts, roi_null_distribution, shift_null
from .stages import (
    AmplitudeResult,
    DffResult,
    FitResult,
    RegressorResult,
    amplitude_stage,
    clustering_stage,
    dff_stage,
    fit_stage,
    regressor_stage,
)
from .synthetic import SyntheticRecording, make_null_recording, make_recording

__all__ = [
    "BaselineError",
    "DFF_METHODS",
    "compute_dff",
    "SENSORS",
    "SEED2020_TAUS",
    "exponential_kernel",
    "double_exponential_kernel",
    "sensor_kernel",
    "seed2020_kernel",
    "make_kernel",
    "sensor_info",
    "choose_kernel",
    "RegressorSet",
    "build_regressors",
    "OLSResult",
    "fit_ols",
    "shift_null",
    "admissible_shifts",
    "roi_null_distribution",
    "select_rois",
    "assign_classes",
    "classify",
    "response_amplitudes",
    "seed2020_response_amplitudes",
    "baseline_amplitudes",
    "ClusterResult",
    "zscore_rows",
    "correlation_distance",
    "cluster_rois",
    "ParamError",
    "resolve_params",
    "paramset",
    "applicable",
    "describe",
    "DEFAULT_PARAMSET",
    "SEED2020_PARAMSET",
    "DffResult",
    "RegressorResult",
    "FitResult",
    "AmplitudeResult",
    "dff_stage",
    "regressor_stage",
    "fit_stage",
    "amplitude_stage",
    "clustering_stage",
    "AnalysisResult",
    "analyse_recording",
    "SyntheticRecording",
    "make_recording",
    "make_null_recording",
]
