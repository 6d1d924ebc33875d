"""Functional classes of selected ROIs.

:func:`classify` is the stage's rule (class from individually significant
positive coefficients, or the notebook's largest coefficient);
:func:`assign_classes` is the plain argmax it builds on.
"""

from __future__ import annotations

import numpy as np

__all__ = ["assign_classes", "classify", "CLASS_METHODS", "INHIBITED", "MIXED", "UNCLASSIFIED"]

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
        raise ValueError(f"method must be one of {CLASS_METHODS}, got {method!r}")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"scores must be 2-D (n_rois x n_reg) with at least one regressor, got shape {scores.shape}")
    selected = np.asarray(selected)
    if selected.dtype != bool:
        raise ValueError(f"selected must be boolean, got dtype {selected.dtype}")
    if selected.shape != (scores.shape[0],):
        raise ValueError(f"selected has shape {selected.shape}, expected ({scores.shape[0]},) to match scores")
    n_rois, n_reg = scores.shape
    nan = np.isnan(scores)
    bad = selected & nan.all(axis=1)
    if bad.any():
        raise ValueError(f"selected ROI at row {int(np.argmax(bad))} has only NaN scores")

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


#: Labels of selected ROIs that are not a regressor's name.
INHIBITED, MIXED, UNCLASSIFIED = "inhibited", "mixed", "unclassified"


def _arrays(source):
    keys = ("coef", "t_value", "coef_z", "coef_p", "selected")
    if isinstance(source, dict):
        return {k: source.get(k) for k in keys}
    return {k: getattr(source, k, None) for k in keys}


def classify(source, names, params):
    """Class of every selected ROI, from its per-coefficient statistics.

    A pure function of the stored per-ROI x regressor arrays, so the class
    can be recomputed from a database without refitting.

    Parameters
    ----------
    source : FitResult or dict
        With ``coef``, ``t_value``, ``coef_z``, ``coef_p`` (n_rois x n_reg)
        and ``selected`` (n_rois,); only those the rule needs must be set.
    names : sequence of str
        Regressor names (columns).
    params : dict
        The fit stage's parameters; uses ``class_rule``, ``class_alpha``,
        ``mixed_margin``.

    Returns
    -------
    labels : ndarray of object (n_rois,)
        For selected ROIs a regressor name, ``"inhibited"``, ``"mixed"`` or
        ``"unclassified"``; None for the others.
    score : ndarray (n_rois,)
        The score of the label's regressor (``"inhibited"``: the most
        negative significant score); NaN if none / not selected.
    margin : ndarray (n_rois,)
        ``"significant"``: ``(best - second) / best`` over the positive
        scores (second 0 if there is none), in [0, 1]; ``"largest_coef"``:
        winner minus runner-up. NaN if not defined / not selected.

    Notes
    -----
    ``class_rule="significant"``: the score of a coefficient is its
    null-standardised ``coef_z`` where available (shift null), else its
    ``t_value`` (parametric fits); a coefficient is significant when its
    ``coef_p <= class_alpha / n_regressors`` (Bonferroni over the ROI's
    regressors, so ``class_alpha`` bounds the chance that a ROI gets a
    class from a null coefficient). Positive significant coefficients make the
    class: none -> ``"inhibited"`` if some coefficient is significantly
    negative, else ``"unclassified"``; one -> its regressor; two or more ->
    ``"mixed"`` if the relative margin between the best two is below
    ``mixed_margin``, else the best. ``class_rule="largest_coef"``: the
    notebook's rule, the largest coefficient (ties to the first).
    """
    names = list(names)
    arr = _arrays(source)
    selected = np.asarray(arr["selected"], dtype=bool)
    n_rois = selected.shape[0]
    labels = np.full(n_rois, None, dtype=object)
    score = np.full(n_rois, np.nan)
    margin = np.full(n_rois, np.nan)
    rule = params["class_rule"]
    if rule == "largest_coef":
        coef = np.asarray(arr["coef"], dtype=np.float64)
        idx, sc, mg = assign_classes(coef, selected, method="coef")
        labels[selected] = np.array(names, dtype=object)[idx[selected]]
        return labels, sc, mg
    if rule != "significant":
        raise ValueError(f"class_rule must be 'significant' or 'largest_coef', got {rule!r}")
    z = arr["coef_z"]
    z = None if z is None else np.asarray(z, dtype=np.float64)
    t = np.asarray(arr["t_value"], dtype=np.float64)
    scores = t if z is None or np.isnan(z[selected]).all() else z
    p = np.asarray(arr["coef_p"], dtype=np.float64)
    if scores.shape != (n_rois, len(names)) or p.shape != scores.shape:
        raise ValueError(
            f"coefficient arrays must be (n_rois, {len(names)}) = "
            f"({n_rois}, {len(names)}), got {scores.shape} and {p.shape}"
        )
    # class_alpha is per ROI, over its regressors (Bonferroni): the chance
    # that any null coefficient of a ROI looks significant stays <= alpha
    # whatever the number of regressors.
    alpha = params["class_alpha"] / max(len(names), 1)
    with np.errstate(invalid="ignore"):
        sig = (p <= alpha) & selected[:, None]
        pos = sig & (scores > 0)
        neg = sig & (scores < 0)
    n_pos = pos.sum(axis=1)
    pos_scores = np.where(pos, scores, -np.inf)
    best = np.argmax(pos_scores, axis=1)
    s1 = np.take_along_axis(pos_scores, best[:, None], axis=1)[:, 0]
    # second-best positive score (significant or not) for the margin
    others = np.where(np.isnan(scores), -np.inf, scores).copy()
    np.put_along_axis(others, best[:, None], -np.inf, axis=1)
    s2_any = np.maximum(others.max(axis=1), 0.0)
    sig_others = np.where(pos, scores, -np.inf)
    np.put_along_axis(sig_others, best[:, None], -np.inf, axis=1)
    s2_sig = sig_others.max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_any = (s1 - s2_any) / s1
        rel_sig = (s1 - s2_sig) / s1
    name_arr = np.array(names, dtype=object)

    one = selected & (n_pos >= 1)
    labels[one] = name_arr[best[one]]
    score[one] = s1[one]
    margin[one] = np.clip(rel_any[one], 0.0, 1.0)
    mixed = selected & (n_pos >= 2) & (rel_sig < params["mixed_margin"])
    labels[mixed] = MIXED
    inhib = selected & (n_pos == 0) & neg.any(axis=1)
    labels[inhib] = INHIBITED
    if inhib.any():
        score[inhib] = np.where(neg, scores, np.inf)[inhib].min(axis=1)
    rest = selected & (n_pos == 0) & ~neg.any(axis=1)
    labels[rest] = UNCLASSIFIED
    return labels, score, margin
