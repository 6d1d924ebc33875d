"""Scores of an analysis against the ground truth of a synthetic recording.

Used by the tests and by ``benchmarks/science.py``; the definitions here are
the ones the targets in docs/method.md refer to.
"""

from __future__ import annotations

import numpy as np

from .regression import fit_ols

__all__ = ["score_analysis", "residual_lag1"]


def residual_lag1(dff, design, rows=None):
    """Median lag-1 autocorrelation of the OLS residuals of ``rows``."""
    y = np.asarray(dff if rows is None else dff[rows], dtype=np.float64)
    y = y[np.isfinite(y).all(axis=1)]
    ols = fit_ols(design, y)
    r = y - ols.intercept[:, None] - ols.coef @ np.asarray(design).T
    num = np.einsum("ij,ij->i", r[:, 1:], r[:, :-1])
    den = np.einsum("ij,ij->i", r, r)
    return float(np.median(num / den))


def score_analysis(rec, res):
    """Figures of an :class:`~pipeline.analysis.AnalysisResult` vs truth.

    Definitions: *tuned* ROIs respond to one class of the protocol; false
    discoveries are selected ``spontaneous`` ROIs; *right class* is the
    label equal to the tuned ROI's class; inhibited ROIs are scored on all
    of them (unselected ones are not labelled inhibited).

    Returns
    -------
    dict
        n_rois, n_selected, recall (tuned selected), fdp (false-discovery
        proportion among selected), class_accuracy (selected tuned in the
        right class), inhibited_labelled, inhibited_stimulus_class (fraction
        of inhibited ROIs labelled with a regressor name), mixed_selected,
        mixed_labelled_mixed, mixed_labelled_one_of_theirs,
        spontaneous_selected, p_perm_below_05 / p_param_below_05 (among
        spontaneous ROIs), amplitude_median_spontaneous (median over
        spontaneous ROIs and regressors of the mean amplitude), kernel
        (tau_decay_s, delay_s chosen).
    """
    truth = np.asarray(rec.truth)
    fit = res.fit
    sel = fit.selected
    labels = res.labels
    names = list(res.regressors.names)
    classes = list(rec.groups)
    tuned = np.isin(truth, classes)
    spont = truth == "spontaneous"
    inhib = truth == "inhibited"
    mixed = truth == "mixed"
    out = dict(n_rois=int(truth.size), n_selected=int(sel.sum()))

    def frac(mask, of):
        return float(mask[of].mean()) if of.any() else float("nan")

    out["recall"] = frac(sel, tuned)
    out["fdp"] = float((sel & spont).sum() / sel.sum()) if sel.any() else 0.0
    right = np.array([lab == t for lab, t in zip(labels, truth)])
    out["class_accuracy"] = frac(right, tuned & sel)
    out["inhibited_labelled"] = frac(labels == "inhibited", inhib)
    is_stim = np.array([lab in names for lab in labels])
    out["inhibited_stimulus_class"] = frac(is_stim, inhib)
    out["mixed_selected"] = frac(sel, mixed)
    out["mixed_labelled_mixed"] = frac(labels == "mixed", mixed & sel)
    if mixed.any():
        gains = np.asarray(rec.gains)
        theirs = np.array([lab in classes and gains[i, classes.index(lab)] > 0 for i, lab in enumerate(labels)])
        out["mixed_labelled_one_of_theirs"] = frac(theirs, mixed & sel)
    else:
        out["mixed_labelled_one_of_theirs"] = float("nan")
    out["spontaneous_selected"] = frac(sel, spont)
    out["p_perm_below_05"] = frac(fit.p_permutation < 0.05, spont)
    out["p_param_below_05"] = frac(fit.p_parametric < 0.05, spont)
    amp = res.amplitudes.mean[spont]
    out["amplitude_median_spontaneous"] = float(np.nanmedian(amp)) if amp.size else float("nan")
    info = res.regressors.kernel_info
    out["kernel"] = dict(tau_decay_s=info.get("tau_decay_s"), delay_s=info.get("delay_s"))
    return out
