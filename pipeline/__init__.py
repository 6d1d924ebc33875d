"""Numerical core of the regression-based functional classification pipeline.

Regression-based identification of stimulus-locked neurons in calcium imaging
(after Miri et al. 2011, J Neurophysiol 105:964), as applied to zebrafish
tectum in the 2020 "seed" notebook, re-implemented as pure, vectorised
functions on ROI x frame arrays:

dF/F (:mod:`pipeline.dff`) -> sensor kernels (:mod:`pipeline.kernels`) ->
stimulus regressors (:mod:`pipeline.regressors`) -> OLS for all ROIs
(:mod:`pipeline.regression`) -> selection (:mod:`pipeline.selection`) ->
classes (:mod:`pipeline.classes`) and response amplitudes
(:mod:`pipeline.amplitudes`) -> hierarchical clustering
(:mod:`pipeline.clustering`). :func:`analyse_recording` runs the whole
chain; :mod:`pipeline.synthetic` makes recordings with known ground truth.
"""

from .amplitudes import response_amplitudes, seed2020_response_amplitudes
from .analysis import DEFAULT_PARAMS, SENSOR_KERNEL_DELAY_S, analyse_recording
from .classes import assign_classes
from .clustering import (ClusterResult, cluster_rois, correlation_distance,
                         zscore_rows)
from .dff import DFF_METHODS, BaselineError, compute_dff
from .kernels import (SEED2020_TAUS, SENSORS, double_exponential_kernel,
                      exponential_kernel, seed2020_kernel, sensor_kernel)
from .regression import OLSResult, fit_ols
from .regressors import RegressorSet, build_regressors
from .selection import select_rois
from .synthetic import SyntheticRecording, make_recording

__all__ = [
    "BaselineError", "DFF_METHODS", "compute_dff",
    "SENSORS", "SEED2020_TAUS", "exponential_kernel",
    "double_exponential_kernel", "sensor_kernel", "seed2020_kernel",
    "RegressorSet", "build_regressors",
    "OLSResult", "fit_ols",
    "select_rois",
    "assign_classes",
    "response_amplitudes", "seed2020_response_amplitudes",
    "ClusterResult", "zscore_rows", "correlation_distance", "cluster_rois",
    "SyntheticRecording", "make_recording",
    "analyse_recording", "DEFAULT_PARAMS", "SENSOR_KERNEL_DELAY_S",
]
