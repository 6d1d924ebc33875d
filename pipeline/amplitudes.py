"""Mean stimulus-evoked response amplitude per ROI and regressor."""

from __future__ import annotations

import numpy as np

from ._validation import as_2d_array, check_positive_int

__all__ = ["response_amplitudes", "seed2020_response_amplitudes", "baseline_amplitudes", "window_frames"]


def _onsets(onset_frames, n_frames):
    """Validate onsets: list (per regressor) of 1-D int arrays in range."""
    onset_frames = getattr(onset_frames, "onset_frames", onset_frames)
    result = []
    for r, frames in enumerate(onset_frames):
        frames = np.asarray(frames)
        if frames.ndim != 1:
            raise ValueError(f"onset frames of regressor {r} must be 1-D, got shape {frames.shape}")
        if frames.size and not np.issubdtype(frames.dtype, np.integer):
            if not np.array_equal(frames, np.round(frames)):
                raise ValueError(f"onset frames of regressor {r} must be integers")
        frames = frames.astype(np.int64)
        if frames.size and (frames.min() < 0 or frames.max() >= n_frames):
            raise ValueError(
                f"onset frames of regressor {r} must lie in [0, {n_frames}), got {frames.min()}..{frames.max()}"
            )
        result.append(frames)
    if not result:
        raise ValueError("onset_frames is empty: no regressors")
    return result


def _window_mean(dff, frame, window):
    # Slicing clips the window at the end of the recording, as the notebook.
    return dff[:, frame : frame + window].mean(axis=1, dtype=np.float64)


def response_amplitudes(dff, onset_frames, window_frames=5):
    """Mean dF/F in a window after each presentation, averaged per regressor.

    For regressor r and each of its onset frames f, the mean of
    ``dff[:, f:f + window_frames]`` (clipped at the end of the recording) is
    taken; these are averaged over r's own presentations.

    Parameters
    ----------
    dff : array-like of shape (n_rois, n_frames)
    onset_frames : list of array-like of int, or RegressorSet
        Per regressor, the onset frame of each presentation (e.g.
        ``RegressorSet.onset_frames``).
    window_frames : int, default 5
        Frames averaged after each onset (the notebook used 5).

    Returns
    -------
    amplitudes : ndarray of shape (n_rois, n_reg), float64
        NaN column for a regressor without onsets.
    """
    dff = as_2d_array(dff, "dff")
    window_frames = check_positive_int(window_frames, "window_frames")
    onsets = _onsets(onset_frames, dff.shape[1])
    out = np.full((dff.shape[0], len(onsets)), np.nan)
    for r, frames in enumerate(onsets):
        if frames.size == 0:
            continue
        acc = np.zeros(dff.shape[0])
        for f in frames:
            acc += _window_mean(dff, f, window_frames)
        out[:, r] = acc / frames.size
    return out


def seed2020_response_amplitudes(dff, onset_frames, window_frames=5):
    """The notebook's amplitudes, bug included (for reproduction only).

    The notebook (``mean_for_timepoints_with_ROIs``) allocated one slot per
    presentation of the *first* regressor for every regressor and averaged
    over all slots, so a regressor with fewer presentations than the first
    has zeros averaged in (its amplitude is scaled by n_r / n_0). Use
    :func:`response_amplitudes` for correct values.

    Parameters
    ----------
    dff, onset_frames, window_frames
        As in :func:`response_amplitudes`.

    Returns
    -------
    amplitudes : ndarray of shape (n_rois, n_reg), float64
        NaN everywhere if no regressor has onsets.

    Raises
    ------
    ValueError
        If a later regressor has *more* presentations than the first: the
        notebook crashed there (IndexError), so no published number exists.
    """
    dff = as_2d_array(dff, "dff")
    window_frames = check_positive_int(window_frames, "window_frames")
    onsets = _onsets(onset_frames, dff.shape[1])
    n_slots = onsets[0].size
    for r, frames in enumerate(onsets):
        if frames.size > n_slots:
            raise ValueError(
                f"regressor {r} has {frames.size} presentations but the first "
                f"regressor only {n_slots}; the seed2020 notebook allocated "
                "slots for the first regressor's presentations and fails "
                "(IndexError) in this case. Order the regressors so the first "
                "has the most presentations, or use response_amplitudes."
            )
    if n_slots == 0:
        return np.full((dff.shape[0], len(onsets)), np.nan)
    out = np.zeros((dff.shape[0], len(onsets)))
    for r, frames in enumerate(onsets):
        for f in frames:
            out[:, r] += _window_mean(dff, f, window_frames)
    # Dividing by the first regressor's count, not by len(frames), is the bug.
    return out / n_slots


def window_frames(window_s, frame_period_s):
    """Frame offsets ``[start, stop)`` from the onset frame for a window in s.

    ``round(start / dt)`` to ``round(end / dt)``, at least one frame.
    """
    start = int(round(window_s[0] / frame_period_s))
    stop = int(round(window_s[1] / frame_period_s))
    return start, max(stop, start + 1)


def baseline_amplitudes(dff, onset_frames, response_frames, baseline_frames):
    """Per presentation: mean dF/F in the response window minus baseline.

    Parameters
    ----------
    dff : array-like (n_rois, n_frames)
    onset_frames : array-like of int (n_presentations,)
        Onset frame of each presentation.
    response_frames, baseline_frames : (int, int)
        Frame offsets ``[start, stop)`` relative to the onset frame (see
        :func:`window_frames`), clipped to the recording.

    Returns
    -------
    ndarray (n_rois, n_presentations)
        NaN where a window falls entirely outside the recording (and for
        NaN rows).
    """
    dff = as_2d_array(dff, "dff")
    n_rois, n_frames = dff.shape
    onset_frames = np.asarray(onset_frames, dtype=np.int64)
    out = np.full((n_rois, onset_frames.size), np.nan)
    for k, f in enumerate(onset_frames):  # presentations, not ROIs
        r0, r1 = (max(f + response_frames[0], 0), min(f + response_frames[1], n_frames))
        b0, b1 = (max(f + baseline_frames[0], 0), min(f + baseline_frames[1], n_frames))
        if r1 <= r0 or b1 <= b0:
            continue
        out[:, k] = dff[:, r0:r1].mean(axis=1, dtype=np.float64) - dff[:, b0:b1].mean(axis=1, dtype=np.float64)
    return out
