"""Circular-shift permutation null of the regression fit, exact and fast.

Calcium traces are autocorrelated (indicator decay, spontaneous transients,
drift), so the F-test of an OLS fit, which assumes independent noise, gives
p-values that are far too small. A null that keeps the trace's own
autocorrelation is obtained by circularly shifting the whole stimulus design
against the trace (a "cyclic shift" or "circular shift" permutation test):
under the null of no stimulus locking, the observed alignment is just one of
the n_frames possible alignments, and the fit statistic at every other
alignment is a draw from its null distribution.

Why this is cheap
-----------------
Shifting all design columns together leaves their means and Gram matrix
``XcᵀXc`` unchanged, so for every shift s only ``Xc_sᵀ y`` changes. With an
orthonormal basis ``Q`` of the centred design (``Xc = Q R``), the projection
of y on the shifted design is ``u(s) = Q_sᵀ y``, a circular cross-correlation
of y with each column of Q; for all shifts and all ROIs of a block it is
``irfft(rfft(y) * conj(rfft(q_j)))``: one forward FFT of the block and one
inverse FFT per design column. Then, for every shift,

- ``r2(s) = |u(s)|² / SStot`` (SStot does not depend on s), and
- the coefficients are ``R⁻¹ u(s)``, so any linear contrast of them (one
  coefficient, or the sum of a regressor's FIR lags) is ``wᵀ u(s)`` with
  ``w = R⁻ᵀ c``.

Shift 0 is the ordinary fit (equal to :func:`pipeline.regression.fit_ols` to
~1e-12). Shifts shorter than the response length (in either direction) are
excluded, because the shifted design still overlaps the real responses.

p-values
--------
The permutation p of r2 is ``(1 + #{s: r2(s) >= r2(0)}) / (1 + n_shifts)``.
Its resolution is 1/(n_shifts + 1), too coarse for a false-discovery control
over thousands of ROIs, so where fewer than ``tail_min_exceed`` null values
reach the observed one the p-value comes from a tail approximation fitted to
that ROI's null values: by default a generalised Pareto tail (as in
Knijnenburg et al. 2009, Bioinformatics 25:i161), alternatively a Beta
distribution fitted by moments to the null r2 (the exact null law of r2 for
white noise is a Beta). On null recordings the Beta tail proved
anti-conservative (heavy tails from spontaneous transients) and the GPD tail
calibrated (docs/method.md). Per-coefficient p-values are two-sided,
empirical likewise, with the same tail on |coefficient - null mean|.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft
from scipy import stats

from ._validation import check_positive_int, single_threaded_blas

__all__ = ["ShiftNullResult", "admissible_shifts", "shift_null", "roi_null_distribution", "orthonormal_design"]

#: Tail approximations of the permutation p-values.
TAILS = ("gpd", "beta", "none")
#: Fraction of the null values (at least 20) fitted by the GPD tail.
GPD_FRACTION = 0.1

# Values per block of the (ROI x shift x column) work arrays (~64 MB).
_BLOCK_VALUES = 8_000_000


def admissible_shifts(n_frames, min_shift, max_shifts=None):
    """Circular shifts excluded from nothing but the response's own reach.

    Parameters
    ----------
    n_frames : int
    min_shift : int
        Shifts ``s`` with ``s < min_shift`` or ``n_frames - s < min_shift``
        are excluded (the shifted design would still overlap the responses).
    max_shifts : int, optional
        Keep at most this many, evenly spaced over the admissible range
        (long recordings have more shifts than a null needs).

    Returns
    -------
    shifts : ndarray of int
        Ascending, in ``[min_shift, n_frames - min_shift]``.

    Raises
    ------
    ValueError
        If no shift is admissible (recording shorter than twice the response
        length).
    """
    n_frames = check_positive_int(n_frames, "n_frames", minimum=2)
    min_shift = check_positive_int(min_shift, "min_shift", minimum=1)
    shifts = np.arange(min_shift, n_frames - min_shift + 1, dtype=np.int64)
    if shifts.size == 0:
        raise ValueError(
            f"no admissible circular shift: {n_frames} frames but shifts "
            f"shorter than {min_shift} frames are excluded; the recording "
            "must be longer than twice the response length"
        )
    if max_shifts is not None:
        max_shifts = check_positive_int(max_shifts, "max_shifts")
        if shifts.size > max_shifts:
            pick = np.unique(np.round(np.linspace(0, shifts.size - 1, max_shifts)).astype(np.int64))
            shifts = shifts[pick]
    return shifts


def orthonormal_design(design):
    """Centre the design and factor it, ``Xc = Q R`` (thin QR).

    Returns ``(q, r, x_mean)``; the design must have full column rank (see
    :func:`pipeline.regression.fit_ols`).
    """
    x = np.asarray(design, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x_mean = x.mean(axis=0)
    with single_threaded_blas():
        q, r = np.linalg.qr(x - x_mean)
    return q, r, x_mean


@dataclass(eq=False)
class ShiftNullResult:
    """Per-ROI circular-shift null of an OLS fit.

    Attributes
    ----------
    r2 : ndarray (n_rois,)
        Observed r2 (shift 0).
    p_value : ndarray (n_rois,)
        Permutation p of r2, Beta tail where the null is too coarse.
    p_empirical : ndarray (n_rois,)
        ``(1 + n_exceed) / (1 + n_shifts)``.
    n_exceed : ndarray of int (n_rois,)
        Null r2 values >= the observed one.
    r2_null_mean, r2_null_sd : ndarray (n_rois,)
    contrast : ndarray (n_rois, n_contrasts)
        Observed contrasts of the coefficients (e.g. the coefficients).
    contrast_null_mean, contrast_null_sd : ndarray (n_rois, n_contrasts)
    contrast_z : ndarray (n_rois, n_contrasts)
        ``(contrast - null mean) / null sd``.
    contrast_p : ndarray (n_rois, n_contrasts)
        Two-sided permutation p of each contrast (normal tail of z where the
        null is too coarse).
    shifts : ndarray of int
        The shifts used.

    Rows that are not finite or constant are NaN (``n_exceed`` -1).
    """

    r2: np.ndarray
    p_value: np.ndarray
    p_empirical: np.ndarray
    n_exceed: np.ndarray
    r2_null_mean: np.ndarray
    r2_null_sd: np.ndarray
    contrast: np.ndarray
    contrast_null_mean: np.ndarray
    contrast_null_sd: np.ndarray
    contrast_z: np.ndarray
    contrast_p: np.ndarray
    shifts: np.ndarray

    @property
    def n_shifts(self) -> int:
        """Number of circular shifts in the null."""
        return int(self.shifts.size)


def _contrast_weights(r, contrasts, n_cols):
    """Weights w with contrast(s) = wᵀ u(s), u(s) = Q_sᵀ y."""
    c = np.eye(n_cols) if contrasts is None else np.asarray(contrasts, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != n_cols:
        raise ValueError(f"contrasts must be (n_contrasts, {n_cols}), got {c.shape}")
    # coef = R⁻¹ u, so cᵀ coef = (R⁻ᵀ c)ᵀ u.
    return np.linalg.solve(r.T, c.T).T  # (n_contrasts, n_cols)


class _Correlator:
    """Circular cross-correlations of traces with fixed columns, by FFT.

    ``u_j(s) = sum_t q_j[(t - s) mod n] y[t]``. When n has large prime
    factors its FFT is slow (e.g. 5x for n = 1724 = 4 x 431), so the
    correlation is then taken at a fast length L >= 2n against the columns
    repeated twice, which gives the same circular correlation without
    wrap-around: ``u_j(s) = c_L[(s - n) mod L]``.
    """

    def __init__(self, q, workers=-1, dtype=np.float64):
        n = q.shape[0]
        self.dtype = np.dtype(dtype)
        self.n = n
        self.workers = workers
        if sp_fft.next_fast_len(n, real=True) == n:
            self.length, self.offset = n, 0
            cols = q
        else:
            self.length = sp_fft.next_fast_len(2 * n, real=True)
            self.offset = n
            cols = np.concatenate([q, q], axis=0)
        self.spec = np.conj(sp_fft.rfft(cols, n=self.length, axis=0)).T
        self.spec = self.spec.astype(np.result_type(self.dtype, np.complex64))

    def index(self, shifts):
        """Positions of circular shifts in the correlation output."""
        return (np.asarray(shifts) - self.offset) % self.length

    def __call__(self, yc):
        """One array (rows x L) per column; pick shifts with :meth:`index`."""
        y_spec = sp_fft.rfft(np.asarray(yc, dtype=self.dtype), n=self.length, axis=1, workers=self.workers)
        for qj in self.spec:
            yield sp_fft.irfft(y_spec * qj, n=self.length, axis=1, workers=self.workers)


def shift_null(
    design,
    y,
    shifts,
    *,
    contrasts=None,
    tail_min_exceed=10,
    tail="gpd",
    precision="single",
    block_size=None,
    workers=-1,
):
    """Circular-shift null of the OLS fit of every ROI.

    Parameters
    ----------
    design : array-like (n_frames, n_cols)
        Regressors as columns, no intercept (full column rank).
    y : array-like (n_rois, n_frames)
        Traces; rows with NaN/inf or zero variance give NaN results.
    shifts : array-like of int
        Admissible shifts (see :func:`admissible_shifts`), each in
        ``[1, n_frames - 1]``.
    contrasts : array-like (n_contrasts, n_cols), optional
        Linear contrasts of the coefficients to test (default: each
        coefficient).
    tail_min_exceed : int, default 10
        Below this many null values at or above the observed r2 (or |z|),
        the tail approximation gives the p-value.
    tail : {"gpd", "beta", "none"}, default "gpd"
        Tail approximation: a generalised Pareto tail fitted to the ROI's
        largest null values (r2, and |coefficient - null mean|), a Beta
        fitted by moments to the null r2 (normal tail for coefficients), or
        none (empirical p-values only). The p-value is the smaller of the
        empirical and the tail value.
    precision : {"single", "double"}, default "single"
        Float type of the null values (the FFTs and everything computed
        from them). Observed statistics are always double precision (equal
        to :func:`pipeline.regression.fit_ols`). Single precision halves
        the cost; null values then carry ~1e-6 relative error, far below
        the spread of any null distribution.
    block_size : int, optional
        ROIs per block (default: ~8e6 work values per block).
    workers : int, default -1
        -1: two blocks of ROIs processed at once (on machines with more
        than one core); otherwise the number of FFT threads for one block
        at a time.

    Returns
    -------
    ShiftNullResult
    """
    if tail not in TAILS:
        raise ValueError(f"tail must be one of {TAILS}, got {tail!r}")
    if precision not in ("single", "double"):
        raise ValueError(f"precision must be 'single' or 'double', got {precision!r}")
    dtype = np.float32 if precision == "single" else np.float64
    y = np.asarray(y)
    if y.ndim == 1:
        y = y[None, :]
    q, r, _ = orthonormal_design(design)
    n, n_cols = q.shape
    if y.ndim != 2 or y.shape[1] != n:
        raise ValueError(f"y must be (n_rois, {n}) to match the design, got {y.shape}")
    shifts = np.asarray(shifts, dtype=np.int64)
    if shifts.ndim != 1 or shifts.size == 0 or shifts.min() < 1 or shifts.max() > n - 1:
        raise ValueError(f"shifts must be a non-empty 1-D array in [1, {n - 1}]")
    w = _contrast_weights(r, contrasts, n_cols)
    n_con = w.shape[0]
    corr = _Correlator(q, workers, dtype)
    at_null = corr.index(shifts)
    n_rois = y.shape[0]
    n_sh = shifts.size

    out = {k: np.full(n_rois, np.nan) for k in ("r2", "p_value", "p_empirical", "r2_null_mean", "r2_null_sd")}
    n_exceed = np.full(n_rois, -1, dtype=np.int64)
    con = {k: np.full((n_rois, n_con), np.nan) for k in ("contrast", "mean", "sd", "z", "p")}

    # Two blocks in flight (one per core): the FFTs and the many passes
    # over each block's null values release the GIL.
    n_threads = 2 if workers == -1 and (os.cpu_count() or 1) > 1 else 1
    if n_threads > 1:
        corr.workers = 1
    per_roi = 3 * corr.length + n_sh * (n_cols + n_con + 2)
    step = block_size or max(1, _BLOCK_VALUES // (n_threads * per_roi))
    w_low = w.astype(dtype)

    def one_block(start):
        stop = min(start + step, n_rois)
        yb = np.array(y[start:stop], dtype=np.float64, copy=True)
        finite = np.isfinite(yb).all(axis=1)
        yb[~finite] = 0.0
        rows = np.flatnonzero(finite & (yb.max(axis=1) > yb.min(axis=1)))
        if rows.size == 0:
            return
        yb = yb[rows]
        yb -= yb.mean(axis=1, keepdims=True)
        ss_tot = np.einsum("ij,ij->i", yb, yb)
        # u(s) = Q_sᵀ y per column: observed (shift 0, double precision) and
        # null shifts (FFT).
        u_obs = yb @ q
        u_null = np.empty((n_cols, rows.size, n_sh), dtype=dtype)
        for j, cj in enumerate(corr(yb)):
            u_null[j] = cj[:, at_null]
            del cj
        del yb
        r2_obs = np.einsum("ij,ij->i", u_obs, u_obs) / ss_tot
        r2_null = np.einsum("jrs,jrs->rs", u_null, u_null)
        r2_null /= ss_tot[:, None]
        idx = start + rows
        _r2_pvalues(r2_obs, r2_null, tail, tail_min_exceed, out, n_exceed, idx)
        del r2_null
        c_obs = u_obs @ w.T
        c_null = (w_low @ u_null.reshape(n_cols, -1)).reshape(n_con, rows.size, n_sh)
        del u_null
        for k in range(n_con):
            _contrast_pvalues(c_obs[:, k], c_null[k], tail, tail_min_exceed, con, idx, k)

    # The products here are small; threaded BLAS only adds overhead.
    with single_threaded_blas():
        starts = range(0, n_rois, step)
        if n_threads == 1:
            for start in starts:
                one_block(start)
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                for _ in pool.map(one_block, starts):
                    pass  # results land in out / con; re-raises errors

    return ShiftNullResult(
        r2=out["r2"],
        p_value=out["p_value"],
        p_empirical=out["p_empirical"],
        n_exceed=n_exceed,
        r2_null_mean=out["r2_null_mean"],
        r2_null_sd=out["r2_null_sd"],
        contrast=con["contrast"],
        contrast_null_mean=con["mean"],
        contrast_null_sd=con["sd"],
        contrast_z=con["z"],
        contrast_p=con["p"],
        shifts=shifts,
    )


def _r2_pvalues(r2_obs, r2_null, tail, min_exceed, out, n_exceed, idx):
    n_sh = r2_null.shape[1]
    # A relative tolerance keeps shift 0 and an identical shifted fit tied.
    tol = 1e-12 * np.maximum(r2_obs, 1e-300)
    exceed = (r2_null >= (r2_obs - tol)[:, None]).sum(axis=1)
    p_emp = (1.0 + exceed) / (1.0 + n_sh)
    mean = r2_null.mean(axis=1)
    var = r2_null.var(axis=1)
    p = p_emp.copy()
    few = exceed < min_exceed
    if tail == "beta":
        p[few] = np.minimum(p_emp[few], _beta_sf(r2_obs[few], mean[few], var[few]))
    elif tail == "gpd" and few.any():
        p[few] = _gpd_sf(r2_obs[few], r2_null[few])
    out["r2"][idx] = r2_obs
    out["p_empirical"][idx] = p_emp
    out["p_value"][idx] = p
    out["r2_null_mean"][idx] = mean
    out["r2_null_sd"][idx] = np.sqrt(var)
    n_exceed[idx] = exceed


def _beta_sf(x, mean, var):
    """Upper tail at x of the Beta distribution with this mean and variance.

    Where no Beta has these moments (var >= mean (1 - mean)) or they are
    degenerate, returns 1 so that the empirical p-value is kept.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        common = mean * (1.0 - mean) / var - 1.0
        a = mean * common
        b = (1.0 - mean) * common
        good = np.isfinite(common) & (common > 0) & (a > 0) & (b > 0)
    p = np.ones_like(x)
    if good.any():
        p[good] = stats.beta.sf(x[good], a[good], b[good])
    return p


