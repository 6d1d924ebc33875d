"""Insert one recording — fish, recording, protocol and ROI traces — all or nothing.

Everything is validated before the first row is written; the writes then
happen in one transaction, so bad input leaves the database exactly as it was.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import acquisition, analysis, plausibility, reference
from .bulk import insert_columns
from .names import check_identifier


class IngestError(ValueError):
    """Bad input for one recording; the message names the recording and what is wrong."""


class IngestWarning(UserWarning):
    """Something a recording's data may not do what is expected; it was ingested anyway.

    For example ROIs whose raw fluorescence has a baseline <= 0: the default
    ΔF/F leaves them out (``analysis.DeltaF.Excluded``).
    """


#: column widths of the string attributes, checked before inserting
_MAX_LEN = {"fish": 64, "recording": 64, "experiment": 64, "region": 64, "genotype": 255, "notes": 2000}


def _check_name(what: str, value: Any, where: str, *, required: bool) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise IngestError(f"{where}: '{what}' is required")
        return ""
    if what in ("fish", "recording"):
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            value = str(value)
        try:
            return check_identifier(what, value, max_len=_MAX_LEN[what], where=where)
        except ValueError as err:
            raise IngestError(str(err)) from None
    value = str(value)
    limit = _MAX_LEN[what]
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


def _stimulus_hint(names: Sequence[str]) -> str:
    first = names[0]
    return (
        f"declare it with reference.StimulusType.add({first!r}, 'description'), "
        f"`tectum stimulus add {first}`, or a manifest [stimulus_types] table"
    )


def _check_events(events, n_rois: int, n_frames: int, frame_period_s: float, where: str) -> pd.DataFrame:
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
            f"({_stimulus_hint(unknown)})"
        )
    duration = n_frames * frame_period_s
    extent = f"{n_frames} frames x {frame_period_s} s = {duration} s"
    onsets = []
    for i, ev in df.iterrows():
        label = f"event #{i} ({ev['stimulus']!r} at {ev['onset_s']} s)"
        try:
            onset, dur = float(ev["onset_s"]), float(ev["duration_s"])
        except (TypeError, ValueError):
            raise IngestError(f"{where}: {label}: onset and duration must be numbers") from None
        if not (math.isfinite(onset) and math.isfinite(dur)) or dur < 0:
            raise IngestError(f"{where}: {label}: onset and duration must be finite, duration >= 0")
        onsets.append(onset)
    for i, onset in enumerate(onsets):
        if onset < 0 or onset >= duration:
            label = f"event #{i} ({df['stimulus'][i]!r} at {df['onset_s'][i]} s)"
            hint = plausibility.transposed_fit(n_rois, n_frames, frame_period_s, last_onset_s=max(onsets))
            hint = f"; the traces matrix looks transposed: {hint}; pass it as ROIs x frames" if hint else ""
            raise IngestError(f"{where}: {label} lies outside the recording ({extent}){hint}")
    pairs = plausibility.duplicate_presentations(df["stimulus"].astype(str), onsets)
    if pairs:
        first, again = pairs[0]
        more = f" ({len(pairs)} repeated presentations)" if len(pairs) > 1 else ""
        raise IngestError(
            f"{where}: events #{first} and #{again} are the same presentation ({df['stimulus'][first]!r} "
            f"at {onsets[first]} s){more}; each presentation may be listed once"
        )
    df["onset_s"] = onsets
    df["duration_s"] = df["duration_s"].astype(float)
    if "params" in df.columns:
        params = []
        for i, (name, p) in enumerate(zip(df["stimulus"], df["params"])):
            label = f"event #{i} ({name!r} at {onsets[i]} s): params"
            if p is None or (isinstance(p, float) and math.isnan(p)):
                params.append(None)
            elif not isinstance(p, Mapping):
                raise IngestError(f"{where}: {label} must be a dict of parameter values, got {type(p).__name__} {p!r}")
            else:
                params.append(json_value(p, label, where) or None)
        df["params"] = pd.Series(params, dtype=object)
    return df.sort_values("onset_s", kind="stable").reset_index(drop=True)


def json_value(value: Any, what: str, where: str) -> Any:
    """``value`` as plain JSON for a json column, or IngestError naming ``what`` and the key at fault.

    Dicts (string or integer keys), lists, tuples, NumPy arrays and scalars,
    strings, numbers, booleans, None, dates (as ISO strings) are accepted; NaN
    becomes null (a missing value). Infinities, sets, bytes and other objects
    are refused rather than silently converted.
    """

    def convert(obj, path):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, np.generic):
            obj = obj.item()
            if isinstance(obj, (bytes, np.generic)):
                raise IngestError(f"{where}: {what}{path} is {obj!r}, not a JSON value")
            return convert(obj, path)
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            if math.isnan(obj):
                return None
            if math.isinf(obj):
                raise IngestError(f"{where}: {what}{path} is {obj}, which JSON cannot hold")
            return obj
        if isinstance(obj, Mapping):
            out = {}
            for k, v in obj.items():
                if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, int, np.integer)):
                    raise IngestError(f"{where}: {what}{path} has the key {k!r}; JSON keys are text")
                out[str(k)] = convert(v, f"{path}[{str(k)!r}]")
            return out
        if isinstance(obj, (list, tuple)):
            return [convert(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, np.ndarray):
            return convert(obj.tolist(), path)
        if isinstance(obj, (_dt.date, _dt.datetime, _dt.time)):
            return obj.isoformat()
        raise IngestError(
            f"{where}: {what}{path} is a {type(obj).__name__} ({obj!r}), not a JSON value "
            "(use dicts, lists, text, numbers, booleans)"
        )

    return convert(value, "")


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
    stimulus_groups: Mapping | None = None,
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
        Seconds between frames, 1 ms to 60 s.
    traces : ndarray of shape (n_rois, n_frames)
        Raw fluorescence (``trace_kind="raw"``) or dF/F (``"dff"``); stored as float32.
    events : DataFrame or list of dict
        Columns ``stimulus``, ``onset_s``, ``duration_s`` and optionally ``params`` (a
        dict of JSON values per presentation). Each (stimulus, onset) at most once.
    roi_ids : sequence of int, optional
        Ids in the segmentation output (default ``0..n_rois-1``); integers, unique.
    positions : ndarray of shape (n_rois, 2 or 3), optional
        ROI centroids in pixels (finite, at most 1e6 in magnitude).
    neuropil : ndarray of shape (n_rois, n_frames), optional
        Neuropil traces for neuropil subtraction.
    age_dpf : float, optional
        Days post fertilisation, 0 to 10000.
    recorded_at : datetime, date or ISO 8601 str, optional
        Stored as the wall-clock time written; a UTC offset, if any, is kept in
        the metadata as ``recorded_at_utc_offset``.
    metadata : dict, optional
        JSON values (dicts, lists, text, numbers, booleans); NaN becomes null.
    replace : bool
        Replace an existing recording of the same name (and everything computed
        from it), in the same transaction as the insert: if anything fails the
        old recording stays exactly as it was. Without it an existing
        recording is an error.
    where : str, optional
        How to name this recording in errors (e.g. the manifest entry).
    stimulus_groups : dict of str to list of str, optional
        Regressor name -> the stimuli it pools (e.g. both prey directions),
        used by parameter sets that do not define their own groups.

    Returns
    -------
    dict
        The recording's primary key.

    Raises
    ------
    IngestError
        For any invalid input, before anything is written: a name the database
        cannot hold exactly (see :func:`schemas.names.check_identifier`), an
        unknown sensor or stimulus, an implausible frame period, age, time or
        position, traces that are not a finite ROIs x frames matrix (the
        message says when the matrix looks transposed), events outside the
        recording, repeated or all in its last second, parameters or metadata
        JSON cannot hold, every ROI with a raw baseline <= 0.

    Warns
    -----
    IngestWarning
        After inserting, when some ROIs have a raw baseline (the default
        parameter set's percentile) <= 0; the message names them.
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
    problem = plausibility.frame_period_problem(frame_period_s)
    if problem:
        raise IngestError(f"{where}: frame period {problem}")
    if age_dpf is not None:
        problem = plausibility.age_problem(age_dpf)
        if problem:
            raise IngestError(f"{where}: age_dpf {problem}")
        age_dpf = float(age_dpf)
    try:
        recorded_at, utc_offset = plausibility.recorded_at_value(recorded_at)
    except ValueError as err:
        raise IngestError(f"{where}: recorded_at {err}") from None
    metadata = json_value(dict(metadata or {}), "metadata", where)
    if utc_offset is not None:  # the column holds the wall-clock time; keep the offset
        metadata["recorded_at_utc_offset"] = utc_offset

    try:
        traces = np.asarray(traces)
    except (TypeError, ValueError):  # numpy refuses ragged nested lists
        raise IngestError(f"{where}: traces are not a ROIs x frames matrix (rows of different lengths?)") from None
    if traces.ndim != 2 or traces.dtype.kind not in "iuf":
        raise IngestError(
            f"{where}: traces must be a numeric ROIs x frames matrix, got shape {traces.shape} {traces.dtype}"
        )
    n_rois, n_frames = traces.shape
    if n_rois < 1 or n_frames < 1:
        raise IngestError(f"{where}: traces have {n_rois} ROIs and {n_frames} frames; need at least one of each")
    traces = np.ascontiguousarray(traces, dtype=np.float32)
    roi_ids = _check_roi_ids(roi_ids, n_rois, where)
    bad = ~np.isfinite(traces).all(axis=1)
    if bad.any():
        raise IngestError(
            f"{where}: ROI {roi_ids[np.argmax(bad)]} has NaN or infinite values ({bad.sum()} ROIs affected)"
        )
    if neuropil is not None:
        neuropil = np.ascontiguousarray(neuropil, dtype=np.float32)
        if neuropil.shape != traces.shape:
            raise IngestError(f"{where}: neuropil shape {neuropil.shape} differs from traces {traces.shape}")
        if not np.isfinite(neuropil).all():
            raise IngestError(f"{where}: neuropil traces have NaN or infinite values")
    if positions is not None:
        try:
            positions = np.asarray(positions, dtype=float)
        except (TypeError, ValueError):
            raise IngestError(f"{where}: positions must be a numeric n_rois x 2 or 3 array") from None
        if positions.ndim != 2 or positions.shape[0] != n_rois or positions.shape[1] not in (2, 3):
            raise IngestError(f"{where}: positions must be n_rois x 2 or 3, got {positions.shape}")
        problem = plausibility.position_problem(positions, roi_ids)
        if problem:
            raise IngestError(f"{where}: {problem}")
        if positions.shape[1] == 2:
            positions = np.column_stack([positions, np.full(n_rois, np.nan)])
    events = _check_events(events, n_rois, n_frames, frame_period_s, where)
    # at most one regressor per distinct stimulus; the fit needs n_frames > n_regressors + 1
    n_stimuli = int(events["stimulus"].nunique())
    if n_frames < n_stimuli + 2:
        raise IngestError(
            f"{where}: the traces have {n_frames} frame(s); the regression on up to {n_stimuli} stimulus "
            f"regressor(s) needs more frames than regressors + 1 (at least {n_stimuli + 2})"
        )
    problem = plausibility.late_stimuli_problem(events["onset_s"], n_frames, frame_period_s)
    if problem:
        raise IngestError(f"{where}: {problem}")
    low_baseline = _check_baselines(traces, roi_ids, trace_kind, where)

    stimuli = sorted(set(events["stimulus"].astype(str)))
    groups = _check_groups(stimulus_groups, stimuli, where)
    version = recording_version(traces, neuropil, frame_period_s, sensor, events, groups)

    key = {"fish": fish, "recording": recording}
    conn = acquisition.Recording.connection
    with conn.transaction:
        # the old version goes in the same transaction as the new one arrives: any failure keeps it
        if acquisition.Recording & key:
            if not replace:
                raise IngestError(
                    f"{where}: recording {fish}/{recording} is already ingested (use replace to re-insert)"
                )
            (acquisition.Recording & key).delete(prompt=False, transaction=False)
        existing = (acquisition.Fish & {"fish": fish}).to_dicts()
        if not existing:
            acquisition.Fish.insert1(dict(fish=fish, genotype=genotype, age_dpf=age_dpf, notes=notes if notes else ""))
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
                imaging_metadata=metadata,
                stimulus_groups=groups,
                version=version,
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
                    params=p if p else None,
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
        analysis.AnalysisTask.assign_new_recording(key, sensor, stimuli, n_rois)
    if low_baseline:
        warnings.warn(low_baseline, IngestWarning, stacklevel=2)
    return key


def _check_roi_ids(roi_ids, n_rois: int, where: str) -> np.ndarray:
    """ROI ids as int64: integers (whole-number floats accepted), one per ROI, unique."""
    if roi_ids is None:
        return np.arange(n_rois, dtype=np.int64)
    try:
        ids = np.asarray(roi_ids)
    except (TypeError, ValueError):
        raise IngestError(f"{where}: roi_ids must be a sequence of integers") from None
    if ids.ndim != 1 or ids.shape != (n_rois,):
        raise IngestError(f"{where}: {ids.size} ROI ids for {n_rois} traces")
    if ids.dtype.kind == "f":
        whole = np.isfinite(ids) & (ids == np.round(ids)) & (np.abs(ids) < 2**63)
        if not whole.all():
            i = int(np.flatnonzero(~whole)[0])
            raise IngestError(
                f"{where}: ROI id {float(ids[i])!r} (row {i}) is not an integer; ROI ids must be whole numbers"
            )
    elif ids.dtype.kind not in "iu":
        raise IngestError(f"{where}: ROI ids must be integers, got {ids.dtype} values such as {ids.tolist()[0]!r}")
    ids = ids.astype(np.int64)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise IngestError(f"{where}: duplicate ROI id(s) {uniq[counts > 1][:10].tolist()}")
    return ids


def _default_baseline_percentile() -> float:
    """The percentile the default parameter set takes as each ROI's baseline F0."""
    from pipeline.params import DEFAULT_PARAMSET

    method, params = DEFAULT_PARAMSET["dff"]
    return float(params.get("percentile", 8.0))


