"""Stimulus regressors: 0/1 stimulus trains, pooled by group, convolved.

Grouping rule (the same everywhere): each group names a regressor and the
stimuli pooled into it; a group none of whose stimuli occur in a recording
is absent from that recording's design (not an error); every stimulus that
no group names becomes a regressor of its own (never silently dropped). The
names ``inhibited``, ``mixed`` and ``unclassified`` are reserved for classes
and may name neither a regressor nor a stimulus.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import signal

from ._validation import check_positive_float, check_positive_int

__all__ = [
    "RegressorSet",
    "build_regressors",
    "events_frame",
    "resolve_groups",
    "stimulus_trains",
    "convolve_trains",
    "fir_design",
    "RESERVED_NAMES",
    "TRAINS",
]

#: Class labels that no regressor or stimulus may be called.
RESERVED_NAMES = ("inhibited", "mixed", "unclassified")
TRAINS = ("onset", "boxcar")
_MODES = TRAINS

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
        The stimulus names pooled into each regressor (those present).
    presentation_index : list of ndarray of int
        Per regressor, the positions (0-based rows) in ``events`` of its
        presentations, in order of onset.
    """

    names: list
    raw: np.ndarray
    convolved: np.ndarray
    onset_frames: list
    stimuli: dict = field(default_factory=dict)
    presentation_index: list = field(default_factory=list)

    @property
    def n_presentations(self) -> np.ndarray:
        """Number of distinct onset frames per regressor (int array)."""
        return np.array([len(f) for f in self.onset_frames], dtype=np.int64)

    @property
    def n_regressors(self) -> int:
        """Number of regressors."""
        return len(self.names)

    @property
    def n_frames(self) -> int:
        """Number of frames."""
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
                "events must be a DataFrame or a list of dicts with keys stimulus, onset_s, duration_s"
            ) from exc
    missing = [c for c in ("stimulus", "onset_s") if c not in df.columns]
    if "duration_s" not in df.columns:
        if require_duration:
            missing.append("duration_s")
        else:
            df["duration_s"] = 0.0
    if missing:
        raise ValueError(f"events lack column(s) {missing}; have {list(df.columns)}")
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
    return f"event {row['stimulus']!r} (index {df.index[pos]!r}, onset {row['onset_s']!r} s)"


def resolve_groups(groups, stimuli):
    """Regressor name -> stimuli pooled into it, for the stimuli present.

    Parameters
    ----------
    groups : dict of str -> list of str, or None
        None: one regressor per stimulus.
    stimuli : sequence of str
        Stimulus of every presentation (order of first appearance is kept
        for stimuli without a group).

    Returns
    -------
    dict
        Groups with at least one stimulus present (in the order given, each
        listing its present stimuli), then one regressor per stimulus no
        group names.

    Raises
    ------
    ValueError
        For a malformed ``groups``, a stimulus in two groups, a reserved
        name (see :data:`RESERVED_NAMES`) or a stimulus whose own regressor
        would take a group's name.
    """
    present = list(dict.fromkeys(str(s) for s in stimuli))
    for stim in present:
        if stim in RESERVED_NAMES:
            raise ValueError(f"stimulus name {stim!r} is reserved for classes {RESERVED_NAMES}; rename the stimulus")
    if groups is None:
        return {s: [s] for s in present}
    if not isinstance(groups, dict):
        raise ValueError(f"groups must be a dict of regressor name -> list of stimulus names, got {groups!r}")
    owner = {}
    resolved = {}
    for name, members in groups.items():
        if isinstance(members, str):
            members = [members]
        members = list(members)
        if not members or not all(isinstance(m, str) for m in members):
            raise ValueError(f"group {name!r} must list one or more stimulus names (str), got {members!r}")
        if str(name) in RESERVED_NAMES:
            raise ValueError(f"regressor name {name!r} is reserved for classes {RESERVED_NAMES}")
        for m in members:
            if m in owner:
                raise ValueError(f"stimulus {m!r} is in groups {owner[m]!r} and {name!r}")
            owner[m] = str(name)
        pooled = [m for m in present if m in members]
        if pooled:
            resolved[str(name)] = pooled
    for stim in present:
        if stim not in owner:
            if stim in resolved:
                raise ValueError(
                    f"stimulus {stim!r} is in no group, but a group is "
                    "called so; add it to that group or rename the group"
                )
            resolved[stim] = [stim]
    return resolved


