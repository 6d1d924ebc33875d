"""Stimulus-aligned ΔF/F: the presentations table, peri-stimulus averages, per-presentation amplitudes.

Time convention (the pipeline's): frame ``i`` of a recording is at
``i * frame_period_s`` seconds. Onsets are in seconds from frame 0 and need
not fall on a frame.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._base import check_frame_period, check_window

__all__ = ["AlignedResponses", "align_to_onsets", "presentation_amplitudes", "presentations_frame"]

_REQUIRED = ("stimulus", "onset_s", "duration_s")


def presentations_frame(
    presentations, *, n_frames: int | None = None, frame_period_s: float | None = None
) -> pd.DataFrame:
    """Check a presentations table and return it with columns stimulus, onset_s, duration_s, regressor.

    Parameters
    ----------
    presentations : DataFrame or list of dict
        One row per stimulus presentation: ``stimulus``, ``onset_s`` (s from
        frame 0), ``duration_s`` and optionally ``regressor`` (the regressor
        the stimulus is pooled into, e.g. ``prey`` for ``prey-nasalward``;
        a missing column means each stimulus is its own regressor, an empty
        or missing value means the stimulus is in no regressor). Other
        columns (e.g. stimulus parameters) are not used.
    n_frames, frame_period_s : optional
        When both are given, every onset must lie within the recording
        ``[0, n_frames * frame_period_s)``.

    Returns
    -------
    DataFrame
        Columns stimulus (str), onset_s, duration_s (float), regressor (str,
        '' for none); the original index is kept so errors can name rows.

    Raises
    ------
    ValueError
        Naming the row, for a missing column, an empty stimulus name, a
        non-finite onset or duration, a negative duration or an onset outside
        the recording.
    """
    if isinstance(presentations, pd.DataFrame):
        df = presentations.copy()
    else:
        try:
            df = pd.DataFrame(list(presentations))
        except (TypeError, ValueError) as err:
            raise ValueError(
                "presentations must be a DataFrame or a list of dicts with keys "
                "stimulus, onset_s, duration_s[, regressor]"
            ) from err
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"presentations lack column(s) {missing}; have {list(df.columns)}")
    out = pd.DataFrame(index=df.index)
    out["stimulus"] = [("" if _missing(s) else str(s)) for s in df["stimulus"]]
    for col in ("onset_s", "duration_s"):
        try:
            out[col] = pd.to_numeric(df[col], errors="raise").astype(float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"presentations column {col} must be numeric") from err
    if "regressor" in df.columns:
        out["regressor"] = [("" if _missing(r) else str(r)) for r in df["regressor"]]
    else:
        out["regressor"] = out["stimulus"]
    length = None
    if n_frames is not None and frame_period_s is not None:
        length = int(n_frames) * float(frame_period_s)
    for idx, row in out.iterrows():
        where = f"presentation at index {idx!r} (stimulus {row['stimulus']!r}, onset {row['onset_s']!r} s)"
        if row["stimulus"] == "":
            raise ValueError(f"presentation at index {idx!r} has no stimulus name")
        if not (math.isfinite(row["onset_s"]) and math.isfinite(row["duration_s"])):
            raise ValueError(f"{where} has a non-finite onset or duration ({row['duration_s']!r} s)")
        if row["duration_s"] < 0:
            raise ValueError(f"{where} has a negative duration ({row['duration_s']!r} s)")
        if length is not None and not 0.0 <= row["onset_s"] < length:
            raise ValueError(
                f"{where} lies outside the recording, which spans 0 to {length:g} s "
                f"({n_frames} frames of {frame_period_s:g} s)"
            )
    return out


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def stimulus_order(table: pd.DataFrame, regressors=None) -> list:
    """Stimuli grouped by regressor: regressors in ``regressors`` order (else first appearance), then
    stimuli of no regressor; within a regressor in order of first appearance."""
    first = list(dict.fromkeys(table["regressor"]))
    order = [r for r in (regressors or []) if r in first] + [r for r in first if r not in (regressors or [])]
    order = [r for r in order if r != ""] + ([""] if "" in first else [])
    stimuli = []
    for reg in order:
        stimuli += [s for s in dict.fromkeys(table.loc[table["regressor"] == reg, "stimulus"]) if s not in stimuli]
    return stimuli


def _time_grid(frame_period_s: float, window_s: tuple) -> np.ndarray:
    lo, hi = window_s
    eps = 1e-9
    k0 = math.ceil(lo / frame_period_s - eps)
    k1 = math.floor(hi / frame_period_s + eps)
    if k1 < k0:
        raise ValueError(f"window_s {window_s!r} holds no multiple of the frame period ({frame_period_s:g} s)")
    return np.arange(k0, k1 + 1) * frame_period_s


def _sample(dff_rows: np.ndarray, onset_s: float, t: np.ndarray, frame_period_s: float) -> np.ndarray:
    """ΔF/F of ``dff_rows`` at ``onset_s + t``, linearly interpolated between frames; NaN outside."""
    n_frames = dff_rows.shape[1]
    pos = (onset_s + t) / frame_period_s
    inside = (pos >= -1e-9) & (pos <= n_frames - 1 + 1e-9)
    pos = np.clip(pos, 0.0, n_frames - 1)
    j = np.floor(pos).astype(np.int64)
    w = pos - j
    jn = np.minimum(j + 1, n_frames - 1)
    out = dff_rows[:, j] * (1.0 - w) + dff_rows[:, jn] * w
    out[:, ~inside] = np.nan
    return out


@dataclass
class AlignedResponses:
    """Trial-averaged ΔF/F of some ROIs around the onsets of every stimulus.

    Attributes
    ----------
    t_s : ndarray (n_t,)
        Time from onset (s): the multiples of the frame period inside the window.
    stimuli : list of str
        Stimuli in column order (see :func:`align_to_onsets`).
    regressor : dict
        Stimulus -> its regressor ('' for none).
    rois : ndarray of int
        Rows of ``dff`` that were aligned.
    mean : ndarray (n_stimuli, n_rois, n_t)
        Per ROI, the mean over that stimulus's presentations (NaN where no
        presentation has data, e.g. an all-NaN ROI or a window past the end).
    n_presentations : dict
        Stimulus -> number of its presentations.
    durations_s : dict
        Stimulus -> sorted array of the distinct durations of its presentations.
    baseline_s : tuple or None
        Window whose mean was subtracted from each ROI's average, if any.
    """

    t_s: np.ndarray
    stimuli: list
    regressor: dict
    rois: np.ndarray
    mean: np.ndarray
    n_presentations: dict
    durations_s: dict
    baseline_s: tuple | None = None


def align_to_onsets(
    dff, frame_period_s, presentations, *, rois=None, window_s=(-3.0, 10.0), baseline_s=None, regressors=None
) -> AlignedResponses:
    """Average each ROI's ΔF/F over the presentations of every stimulus, aligned to the onsets.

    ΔF/F is sampled at ``onset + k * frame_period_s`` for the ``k`` with
    ``window_s[0] <= k * frame_period_s <= window_s[1]``, linearly
    interpolated between the two nearest frames (onsets fall between frames);
    times outside the recording are NaN and left out of the average.

    Parameters
    ----------
    dff : array (n_rois, n_frames)
        ΔF/F; rows of NaN (excluded ROIs) stay NaN.
    frame_period_s : float
    presentations : DataFrame or list of dict
        See :func:`presentations_frame`.
    rois : array of int, optional
        Rows to align (default: all).
    window_s : (float, float)
        Time window around each onset (s).
    baseline_s : (float, float), optional
        If given, each ROI's trial average minus its mean over this window
        (e.g. ``(-3, 0)``: the pre-stimulus baseline).
    regressors : list of str, optional
        Order of the regressors (default: order of first appearance).

    Returns
    -------
    AlignedResponses
    """
    dff = np.asarray(dff, dtype=float)
    if dff.ndim != 2:
        raise ValueError(f"dff must be 2-D (ROIs x frames), got shape {dff.shape}")
    frame_period_s = check_frame_period(frame_period_s)
    window_s = check_window(window_s, "window_s")
    table = presentations_frame(presentations, n_frames=dff.shape[1], frame_period_s=frame_period_s)
    if len(table) == 0:
        raise ValueError("presentations is empty: nothing to align to")
    rows = np.arange(dff.shape[0]) if rois is None else np.asarray(rois, dtype=np.int64).ravel()
    if rows.size and (rows.min() < 0 or rows.max() >= dff.shape[0]):
        raise ValueError(f"rois must index the {dff.shape[0]} rows of dff, got {rows.min()}..{rows.max()}")
    t = _time_grid(frame_period_s, window_s)
    stimuli = stimulus_order(table, regressors)
    sub = dff[rows]
    mean = np.full((len(stimuli), rows.size, t.size), np.nan)
    for s, stim in enumerate(stimuli):
        acc = np.zeros((rows.size, t.size))
        cnt = np.zeros((rows.size, t.size))
        for onset in table.loc[table["stimulus"] == stim, "onset_s"]:
            x = _sample(sub, float(onset), t, frame_period_s)
            ok = np.isfinite(x)
            acc += np.where(ok, x, 0.0)
            cnt += ok
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[s] = np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)
    if baseline_s is not None:
        b_lo, b_hi = check_window(baseline_s, "baseline_s")
        in_base = (t >= b_lo - 1e-9) & (t < b_hi - 1e-9)
        if not in_base.any():
            raise ValueError(
                f"baseline_s {baseline_s!r} holds no sample of the window {window_s!r} "
                f"(frame period {frame_period_s:g} s)"
            )
        with np.errstate(invalid="ignore"), _quiet_nanmean():
            mean = mean - np.nanmean(mean[:, :, in_base], axis=2, keepdims=True)
        baseline_s = (b_lo, b_hi)
    return AlignedResponses(
        t_s=t,
        stimuli=stimuli,
        regressor={s: table.loc[table["stimulus"] == s, "regressor"].iloc[0] for s in stimuli},
        rois=rows,
        mean=mean,
        n_presentations={s: int((table["stimulus"] == s).sum()) for s in stimuli},
        durations_s={s: np.unique(table.loc[table["stimulus"] == s, "duration_s"].to_numpy()) for s in stimuli},
        baseline_s=baseline_s,
    )


@contextmanager
def _quiet_nanmean():
    """Silence numpy's 'Mean of empty slice' for all-NaN rows (they stay NaN, which is the point)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def presentation_amplitudes(
    dff, frame_period_s, presentations, *, window_s=(0.0, 5.0), baseline_s=(-3.0, 0.0)
) -> pd.DataFrame:
    """Response amplitude of every ROI to every presentation: mean ΔF/F after the onset minus before.

    For a presentation with onset ``o``, the mean of the frames ``i`` with
    ``o + window_s[0] <= i * frame_period_s < o + window_s[1]``, minus the
    mean of the frames in ``baseline_s`` likewise (no subtraction when
    ``baseline_s`` is None). The result is in the long format the tuning
    heatmap takes (:func:`tectum.figures.plot_tuning_heatmap`), as the
    database would hand out per-presentation amplitudes.

    Returns
    -------
    DataFrame
        Columns roi (row of ``dff``), presentation (index of the
        presentations table), stimulus, regressor, amplitude (NaN for a NaN
        ROI); one row per ROI and presentation.

    Raises
    ------
    ValueError
        When a window of a presentation holds no frame (the message names
        the presentation).
    """
    dff = np.asarray(dff, dtype=float)
    if dff.ndim != 2:
        raise ValueError(f"dff must be 2-D (ROIs x frames), got shape {dff.shape}")
    frame_period_s = check_frame_period(frame_period_s)
    window_s = check_window(window_s, "window_s")
    if baseline_s is not None:
        baseline_s = check_window(baseline_s, "baseline_s")
    n_rois, n_frames = dff.shape
    table = presentations_frame(presentations, n_frames=n_frames, frame_period_s=frame_period_s)
    times = np.arange(n_frames) * frame_period_s
    blocks = []
    for idx, row in table.iterrows():

        def frames(win, label):
            sel = (times >= row["onset_s"] + win[0] - 1e-9) & (times < row["onset_s"] + win[1] - 1e-9)
            if not sel.any():
                raise ValueError(
                    f"presentation at index {idx!r} ({row['stimulus']!r}, onset {row['onset_s']:g} s): "
                    f"its {label} {win!r} s holds no frame of the recording"
                )
            return sel

        with _quiet_nanmean():
            amp = np.nanmean(dff[:, frames(window_s, "response window")], axis=1)
            if baseline_s is not None:
                amp = amp - np.nanmean(dff[:, frames(baseline_s, "baseline window")], axis=1)
        blocks.append(
            pd.DataFrame(
                {
                    "roi": np.arange(n_rois),
                    "presentation": idx,
                    "stimulus": row["stimulus"],
                    "regressor": row["regressor"],
                    "amplitude": amp,
                }
            )
        )
    if not blocks:
        return pd.DataFrame(columns=["roi", "presentation", "stimulus", "regressor", "amplitude"])
    return pd.concat(blocks, ignore_index=True)