def _gpd_sf(x, null):
    """Upper-tail probability of x from a generalised Pareto tail of ``null``.

    Per row, the top ``max(20, GPD_FRACTION * n_shifts)`` null values are
    fitted by probability-weighted moments (Hosking & Wallis 1987, closed
    form, so vectorised over ROIs); the tail probability is the fraction of
    values in the tail times the GPD survival function. The shape is capped
    at an exponential tail (Hosking's k <= 0): a fitted bounded tail puts
    zero probability just above the largest null value and was
    anti-conservative on null recordings (see docs/method.md).
    """
    n_s = null.shape[1]
    n_t = min(max(20, int(GPD_FRACTION * n_s)), n_s - 1)
    part = np.partition(null, n_s - n_t - 1, axis=1)
    u = part[:, n_s - n_t - 1]
    exc = np.sort(part[:, n_s - n_t :], axis=1) - u[:, None]
    # weights (n - j) / (n - 1) for ascending order statistics j = 1..n
    wts = (n_t - 1 - np.arange(n_t)) / (n_t - 1)
    a0 = exc.mean(axis=1)
    a1 = (exc * wts).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = np.minimum(a0 / (a0 - 2 * a1) - 2, 0.0)
        sigma = 2 * a0 * a1 / (a0 - 2 * a1)
        e = np.maximum(x - u, 0.0)
        expo = np.abs(k) < 1e-9
        sf = np.where(expo, np.exp(-e / sigma), (1 - k * e / sigma) ** (1 / np.where(expo, 1.0, k)))
        p = n_t / n_s * sf
    p[~np.isfinite(p) | ~(sigma > 0)] = 1.0
    return p