def stimulus_trains(events, n_frames, frame_period_s, *, groups=None, train="onset"):
    """0/1 stimulus trains of a recording's regressors (no kernel).

    Parameters
    ----------
    events : DataFrame or list of dict
        stimulus, onset_s, duration_s.
    n_frames : int
    frame_period_s : float
    groups : dict, optional
        See :func:`resolve_groups`.
    train : {"onset", "boxcar"}, default "onset"
        ``"onset"``: the onset frame ``int(onset_s * (1.0 /
        frame_period_s))`` is 1 (the notebook's rule, bit for bit).
        ``"boxcar"``: frames from the onset frame through
        ``int((onset_s + duration_s) / frame_period_s)`` (at least the onset
        frame, clipped to the recording) are 1.

    Returns
    -------
    RegressorSet
        With ``convolved`` equal to ``raw`` (no kernel yet).

    Raises
    ------
    ValueError
        For a malformed events table, no events, a non-finite onset or
        duration, a negative duration or an onset outside the recording
        (the message names the event), or bad groups.
    """
    if train not in TRAINS:
        raise ValueError(f"train must be one of {TRAINS}, got {train!r}")
    n_frames = check_positive_int(n_frames, "n_frames")
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    df = events_frame(events, require_duration=(train == "boxcar"))
    if len(df) == 0:
        raise ValueError("events is empty: no stimulus presentations")
    groups = resolve_groups(groups, df["stimulus"])

    stimuli = df["stimulus"].to_numpy()
    onsets = df["onset_s"].to_numpy()
    durations = df["duration_s"].to_numpy()
    length_s = n_frames * frame_period_s
    # The notebook computed int(onset * frame_rate) with frame_rate = 1/dt;
    # multiplying (not dividing) keeps the exact same rounding.
    frame_rate = 1.0 / frame_period_s
    with np.errstate(invalid="ignore", over="ignore"):
        onset_frame = np.where(np.isfinite(onsets), onsets * frame_rate, -1.0)
        start = np.where(onset_frame < n_frames, onset_frame, n_frames)
        start = start.astype(np.int64)
    for pos in range(len(df)):
        if not (np.isfinite(onsets[pos]) and np.isfinite(durations[pos])):
            raise ValueError(f"{_describe(df, pos)} has a non-finite onset or duration (duration {durations[pos]!r})")
        if durations[pos] < 0:
            raise ValueError(f"{_describe(df, pos)} has a negative duration ({durations[pos]!r} s)")
        if onsets[pos] < 0 or start[pos] >= n_frames:
            raise ValueError(
                f"{_describe(df, pos)} lies outside the recording, which "
                f"spans 0 to {length_s!r} s ({n_frames} frames of "
                f"{frame_period_s!r} s)"
            )

    names = list(groups)
    raw = np.zeros((len(names), n_frames), dtype=np.float64)
    onset_frames, presentation_index = [], []
    for r, name in enumerate(names):
        members = np.flatnonzero(np.isin(stimuli, groups[name]))
        members = members[np.argsort(onsets[members], kind="stable")]
        frames = start[members]
        onset_frames.append(np.unique(frames))
        presentation_index.append(members.astype(np.int64))
        if train == "onset":
            raw[r, frames] = 1.0
            continue
        ends = np.floor((onsets[members] + durations[members]) / frame_period_s)
        ends = np.clip(ends, frames, n_frames - 1).astype(np.int64)
        for first, last in zip(frames, ends):
            raw[r, first : last + 1] = 1.0
    return RegressorSet(
        names=names,
        raw=raw,
        convolved=raw.copy(),
        onset_frames=onset_frames,
        stimuli={k: list(v) for k, v in groups.items()},
        presentation_index=presentation_index,
    )


def convolve_trains(raw, kernel):
    """Row-wise ``np.convolve(row, kernel)[:n_frames]`` (causal)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 1 or kernel.size == 0:
        raise ValueError(f"kernel must be a non-empty 1-D array, got shape {kernel.shape}")
    if not np.isfinite(kernel).all():
        raise ValueError("kernel contains NaN or infinite values")
    raw = np.asarray(raw, dtype=np.float64)
    n_frames = raw.shape[1]
    if raw.size * kernel.size <= _DIRECT_CONVOLVE_MAX:
        return np.stack([np.convolve(row, kernel)[:n_frames] for row in raw])
    return signal.oaconvolve(raw, kernel[None, :], axes=1)[:, :n_frames]


def fir_design(raw, n_lags):
    """Finite-impulse-response design: one column per regressor and lag.

    Column ``r * n_lags + k`` is regressor r's train delayed by k frames, so
    its coefficient is the mean response k frames after onset (relative to
    the baseline, i.e. the intercept), whatever its shape.

    Returns
    -------
    design : ndarray (n_frames, n_reg * n_lags)
    columns : list of ndarray of int
        Design columns of each regressor.
    """
    n_lags = check_positive_int(n_lags, "n_lags")
    raw = np.asarray(raw, dtype=np.float64)
    n_reg, n_frames = raw.shape
    design = np.zeros((n_frames, n_reg * n_lags))
    for k in range(n_lags):
        design[k:, k::n_lags] = raw[:, : n_frames - k].T
    columns = [np.arange(r * n_lags, (r + 1) * n_lags) for r in range(n_reg)]
    return design, columns


def build_regressors(events, n_frames, frame_period_s, kernel, *, groups=None, mode="onset"):
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
        Regressor name -> stimulus names pooled into it (see
        :func:`resolve_groups`: absent groups are left out, ungrouped
        stimuli get their own regressor). Default: one regressor per
        distinct stimulus, in order of first appearance.
    mode : {"onset", "boxcar"}, default "onset"
        The train (see :func:`stimulus_trains`).

    Returns
    -------
    RegressorSet
        ``convolved[r] == np.convolve(raw[r], kernel)[:n_frames]``.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 1 or kernel.size == 0:
        raise ValueError(f"kernel must be a non-empty 1-D array, got shape {kernel.shape}")
    regs = stimulus_trains(events, n_frames, frame_period_s, groups=groups, train=mode)
    regs.convolved = convolve_trains(regs.raw, kernel)
    return regs
