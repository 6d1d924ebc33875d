"""Reader of a Neurodata Without Borders (NWB 2.x) file: :func:`read_nwb`.

One NWB file holds what otherwise arrives as several files: the ROI x time
traces (a ``RoiResponseSeries`` in the ``ophys`` processing module, inside a
``Fluorescence`` or ``DfOverF`` container), the ROI table it points at (a
``PlaneSegmentation``), the frame times, the subject and the stimulus
presentations (a ``TimeIntervals`` table).  Needs the optional ``pynwb``
package (``pip install tectum-pipeline[nwb]``).

Conventions, from the NWB format specification:

* ``RoiResponseSeries.data`` is frames x ROIs (one ROI may be stored as a
  1-D series); the values in the series' unit are ``data * conversion +
  offset``.
* ``pixel_mask`` rows are ``(x, y, weight)``, ``voxel_mask`` rows ``(x, y,
  z, weight)``; ``image_mask`` is ROIs x X x Y (x Z): axis 1 is x.
* ``Subject.age`` is an ISO 8601 duration (``P7D``, ``P6DT12H``).  Zebrafish
  labs write the larva's days post fertilisation there, and it is read as
  ``age_dpf``.
"""

from __future__ import annotations

import datetime as _dt
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._common import PathArg, _is_missing, _numeric_matrix, _plain, _require_file, to_jsonable
from .events import _events_frame

__all__ = ["read_nwb", "parse_iso_age_days", "TIMESTAMP_TOLERANCE", "TRACE_CONTAINERS"]

#: containers of ROI traces in the ophys module, and the ``traces_kind`` each means
TRACE_CONTAINERS = {"Fluorescence": "raw", "DfOverF": "dff"}

#: timestamps are regular when every frame interval is within this fraction of the median
TIMESTAMP_TOLERANCE = 0.05

# ROIs whose masks are read at once from an image_mask column (each may be a whole plane)
_MASK_BLOCK = 64

# TimeIntervals columns that are not stimulus parameters
_INTERVAL_COLUMNS = ("start_time", "stop_time")

_ISO_DURATION = re.compile(
    r"P(?!$)(?:(?P<Y>\d+(?:[.,]\d+)?)Y)?(?:(?P<MO>\d+(?:[.,]\d+)?)M)?(?:(?P<W>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<D>\d+(?:[.,]\d+)?)D)?(?:T(?=\d)(?:(?P<H>\d+(?:[.,]\d+)?)H)?(?:(?P<MI>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<S>\d+(?:[.,]\d+)?)S)?)?"
)