def _contrast_pvalues(c_obs, c_null, tail, min_exceed, con, idx, k):
    """Two-sided p of one contrast per ROI; c_null is (rows, shifts)."""
    n_sh = c_null.shape[1]
    mean = c_null.mean(axis=1)
    c_null -= mean[:, None]  # in place: deviations from the null mean
    np.abs(c_null, out=c_null)
    sd = np.sqrt(np.einsum("rs,rs->r", c_null, c_null) / n_sh)
    dev = np.abs(c_obs - mean)
    tol = 1e-12 * np.maximum(dev, 1e-300)
    exceed = (c_null >= (dev - tol)[:, None]).sum(axis=1)
    p = (1.0 + exceed) / (1.0 + n_sh)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (c_obs - mean) / sd
    few = exceed < min_exceed
    if few.any():
        if tail == "beta":  # the coefficients' tail is normal, not Beta
            p[few] = np.minimum(p[few], 2.0 * stats.norm.sf(np.abs(z[few])))
        elif tail == "gpd":
            p[few] = _gpd_sf(dev[few], c_null[few])
    con["contrast"][idx, k] = c_obs
    con["mean"][idx, k] = mean
    con["sd"][idx, k] = sd
    con["z"][idx, k] = z
    con["p"][idx, k] = p


def roi_null_distribution(design, y, shifts=None, *, contrasts=None):
    """The shift-null of ONE ROI: r2 and contrasts at every shift.

    For figures ("null distribution of an example ROI").

    Parameters
    ----------
    design : array-like (n_frames, n_cols)
    y : array-like (n_frames,)
    shifts : array-like of int, optional
        Default: all shifts 0..n_frames-1.
    contrasts : array-like (n_contrasts, n_cols), optional

    Returns
    -------
    dict with ``shifts``, ``r2`` (per shift), ``contrast`` (per shift x
    contrast) and ``r2_observed`` (shift 0).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y must be one ROI's trace (1-D), got {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    q, r, _ = orthonormal_design(design)
    n, n_cols = q.shape
    if y.size != n:
        raise ValueError(f"y has {y.size} frames, the design {n}")
    shifts = np.arange(n) if shifts is None else np.asarray(shifts, dtype=np.int64) % n
    yc = (y - y.mean())[None, :]
    ss_tot = float(np.dot(yc[0], yc[0]))
    if ss_tot == 0:
        raise ValueError("y is constant: r2 is undefined")
    corr = _Correlator(q, workers=1)
    at = corr.index(np.arange(n))
    u = np.stack([cj[0, at] for cj in corr(yc)], axis=1)  # (n, n_cols)
    w = _contrast_weights(r, contrasts, n_cols)
    r2 = np.einsum("sj,sj->s", u, u) / ss_tot
    return dict(shifts=shifts, r2=r2[shifts], contrast=(u @ w.T)[shifts], r2_observed=float(r2[0]))
