"""Ordinary least squares of every ROI's trace on the stimulus regressors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, stats

from ._validation import block_rows, single_threaded_blas

__all__ = ["OLSResult", "fit_ols"]


@dataclass(eq=False)
class OLSResult:
    """Per-ROI OLS fit ``y = intercept + design @ coef + noise``.

    Attributes
    ----------
    coef : ndarray (n_rois, n_reg)
        Regression coefficients.
    intercept : ndarray (n_rois,)
    t_values : ndarray (n_rois, n_reg)
        ``coef / standard error``.
    r2 : ndarray (n_rois,)
        Coefficient of determination, ``1 - SSres / SStot``.
    adj_r2 : ndarray (n_rois,)
        ``1 - (1 - r2) (n_frames - 1) / df_resid``.
    f_stat : ndarray (n_rois,)
        Overall F statistic ``(SSreg / n_reg) / (SSres / df_resid)``.
    p_value : ndarray (n_rois,)
        Upper tail of F(n_reg, df_resid) at ``f_stat``.
    df_resid : int
        ``n_frames - n_reg - 1``.
    rank : int
        Rank of the design including the intercept column (``n_reg + 1``;
        rank-deficient designs are rejected).
    sigma2 : ndarray (n_rois,)
        Residual variance ``SSres / df_resid``.
    xtx_inv : ndarray (n_reg, n_reg)
        ``(XcᵀXc)⁻¹`` of the centred design (for contrasts' t-values).

    Zero-variance (constant) ROIs have coef 0, intercept equal to the
    constant, and NaN t_values, r2, adj_r2, f_stat and p_value.
    """

    coef: np.ndarray
    intercept: np.ndarray
    t_values: np.ndarray
    r2: np.ndarray
    adj_r2: np.ndarray
    f_stat: np.ndarray
    p_value: np.ndarray
    df_resid: int
    rank: int
    sigma2: np.ndarray | None = None
    xtx_inv: np.ndarray | None = None


def fit_ols(design, y, *, block_size=None):
    """Fit an OLS model with intercept to every ROI in one solve.

    The centred design ``Xc = X - mean(X)`` is factorised once (thin QR,
    after an SVD rank check), then ROIs are projected onto it block by block,
    so ``y`` can be large (e.g. 100,000 x 2,000, float32 or float64): each
    block is converted to float64 and centred, and only about one extra
    block-sized array is alive at a time. Results equal scikit-learn's
    ``LinearRegression().fit(X, y.T)`` with ``r2_score(...,
    multioutput="raw_values")`` to ~1e-12 and statsmodels' OLS t-values,
    F-test and adjusted R2.

    Parameters
    ----------
    design : array-like of shape (n_frames, n_reg)
        Regressors as columns (e.g. ``RegressorSet.design``). A 1-D array is
        taken as a single regressor. Must not contain an intercept column.
    y : array-like of shape (n_rois, n_frames)
        One trace per row (e.g. dF/F).
    block_size : int, optional
        ROIs per block (default: ~4e6 values per block).

    Returns
    -------
    OLSResult

    Raises
    ------
    ValueError
        On shape mismatch, non-finite values (naming the first bad ROI row),
        ``n_frames <= n_reg + 1`` (no residual degrees of freedom), or a
        rank-deficient design (constant/zero regressor, duplicated or
        collinear regressors).
    """
    x = np.asarray(design, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"design must be 2-D (n_frames x n_reg), got shape {x.shape}")
    y = np.asarray(y)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2:
        raise ValueError(f"y must be 2-D (n_rois x n_frames), got shape {y.shape}")
    n_frames, n_reg = x.shape
    if y.shape[1] != n_frames:
        hint = "; y looks transposed (pass ROIs as rows)" if y.shape[0] == n_frames else ""
        raise ValueError(f"y has {y.shape[1]} frames (columns) but design has {n_frames} rows{hint}")
    if n_reg == 0:
        raise ValueError("design has no regressors")
    df_resid = n_frames - n_reg - 1
    if df_resid < 1:
        raise ValueError(
            f"need more frames than regressors + 1 for residual degrees of freedom: n_frames={n_frames}, n_reg={n_reg}"
        )
    if not np.isfinite(x).all():
        raise ValueError("design contains NaN or infinite values")

    x_mean = x.mean(axis=0)
    xc = x - x_mean
    with single_threaded_blas():
        _check_rank(xc)
        q, r = np.linalg.qr(xc)  # xc = q @ r, q: n_frames x n_reg
        r_inv = np.linalg.inv(r)  # small, well conditioned (rank checked)
    xtx_inv_diag = np.einsum("ij,ij->i", r_inv, r_inv)  # diag((XcᵀXc)^-1)

    n_rois = y.shape[0]
    coef = np.zeros((n_rois, n_reg))
    intercept = np.zeros(n_rois)
    ss_res = np.zeros(n_rois)
    ss_tot = np.zeros(n_rois)
    constant = np.zeros(n_rois, dtype=bool)

    step = block_size if block_size is not None else block_rows(n_frames)
    # Products with a few regressors: threaded BLAS only adds overhead.
    with single_threaded_blas():
        for start in range(0, n_rois, step):
            stop = min(start + step, n_rois)
            yb = np.array(y[start:stop], dtype=np.float64, copy=True)
            finite = np.isfinite(yb).all(axis=1)
            if not finite.all():
                raise ValueError(f"y row {start + int(np.argmin(finite))} contains NaN or infinite values")
            # Exact test for constant rows: centring by a rounded mean would
            # leave ~1e-16 residue and a meaningless r2.
            const_b = yb.max(axis=1) == yb.min(axis=1)
            y_mean = yb.mean(axis=1)
            y_mean[const_b] = yb[const_b, 0]
            yb -= y_mean[:, None]
            yb[const_b] = 0.0
            proj = yb @ q  # coordinates of the fit in the q basis
            cb = linalg.solve_triangular(r, proj.T).T
            ss_tot[start:stop] = np.einsum("ij,ij->i", yb, yb)
            yb -= proj @ q.T  # residuals, in place
            ss_res[start:stop] = np.einsum("ij,ij->i", yb, yb)
            coef[start:stop] = cb
            intercept[start:stop] = y_mean - cb @ x_mean
            constant[start:stop] = const_b
            del yb, proj

    with np.errstate(divide="ignore", invalid="ignore"):
        ss_reg = np.maximum(ss_tot - ss_res, 0.0)
        r2 = 1.0 - ss_res / ss_tot
        adj_r2 = 1.0 - (1.0 - r2) * (n_frames - 1) / df_resid
        sigma2 = ss_res / df_resid
        t_values = coef / np.sqrt(sigma2[:, None] * xtx_inv_diag[None, :])
        f_stat = (ss_reg / n_reg) / sigma2
        p_value = stats.f.sf(f_stat, n_reg, df_resid)
    for arr in (r2, adj_r2, f_stat, p_value):
        arr[constant] = np.nan
    t_values[constant] = np.nan
    sigma2[constant] = np.nan
    return OLSResult(
        coef=coef,
        intercept=intercept,
        t_values=t_values,
        r2=r2,
        adj_r2=adj_r2,
        f_stat=f_stat,
        p_value=np.asarray(p_value, dtype=np.float64),
        df_resid=int(df_resid),
        rank=int(n_reg + 1),
        sigma2=sigma2,
        xtx_inv=r_inv @ r_inv.T,
    )


def _check_rank(xc):
    """Reject designs whose centred columns are (numerically) dependent."""
    n_frames, n_reg = xc.shape
    scale = np.abs(xc).max(axis=0)
    for j in np.flatnonzero(scale == 0):
        raise ValueError(
            f"design is rank deficient: regressor {j} is constant (e.g. all "
            "zeros) and cannot be separated from the intercept"
        )
    for j in range(n_reg):
        for k in range(j + 1, n_reg):
            if np.allclose(xc[:, j], xc[:, k], rtol=1e-12, atol=0.0):
                raise ValueError(
                    f"design is rank deficient: regressors {j} and {k} are identical (after removing their means)"
                )
    s = np.linalg.svd(xc / scale, compute_uv=False)
    tol = s.max() * max(n_frames, n_reg) * np.finfo(np.float64).eps
    rank = int((s > tol).sum())
    if rank < n_reg:
        raise ValueError(
            f"design is rank deficient: {n_reg} regressors span only {rank} "
            "dimensions besides the intercept (collinear regressors, e.g. "
            "one is a linear combination of others)"
        )
