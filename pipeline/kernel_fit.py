"""Choose the response kernel of a recording from its data.

Why not the sensor's published kernel: those are single-action-potential
kinetics (GCaMP6s: tau ~0.8 s), while stimulus-evoked tectal responses are
bursts whose fluorescence decays with ~2-2.5 s. And why not "the kernel with
the largest summed r2": on autocorrelated traces a slower (smoother)
regressor captures more of the slow noise, so raw r2 grows with tau even on
pure noise.

Objective
---------
For every candidate kernel (grid of decay, onset delay and optional rise)
the design is built and, for every ROI, the observed r2 is compared with
that ROI's mean r2 over all circular shifts of the design (the shift null's
mean, see :mod:`pipeline.shift_null`):

    J(kernel) = sum over ROIs of (r2 - mean over shifts of r2)

Noise alone gives E[J] ~ 0 whatever the kernel, so J measures the variance
locked to the stimuli that the kernel explains beyond what its smoothness
buys on noise.

The mean over shifts has a closed form (Parseval): with ``Xc = Q R``,
``sum_s |Q_sᵀ y|² = (1/n) sum_f |Y(f)|² sum_j |Q_j(f)|²``, so

    mean_s r2(s) = (|Y|² · P_Q) / (n² SStot),   P_Q(f) = sum_j |Q_j(f)|²

and every grid point costs one matrix product of the traces with its Q (the
observed r2 of all ROIs) plus one product of the ROIs' power spectra with
P_Q; the power spectra are computed once. (The mean is over all n shifts,
including the few near zero that the permutation test excludes; this is a
small, kernel-independent share for noise ROIs.)
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import fft as sp_fft

from ._validation import block_rows, single_threaded_blas
from .kernels import make_kernel
from .regressors import convolve_trains

__all__ = ["choose_kernel", "kernel_objective"]


def _rfft_weights(n):
    """Multiplicity of each rfft bin in the full spectrum."""
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w


def _grid(tau_decay_grid_s, delay_grid_s, tau_rise_grid_s):
    points = []
    for rise, decay, delay in itertools.product(tau_rise_grid_s, tau_decay_grid_s, delay_grid_s):
        if rise and not rise < decay:
            continue  # a rise slower than the decay is no kernel
        points.append((float(rise), float(decay), float(delay)))
    if not points:
        raise ValueError("the kernel grid is empty (every tau_rise_s >= tau_decay_s)")
    return points


def kernel_objective(dff, trains, frame_period_s, kernels, *, objective="z", block_size=None):
    """Shift-null-corrected evidence of each candidate kernel.

    Parameters
    ----------
    dff : array-like (n_rois, n_frames)
        Rows with NaN/inf or zero variance are ignored.
    trains : array-like (n_reg, n_frames)
        0/1 stimulus trains (onset or boxcar).
    frame_period_s : float
    kernels : list of 1-D arrays
        Candidate kernels.
    objective : {"z", "r2"}, default "z"
        "r2": sum over ROIs of ``r2 - mean over shifts of r2``. "z": sum
        over ROIs of that difference divided by the sd of r2 over shifts
        (Gaussian approximation ``sqrt(2 tr(M²)) / SStot``, M the
        shift-averaged covariance of the projections): the evidence a ROI
        gives against the shift null, which is what detection needs.
    block_size : int, optional
        ROIs per block.

    Returns
    -------
    objective : ndarray (n_kernels,)
    r2_sum, null_sum : ndarray (n_kernels,)
        Sum over ROIs of r2 and of its shift-null mean.
    n_rois : int
        ROIs used.
    """
    if objective not in ("z", "r2"):
        raise ValueError(f"objective must be 'z' or 'r2', got {objective!r}")
    dff = np.asarray(dff)
    n_frames = dff.shape[1]
    weights = _rfft_weights(n_frames) / n_frames**2
    bases, cross = [], []
    with single_threaded_blas():
        for kernel in kernels:
            design = convolve_trains(trains, kernel).T
            design = design - design.mean(axis=0)
            q, _ = np.linalg.qr(design)
            bases.append(q)
            spec = sp_fft.rfft(q, axis=0)  # n_freq x p
            # Shift-averaged u uᵀ = sum_f |Y(f)|² Re(conj(Q_j) Q_k) w_f:
            # one column per (j, k) pair, j <= k.
            j, k = np.triu_indices(q.shape[1])
            cross.append((spec[:, j].conj() * spec[:, k]).real * weights[:, None])
    n_cols = [q.shape[1] for q in bases]
    q_all = np.concatenate(bases, axis=1)  # n_frames x sum(n_cols)
    ends = np.cumsum(n_cols)
    k_all = np.concatenate(cross, axis=1)  # n_freq x sum(pairs)
    pair_ends = np.cumsum([c.shape[1] for c in cross])

    r2_sum = np.zeros(len(kernels))
    null_sum = np.zeros(len(kernels))
    obj = np.zeros(len(kernels))
    used = 0
    step = block_size or block_rows(n_frames + q_all.shape[1] + k_all.shape[1])
    for start in range(0, dff.shape[0], step):
        yb = np.array(dff[start : start + step], dtype=np.float64, copy=True)
        yb = yb[np.isfinite(yb).all(axis=1)]
        yb -= yb.mean(axis=1, keepdims=True)
        ss_tot = np.einsum("ij,ij->i", yb, yb)
        nz = ss_tot > 0
        yb, ss_tot = yb[nz], ss_tot[nz]
        if not yb.shape[0]:
            continue
        used += yb.shape[0]
        proj = (yb @ q_all) ** 2
        power = np.abs(sp_fft.rfft(yb, axis=1, workers=-1)) ** 2
        m_all = power @ k_all  # rows x sum(pairs)
        del yb, power
        for g, (p, q_end, c_end) in enumerate(zip(n_cols, ends, pair_ends)):
            obs = proj[:, q_end - p : q_end].sum(axis=1)
            m = m_all[:, c_end - p * (p + 1) // 2 : c_end]
            j, k = np.triu_indices(p)
            diag = j == k
            trace = m[:, diag].sum(axis=1)
            # tr(M²) = sum of squares of all entries (off-diagonal twice)
            tr_m2 = (m[:, diag] ** 2).sum(axis=1) + 2 * (m[:, ~diag] ** 2).sum(axis=1)
            r2_sum[g] += (obs / ss_tot).sum()
            null_sum[g] += (trace / ss_tot).sum()
            if objective == "z":
                with np.errstate(divide="ignore", invalid="ignore"):
                    z = (obs - trace) / np.sqrt(2 * tr_m2)
                obj[g] += np.nansum(z)
    if objective == "r2":
        obj = r2_sum - null_sum
    return obj, r2_sum, null_sum, used


def choose_kernel(
    dff,
    trains,
    frame_period_s,
    *,
    tau_decay_grid_s,
    delay_grid_s,
    tau_rise_grid_s=(0.0,),
    objective="z",
    max_rois=None,
    block_size=None,
):
    """The grid kernel maximising :func:`kernel_objective`.

    Parameters
    ----------
    dff : array-like (n_rois, n_frames)
    trains : array-like (n_reg, n_frames)
    frame_period_s : float
    tau_decay_grid_s, delay_grid_s : sequence of float
    tau_rise_grid_s : sequence of float, default (0.0,)
        0 means a single exponential.
    objective : {"z", "r2"}, default "z"
        See :func:`kernel_objective`.
    max_rois : int, optional
        Use at most this many ROIs (evenly spaced rows): the kernel is a
        property of the recording, and this bounds the cost.

    Returns
    -------
    dict (JSON-able)
        ``tau_decay_s``, ``tau_rise_s`` (None for a single exponential),
        ``delay_s``, ``objective`` (the best value), ``n_rois`` (ROIs used)
        and ``grid``: lists ``tau_decay_s``, ``tau_rise_s``, ``delay_s``,
        ``objective``, ``r2_sum``, ``null_sum`` (one entry per grid point).

    Raises
    ------
    ValueError
        If no ROI has a finite, non-constant trace.
    """
    points = _grid(tau_decay_grid_s, delay_grid_s, tau_rise_grid_s)
    kernels = [make_kernel(frame_period_s, decay, rise or None, delay_s=delay) for rise, decay, delay in points]
    dff = np.asarray(dff)
    if max_rois is not None and dff.shape[0] > max_rois:
        dff = dff[np.linspace(0, dff.shape[0] - 1, max_rois).astype(int)]
    values, r2_sum, null_sum, used = kernel_objective(
        dff, trains, frame_period_s, kernels, objective=objective, block_size=block_size
    )
    if used == 0:
        raise ValueError("cannot fit the kernel: no ROI has a finite, non-constant trace")
    best = int(np.argmax(values))
    rise, decay, delay = points[best]
    return dict(
        tau_decay_s=decay,
        tau_rise_s=rise or None,
        delay_s=delay,
        objective_name=objective,
        objective=float(values[best]),
        n_rois=int(used),
        grid=dict(
            tau_decay_s=[p[1] for p in points],
            tau_rise_s=[p[0] for p in points],
            delay_s=[p[2] for p in points],
            objective=values.tolist(),
            r2_sum=r2_sum.tolist(),
            null_sum=null_sum.tolist(),
        ),
    )
