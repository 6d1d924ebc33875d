"""Fluorescence to dF/F conversion.

All functions take ROI x frame arrays (rows are ROIs) and are vectorised over
ROIs; large recordings are processed in blocks of ROIs (or of frames for the
``"seed2020"`` method) so that memory stays bounded.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._validation import as_2d_array, block_rows, check_positive_float, first_nonfinite_row
from .params import REGISTRY

__all__ = ["BaselineError", "DFF_METHODS", "compute_dff", "EXCLUSION_REASONS"]

#: Why a ROI is excluded by ``compute_dff(..., exclude=True)``.
EXCLUSION_REASONS = ("non-finite values", "baseline <= 0", "non-finite baseline", "zero variance")

DFF_METHODS = ("percentile", "sliding_percentile", "none", "seed2020")

# The notebook ("seed2020") always used the 5th percentile.
_SEED2020_PERCENTILE = 5.0


class BaselineError(ValueError):
    """A baseline F0 is not strictly positive (or not finite).

    dF/F = (F - F0) / F0 is meaningless for F0 <= 0: the sign flips and the
    ratio explodes, so such ROIs must be fixed upstream (e.g. by a smaller
    neuropil factor or a background offset) rather than silently kept.

    Attributes
    ----------
    roi : object or None
        Id of the offending ROI (``roi_ids[i]`` if ids were given, else the
        row index ``i``). None for the ``"seed2020"`` method, whose baseline is
        per frame rather than per ROI.
    value : float
        The offending baseline value.
    frame : int or None
        Frame index of the offending baseline when the baseline varies over
        time (``"sliding_percentile"`` and ``"seed2020"``), else None.
    """

    def __init__(self, message, *, roi=None, value=float("nan"), frame=None):
        super().__init__(message)
        self.roi = roi
        self.value = value
        self.frame = frame


def compute_dff(
    traces,
    method="percentile",
    *,
    frame_period_s=None,
    percentile=None,
    window_s=None,
    neuropil=None,
    neuropil_factor=None,
    roi_ids=None,
    exclude=False,
):
    """Convert raw fluorescence traces to dF/F = (F - F0) / F0.

    Parameters
    ----------
    traces : array-like of shape (n_rois, n_frames)
        Raw fluorescence (any real dtype; float32 is fine). For
        ``method="none"`` the traces are already dF/F.
    method : {"percentile", "sliding_percentile", "none", "seed2020"}
        How the baseline F0 is estimated:

        - ``"percentile"``: one baseline per ROI, the ``percentile``-th
          percentile of that ROI's trace over time
          (``np.percentile(F, percentile, axis=1)``).
        - ``"sliding_percentile"``: a running baseline per ROI, the
          ``percentile``-th rank statistic over a centred window of
          ``round(window_s / frame_period_s)`` frames (made odd, clipped to the
          recording), with edge values repeated at both ends. This follows
          slow drift and bleaching. Requires ``frame_period_s``.
        - ``"none"``: the input is already dF/F; a float64 copy is returned
          (``neuropil`` is ignored).
        - ``"seed2020"``: the formula of the original 2020 notebook, kept
          **only to reproduce the published numbers**:
          ``F0 = np.percentile(F, 5, axis=0)``, i.e. for every *frame* the
          5th percentile *across ROIs*. This is wrong: F0 is not a property
          of each ROI but of the population at each instant, so a ROI's
          dF/F depends on which other ROIs were segmented, bright ROIs get
          huge positive dF/F and dim ones negative dF/F regardless of their
          activity, and population-wide events (e.g. a dimming stimulus
          that drives many cells) are divided out of every trace.
          ``percentile`` is ignored (always 5).
    frame_period_s : float, optional
        Time between frames in seconds; required for
        ``"sliding_percentile"``.
    percentile : float, optional
        Percentile (0-100) of the baseline for ``"percentile"`` and
        ``"sliding_percentile"``. None: the registry default
        (:mod:`pipeline.params`, 8).
    window_s : float, optional
        Length of the sliding window in seconds (``"sliding_percentile"``).
        None: the registry default (60 s).
    neuropil : array-like of shape (n_rois, n_frames), optional
        Neuropil fluorescence around each ROI. When given and
        ``neuropil_factor > 0``, ``F = traces - neuropil_factor * neuropil``
        is used instead of ``traces`` (all methods except ``"none"``).
    neuropil_factor : float, optional
        Neuropil contamination ratio. None: the registry default (0.7, the
        usual value for two-photon somatic ROIs).
    roi_ids : sequence, optional
        One id per ROI, used only to name ROIs in error messages.
    exclude : bool, default False
        Instead of raising for a ROI whose trace (or neuropil) is not finite
        or whose baseline is <= 0 or not finite, give it a NaN row; also
        NaN rows for zero-variance ROIs. Returns ``(dff, excluded)`` then,
        ``excluded`` holding per ROI None or the reason (one of
        :data:`EXCLUSION_REASONS`). A ``"seed2020"`` baseline is per frame,
        so a bad one still raises (non-finite ROIs are left out of it).

    Returns
    -------
    dff : ndarray of shape (n_rois, n_frames), float64
        (or ``(dff, excluded)`` with ``exclude=True``)

    Raises
    ------
    ValueError
        On bad shapes, unknown method or parameters, or NaN/inf values (the
        message names the first offending ROI).
    BaselineError
        If a baseline is <= 0 or not finite (names the ROI, or the frame for
        ``"seed2020"``, and the value).
    """
    if method not in DFF_METHODS:
        raise ValueError(f"unknown dF/F method {method!r}; expected one of {DFF_METHODS}")
    # Defaults live in the parameter registry only.
    spec = REGISTRY["dff"]["sliding_percentile"]
    if percentile is None:
        percentile = spec.param("percentile").default
    if window_s is None:
        window_s = spec.param("window_s").default
    if neuropil_factor is None:
        neuropil_factor = spec.param("neuropil_factor").default
    traces = as_2d_array(traces, "traces")
    n_rois, n_frames = traces.shape
    if roi_ids is not None:
        # plain Python values, so messages read "ROI 7", not "ROI np.int64(7)"
        roi_ids = [v.item() if isinstance(v, np.generic) else v for v in roi_ids]
        if len(roi_ids) != n_rois:
            raise ValueError(f"roi_ids has {len(roi_ids)} entries but traces has {n_rois} ROIs")

    def roi_name(i):
        return roi_ids[i] if roi_ids is not None else i

    reasons = [None] * n_rois
    if exclude:
        for row in _nonfinite_rows(traces):
            reasons[row] = "non-finite values"
    else:
        bad = first_nonfinite_row(traces)
        if bad is not None:
            raise ValueError(f"traces of ROI {roi_name(bad)!r} (row {bad}) contain NaN or infinite values")

    if method == "none":
        out = np.array(traces, dtype=np.float64, copy=True)
        return _finish(out, reasons) if exclude else out

    if neuropil is not None:
        neuropil = as_2d_array(neuropil, "neuropil")
        if neuropil.shape != traces.shape:
            raise ValueError(f"neuropil shape {neuropil.shape} does not match traces shape {traces.shape}")
        if exclude:
            for row in _nonfinite_rows(neuropil):
                reasons[row] = reasons[row] or "non-finite values"
        else:
            bad = first_nonfinite_row(neuropil)
            if bad is not None:
                raise ValueError(f"neuropil of ROI {roi_name(bad)!r} (row {bad}) contains NaN or infinite values")
    neuropil_factor = check_positive_float(neuropil_factor, "neuropil_factor", allow_zero=True)
    if neuropil_factor == 0:
        neuropil = None

    if method != "seed2020":
        percentile = float(percentile)
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be within [0, 100], got {percentile}")
    window = None
    if method == "sliding_percentile":
        if frame_period_s is None:
            raise ValueError("method 'sliding_percentile' needs frame_period_s to convert window_s to frames")
        frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
        window_s = check_positive_float(window_s, "window_s")
        window = _window_frames(window_s, frame_period_s, n_frames)

    out = np.empty((n_rois, n_frames), dtype=np.float64)
    if n_rois == 0 or n_frames == 0:
        return (out, reasons) if exclude else out

    if method == "seed2020":
        if exclude and any(reasons):
            ok = np.array([r is None for r in reasons])
            out[~ok] = np.nan
            sub = np.empty((int(ok.sum()), n_frames))
            _seed2020_dff(traces[ok], None if neuropil is None else neuropil[ok], neuropil_factor, sub)
            out[ok] = sub
        else:
            _seed2020_dff(traces, neuropil, neuropil_factor, out)
        return _finish(out, reasons) if exclude else out

    step = block_rows(n_frames)
    for start in range(0, n_rois, step):
        stop = min(start + step, n_rois)
        f = _corrected_block(traces, neuropil, neuropil_factor, np.s_[start:stop])
        if method == "percentile":
            f0 = np.percentile(f, percentile, axis=1)[:, None]
        else:
            f0 = _sliding_percentile(f, percentile, window)
        if exclude:
            _exclude_baseline(f0, start, reasons)
        else:
            _check_baseline(f0, start, roi_name)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.subtract(f, f0, out=out[start:stop])
            out[start:stop] /= f0
    return _finish(out, reasons) if exclude else out


def _nonfinite_rows(x):
    """Rows of x holding NaN/inf (blockwise)."""
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        return []
    rows = []
    step = block_rows(x.shape[1])
    for start in range(0, x.shape[0], step):
        bad = ~np.isfinite(x[start : start + step]).all(axis=1)
        rows.extend((start + np.flatnonzero(bad)).tolist())
    return rows


def _exclude_baseline(f0, row_offset, reasons):
    """Record (do not raise) ROIs whose baseline is not finite or <= 0."""
    finite = np.isfinite(f0).all(axis=1)
    positive = (np.where(np.isfinite(f0), f0, 1.0) > 0).all(axis=1)
    for row in np.flatnonzero(~finite | ~positive):
        i = row_offset + int(row)
        reasons[i] = reasons[i] or ("non-finite baseline" if not finite[row] else "baseline <= 0")


def _finish(out, reasons):
    """NaN rows for excluded ROIs; zero-variance ROIs excluded too."""
    step = block_rows(out.shape[1])
    for start in range(0, out.shape[0], step):
        block = out[start : start + step]
        with np.errstate(invalid="ignore"):
            flat = ~(np.nanmax(block, axis=1, initial=-np.inf) > np.nanmin(block, axis=1, initial=np.inf))
        for row in np.flatnonzero(flat):
            i = start + int(row)
            reasons[i] = reasons[i] or "zero variance"
    bad = [i for i, r in enumerate(reasons) if r is not None]
    out[bad] = np.nan
    return out, reasons


def _window_frames(window_s, frame_period_s, n_frames):
    """Odd number of frames of the sliding window, clipped to the recording."""
    window = max(1, int(round(window_s / frame_period_s)))
    if window % 2 == 0:
        window += 1
    if window > n_frames:
        # Keep the window odd so that it stays centred.
        window = n_frames if n_frames % 2 else n_frames - 1
    return max(window, 1)


def _corrected_block(traces, neuropil, factor, index):
    """float64 copy of a block of traces with neuropil subtracted."""
    f = np.array(traces[index], dtype=np.float64, copy=True)
    if neuropil is not None:
        f -= factor * np.asarray(neuropil[index], dtype=np.float64)
    return f


def _sliding_percentile(f, percentile, window):
    """Compute a running percentile along axis 1.

    The same as ``ndimage.percentile_filter(f, p, size=(1, window), mode="nearest")``.

    scipy's fast (heap-based) rank filter only runs on 1-D input; its N-D
    path is ~20x slower. Each row is therefore padded with its edge values
    (which is what mode "nearest" does) and all rows are filtered as one
    concatenated 1-D signal: a centred window never leaves its own padded row.
    """
    half = window // 2
    if window == 1:
        return f.copy()
    padded = np.pad(f, ((0, 0), (half, half)), mode="edge")
    filtered = ndimage.percentile_filter(padded.ravel(), percentile, size=window, mode="nearest")
    return filtered.reshape(padded.shape)[:, half : half + f.shape[1]]


def _check_baseline(f0, row_offset, roi_name):
    """Raise BaselineError for the first ROI whose baseline is not > 0."""
    bad = ~(np.isfinite(f0) & (f0 > 0))
    if not bad.any():
        return
    row, col = np.unravel_index(int(np.argmax(bad)), bad.shape)
    value = float(f0[row, col])
    roi = roi_name(row_offset + int(row))
    if f0.shape[1] == 1:
        raise BaselineError(
            f"ROI {roi!r}: baseline F0 = {value!r} is not > 0; dF/F is "
            "undefined (check background subtraction / neuropil factor)",
            roi=roi,
            value=value,
        )
    raise BaselineError(
        f"ROI {roi!r}: sliding baseline F0 = {value!r} at frame {int(col)} "
        "is not > 0; dF/F is undefined (check background subtraction / "
        "neuropil factor)",
        roi=roi,
        value=value,
        frame=int(col),
    )


def _seed2020_dff(traces, neuropil, factor, out):
    """Notebook formula, computed in blocks of frames (its F0 is per frame)."""
    n_rois, n_frames = traces.shape
    step = block_rows(n_rois)
    for start in range(0, n_frames, step):
        stop = min(start + step, n_frames)
        f = _corrected_block(traces, neuropil, factor, np.s_[:, start:stop])
        f0 = np.percentile(f, _SEED2020_PERCENTILE, axis=0)
        bad = ~(np.isfinite(f0) & (f0 > 0))
        if bad.any():
            col = int(np.argmax(bad))
            value = float(f0[col])
            raise BaselineError(
                f"frame {start + col}: seed2020 baseline F0 (5th percentile "
                f"across ROIs) = {value!r} is not > 0; dF/F is undefined",
                roi=None,
                value=value,
                frame=start + col,
            )
        np.subtract(f, f0, out=out[:, start:stop])
        out[:, start:stop] /= f0
