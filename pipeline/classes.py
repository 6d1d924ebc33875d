"""Assignment of selected ROIs to the regressor that drives them most."""

from __future__ import annotations

import numpy as np

__all__ = ["assign_classes", "CLASS_METHODS"]

CLASS_METHODS = ("coef", "t")


def assign_classes(scores, selected, *, method="coef"):
    """Assign each selected ROI to the regressor with the highest score.

    Parameters
    ----------
    scores : array-like of shape (n_rois, n_reg)
        Per-ROI, per-regressor scores: regression coefficients (the
        notebook's choice) or t-values.
    selected : array-like of bool, shape (n_rois,)
        ROIs to classify; others get class -1.
    method : {"coef", "t"}, default "coef"
        What ``scores`` holds. Informational (recorded by callers) but
        validated.

    Returns
    -------
    class_index : ndarray of int, shape (n_rois,)
        Index of the winning regressor, -1 where not selected. Ties go to
        the first regressor (the notebook gave the first regressor, prey,
        precedence). A NaN score is treated as -inf (it never wins unless
        all others are -inf); +-inf are ordinary values (e.g. t-values of a
        perfect fit).
    score : ndarray of float, shape (n_rois,)
        The winning score, NaN where not selected.
    margin : ndarray of float, shape (n_rois,)
        Winner minus runner-up (>= 0; 0 for a tie; inf if the runner-up is
        -inf or NaN), NaN where not selected, when there is only one
        regressor, or when both are infinite.

    Raises
    ------
    ValueError
        On bad shapes, an unknown method, or a selected ROI whose scores are
        all NaN.
    """
    if method not in CLASS_METHODS:
        raise ValueError(
            f"method must be one of {CLASS_METHODS}, got {method!r}")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(
            "scores must be 2-D (n_rois x n_reg) with at least one "
            f"regressor, got shape {scores.shape}")
    selected = np.asarray(selected)
    if selected.dtype != bool:
        raise ValueError(
            f"selected must be boolean, got dtype {selected.dtype}")
    if selected.shape != (scores.shape[0],):
        raise ValueError(
            f"selected has shape {selected.shape}, expected "
            f"({scores.shape[0]},) to match scores")
    n_rois, n_reg = scores.shape
    nan = np.isnan(scores)
    bad = selected & nan.all(axis=1)
    if bad.any():
        raise ValueError(
            f"selected ROI at row {int(np.argmax(bad))} has only NaN scores")

    class_index = np.full(n_rois, -1, dtype=np.int64)
    score = np.full(n_rois, np.nan)
    margin = np.full(n_rois, np.nan)
    sub = np.where(nan, -np.inf, scores)[selected]
    winner = np.argmax(sub, axis=1)  # first maximum wins ties
    class_index[selected] = winner
    best = np.take_along_axis(sub, winner[:, None], axis=1)[:, 0]
    score[selected] = best
    if n_reg > 1:
        runner_up = np.partition(sub, n_reg - 2, axis=1)[:, n_reg - 2]
        with np.errstate(invalid="ignore"):  # inf - inf: undefined margin
            margin[selected] = best - runner_up
    return class_index, score, margin