def _check_baselines(traces: np.ndarray, roi_ids: np.ndarray, trace_kind: str, where: str) -> str | None:
    """A warning naming the ROIs whose raw baseline is <= 0; IngestError when that is every ROI.

    The default ΔF/F divides by each ROI's low percentile of raw fluorescence;
    such ROIs are left out of the analysis (``DeltaF.Excluded``), so a few
    of them do not block the others, but a recording of nothing else is
    unusable.
    """
    if trace_kind != "raw":
        return None
    percentile = _default_baseline_percentile()
    bad = plausibility.low_baseline_rois(traces, percentile)
    if len(bad) == 0:
        return None
    ids = ", ".join(str(int(i)) for i in roi_ids[bad[:20]]) + (", ..." if len(bad) > 20 else "")
    what = (
        f"the {percentile:g}th percentile of the raw fluorescence (the default baseline F0) is <= 0 "
        "(background over-subtracted, or the traces are already dF/F: then give trace_kind 'dff')"
    )
    if len(bad) == len(roi_ids):
        raise IngestError(f"{where}: every ROI is unusable: {what}; ROI ids {ids}")
    return (
        f"{where}: {len(bad)} of {len(roi_ids)} ROIs (ids {ids}): {what}; "
        "the default analysis leaves them out (analysis.DeltaF.Excluded)"
    )


