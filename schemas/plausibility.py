"""Checks that an input is physically plausible, shared by ``insert_recording`` and the manifest reader.

Each check is a pure function of plain values. It returns a problem
description (or raises ``ValueError`` with one) without saying where the
value came from: the caller adds the recording, manifest entry or file. The
limits are deliberately wide; they catch unit slips (a frame period in ms
written as s), transposed matrices and values no column can hold, not
unusual experiments.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "FRAME_PERIOD_RANGE_S",
    "MAX_AGE_DPF",
    "MAX_POSITION",
    "age_problem",
    "duplicate_presentations",
    "fmt_s",
    "frame_period_problem",
    "late_stimuli_problem",
    "low_baseline_rois",
    "position_problem",
    "recorded_at_value",
    "transposed_fit",
]

#: frame periods outside this range (seconds) are refused as unit slips
FRAME_PERIOD_RANGE_S = (0.001, 60.0)
#: ages above this (days post fertilisation, ~27 years) are refused
MAX_AGE_DPF = 10_000.0
#: |coordinate| above this (pixels) is refused; float32 columns overflow at 3.4e38
MAX_POSITION = 1e6


def fmt_s(seconds: float) -> str:
    """Seconds for messages: ``512.0``, ``0.25``, never 17 digits."""
    text = f"{seconds:.6g}"
    return text + ".0" if text.lstrip("-").isdigit() else text


def frame_period_problem(period: float, *, unit_hint: bool = True) -> str | None:
    """Why a frame period (s) is implausible, or None.

    Refused: not a finite number > 0, or outside 1 ms – 60 s; with
    ``unit_hint`` a value that would fit when read as milliseconds says so.
    """
    if not (isinstance(period, (int, float)) and math.isfinite(period) and period > 0):
        return f"must be a positive number of seconds, got {period!r}"
    low, high = FRAME_PERIOD_RANGE_S
    if low <= period <= high:
        return None
    text = f"{fmt_s(period)} s is outside the plausible range 1 ms to 60 s per frame"
    if unit_hint and period > high and low <= period / 1000.0 <= high:
        text += f"; was it written in ms? ({fmt_s(period)} ms = {fmt_s(period / 1000.0)} s)"
    return text


def age_problem(age: Any) -> str | None:
    """Why an age in days post fertilisation is unusable, or None."""
    if isinstance(age, bool) or not isinstance(age, (int, float, np.integer, np.floating)):
        return f"must be a number of days post fertilisation, got {age!r}"
    age = float(age)
    if not math.isfinite(age) or age < 0:
        return f"must be a non-negative number of days post fertilisation, got {age!r}"
    if age > MAX_AGE_DPF:
        return f"{age:g} days post fertilisation is not a plausible age (at most {MAX_AGE_DPF:g})"
    return None


def position_problem(positions: np.ndarray, roi_ids: Sequence[int] | None = None) -> str | None:
    """Why a ROIs x 2/3 position array is unusable (naming the ROI), or None.

    NaN means "not known" (e.g. z of a single plane, a ROI without a mask) and is stored as NULL;
    infinite or absurdly large values are refused.
    """
    with np.errstate(invalid="ignore"):
        ok = np.isnan(positions) | (np.isfinite(positions) & (np.abs(positions) <= MAX_POSITION))
    if ok.all():
        return None
    row, col = (int(i) for i in np.argwhere(~ok)[0])
    value = positions[row, col]
    axis = "xyz"[col] if col < 3 else f"column {col}"
    what = "is not finite" if not np.isfinite(value) else f"is beyond ±{MAX_POSITION:g} pixels"
    n_bad = int((~ok.all(axis=1)).sum())
    more = f" ({n_bad} ROI rows affected)" if n_bad > 1 else ""
    roi = f"ROI row {row}" if roi_ids is None else f"ROI {int(roi_ids[row])} (row {row})"
    return f"position {axis} = {float(value)!r} of {roi} {what}{more}"


def recorded_at_value(value: Any) -> tuple[_dt.datetime | None, str | None]:
    """``(naive datetime as written, UTC offset or None)`` of a recording time.

    Accepts a ``datetime``, a ``date`` (midnight) or an ISO 8601 string. An
    offset (``+01:00``) is returned separately so that both servers store the
    same wall-clock time (PostgreSQL would otherwise convert it to UTC and
    MySQL ignore it). Raises ValueError for anything else, e.g. ``"yesterday"``.
    """
    if value is None:
        return None, None
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date-time (e.g. 2024-03-01T10:30:00)") from None
    elif isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = _dt.datetime.combine(value, _dt.time())
    elif not isinstance(value, _dt.datetime):
        # pandas.Timestamp is a datetime; numpy datetime64 and numbers are not
        raise ValueError(f"must be a date-time (datetime or ISO string), got {type(value).__name__} {value!r}")
    if value.year < 1000:  # MySQL's DATETIME starts at year 1000
        raise ValueError(f"{value.isoformat()} is before the year 1000")
    offset = None
    if value.tzinfo is not None and value.utcoffset() is not None:
        delta = value.utcoffset()
        sign = "-" if delta < _dt.timedelta(0) else "+"
        minutes = abs(int(delta.total_seconds())) // 60
        offset = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return value.replace(tzinfo=None), offset


def duplicate_presentations(stimuli: Sequence[str], onsets: Sequence[float]) -> list[tuple[int, int]]:
    """Index pairs ``(first, repeat)`` of presentations with the same stimulus and onset."""
    seen: dict[tuple[str, float], int] = {}
    pairs = []
    for i, (name, onset) in enumerate(zip(stimuli, onsets)):
        key = (str(name), float(onset))
        if key in seen:
            pairs.append((seen[key], i))
        else:
            seen[key] = i
    return pairs


def late_stimuli_problem(onsets: Sequence[float], n_frames: int, frame_period_s: float) -> str | None:
    """A problem when no stimulus starts before the last second (or the longer last frame) of the recording.

    No response to such stimuli can be seen, so the regression has nothing
    to fit; it usually means onsets in the wrong unit or time base.
    """
    onsets = np.asarray(onsets, dtype=float)
    if onsets.size == 0:
        return None
    duration = n_frames * frame_period_s
    last_frame = (n_frames - 1) * frame_period_s
    # the last second, or the last frame when that is longer (or the recording is not longer than a second)
    start = min(duration - 1.0, last_frame) if duration > 1.0 else last_frame
    if onsets.min() < start:
        return None
    where = "last frame" if start == last_frame else "last second"
    span = fmt_s(onsets.min()) if onsets.min() == onsets.max() else f"{fmt_s(onsets.min())} to {fmt_s(onsets.max())}"
    return (
        f"every stimulus starts in the {where} of the recording (onsets {span} s; the recording is "
        f"{n_frames} frames x {fmt_s(frame_period_s)} s = {fmt_s(duration)} s), so no response can be "
        "fitted: are the onsets in seconds from the first frame?"
    )


def low_baseline_rois(traces: np.ndarray, percentile: float) -> np.ndarray:
    """Row indices of ROIs whose ``percentile``-th percentile is <= 0 or not finite."""
    # a row whose minimum is > 0 has every percentile > 0: only the others need sorting
    maybe = np.flatnonzero(~(np.min(traces, axis=1) > 0))
    if maybe.size == 0:
        return maybe
    low = np.percentile(traces[maybe], percentile, axis=1)
    return maybe[~(np.isfinite(low) & (low > 0))]


def transposed_fit(
    n_rows: int,
    n_cols: int,
    frame_period_s: float,
    *,
    last_onset_s: float | None = None,
    expected_frames: int | None = None,
    protocol_s: float | None = None,
) -> str | None:
    """Why the other orientation of a rows x columns traces matrix fits when this one does not.

    The matrix is read as ``n_rows`` ROIs x ``n_cols`` frames. If its rows
    would match the recording's frames (a frame count from the microscope,
    the protocol's length, or the stimuli) and its columns do not, return
    the reason, e.g. ``"420 rows match the recording's frames (D3Size =
    420)"``; otherwise None.
    """
    if n_rows == n_cols or n_rows < 2:
        return None
    if expected_frames is not None:
        if expected_frames == n_rows and expected_frames != n_cols:
            return f"its {n_rows} rows match the recording's frames (the microscope recorded {expected_frames})"
        return None
    duration_rows = n_rows * frame_period_s
    if protocol_s is not None:
        fits_rows = protocol_s <= duration_rows + frame_period_s
        fits_cols = protocol_s <= n_cols * frame_period_s + frame_period_s
        if fits_rows and not fits_cols:
            return (
                f"its {n_rows} rows match the recording's frames (the protocol runs for {fmt_s(protocol_s)} s; "
                f"{n_rows} frames x {fmt_s(frame_period_s)} s = {fmt_s(duration_rows)} s)"
            )
        return None
    if last_onset_s is not None:
        fits_rows = last_onset_s < duration_rows
        fits_cols = last_onset_s < n_cols * frame_period_s
        if fits_rows and not fits_cols:
            return (
                f"its {n_rows} rows match the recording's frames (the last stimulus starts at "
                f"{fmt_s(last_onset_s)} s; {n_rows} frames x {fmt_s(frame_period_s)} s = {fmt_s(duration_rows)} s)"
            )
    return None
