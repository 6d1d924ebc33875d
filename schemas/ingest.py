"""Insert one recording — fish, recording, protocol and ROI traces — all or nothing.

Everything is validated before the first row is written; the writes then
happen in one transaction, so bad input leaves the database exactly as it was.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import acquisition, reference
from .bulk import insert_columns


class IngestError(ValueError):
    """Bad input for one recording; the message names the recording and what is wrong."""


#: column widths of the string attributes, checked before inserting
_MAX_LEN = {"fish": 64, "recording": 64, "experiment": 64, "region": 64, "genotype": 255, "notes": 2000}


def _check_name(what: str, value: Any, where: str, *, required: bool) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise IngestError(f"{where}: '{what}' is required")
        return ""
    value = str(value)
    limit = _MAX_LEN[what]
    if what in ("fish", "recording") and ("\\" in value or any(ord(c) < 32 for c in value)):
        # backslashes break key matching on PostgreSQL; control characters break files and SQL tools
        raise IngestError(f"{where}: '{what}' {value!r} contains a backslash or a control character")
    if len(value) > limit:
        raise IngestError(f"{where}: '{what}' is {len(value)} characters long; at most {limit} fit")
    return value


def canonical_sensor(sensor: str, where: str = "recording") -> str:
    """The sensor's name as spelled in :class:`reference.Sensor` (case-insensitive match)."""
    known = list(reference.Sensor().to_arrays("sensor"))
    for name in known:
        if str(name).lower() == str(sensor).lower():
            return str(name)
    raise IngestError(f"{where}: unknown sensor {sensor!r}; known sensors: {', '.join(sorted(known))}")


def _check_events(events, n_frames: int, frame_period_s: float, where: str) -> pd.DataFrame:
    if events is None:
        raise IngestError(f"{where}: no stimulus protocol given")
    df = pd.DataFrame(events).reset_index(drop=True)
    missing = {"stimulus", "onset_s", "duration_s"} - set(df.columns)
    if missing:
        raise IngestError(f"{where}: stimulus events lack column(s) {sorted(missing)}")
    if len(df) == 0:
        raise IngestError(f"{where}: the stimulus protocol is empty")
    known = set(reference.StimulusType().to_arrays("stimulus"))
    unknown = sorted(set(df["stimulus"].astype(str)) - known)
    if unknown:
        raise IngestError(
            f"{where}: unknown stimulus {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))} "
            "(add new ones to reference.StimulusType)"
        )
    duration = n_frames * frame_period_s
    for i, ev in df.iterrows():
        label = f"event #{i} ({ev['stimulus']!r} at {ev['onset_s']} s)"
        try:
            onset, dur = float(ev["onset_s"]), float(ev["duration_s"])
        except (TypeError, ValueError):
            raise IngestError(f"{where}: {label}: onset and duration must be numbers") from None
        if not (math.isfinite(onset) and math.isfinite(dur)) or dur < 0:
            raise IngestError(f"{where}: {label}: onset and duration must be finite, duration >= 0")
        if onset < 0 or onset >= duration:
            raise IngestError(
                f"{where}: {label} lies outside the recording ({n_frames} frames x {frame_period_s} s = {duration} s)"
            )
    return df.sort_values("onset_s", kind="stable").reset_index(drop=True)


