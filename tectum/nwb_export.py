"""Write one analysed recording as an NWB file: :func:`write_recording_nwb`.

The writer takes arrays and metadata and never touches the database
(:mod:`tectum.nwb_db` gathers them from it).  The file it writes holds:

* ``/general/subject``: the fish (``subject_id``), genotype, age
  (``P<age_dpf>D``), species;
* ``/processing/ophys/ImageSegmentation/PlaneSegmentation``: one row per
  ROI, its id the ROI's id in the segmentation output, with the centroid in
  the columns ``x``, ``y``, ``z`` (pixels, NaN unknown).  NWB requires a
  mask column: the database keeps centroids only, so ``pixel_mask`` holds
  the single pixel nearest the centroid (weight 0 when it is unknown);
* ``/processing/ophys/DfOverF/dff``: the ΔF/F, a ``RoiResponseSeries``
  (frames x ROIs) whose ``rois`` region covers every row of the
  PlaneSegmentation, at the recording's frame rate from time 0 (the first
  frame, which is the session start);
* ``/intervals/stimulus``: the stimulus presentations (``start_time`` =
  onset, ``stop_time`` = onset + duration, ``stimulus``, and one column per
  stimulus parameter, NaN or ``''`` where a presentation lacks it);
* ``/analysis/regressor_<name>``: each regressor of the fit, a
  ``TimeSeries`` on the frame times;
* ``/analysis/roi_results``: a ``DynamicTable`` with one row per ROI (its
  ``roi`` column a ``DynamicTableRegion`` into the PlaneSegmentation) and
  one column per result (r², p, q, selected, class, cluster, coefficients,
  amplitudes ... as given).

Needs the optional ``pynwb`` package (``pip install tectum-pipeline[nwb]``).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["RESULT_DESCRIPTIONS", "write_recording_nwb"]

#: descriptions of the per-ROI result columns :func:`write_recording_nwb` knows
RESULT_DESCRIPTIONS = {
    "r2": "coefficient of determination of the ROI's dF/F regressed on the regressors (NaN: zero-variance trace)",
    "adj_r2": "adjusted r2 (NaN: zero-variance trace)",
    "intercept": "intercept of the regression",
    "f_stat": "F statistic of the whole model (NaN: undefined)",
    "p_parametric": "p-value of the F-test of the whole model, which assumes white noise (NaN: undefined)",
    "p_permutation": "circular-shift permutation p-value of r2 (NaN: not computed, e.g. parametric analysis)",
    "n_shifts": "circular shifts in the permutation null (0: none)",
    "q_value": "Benjamini-Hochberg q-value, across the recording's ROIs, of the p-value used for selection",
    "selected": "stimulus-locked: passes the parameter set's FDR level (and r2 floor where it has one)",
    "excluded": "why the ROI was left out of the analysis (e.g. baseline <= 0); empty when analysed",
    "experiment": "experiment code of the recording",
    "roi_class": "response class of a selected ROI: a regressor, inhibited, mixed or unclassified; empty when not "
    "selected",
    "class": "response class of a selected ROI: a regressor, inhibited, mixed or unclassified; empty when not selected",
    "class_score": "the score of the class's regressor (null-standardised coefficient or t; NaN: none)",
    "class_margin": "relative margin between the two best positive scores (NaN: not defined)",
    "cluster": "flat hierarchical cluster among all ROIs, 1..n_clusters; -1 when not clustered",
    "leaf_rank": "position in the dendrogram of all ROIs; -1 when not clustered",
}

#: per-regressor columns: prefix -> description (the regressor's name follows the prefix)
_PER_REGRESSOR = {
    "coef_": "regression coefficient of regressor '{}'",
    "t_": "t-statistic of the coefficient of regressor '{}' (NaN: undefined)",
    "z_": "coefficient of regressor '{}' standardised against its circular-shift null (NaN: undefined)",
    "pcoef_": "p-value of the coefficient of regressor '{}' used by the class rule (NaN: undefined)",
    "amplitude_": "mean dF/F after the onsets of regressor '{}' minus the mean before them (NaN: undefined)",
}

_MISSING_TIME = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _describe(name: str, regressors, extra: Mapping[str, str]) -> str:
    if name in extra:
        return extra[name]
    if name in RESULT_DESCRIPTIONS:
        return RESULT_DESCRIPTIONS[name]
    for prefix, text in _PER_REGRESSOR.items():
        if name.startswith(prefix) and name[len(prefix) :] in regressors:
            return text.format(name[len(prefix) :])
    raise ValueError(
        f"result column '{name}' has no description: give it in column_descriptions "
        f"(known: {', '.join(RESULT_DESCRIPTIONS)}, coef_/t_/amplitude_<regressor>)"
    )


def _column(name: str, values, n: int) -> np.ndarray:
    """A result column as a bool, int64, float64 or str array of length ``n``."""
    if isinstance(values, pd.Series):
        if isinstance(values.dtype, pd.BooleanDtype | pd.Int64Dtype | pd.Float64Dtype) and values.isna().any():
            raise ValueError(f"result column '{name}' has missing values; fill them (e.g. -1 or NaN) first")
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"result column '{name}' has shape {arr.shape}; expected ({n},), one value per ROI")
    if arr.dtype.kind == "b":
        return arr.astype(bool)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    if arr.dtype.kind in "OUS":
        items = arr.tolist()
        if all(v is None or isinstance(v, str) for v in items):
            return np.array(["" if v is None else v for v in items], dtype=object)
        if all(v is None or (isinstance(v, (int, float, np.number)) and not isinstance(v, bool)) for v in items):
            return np.array([np.nan if v is None else float(v) for v in items], dtype=np.float64)
    raise ValueError(f"result column '{name}' mixes types ({arr.dtype}); give numbers, booleans or text")


def _session_start(recorded_at):
    if recorded_at is None:
        return _MISSING_TIME
    if isinstance(recorded_at, str):
        recorded_at = _dt.datetime.fromisoformat(recorded_at)
    if isinstance(recorded_at, pd.Timestamp):
        recorded_at = recorded_at.to_pydatetime()
    if not isinstance(recorded_at, _dt.datetime):  # a date
        recorded_at = _dt.datetime.combine(recorded_at, _dt.time())
    # a naive time is the lab's wall-clock time: NWB needs it with its offset
    return recorded_at if recorded_at.tzinfo is not None else recorded_at.astimezone()


def _events_table(events: pd.DataFrame):
    from pynwb.epoch import TimeIntervals

    table = TimeIntervals(name="stimulus", description="stimulus presentations; times from the first frame")
    onsets = events["onset_s"].to_numpy(dtype=np.float64)
    durations = events["duration_s"].to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(onsets) & np.isfinite(durations) & (durations >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"presentation {i} ('{events['stimulus'].iloc[i]}'): onset and duration must be finite, duration >= 0"
        )
    table.add_column("stimulus", "name of the stimulus presented")
    params = list(events["params"]) if "params" in events.columns else [None] * len(events)
    params = [p if isinstance(p, Mapping) else {} for p in params]
    columns = {}
    for key in dict.fromkeys(k for p in params for k in p):
        # one column per parameter; a name the table already uses gets a prefix
        name = f"param_{key}" if key in ("start_time", "stop_time", "stimulus", "tags", "timeseries") else str(key)
        columns[name] = _parameter_column(str(key), [p.get(key) for p in params])
    for name, (description, _) in columns.items():
        table.add_column(name, description)
    for i, stimulus in enumerate(events["stimulus"]):
        table.add_row(
            start_time=onsets[i],
            stop_time=onsets[i] + durations[i],
            stimulus=str(stimulus),
            **{name: values[i] for name, (_, values) in columns.items()},
        )
    return table


def _parameter_column(key: str, values: list) -> tuple[str, list]:
    """(description, per-row values) of one stimulus parameter; missing values as NaN or ''."""
    given = [v for v in values if v is not None]
    if given and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given):
        return f"stimulus parameter '{key}' (NaN: not given)", [np.nan if v is None else float(v) for v in values]
    if all(isinstance(v, bool) for v in values):
        return f"stimulus parameter '{key}'", values
    if all(isinstance(v, str) for v in given):
        return f"stimulus parameter '{key}' ('': not given)", ["" if v is None else v for v in values]
    return (
        f"stimulus parameter '{key}' as JSON ('': not given)",
        ["" if v is None else json.dumps(v, sort_keys=True, default=str) for v in values],
    )


def _plane_segmentation(plane, roi_ids: np.ndarray, positions: np.ndarray):
    from hdmf.common import VectorData, VectorIndex
    from pynwb.ophys import PlaneSegmentation

    pixel = np.floor(positions[:, :2] + 0.5)  # nearest pixel, halves up
    known = np.isfinite(pixel).all(axis=1) & (pixel >= 0).all(axis=1)
    # one row per ROI; an unknown centroid is pixel (0, 0) with weight 0, i.e. no pixel of the ROI
    flat = np.zeros(len(roi_ids), dtype=[("x", "<u4"), ("y", "<u4"), ("weight", "<f4")])
    flat["x"][known], flat["y"][known], flat["weight"][known] = pixel[known, 0], pixel[known, 1], 1.0
    mask = VectorData(
        name="pixel_mask",
        data=flat,
        description="the single pixel nearest the ROI's centroid (x, y, weight); the database "
        "keeps centroids, not masks; weight 0 when the centroid is unknown",
    )
    index = VectorIndex(name="pixel_mask_index", data=np.arange(1, len(roi_ids) + 1, dtype=np.int64), target=mask)
    columns = [mask, index] + [
        VectorData(
            name=axis,
            data=positions[:, k].astype(np.float64),
            description=f"{axis} of the ROI's centroid, pixels (NaN: unknown)",
        )
        for k, axis in enumerate("xyz")
    ]
    return PlaneSegmentation(
        name="PlaneSegmentation",
        description="ROIs of the recording; ids are the ROI ids in the segmentation output",
        imaging_plane=plane,
        id=[int(i) for i in roi_ids],
        columns=columns,
        colnames=["pixel_mask", "x", "y", "z"],
    )


def write_recording_nwb(
    path,
    *,
    dff,
    frame_period_s: float,
    roi_ids,
    regressors: Mapping[str, np.ndarray],
    results,
    fish: str,
    recording: str,
    paramset: str,
    sensor: str,
    region: str,
    positions=None,
    events: pd.DataFrame | None = None,
    genotype: str | None = None,
    age_dpf: float | None = None,
    recorded_at=None,
    experiment: str | None = None,
    paramset_description: str | None = None,
    column_descriptions: Mapping[str, str] | None = None,
    species: str = "Danio rerio",
) -> Path:
    """Write one recording's ΔF/F, regressors and per-ROI results as an NWB file.

    Parameters
    ----------
    path : str or path-like
        The ``.nwb`` file to write (its folder is created; an existing file
        is replaced once the new one is complete).
    dff : array of shape (n_rois, n_frames)
        ΔF/F, row i is ROI i.
    frame_period_s : float
        Seconds between frames, > 0.
    roi_ids : array of shape (n_rois,)
        Unique integer id of each ROI in the segmentation output (the ids of
        the ROI table).
    regressors : mapping of str to array of shape (n_frames,)
        The regressors of the fit, in design-matrix order; names must not
        contain ``/``.
    results : pandas.DataFrame or mapping of str to array of shape (n_rois,)
        Per-ROI results in ROI order: numbers, booleans or text, no missing
        values in integer or boolean columns.  Each column needs a
        description: the names of :data:`RESULT_DESCRIPTIONS`,
        ``coef_<regressor>``, ``t_<regressor>``, ``amplitude_<regressor>``,
        or any name given in ``column_descriptions``.
    fish, recording, paramset, sensor, region : str
        Identify the recording (subject id, session id) and its analysis;
        the sensor is the imaging plane's indicator, the region its location.
    positions : array of shape (n_rois, 2 or 3), optional
        ROI centroids (x, y[, z]) in pixels; NaN where unknown.
    events : pandas.DataFrame, optional
        ``stimulus``, ``onset_s``, ``duration_s`` and optionally ``params``
        (a dict per row), onsets from the first frame.
    genotype, age_dpf, recorded_at, experiment : optional
        The subject's genotype and age (days post fertilisation, written as
        an ISO 8601 duration); the recording's start (a naive date-time is
        taken as this machine's local time; when unknown the session start
        is 1970-01-01 UTC and the description says so); the experiment code.
    paramset_description : str, optional
        Described in the file with the parameter set's name.
    column_descriptions : mapping of str to str, optional
        Descriptions of further result columns (or replacing built-in ones).
    species : str
        The subject's species (binomial name).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        Arrays of inconsistent shapes, non-unique ROI ids, a non-positive
        frame period, a regressor name with ``/``, a result column without a
        description or of mixed types, a presentation with a non-finite onset.
    ImportError
        ``pynwb`` is not installed.
    """
    from hdmf.common import DynamicTable
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.file import Subject
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel

    dff = np.asarray(dff, dtype=np.float32)
    if dff.ndim != 2 or 0 in dff.shape:
        raise ValueError(f"dff must be a non-empty ROIs x frames matrix, got shape {dff.shape}")
    n_rois, n_frames = dff.shape
    frame_period_s = float(frame_period_s)
    if not (math.isfinite(frame_period_s) and frame_period_s > 0):
        raise ValueError(f"frame_period_s must be a positive number of seconds, got {frame_period_s}")
    roi_ids = np.asarray(roi_ids)
    if roi_ids.shape != (n_rois,) or roi_ids.dtype.kind not in "iu":
        raise ValueError(f"roi_ids must be {n_rois} integers, got {roi_ids.dtype} of shape {roi_ids.shape}")
    if len(np.unique(roi_ids)) != n_rois:
        raise ValueError("roi_ids must be unique")
    if positions is None:
        positions = np.full((n_rois, 3), np.nan)
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[0] != n_rois or positions.shape[1] not in (2, 3):
        raise ValueError(f"positions must be n_rois x 2 or 3, got shape {positions.shape}")
    if positions.shape[1] == 2:
        positions = np.column_stack([positions, np.full(n_rois, np.nan)])
    regressors = {str(k): np.asarray(v, dtype=np.float64) for k, v in regressors.items()}
    for name, values in regressors.items():
        if "/" in name or not name:
            raise ValueError(f"regressor name {name!r} cannot name an NWB object (empty or contains '/')")
        if values.shape != (n_frames,):
            raise ValueError(f"regressor '{name}' has shape {values.shape}; expected ({n_frames},)")
    columns = dict(results.items()) if not isinstance(results, pd.DataFrame) else {c: results[c] for c in results}
    if "roi" in columns:
        raise ValueError("result column 'roi' is reserved: the table's roi column points at the ROI table")
    extra = dict(column_descriptions or {})
    described = {name: _describe(str(name), regressors, extra) for name in columns}
    values = {name: _column(str(name), col, n_rois) for name, col in columns.items()}

    start = _session_start(recorded_at)
    rate = 1.0 / frame_period_s
    what = f"fish {fish}, recording {recording}, parameter set '{paramset}'"
    session = f"dF/F and regression results of {what} (tectum pipeline)"
    if recorded_at is None:
        session += "; the recording's start time is unknown (session_start_time is a placeholder)"
    nwbfile = NWBFile(
        session_description=session,
        identifier=str(uuid.uuid4()),
        session_start_time=start,
        session_id=str(recording),
        experiment_description=f"experiment {experiment}" if experiment else None,
        subject=Subject(
            subject_id=str(fish),
            species=species,
            genotype=genotype or None,
            age=None if age_dpf is None else f"P{float(age_dpf):g}D",
            sex="U",
            description="zebrafish larva; age in days post fertilisation" if age_dpf is not None else "larva",
        ),
    )
    device = nwbfile.create_device(name="microscope", description="imaging system (not recorded by tectum)")
    channel = OpticalChannel(name="channel", description="fluorescence of the sensor", emission_lambda=np.nan)
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane",
        optical_channel=channel,
        description=f"the recorded plane in {region}",
        device=device,
        excitation_lambda=np.nan,
        imaging_rate=rate,
        indicator=str(sensor),
        location=str(region),
    )
    ophys = nwbfile.create_processing_module(name="ophys", description="ROIs and their dF/F")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    ophys.add(segmentation)
    rois = _plane_segmentation(plane, roi_ids, positions)
    segmentation.add_plane_segmentation(rois)
    region_all = rois.create_roi_table_region(region=list(range(n_rois)), description="every ROI")
    dfof = DfOverF(name="DfOverF")
    ophys.add(dfof)
    dfof.create_roi_response_series(
        name="dff",
        data=np.ascontiguousarray(dff.T),  # NWB series are frames x ROIs
        rois=region_all,
        unit="n.a.",
        rate=rate,
        starting_time=0.0,
        description=f"dF/F under parameter set '{paramset}'",
    )

    if events is not None and len(events):
        nwbfile.add_time_intervals(_events_table(pd.DataFrame(events)))

    about = f"parameter set '{paramset}'" + (f": {paramset_description}" if paramset_description else "")
    for name, series in regressors.items():
        nwbfile.add_analysis(
            TimeSeries(
                name=f"regressor_{name}",
                data=series,
                unit="a.u.",
                rate=rate,
                starting_time=0.0,
                description=f"regressor '{name}' of the fit ({about})",
            )
        )
    table = DynamicTable(name="roi_results", description=f"per-ROI regression results, {about}", id=np.arange(n_rois))
    table.add_column(
        name="roi", description="the ROI: a row of the PlaneSegmentation", table=rois, data=list(range(n_rois))
    )
    for name, column in values.items():
        data = column.tolist() if column.dtype == object else column
        table.add_column(name=str(name), description=described[name], data=data)
    nwbfile.add_analysis(table)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial.nwb")
    try:
        with NWBHDF5IO(str(partial), mode="w") as io:
            io.write(nwbfile)
        os.replace(partial, path)  # readers never see a half-written file
    finally:
        partial.unlink(missing_ok=True)
    return path
