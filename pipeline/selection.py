"""Selection of stimulus-locked ROIs from their regression fit."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["select_rois"]


def select_rois(r2, p_value, *, r2_threshold=0.05, fdr_alpha=None):
    """Select ROIs whose fit explains enough variance (and passes FDR).

    Parameters
    ----------
    r2 : array-like of shape (n_rois,)
        Coefficient of determination per ROI (NaN for unfit ROIs).
    p_value : array-like of shape (n_rois,)
        p-value of the overall F-test per ROI (NaN allowed).
    r2_threshold : float, default 0.05
        ROIs need ``r2 > r2_threshold`` (the notebook's criterion).
    fdr_alpha : float in (0, 1], optional
        If given, ROIs also need a Benjamini-Hochberg q-value
        ``<= fdr_alpha``, which controls the expected fraction of false
        discoveries among the selected ROIs.

    Returns
    -------
    selected : ndarray of bool, shape (n_rois,)
        NaN r2 (or, with ``fdr_alpha``, NaN q) is never selected.
    q_value : ndarray of float, shape (n_rois,)
        BH-adjusted p-values (``scipy.stats.false_discovery_control``,
        method "bh") computed over the finite p-values only; NaN where p is
        NaN. Always returned, whether or not ``fdr_alpha`` is used.
    """
    r2 = np.asarray(r2, dtype=np.float64)
    p_value = np.asarray(p_value, dtype=np.float64)
    if r2.ndim != 1 or p_value.ndim != 1:
        raise ValueError(f"r2 and p_value must be 1-D, got shapes {r2.shape} and {p_value.shape}")
    if r2.shape != p_value.shape:
        raise ValueError(f"r2 ({r2.shape[0]} ROIs) and p_value ({p_value.shape[0]} ROIs) differ in length")
    r2_threshold = float(r2_threshold)
    if not np.isfinite(r2_threshold):
        raise ValueError(f"r2_threshold must be finite, got {r2_threshold}")
    finite = np.isfinite(p_value)
    if ((p_value[finite] < 0) | (p_value[finite] > 1)).any():
        raise ValueError("p_value entries must lie within [0, 1]")
    if np.isinf(p_value).any():
        raise ValueError("p_value contains infinite values")
    if fdr_alpha is not None:
        fdr_alpha = float(fdr_alpha)
        if not 0.0 < fdr_alpha <= 1.0:
            raise ValueError(f"fdr_alpha must lie in (0, 1], got {fdr_alpha}")

    q_value = np.full(p_value.shape, np.nan)
    if finite.any():
        q_value[finite] = stats.false_discovery_control(p_value[finite], method="bh")
    with np.errstate(invalid="ignore"):
        selected = r2 > r2_threshold  # NaN compares False
        if fdr_alpha is not None:
            selected &= q_value <= fdr_alpha
    return selected, q_value
