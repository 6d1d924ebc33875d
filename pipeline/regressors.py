"""Stimulus regressors: 0/1 stimulus trains convolved with a sensor kernel."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import signal

from ._validation import check_positive_float, check_positive_int

__all__ = ["RegressorSet", "build_regressors", "events_frame"]

_MODES = ("onset", "boxcar")

# Above this many multiply-adds the direct convolution is replaced by an
# overlap-add FFT convolution (agrees with np.convolve to ~1e-15).
_DIRECT_CONVOLVE_MAX = 20_000_000


@dataclass(eq=False)
class RegressorSet:
    """Regressors of one recording.

    Attributes
    ----------
    names : list of str
        Regressor names, in row order.
    raw : ndarray of shape (n_reg, n_frames), float64
        The 0/1 stimulus trains.
    convolved : ndarray of shape (n_reg, n_frames), float64
        ``raw`` convolved with the kernel (causal, truncated to n_frames).
    onset_frames : list of ndarray of int
        Per regressor, the sorted, unique frame index of each presentation
        onset.
    stimuli : dict of str -> list of str
        The stimulus names pooled into each regressor.
    """

    names: list
    raw: np.ndarray
    convolved: np.ndarray
    onset_frames: list
    stimuli: dict = field(default_factory=dict)

    @property
    def n_presentations(self) -> np.ndarray:
        """Number of distinct onset frames per regressor (int array)."""
        return np.array([len(f) for f in self.onset_frames], dtype=np.int64)

    @property
    def n_regressors(self) -> int:
        return len(self.names)

    @property
    def n_frames(self) -> int:
        return int(self.raw.shape[1])

    @property
    def design(self) -> np.ndarray:
        """Convolved regressors as columns (n_frames x n_reg), for fit_ols."""
        return self.convolved.T


def events_frame(events, *, require_duration=False) -> pd.DataFrame:
    """Validate stimulus events and return them as a DataFrame.

    Parameters
    ----------
    events : DataFrame or list of dict
        Columns/keys ``stimulus`` (str), ``onset_s`` (float) and
        ``duration_s`` (float; optional unless ``require_duration``, default
        0).
    require_duration : bool, default False
        Whether a missing ``duration_s`` column is an error.

    Returns
    -------
    DataFrame with columns stimulus (str), onset_s, duration_s (float64);
    the original index is kept so that errors can name events.
    """
    if isinstance(events, pd.DataFrame):
        df = events.copy()
    else:
        try:
            df = pd.DataFrame(list(events))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                "events must be a DataFrame or a list of dicts with keys "
                "stimulus, onset_s, duration_s") from exc
    missing = [c for c in ("stimulus", "onset_s") if c not in df.columns]
    if "duration_s" not in df.columns:
        if require_duration:
            missing.append("duration_s")
        else:
            df["duration_s"] = 0.0
    if missing:
        raise ValueError(
            f"events lack column(s) {missing}; have {list(df.columns)}")
    if df["stimulus"].isna().any():
        idx = df.index[df["stimulus"].isna().to_numpy()][0]
        raise ValueError(f"event at index {idx!r} has no stimulus name")
    df = df[["stimulus", "onset_s", "duration_s"]].copy()
    df["stimulus"] = df["stimulus"].astype(str)
    for col in ("onset_s", "duration_s"):
        try:
            df[col] = df[col].astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"events column {col} must be numeric") from exc
    return df


def _describe(df, pos):
    row = df.iloc[pos]
    return (f"event {row['stimulus']!r} (index {df.index[pos]!r}, onset "
            f"{row['onset_s']!r} s)")


def build_regressors(events, n_frames, frame_period_s, kernel, *, groups=None,
                     mode="onset"):
    """Build 0/1 stimulus regressors and convolve them with a kernel.

    Parameters
    ----------
    events : DataFrame or list of dict
        One row per stimulus presentation with ``stimulus`` (str),
        ``onset_s`` (s from the first frame) and ``duration_s`` (s).
    n_frames : int
        Number of frames of the recording.
    frame_period_s : float
        Time between frames (s).
    kernel : array-like, 1-D
        Impulse response, e.g. from :func:`pipeline.kernels.sensor_kernel`.
    groups : dict of str -> list of str, optional
        Regressor name -> stimulus names pooled into it, e.g.
        ``{"prey": ["prey-nasalward", "prey-temporalward"], "looming":
        ["looming"], "dimming": ["dimming"]}``. Events whose stimulus no
        group names are ignored (not validated either). Default: one
        regressor per distinct stimulus, in order of first appearance.
    mode : {"onset", "boxcar"}, default "onset"
        ``"onset"``: the onset frame ``int(onset_s * (1.0 /
        frame_period_s))`` is set to 1 (the notebook's rule, bit for bit).
        ``"boxcar"``: frames from the onset frame through
        ``int((onset_s + duration_s) / frame_period_s)`` (at least the onset
        frame, clipped to the recording) are set to 1.

    Returns
    -------
    RegressorSet
        ``convolved[r] == np.convolve(raw[r], kernel)[:n_frames]``.

    Raises
    ------
    ValueError
        For a malformed events table, a non-finite onset or duration, a
        negative duration, an onset before 0 or at/after the end of the
        recording (the message names the event and the recording length), a
        group with no events, or a bad kernel.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    n_frames = check_positive_int(n_frames, "n_frames")
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 1 or kernel.size == 0:
        raise ValueError(
            f"kernel must be a non-empty 1-D array, got shape {kernel.shape}")
    if not np.isfinite(kernel).all():
        raise ValueError("kernel contains NaN or infinite values")

    df = events_frame(events, require_duration=(mode == "boxcar"))
    if len(df) == 0:
        raise ValueError("events is empty: no stimulus presentations")
    groups = _resolve_groups(groups, df)

    stimuli = df["stimulus"].to_numpy()
    onsets = df["onset_s"].to_numpy()
    durations = df["duration_s"].to_numpy()
    used = np.isin(stimuli, [s for names in groups.values() for s in names])
    length_s = n_frames * frame_period_s
    # The notebook computed int(onset * frame_rate) with frame_rate = 1/dt;
    # multiplying (not dividing) keeps the exact same rounding.
    frame_rate = 1.0 / frame_period_s
    with np.errstate(invalid="ignore", over="ignore"):
        onset_frame = np.where(np.isfinite(onsets), onsets * frame_rate, -1.0)
        start = np.where(onset_frame < n_frames, onset_frame, n_frames)
        start = start.astype(np.int64)
    for pos in np.flatnonzero(used):
        if not (np.isfinite(onsets[pos]) and np.isfinite(durations[pos])):
            raise ValueError(
                f"{_describe(df, pos)} has a non-finite onset or duration "
                f"(duration {durations[pos]!r})")
        if durations[pos] < 0:
            raise ValueError(
                f"{_describe(df, pos)} has a negative duration "
                f"({durations[pos]!r} s)")
        if onsets[pos] < 0 or start[pos] >= n_frames:
            raise ValueError(
                f"{_describe(df, pos)} lies outside the recording, which "
                f"spans 0 to {length_s!r} s ({n_frames} frames of "
                f"{frame_period_s!r} s)")

    names = list(groups)
    raw = np.zeros((len(names), n_frames), dtype=np.float64)
    onset_frames = []
    for r, name in enumerate(names):
        members = np.flatnonzero(np.isin(stimuli, groups[name]))
        if members.size == 0:
            raise ValueError(
                f"regressor {name!r} has no events (stimuli "
                f"{groups[name]!r} never occur in events)")
        frames = start[members]
        onset_frames.append(np.unique(frames))
        if mode == "onset":
            raw[r, frames] = 1.0
            continue
        ends = np.floor((onsets[members] + durations[members])
                        / frame_period_s)
        ends = np.clip(ends, frames, n_frames - 1).astype(np.int64)
        for first, last in zip(frames, ends):
            raw[r, first:last + 1] = 1.0

    return RegressorSet(names=names, raw=raw,
                        convolved=_convolve_rows(raw, kernel),
                        onset_frames=onset_frames,
                        stimuli={k: list(v) for k, v in groups.items()})


def _resolve_groups(groups, df):
    if groups is None:
        # dict.fromkeys keeps the order of first appearance.
        return {s: [s] for s in dict.fromkeys(df["stimulus"])}
    if not isinstance(groups, dict) or not groups:
        raise ValueError(
            "groups must be a non-empty dict of regressor name -> list of "
            f"stimulus names, got {groups!r}")
    resolved = {}
    for name, members in groups.items():
        if isinstance(members, str):
            members = [members]
        members = list(members)
        if not members or not all(isinstance(m, str) for m in members):
            raise ValueError(
                f"group {name!r} must list one or more stimulus names (str), "
                f"got {members!r}")
        resolved[str(name)] = members
    return resolved


def _convolve_rows(raw, kernel):
    """Row-wise ``np.convolve(row, kernel)[:n_frames]``."""
    n_frames = raw.shape[1]
    if raw.size * kernel.size <= _DIRECT_CONVOLVE_MAX:
        return np.stack([np.convolve(row, kernel)[:n_frames] for row in raw])
    return signal.oaconvolve(raw, kernel[None, :], axes=1)[:, :n_frames]