def recording_version(traces, neuropil, frame_period_s, sensor, events, groups) -> str:
    """Hash of everything the analysis reads from a recording (its ``version``)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((traces.shape, str(traces.dtype), float(frame_period_s), sensor)).encode())
    digest.update(memoryview(np.ascontiguousarray(traces)).cast("B"))
    if neuropil is not None:
        digest.update(b"neuropil")
        digest.update(memoryview(np.ascontiguousarray(neuropil)).cast("B"))
    protocol = [[str(ev.stimulus), float(ev.onset_s), float(ev.duration_s)] for ev in events.itertuples(index=False)]
    digest.update(json.dumps([protocol, groups], sort_keys=True).encode())
    return digest.hexdigest()


def _check_groups(groups, stimuli, where: str):
    """Validate a recording's regressor groups: regressor name -> stimuli it pools (or None)."""
    if groups is None:
        return None
    if not isinstance(groups, Mapping) or not groups:
        raise IngestError(
            f"{where}: stimulus groups must be a table of regressor name -> list of stimuli, got {groups!r}"
        )
    # a group whose stimuli this recording does not present is simply absent from its design
    known = set(reference.StimulusType().to_arrays("stimulus"))
    out, seen = {}, {}
    for name, members in groups.items():
        try:
            name = check_identifier("group", str(name), max_len=64, where=where)
        except ValueError as err:
            raise IngestError(str(err)) from None
        if name in reference.RESERVED_CLASS_NAMES:
            raise IngestError(f"{where}: group name {name!r} is reserved for a response class")
        if isinstance(members, str):
            members = [members]
        if not isinstance(members, (list, tuple)) or not members or not all(isinstance(m, str) for m in members):
            raise IngestError(f"{where}: group {name!r} must list one or more stimulus names, got {members!r}")
        for m in members:
            if m in seen:
                raise IngestError(f"{where}: stimulus {m!r} is in two groups ({seen[m]!r} and {name!r})")
            seen[m] = name
        unknown = [m for m in members if m not in known]
        if unknown:
            raise IngestError(
                f"{where}: group {name!r} names unknown stimulus {', '.join(map(repr, unknown))} "
                "(declare it first, or fix the spelling)"
            )
        out[name] = list(members)
    return out
