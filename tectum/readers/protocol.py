"""Reader of the lab's stimulus protocol pickle: :func:`read_protocol_pickle`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._common import PathArg, _is_missing, _require_file, to_jsonable
from .events import _events_frame

#: prey directions as they may be written in a protocol; numbers are mapped
#: by sign (see :func:`read_protocol_pickle`)
PREY_DIRECTIONS = ("nasalward", "temporalward")

#: how far (s) ``t`` may step back from the latest earlier row: the stimulus
#: software logs the state-machine rows of one display frame out of order
DEFAULT_TIME_TOLERANCE_S = 0.1


def read_protocol_pickle(
    path: PathArg,
    stimuli: Mapping[str, str],
    *,
    split_prey_direction: bool = False,
    time_tolerance_s: float = DEFAULT_TIME_TOLERANCE_S,
) -> tuple[pd.DataFrame, dict]:
    """Read stimulus presentations from the lab's protocol pickle.

    The pickle holds a dict ``{"metadata": dict, "protocol": DataFrame}``.
    The protocol has a time column ``t`` (seconds), per stimulus stem ``stimN``
    a ``stimN_presence`` column that is > 0 while it is shown and optional
    ``stimN_<param>`` columns, and a ``prey_direction`` column.

    The stimulus software logs its state-machine rows with the time they
    were handled, and the rows of one display frame can come out of order:
    ``t`` may step back from the latest earlier row by less than
    ``time_tolerance_s``. The rows are then put in time order (stably)
    before presentations are read, and the metadata counts them; a larger
    step back is an error naming the row.

    Every contiguous run of rows with ``stimN_presence > 0`` is one
    presentation: its onset is ``t`` at the run's first row, its duration is
    ``stimN_dur`` at that row when that column exists and is finite, else
    ``t`` at the run's last row minus the onset.  Its params are the other
    ``stimN_<param>`` columns at the first row, keyed by ``<param>`` (the
    stem is a column number with no meaning outside the file), plus
    ``prey_direction`` for the stimulus named ``prey``.

    Unpickling runs code from the file: only read protocols you trust.

    Parameters
    ----------
    path : str or path-like
        The pickle (compressed by extension as :func:`pandas.read_pickle`).
    stimuli : mapping of str to str
        Column stem -> stimulus name, e.g.
        ``{"stim1": "prey", "stim2": "looming", "stim3": "dimming"}``.
    split_prey_direction : bool
        Rename ``prey`` presentations ``prey-nasalward`` or
        ``prey-temporalward`` by ``prey_direction`` at their onset.  Strings
        (``"nasalward"``/``"temporalward"``, or ``"nasal"``/``"temporal"``,
        any case) are preferred; numbers are mapped by sign: > 0 nasalward,
        < 0 temporalward.
    time_tolerance_s : float
        Largest step back of ``t`` accepted (default 0.1 s); 0 requires
        ``t`` to increase strictly.

    Returns
    -------
    events : pandas.DataFrame
        As :func:`read_events_table`.
    metadata : dict
        The pickle's metadata made JSON-compatible, plus
        ``protocol_duration_s`` (the largest ``t``) and, when rows were out
        of order, ``rows_out_of_order`` and ``largest_step_back_s``.

    Raises
    ------
    InputError
        Unreadable pickle, not a dict with a DataFrame ``protocol``, no ``t``
        or one stepping back by ``time_tolerance_s`` or more, a stem without ``_presence`` column, a stimulus
        never shown, an unusable prey direction when splitting.
    """
    path = _require_file(path)
    if not stimuli:
        raise InputError("no stimuli given to read from the protocol", path=path)
    if isinstance(time_tolerance_s, bool) or not (
        isinstance(time_tolerance_s, (int, float)) and math.isfinite(time_tolerance_s) and time_tolerance_s >= 0
    ):
        raise InputError(
            f"protocol_time_tolerance_s must be a number of seconds >= 0, got {time_tolerance_s!r}", path=path
        )
    try:
        content = pd.read_pickle(path)
    except Exception as exc:  # unpickling can fail in any way the file's code does
        raise InputError(f"cannot unpickle ({type(exc).__name__}: {exc})", path=path) from None
    if not isinstance(content, dict):
        raise InputError(
            f"expected a pickled dict with 'metadata' and 'protocol', found {type(content).__name__}",
            path=path,
        )
    protocol = content.get("protocol")
    if not isinstance(protocol, pd.DataFrame):
        found = "no 'protocol' key" if protocol is None else type(protocol).__name__
        raise InputError(f"'protocol' must be a pandas DataFrame ({found})", path=path)
    metadata = content.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise InputError(f"'metadata' must be a dict, found {type(metadata).__name__}", path=path)

    t, back = _protocol_time(protocol, path, time_tolerance_s)
    out_of_order = None
    if back is not None:
        out_of_order = dict(rows_out_of_order=int((back >= 0).sum()), largest_step_back_s=float(back.max()))
        order = np.argsort(t, kind="stable")
        protocol = protocol.iloc[order].reset_index(drop=True)
        t = t[order]
    names, onsets, durations, params = [], [], [], []
    for stem, name in stimuli.items():
        for onset, duration, par in _presentations(protocol, t, stem, name, path):
            if split_prey_direction and name.lower() == "prey":
                name_out = f"prey-{_prey_direction(par.get('prey_direction'), onset, path)}"
            else:
                name_out = name
            names.append(name_out)
            onsets.append(onset)
            durations.append(duration)
            params.append(par)

    metadata = to_jsonable(metadata)
    metadata["protocol_duration_s"] = float(t.max())
    if out_of_order is not None:
        metadata.update(out_of_order)
    return _events_frame(names, onsets, durations, params), metadata


def _protocol_time(protocol: pd.DataFrame, path: Path, tolerance_s: float) -> tuple[np.ndarray, np.ndarray | None]:
    """``t`` as float, and per row after the first how far it is behind the latest earlier row.

    The second value is None when ``t`` increases strictly; rows that do not
    advance have a value >= 0 there.
    """
    if "t" not in protocol.columns:
        raise InputError("the protocol has no time column 't'", path=path)
    t = pd.to_numeric(protocol["t"], errors="coerce").to_numpy(dtype=np.float64)
    if len(t) == 0:
        raise InputError("the protocol has no rows", path=path)
    if not np.all(np.isfinite(t)):
        row = int(np.flatnonzero(~np.isfinite(t))[0])
        raise InputError(f"'t' has a missing or non-numeric value at row {row}", path=path)
    if np.all(np.diff(t) > 0):
        return t, None
    latest = np.maximum.accumulate(t)
    back = latest[:-1] - t[1:]  # row i + 1 is this far behind the latest earlier row
    bad = back >= tolerance_s if tolerance_s > 0 else back >= 0
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        limit = (
            f"rows may step back by less than protocol_time_tolerance_s = {tolerance_s:g} s"
            if tolerance_s > 0
            else "protocol_time_tolerance_s = 0 requires t to increase"
        )
        raise InputError(
            f"'t' does not increase at row {row} ({latest[row - 1]:g} then {t[row]:g}, "
            f"{back[row - 1]:.3g} s back; {limit})",
            path=path,
        )
    return t, back


def _presentations(protocol, t, stem, name, path):
    """Yield ``(onset_s, duration_s, params)`` for each run of ``stem`` shown."""
    presence_col = f"{stem}_presence"
    if presence_col not in protocol.columns:
        available = sorted(c for c in protocol.columns if str(c).endswith("_presence"))
        raise InputError(
            f"stimulus '{name}': the protocol has no column '{presence_col}' "
            f"(it has: {', '.join(map(str, available)) or 'no *_presence columns'})",
            path=path,
        )
    presence = pd.to_numeric(protocol[presence_col], errors="coerce").fillna(0).to_numpy()
    shown = (presence > 0).astype(np.int8)
    edges = np.diff(np.concatenate(([0], shown, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1  # last row of each run
    if len(starts) == 0:
        raise InputError(f"stimulus '{name}' ({presence_col}) is never shown in the protocol", path=path)

    prefix = f"{stem}_"
    param_cols = [c for c in protocol.columns if str(c).startswith(prefix) and c not in (presence_col, f"{stem}_dur")]
    dur_col = f"{stem}_dur" if f"{stem}_dur" in protocol.columns else None
    with_direction = name.lower() == "prey" and "prey_direction" in protocol.columns
    for start, end in zip(starts, ends):
        onset = float(t[start])
        duration = float(t[end]) - onset
        if dur_col is not None:
            value = pd.to_numeric(pd.Series([protocol[dur_col].iloc[start]]), errors="coerce").iloc[0]
            if np.isfinite(value):
                duration = float(value)
        par = {}
        for c in param_cols:
            value = protocol[c].iloc[start]
            if not _is_missing(value):
                par[str(c)[len(prefix) :]] = to_jsonable(value)
        if with_direction:
            value = protocol["prey_direction"].iloc[start]
            if not _is_missing(value):
                par["prey_direction"] = to_jsonable(value)
        yield onset, duration, par


def _prey_direction(value: Any, onset: float, path: Path) -> str:
    if isinstance(value, str):
        text = value.strip().lower()
        for direction in PREY_DIRECTIONS:
            if text in (direction, direction[: -len("ward")]):
                return direction
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and value != 0 and math.isfinite(value):
        return PREY_DIRECTIONS[0] if value > 0 else PREY_DIRECTIONS[1]
    raise InputError(
        f"prey at {onset} s: cannot split by prey_direction {value!r} (expected "
        "'nasalward'/'temporalward', or a number > 0 nasalward, < 0 temporalward)",
        path=path,
    )