def parse_iso_age_days(text: str) -> float:
    """Days in an ISO 8601 duration such as ``P7D``, ``P1W``, ``P6DT12H``.

    Parameters
    ----------
    text : str
        The duration.  Years and months are refused: their length in days is
        not defined, and a larva's age is never written in them.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Not an ISO 8601 duration, a range (``P7D/P9D``), years or months.

    Examples
    --------
    >>> parse_iso_age_days("P7D"), parse_iso_age_days("P6DT12H")
    (7.0, 6.5)
    """
    value = str(text).strip().upper()
    if "/" in value:
        raise ValueError("is a range of ages; a single age is needed")
    match = _ISO_DURATION.fullmatch(value)
    if not match:
        raise ValueError("is not an ISO 8601 duration (e.g. P7D)")
    if match["Y"] or match["MO"]:
        raise ValueError("is in years or months, which have no fixed number of days")
    parts = {k: float(v.replace(",", ".")) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["W"] * 7 + parts["D"] + parts["H"] / 24 + parts["MI"] / 1440 + parts["S"] / 86400


def read_nwb(
    path: PathArg,
    *,
    series: str | None = None,
    stimulus_table: str | None = None,
    stimulus_column: str | None = None,
    stimuli: bool = True,
    cells_only: bool = True,
) -> dict[str, Any]:
    """Read one imaging plane's traces, ROIs, subject and stimuli from an NWB file.

    Parameters
    ----------
    path : str or path-like
        The ``.nwb`` (HDF5) file.
    series : str, optional
        Which ``RoiResponseSeries`` of the ``ophys`` module to read, by name
        (``"RoiResponseSeries"``) or as ``"Container/name"``
        (``"DfOverF/RoiResponseSeries"``) when the name alone is ambiguous.
        Needed when the module holds more than one.
    stimulus_table : str, optional
        Which ``TimeIntervals`` table holds the stimulus presentations: a
        table in ``/intervals`` (``"trials"``, ``"epochs"``, ``"stimulus"``,
        ...) or in ``/stimulus/presentation``; ``"intervals/NAME"`` or
        ``"stimulus/NAME"`` when the name alone is ambiguous.  Needed when
        the file has more than one (``invalid_times`` does not count).
    stimulus_column : str, optional
        The column naming each presentation's stimulus (default
        ``"stimulus"``).
    stimuli : bool
        Read the stimulus presentations (False when they come from elsewhere).
    cells_only : bool
        Keep only the ROIs the segmentation classified as cells, where the
        ROI table says so: suite2p's own NWB output has an ``iscell`` column
        (column 0 > 0.5 is a cell), neuroconv's an ``Accepted`` column (1 or
        0).  Tables without either keep every ROI.

    Returns
    -------
    dict
        ``traces`` (float32, ROIs x frames, in the series' unit),
        ``traces_kind`` (``"raw"`` for Fluorescence, ``"dff"`` for DfOverF),
        ``series`` (``"Container/name"``), ``roi_ids`` (int64: the ROI
        table's ids), ``positions`` (float64 ROIs x 3, x/y/z centroids in
        pixels, z NaN for planar masks; None without masks),
        ``frame_period_s``, ``first_frame_s`` (time of the first frame,
        from which onsets count), ``subject`` (``subject_id``, ``genotype``,
        ``age``, ``age_dpf``; values None when absent), ``indicator`` and
        ``location`` of the imaging plane (or None), ``session_start_time``
        (timezone-aware datetime), ``events`` (the events frame, see
        :mod:`tectum.readers`, or None with ``stimuli=False``) and
        ``metadata`` (JSON-compatible: identifier, session, series, unit,
        plane, stimulus table and the columns kept or skipped).

    Raises
    ------
    InputError
        ``pynwb`` not installed; not an NWB file; no ``ophys`` processing
        module; no RoiResponseSeries, or several and none (or an unknown
        one) named; timestamps that are not regular, not increasing or too
        few to give a frame period; non-finite values; an ROI table whose
        rows do not match the series; an age that is not a day-based ISO
        8601 duration; no TimeIntervals table or several and none named; no
        stimulus column (the columns are listed); an empty table; a
        presentation with a missing name, a non-finite start or a stop
        before its start.  Every message names the file.
    """
    path = _require_file(path)
    try:
        from pynwb import NWBHDF5IO
    except ImportError:
        raise InputError("reading NWB files needs pynwb: pip install 'tectum-pipeline[nwb]'", path=path) from None

    with warnings.catch_warnings():
        # cached-namespace and version notices are not the user's problem here
        warnings.simplefilter("ignore")
        try:
            io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
        except Exception as exc:  # h5py/hdmf raise many types for a file that is not NWB
            raise InputError(f"cannot open as an NWB file ({type(exc).__name__}: {exc})", path=path) from None
        try:
            try:
                nwbfile = io.read()
            except Exception as exc:
                raise InputError(f"cannot read as an NWB file ({type(exc).__name__}: {exc})", path=path) from None
            return _read(nwbfile, path, series, stimulus_table, stimulus_column, stimuli, cells_only)
        finally:
            io.close()


def _read(nwbfile, path: Path, series_name, stimulus_table, stimulus_column, stimuli, cells_only) -> dict[str, Any]:
    label, container_kind, series = _find_series(nwbfile, series_name, path)
    traces = _series_traces(series, label, path)
    n_rois, n_frames = traces.shape
    period, first_frame = _frame_times(series, label, n_frames, path)

    table = series.rois.table
    rows = np.asarray(series.rois.data[:], dtype=np.int64)
    if len(rows) != n_rois:
        raise InputError(
            f"series '{label}' has {n_rois} ROI column(s) but its rois region lists {len(rows)} ROI(s)",
            path=path,
        )
    all_ids = np.asarray(table.id[:])
    if len(rows) and (rows.min() < 0 or rows.max() >= len(all_ids)):
        raise InputError(
            f"series '{label}' points at ROI rows outside its table '{table.name}' ({len(all_ids)} rows)",
            path=path,
        )
    n_segmented = len(rows)
    cell_column = next((c for c in ("iscell", "Accepted") if c in table.colnames), None)
    if cells_only and cell_column is not None:
        keep = _is_cell(table[cell_column].data[:], cell_column, path)[rows]
        if not keep.any():
            raise InputError(
                f"no ROIs: all {n_segmented} ROIs of series '{label}' are non-cells by the ROI table's "
                f"'{cell_column}' column (include_non_cells = true keeps them)",
                path=path,
            )
        rows, traces = rows[keep], np.ascontiguousarray(traces[keep])
    roi_ids = all_ids[rows].astype(np.int64)
    positions, mask_column = _centroids(table, rows, path)

    subject = nwbfile.subject
    age = _text(getattr(subject, "age", None)) if subject is not None else None
    age_dpf = None
    if age is not None:
        try:
            age_dpf = parse_iso_age_days(age)
        except ValueError as exc:
            raise InputError(f"subject age {age!r} {exc}", path=path) from None
    subject_info = {
        "subject_id": _text(getattr(subject, "subject_id", None)) if subject is not None else None,
        "genotype": _text(getattr(subject, "genotype", None)) if subject is not None else None,
        "age": age,
        "age_dpf": age_dpf,
    }

    plane = _imaging_plane(table)
    metadata: dict[str, Any] = {
        "identifier": nwbfile.identifier,
        "session_description": nwbfile.session_description,
        "session_id": nwbfile.session_id,
        "session_start_time": nwbfile.session_start_time,
        "series": label,
        "series_unit": series.unit,
        "series_description": series.description,
        "timing": "timestamps" if series.timestamps is not None else "rate",
        "first_frame_s": first_frame,
        "roi_table": table.name,
        "n_rois_segmented": n_segmented,
        "n_rois_kept": int(len(rows)),
        "cells_from": cell_column if cells_only else None,
        "roi_centroids_from": mask_column,
        "imaging_plane": None
        if plane is None
        else {
            "name": plane.name,
            "indicator": plane.indicator,
            "location": plane.location,
            "imaging_rate": plane.imaging_rate,
        },
        "subject": {k: v for k, v in subject_info.items() if k != "age_dpf"},
    }

    events = None
    if stimuli:
        events, table_meta = _read_events(nwbfile, stimulus_table, stimulus_column, first_frame, path)
        metadata["stimulus_table"] = table_meta

    return dict(
        traces=traces,
        traces_kind=TRACE_CONTAINERS[container_kind],
        series=label,
        roi_ids=roi_ids,
        positions=positions,
        frame_period_s=period,
        first_frame_s=first_frame,
        subject=subject_info,
        indicator=None if plane is None else _text(plane.indicator),
        location=None if plane is None else _text(plane.location),
        session_start_time=nwbfile.session_start_time,
        events=events,
        metadata=to_jsonable(metadata),
    )


def _text(value: Any) -> str | None:
    """A text field as a stripped string, or None when absent or blank."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value).strip()
    return value or None


def _find_series(nwbfile, wanted: str | None, path: Path):
    module = nwbfile.processing.get("ophys")
    if module is None:
        modules = ", ".join(sorted(nwbfile.processing)) or "none"
        raise InputError(f"no 'ophys' processing module (processing modules: {modules})", path=path)
    found = []  # (label, container kind, series)
    for name, interface in module.data_interfaces.items():
        kind = type(interface).__name__
        if kind in TRACE_CONTAINERS:
            for series_name, series in interface.roi_response_series.items():
                found.append((f"{name}/{series_name}", kind, series))
    if not found:
        interfaces = ", ".join(sorted(module.data_interfaces)) or "none"
        raise InputError(
            "the 'ophys' module has no RoiResponseSeries in a Fluorescence or DfOverF container "
            f"(it holds: {interfaces})",
            path=path,
        )
    found.sort(key=lambda f: f[0])
    listed = ", ".join(label for label, _, _ in found)
    if wanted is None:
        if len(found) > 1:
            raise InputError(f"holds {len(found)} RoiResponseSeries ({listed}); name one with nwb_series", path=path)
        return found[0]
    matches = [f for f in found if wanted in (f[0], f[0].split("/", 1)[1])]
    if not matches:
        raise InputError(f"no RoiResponseSeries '{wanted}' (found: {listed})", path=path)
    if len(matches) > 1:
        names = ", ".join(label for label, _, _ in matches)
        raise InputError(f"RoiResponseSeries '{wanted}' is ambiguous ({names}); name it as Container/name", path=path)
    return matches[0]


def _series_traces(series, label: str, path: Path) -> np.ndarray:
    data = np.asarray(series.data[()])
    if data.dtype.kind not in "iuf":
        raise InputError(f"series '{label}' data must be numeric, found dtype {data.dtype}", path=path)
    if data.ndim == 1:  # a single ROI
        data = data[:, None]
    if data.ndim != 2:
        raise InputError(f"series '{label}' data must be frames x ROIs, found shape {data.shape}", path=path)
    conversion = float(series.conversion if series.conversion is not None else 1.0)
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    values = data.T
    if conversion != 1.0 or offset != 0.0:
        values = values.astype(np.float64) * conversion + offset
    return np.ascontiguousarray(_numeric_matrix(values, path, what=f"series '{label}'"))


def _frame_times(series, label: str, n_frames: int, path: Path) -> tuple[float, float]:
    """(frame period, time of the first frame) from the series' rate or timestamps."""
    if series.timestamps is None:
        rate = float(series.rate)
        if not (np.isfinite(rate) and rate > 0):
            raise InputError(f"series '{label}' has rate {series.rate!r}; need a positive frame rate", path=path)
        start = float(series.starting_time or 0.0)
        return 1.0 / rate, start
    times = np.asarray(series.get_timestamps()[()], dtype=np.float64)
    if times.shape != (n_frames,):
        raise InputError(f"series '{label}' has {len(times)} timestamps for {n_frames} frames", path=path)
    if n_frames < 2:
        raise InputError(f"series '{label}' has a single timestamp: no frame period", path=path)
    if not np.isfinite(times).all():
        raise InputError(f"series '{label}' has non-finite timestamps", path=path)
    steps = np.diff(times)
    if (steps <= 0).any():
        frame = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise InputError(f"series '{label}' timestamps do not increase (frame {frame})", path=path)
    median = float(np.median(steps))
    off = np.abs(steps - median) > TIMESTAMP_TOLERANCE * median
    if off.any():
        frame = int(np.flatnonzero(off)[0])
        raise InputError(
            f"series '{label}' has irregular timestamps: frame {frame} to {frame + 1} takes "
            f"{steps[frame]:.6g} s against a median of {median:.6g} s ({int(off.sum())} interval(s) "
            f"differ by more than {TIMESTAMP_TOLERANCE:.0%}); the analysis needs a constant frame period",
            path=path,
        )
    return float((times[-1] - times[0]) / (n_frames - 1)), float(times[0])


def _is_cell(values, column: str, path: Path) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind not in "biuf" or values.ndim not in (1, 2):
        raise InputError(
            f"ROI table column '{column}' must be numeric (1 = cell), found {values.dtype} {values.shape}", path=path
        )
    # suite2p writes (iscell, probability) pairs; neuroconv's Accepted is 0/1
    return (values if values.ndim == 1 else values[:, 0]) > 0.5


def _imaging_plane(table):
    plane = getattr(table, "imaging_plane", None)
    return plane if plane is not None and hasattr(plane, "indicator") else None


def _centroids(table, rows: np.ndarray, path: Path) -> tuple[np.ndarray | None, str | None]:
    """Weighted mask centroids (x, y, z) of the given table rows, and the mask column used."""
    columns = set(table.colnames)
    if "pixel_mask" in columns:
        return _ragged_centroids(table["pixel_mask"], rows, ("x", "y"), path), "pixel_mask"
    if "voxel_mask" in columns:
        return _ragged_centroids(table["voxel_mask"], rows, ("x", "y", "z"), path), "voxel_mask"
    if "image_mask" in columns:
        return _image_centroids(table["image_mask"].data, rows, path), "image_mask"
    return None, None


def _ragged_centroids(index, rows: np.ndarray, axes: tuple[str, ...], path: Path) -> np.ndarray:
    ends = np.asarray(index.data[:], dtype=np.int64)
    flat = index.target.data[:]
    starts = np.concatenate([[0], ends[:-1]])
    out = np.full((len(rows), 3), np.nan)
    names = flat.dtype.names or ()
    try:
        coords = [np.asarray(flat[a], dtype=np.float64) for a in axes]
        weight = np.asarray(flat["weight"], dtype=np.float64)
    except (ValueError, KeyError, TypeError):
        raise InputError(f"mask column has fields {names}, expected {axes + ('weight',)}", path=path) from None
    for i, row in enumerate(rows):
        sl = slice(starts[row], ends[row])
        w = weight[sl]
        total = w.sum()
        if total > 0:
            out[i, : len(axes)] = [float((c[sl] * w).sum() / total) for c in coords]
    return out


def _image_centroids(dataset, rows: np.ndarray, path: Path) -> np.ndarray:
    shape = dataset.shape
    if len(shape) not in (3, 4):
        raise InputError(f"image_mask must be ROIs x X x Y (x Z), found shape {shape}", path=path)
    grids = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape[1:]), indexing="ij")
    out = np.full((len(rows), 3), np.nan)
    # read in blocks of rows: a whole mask column can be far larger than memory
    order = np.argsort(rows, kind="stable")
    for start in range(0, len(rows), _MASK_BLOCK):
        picked = order[start : start + _MASK_BLOCK]
        wanted = rows[picked]
        unique, inverse = np.unique(wanted, return_inverse=True)
        block = np.asarray(dataset[unique.tolist()], dtype=np.float64)[inverse]
        block = np.where(np.isfinite(block), block, 0.0)
        totals = block.reshape(len(block), -1).sum(axis=1)
        for k, axis_grid in enumerate(grids):
            sums = (block * axis_grid).reshape(len(block), -1).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[picked, k] = np.where(totals > 0, sums / totals, np.nan)
    return out