def _jsonable(obj):
    """Convert numpy scalars/arrays inside metadata to plain Python for the json column."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (_dt.date, _dt.datetime)):
        return obj.isoformat()
    return obj


def insert_recording(
    *,
    fish: str,
    recording: str,
    region: str,
    sensor: str,
    frame_period_s: float,
    traces: np.ndarray,
    events,
    trace_kind: str = "raw",
    roi_ids: Sequence[int] | None = None,
    positions: np.ndarray | None = None,
    neuropil: np.ndarray | None = None,
    experiment: str | None = None,
    genotype: str | None = None,
    age_dpf: float | None = None,
    notes: str | None = None,
    recorded_at: _dt.datetime | None = None,
    metadata: Mapping | None = None,
    replace: bool = False,
    where: str | None = None,
) -> dict:
    """Validate and insert one recording in a single transaction.

    Parameters
    ----------
    fish, recording : str
        Identifiers; the fish row is created if new.
    region : str
        Brain region imaged, e.g. ``"right_tectum"``.
    sensor : str
        A sensor of :class:`reference.Sensor` (case-insensitive).
    frame_period_s : float
        Seconds between frames (> 0).
    traces : ndarray of shape (n_rois, n_frames)
        Raw fluorescence (``trace_kind="raw"``) or dF/F (``"dff"``); stored as float32.
    events : DataFrame or list of dict
        Columns ``stimulus``, ``onset_s``, ``duration_s`` and optionally ``params`` (dict).
    roi_ids : sequence of int, optional
        Ids in the segmentation output (default ``0..n_rois-1``); must be unique.
    positions : ndarray of shape (n_rois, 2 or 3), optional
        ROI centroids in pixels.
    neuropil : ndarray of shape (n_rois, n_frames), optional
        Neuropil traces for neuropil subtraction.
    replace : bool
        Delete an existing recording of the same name (and everything computed
        from it) before inserting. Without it an existing recording is an error.
    where : str, optional
        How to name this recording in errors (e.g. the manifest entry).

    Returns
    -------
    dict
        The recording's primary key.

    Raises
    ------
    IngestError
        For any invalid input, before anything is written.
    """
    where = where or f"recording {fish}/{recording}"
    fish = _check_name("fish", fish, where, required=True)
    recording = _check_name("recording", recording, where, required=True)
    region = _check_name("region", region, where, required=True)
    experiment = _check_name("experiment", experiment, where, required=False)
    genotype = _check_name("genotype", genotype, where, required=False)
    notes = _check_name("notes", notes, where, required=False)
    sensor = canonical_sensor(sensor, where)
    if trace_kind not in ("raw", "dff"):
        raise IngestError(f"{where}: trace_kind must be 'raw' or 'dff', not {trace_kind!r}")
    try:
        frame_period_s = float(frame_period_s)
    except (TypeError, ValueError):
        raise IngestError(f"{where}: frame period {frame_period_s!r} is not a number") from None
    if not math.isfinite(frame_period_s) or frame_period_s <= 0:
        raise IngestError(f"{where}: frame period must be a positive number of seconds, not {frame_period_s}")

    try:
        traces = np.asarray(traces)
    except (TypeError, ValueError):  # numpy refuses ragged nested lists
        raise IngestError(f"{where}: traces are not a ROIs x frames matrix (rows of different lengths?)") from None
    if traces.ndim != 2 or traces.dtype.kind not in "iuf":
        raise IngestError(f"{where}: traces must be a numeric ROIs x frames matrix, got shape {traces.shape} {traces.dtype}")
    n_rois, n_frames = traces.shape
    if n_rois < 1 or n_frames < 1:
        raise IngestError(f"{where}: traces have {n_rois} ROIs and {n_frames} frames; need at least one of each")
    traces = np.ascontiguousarray(traces, dtype=np.float32)
    roi_ids = np.arange(n_rois, dtype=np.int64) if roi_ids is None else np.asarray(roi_ids, dtype=np.int64)
    if roi_ids.shape != (n_rois,):
        raise IngestError(f"{where}: {len(roi_ids)} ROI ids for {n_rois} traces")
    uniq, counts = np.unique(roi_ids, return_counts=True)
    if (counts > 1).any():
        raise IngestError(f"{where}: duplicate ROI id(s) {uniq[counts > 1][:10].tolist()}")
    bad = ~np.isfinite(traces).all(axis=1)
    if bad.any():
        raise IngestError(f"{where}: ROI {roi_ids[np.argmax(bad)]} has NaN or infinite values ({bad.sum()} ROIs affected)")
    if neuropil is not None:
        neuropil = np.ascontiguousarray(neuropil, dtype=np.float32)
        if neuropil.shape != traces.shape:
            raise IngestError(f"{where}: neuropil shape {neuropil.shape} differs from traces {traces.shape}")
        if not np.isfinite(neuropil).all():
            raise IngestError(f"{where}: neuropil traces have NaN or infinite values")
    if positions is not None:
        positions = np.asarray(positions, dtype=float)
        if positions.ndim != 2 or positions.shape[0] != n_rois or positions.shape[1] not in (2, 3):
            raise IngestError(f"{where}: positions must be n_rois x 2 or 3, got {positions.shape}")
        if positions.shape[1] == 2:
            positions = np.column_stack([positions, np.full(n_rois, np.nan)])
    events = _check_events(events, n_frames, frame_period_s, where)
    # at most one regressor per distinct stimulus; the fit needs n_frames > n_regressors + 1
    n_stimuli = int(events["stimulus"].nunique())
    if n_frames < n_stimuli + 2:
        raise IngestError(
            f"{where}: the traces have {n_frames} frame(s); the regression on up to {n_stimuli} stimulus "
            f"regressor(s) needs more frames than regressors + 1 (at least {n_stimuli + 2})"
        )

    key = {"fish": fish, "recording": recording}
    exists = bool(acquisition.Recording & key)
    if exists and not replace:
        raise IngestError(f"{where}: recording {fish}/{recording} is already ingested (use replace to re-insert)")

    conn = acquisition.Recording.connection
    with conn.transaction:
        if exists:  # in the transaction: if writing the new one fails, the old one stays
            (acquisition.Recording & key).delete(prompt=False, transaction=False)
        existing = (acquisition.Fish & {"fish": fish}).to_dicts()
        if not existing:
            acquisition.Fish.insert1(
                dict(fish=fish, genotype=genotype, age_dpf=age_dpf, notes=notes if notes else "")
            )
        elif genotype and existing[0]["genotype"] and existing[0]["genotype"] != genotype:
            raise IngestError(
                f"{where}: fish {fish} is recorded with genotype {existing[0]['genotype']!r}, not {genotype!r}"
            )
        acquisition.Recording.insert1(
            dict(
                key,
                experiment=experiment,
                region=region,
                sensor=sensor,
                frame_period_s=frame_period_s,
                n_frames=n_frames,
                n_rois=n_rois,
                recorded_at=recorded_at,
                imaging_metadata=_jsonable(dict(metadata or {})),
            )
        )
        params = events["params"] if "params" in events.columns else [None] * len(events)
        acquisition.Presentation.insert(
            [
                dict(
                    key,
                    presentation=i,
                    stimulus=str(ev.stimulus),
                    onset_s=float(ev.onset_s),
                    duration_s=float(ev.duration_s),
                    params=_jsonable(p) if isinstance(p, Mapping) and p else None,
                )
                for i, (ev, p) in enumerate(zip(events.itertuples(index=False), params))
            ]
        )
        acquisition.RoiTraces.insert1(dict(key, trace_kind=trace_kind, traces=traces, neuropil=neuropil))
        pos = positions if positions is not None else np.full((n_rois, 3), np.nan)
        insert_columns(
            acquisition.RoiTraces.Roi,
            dict(roi=np.arange(n_rois), source_id=roi_ids, x=pos[:, 0], y=pos[:, 1], z=pos[:, 2]),
            key,
        )
    return key
