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
    for rise, decay, delay in itertools.product(
            tau_rise_grid_s, tau_decay_grid_s, delay_grid_s):
        if rise and not rise < decay:
            continue  # a rise slower than the decay is no kernel
        points.append((float(rise), float(decay), float(delay)))
    if not points:
        raise ValueError(
            "the kernel grid is empty (every tau_rise_s >= tau_decay_s)")
    return points


def kernel_objective(dff, trains, frame_period_s, kernels, *,
                     block_size=None):
    """J = sum_ROI (r2 - shift-null mean r2) for each candidate kernel.

    Parameters
    ----------
    dff : array-like (n_rois, n_frames)
        Rows with NaN/inf or zero variance are ignored.
    trains : array-like (n_reg, n_frames)
        0/1 stimulus trains (onset or boxcar).
    frame_period_s : float
    kernels : list of 1-D arrays
        Candidate kernels.
    block_size : int, optional
        ROIs per block.

    Returns
    -------
    objective : ndarray (n_kernels,)
    r2_sum, null_sum : ndarray (n_kernels,)
        The two sums whose difference is the objective.
    n_rois : int
        ROIs used.
    """
    dff = np.asarray(dff)
    n_frames = dff.shape[1]
    weights = _rfft_weights(n_frames)
    bases, spectra = [], []
    with single_threaded_blas():
        for kernel in kernels:
            design = convolve_trains(trains, kernel).T
            design = design - design.mean(axis=0)
            q, _ = np.linalg.qr(design)
            bases.append(q)
            spec = np.abs(sp_fft.rfft(q, axis=0)) ** 2
            spectra.append(spec.sum(axis=1) * weights)
    q_all = np.concatenate(bases, axis=1)  # n_frames x sum(n_cols)
    ends = np.cumsum([q.shape[1] for q in bases])
    p_all = np.stack(spectra, axis=1) / n_frames ** 2  # n_freq x n_kernels

    r2_sum = np.zeros(len(kernels))
    null_sum = np.zeros(len(kernels))
    used = 0
    step = block_size or block_rows(n_frames + q_all.shape[1])
    for start in range(0, dff.shape[0], step):
        yb = np.array(dff[start:start + step], dtype=np.float64, copy=True)
        ok = np.isfinite(yb).all(axis=1)
        yb = yb[ok]
        yb -= yb.mean(axis=1, keepdims=True)
        ss_tot = np.einsum("ij,ij->i", yb, yb)
        nz = ss_tot > 0
        yb, ss_tot = yb[nz], ss_tot[nz]
        if not yb.shape[0]:
            continue
        used += yb.shape[0]
        proj = (yb @ q_all) ** 2
        cum = np.cumsum(proj, axis=1)[:, ends - 1]
        per_kernel = np.diff(cum, axis=1, prepend=0.0)
        r2_sum += (per_kernel / ss_tot[:, None]).sum(axis=0)
        power = np.abs(sp_fft.rfft(yb, axis=1, workers=-1)) ** 2
        null_sum += ((power @ p_all) / ss_tot[:, None]).sum(axis=0)
    return r2_sum - null_sum, r2_sum, null_sum, used


def choose_kernel(dff, trains, frame_period_s, *, tau_decay_grid_s,
                  delay_grid_s, tau_rise_grid_s=(0.0,), block_size=None):
    """The grid kernel maximising :func:`kernel_objective`.

    Parameters
    ----------
    dff : array-like (n_rois, n_frames)
    trains : array-like (n_reg, n_frames)
    frame_period_s : float
    tau_decay_grid_s, delay_grid_s : sequence of float
    tau_rise_grid_s : sequence of float, default (0.0,)
        0 means a single exponential.

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
    kernels = [make_kernel(frame_period_s, decay, rise or None,
                           delay_s=delay)
               for rise, decay, delay in points]
    objective, r2_sum, null_sum, used = kernel_objective(
        dff, trains, frame_period_s, kernels, block_size=block_size)
    if used == 0:
        raise ValueError(
            "cannot fit the kernel: no ROI has a finite, non-constant trace")
    best = int(np.argmax(objective))
    rise, decay, delay = points[best]
    return dict(
        tau_decay_s=decay, tau_rise_s=rise or None, delay_s=delay,
        objective=float(objective[best]), n_rois=int(used),
        grid=dict(tau_decay_s=[p[1] for p in points],
                  tau_rise_s=[p[0] for p in points],
                  delay_s=[p[2] for p in points],
                  objective=objective.tolist(), r2_sum=r2_sum.tolist(),
                  null_sum=null_sum.tolist()))