# ---------------------------------------------------------------------------
# stimulus presentations


def _interval_tables(nwbfile) -> list[tuple[str, str, Any]]:
    """(qualified name, name, table) of every TimeIntervals table but invalid_times."""
    from pynwb.epoch import TimeIntervals

    tables = []
    for name, table in nwbfile.intervals.items():
        if name != "invalid_times" and isinstance(table, TimeIntervals):
            tables.append((f"intervals/{name}", name, table))
    for name, obj in nwbfile.stimulus.items():
        if isinstance(obj, TimeIntervals):
            tables.append((f"stimulus/{name}", name, obj))
    return tables


def _read_events(nwbfile, wanted, column, first_frame: float, path: Path):
    tables = _interval_tables(nwbfile)
    listed = ", ".join(q for q, _, _ in tables)
    if not tables:
        raise InputError(
            "no TimeIntervals table of stimulus presentations (in /intervals or /stimulus/presentation); "
            "give the stimuli in an events file instead",
            path=path,
        )
    if wanted is None:
        if len(tables) > 1:
            raise InputError(
                f"holds {len(tables)} TimeIntervals tables ({listed}); name the stimulus table with nwb_stimulus_table",
                path=path,
            )
        qualified, _, table = tables[0]
    else:
        matches = [t for t in tables if wanted in (t[0], t[1])]
        if not matches:
            raise InputError(f"no TimeIntervals table '{wanted}' (found: {listed})", path=path)
        if len(matches) > 1:
            raise InputError(
                f"TimeIntervals table '{wanted}' is ambiguous ({', '.join(t[0] for t in matches)}); "
                "write intervals/NAME or stimulus/NAME",
                path=path,
            )
        qualified, _, table = matches[0]

    column = column or "stimulus"
    colnames = list(table.colnames)
    where = f"table '{qualified}'"
    if column not in colnames:
        raise InputError(
            f"{where} has no column '{column}' naming the stimulus (columns: {', '.join(colnames)}); "
            "name it with nwb_stimulus_column",
            path=path,
        )
    n = len(table)
    if n == 0:
        raise InputError(f"{where} has no rows: no stimulus events", path=path)
    ids = np.asarray(table.id[:])
    start = np.asarray(table["start_time"].data[:], dtype=np.float64)
    stop = np.asarray(table["stop_time"].data[:], dtype=np.float64)
    names = _column_values(table[column])
    if names is None:
        raise InputError(f"{where} column '{column}' holds references, not stimulus names", path=path)

    stimulus = []
    for i in range(n):
        name = names[i]
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if _is_missing(name) or isinstance(name, (list, tuple, np.ndarray)) or not str(name).strip():
            raise InputError(f"{where} row id {ids[i]}: no stimulus name in column '{column}'", path=path)
        stimulus.append(str(name).strip())
        if not np.isfinite(start[i]):
            raise InputError(f"{where} row id {ids[i]}: start_time is not a number", path=path)
        if not np.isfinite(stop[i]) or stop[i] < start[i]:
            raise InputError(
                f"{where} row id {ids[i]}: stop_time {stop[i]:g} is before start_time {start[i]:g}", path=path
            )

    kept, skipped, extra = [], [], {}
    for name in colnames:
        if name in _INTERVAL_COLUMNS or name == column:
            continue
        values = _column_values(table[name])
        if values is None:
            skipped.append(name)
        else:
            kept.append(name)
            extra[name] = values
    # NaN and '' are how a table column says "not given" for one row
    params = [
        {name: value for name in kept if not _is_missing(value := _param_value(extra[name][i])) and value != ""}
        for i in range(n)
    ]
    events = _events_frame(stimulus, start - first_frame, stop - start, params)
    meta = {
        "table": qualified,
        "stimulus_column": column,
        "parameter_columns": kept,
        "skipped_reference_columns": skipped,
    }
    return events, meta


def _column_values(column) -> list | None:
    """Per-row values of a table column, or None for columns of references."""
    from hdmf.common.table import DynamicTableRegion, VectorIndex

    if isinstance(column, DynamicTableRegion):
        return None
    if isinstance(column, VectorIndex):  # ragged: one list per row
        if isinstance(column.target, DynamicTableRegion) or not _plain_column(column.target):
            return None
        return [list(np.asarray(v).tolist()) for v in column[:]]
    if not _plain_column(column):
        return None
    data = np.asarray(column.data[:])
    return [_plain(v) for v in data] if data.dtype.kind == "O" else data.tolist()


def _plain_column(column) -> bool:
    """Numbers, booleans or text: not object references (e.g. TimeSeriesReferenceVectorData)."""
    dtype = getattr(column.data, "dtype", None)
    if dtype is not None and dtype.names:  # compound rows such as (idx_start, count, timeseries)
        return False
    return type(column).__name__ not in ("TimeSeriesReferenceVectorData",)


def _param_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (np.generic, pd.Timestamp)):
        return _plain(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return value
