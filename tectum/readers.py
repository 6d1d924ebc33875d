"""Readers for the file formats a recording arrives in.

Each reader returns plain NumPy arrays / pandas frames and raises
:class:`~tectum.errors.InputError` naming the file (and the line, ROI row or
key where it helps) when the file cannot be used.  Readers know nothing about
manifests; :mod:`tectum.manifest` adds the manifest entry to the message.

Formats
-------
* traces as a ``.npy`` matrix (ROIs x frames): :func:`read_traces_npy`
* traces as CSV/TSV text, one ROI per row: :func:`read_traces_csv`
* ROI positions as a ``.npy`` array: :func:`read_positions_npy`
* a suite2p plane folder (``F.npy``, ``Fneu.npy``, ``iscell.npy``,
  ``stat.npy``, ``ops.npy``): :func:`read_suite2p`
* stimulus events as a CSV/TSV table: :func:`read_events_table`
* the lab's stimulus protocol pickle: :func:`read_protocol_pickle`
* the Femtonics MES measurement-context text export:
  :func:`read_femtonics_metadata`

Stimulus events always come back as a DataFrame with the columns
``stimulus`` (str), ``onset_s`` (float), ``duration_s`` (float) and
``params`` (a dict of plain Python values per row), sorted by onset.
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
import pickle
import re
from os import PathLike
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "EVENT_COLUMNS",
    "read_traces_npy",
    "read_traces_csv",
    "read_positions_npy",
    "read_suite2p",
    "read_events_table",
    "read_protocol_pickle",
    "read_femtonics_metadata",
    "to_jsonable",
]

PathArg = str | PathLike

#: columns of the events frame every reader of stimuli returns
EVENT_COLUMNS = ("stimulus", "onset_s", "duration_s", "params")

#: prey directions as they may be written in a protocol; numbers are mapped
#: by sign (see :func:`read_protocol_pickle`)
PREY_DIRECTIONS = ("nasalward", "temporalward")

#: header names accepted for the ROI-label column of a traces CSV, besides
#: the empty name pandas writes for an unnamed index
_ROI_LABEL_HEADERS = ("", "roi", "roi_id", "index")

#: the subset of suite2p's ops worth keeping as imaging metadata
_OPS_KEYS = ("fs", "nplanes", "Ly", "Lx", "tau")


# ---------------------------------------------------------------------------
# shared helpers


def to_jsonable(value: Any) -> Any:
    """Convert ``value`` into plain JSON-compatible Python objects.

    NumPy scalars and arrays become Python numbers and lists, dates become
    ISO strings, paths become strings, NaN/inf become ``None`` (JSON has no
    NaN and the database's JSON columns reject it), anything else unknown
    becomes its ``str``.
    """
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, PathLike):
        return str(value)
    return str(value)


def _plain(value: Any) -> Any:
    """A NumPy/pandas scalar as the equivalent plain Python value."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, dicts: never "missing"
        return False


def _require_file(path: PathArg) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError("is a folder, expected a file", path=path)
    return path


def _load_npy(path: Path, *, allow_pickle: bool = False) -> Any:
    """``np.load`` that turns every way a file can be broken into InputError."""
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):  # npz archives are zips
        # np.load would try to unpickle it and blame allow_pickle, which misleads
        raise InputError("truncated or corrupt .npy file (no NumPy header)", path=path)
    try:
        data = np.load(path, allow_pickle=allow_pickle)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError("holds Python objects, not a numeric array", path=path) from None
        raise InputError(f"truncated or corrupt .npy file ({exc})", path=path) from None
    except (EOFError, OSError, pickle.UnpicklingError) as exc:
        raise InputError(f"truncated or corrupt .npy file ({exc})", path=path) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        data.close()
        raise InputError("is an .npz archive; expected a single .npy array", path=path)
    return data


def _numeric_matrix(arr: Any, path: Path, *, what: str = "traces") -> np.ndarray:
    """Check ``arr`` is a finite numeric 2-D matrix and return it as float32."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "iuf":
        raise InputError(
            f"{what} must be numeric, found dtype {arr.dtype}", path=path
        )
    if arr.ndim != 2:
        raise InputError(
            f"{what} must be a 2-D array (ROIs x frames), found shape {arr.shape}",
            path=path,
        )
    with np.errstate(over="ignore"):  # overflow is reported by _check_finite
        out = arr.astype(np.float32, copy=False)
    _check_finite(out, arr, path, what=what)
    return out


def _check_finite(
    out: np.ndarray,
    original: np.ndarray,
    path: Path,
    *,
    what: str,
    row_lines: np.ndarray | None = None,
) -> None:
    """Raise naming the first ROI row with a NaN/inf (or a float32 overflow)."""
    row_ok = np.isfinite(out).all(axis=1)
    if row_ok.all():
        return
    bad_rows = np.flatnonzero(~row_ok)
    row = int(bad_rows[0])
    col = int(np.flatnonzero(~np.isfinite(out[row]))[0])
    value = original[row, col]
    if np.isfinite(value):
        problem = f"value {value!r} is too large for float32"
    else:
        problem = f"non-finite value {float(value)}"
    where = f"ROI row {row}" if row_lines is None else f"line {row_lines[row]} (ROI row {row})"
    more = f"; {len(bad_rows)} ROI rows affected" if len(bad_rows) > 1 else ""
    raise InputError(f"{where}: {problem} at frame {col} of the {what}{more}", path=path)


# ---------------------------------------------------------------------------
# traces


def read_traces_npy(path: PathArg) -> np.ndarray:
    """Read a ``.npy`` matrix of fluorescence traces.

    Parameters
    ----------
    path : str or path-like
        A ``.npy`` file holding one numeric 2-D array, ROIs x frames.

    Returns
    -------
    numpy.ndarray
        float32, shape (n_rois, n_frames).

    Raises
    ------
    InputError
        Missing, truncated or corrupt file; an object, complex or other
        non-numeric dtype; not 2-D; a NaN/inf (the first offending ROI row is
        named).
    """
    path = _require_file(path)
    return _numeric_matrix(_load_npy(path), path)


def read_positions_npy(path: PathArg) -> np.ndarray:
    """Read ROI positions from a ``.npy`` array.

    Parameters
    ----------
    path : str or path-like
        A numeric ROIs x 2 (x, y) or ROIs x 3 (x, y, z) array.

    Returns
    -------
    numpy.ndarray
        float64, ROIs x 3 (x, y, z); z is 0 when the file has two columns
        (a single imaging plane).

    Raises
    ------
    InputError
        Unreadable file, wrong dtype or shape, a NaN/inf (naming the row).
    """
    path = _require_file(path)
    arr = np.asarray(_load_npy(path))
    if arr.dtype.kind not in "iuf" or arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise InputError(
            f"expected a numeric ROIs x 2 or ROIs x 3 array, found {arr.dtype} {arr.shape}",
            path=path,
        )
    row_ok = np.isfinite(arr).all(axis=1)
    if not row_ok.all():
        raise InputError(f"ROI row {int(np.flatnonzero(~row_ok)[0])} has a NaN/inf position", path=path)
    out = np.zeros((arr.shape[0], 3), dtype=np.float64)
    out[:, : arr.shape[1]] = arr
    return out


def _sniff_delimiter(path: Path, sample: str, *, candidates: str = ",\t;") -> str | None:
    """The delimiter of a text table: by extension, else by its first line.

    ``None`` means runs of whitespace, as ``numpy.savetxt`` writes by default.
    """
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    first = next((ln for ln in sample.splitlines() if ln.strip() and not ln.startswith("#")), "")
    for delim in candidates:
        if delim in first:
            return delim
    return None


def _split_lines(lines, delimiter: str | None) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, cells)`` of a text table, skipping blank and ``#`` lines."""
    for line_no, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if delimiter is None:
            yield line_no, line.split()
        elif '"' in line:
            # only quoted cells need the csv module; plain split is much faster
            yield line_no, next(csv.reader([line], delimiter=delimiter))
        else:
            yield line_no, line.split(delimiter)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_header(cells: list[str]) -> bool:
    """True when the first row of a traces table names columns.

    A row with any non-numeric cell is a header; so is ``0,1,...,n-1`` written
    as plain integers, which is what ``DataFrame.to_csv(index=False)`` writes
    for unnamed columns (a data row being exactly that is implausible).
    """
    if not all(_is_number(c) for c in cells):
        return True
    return [c.strip() for c in cells] == [str(i) for i in range(len(cells))]


def read_traces_csv(path: PathArg) -> tuple[np.ndarray, np.ndarray | None]:
    """Read traces from a delimited text table, one ROI per row.

    Accepted layouts:

    * header-less numeric rows (``numpy.savetxt``; comma, tab, semicolon or
      whitespace separated);
    * a header row of frame names (e.g. ``0,1,...``), which is skipped;
    * a leading ROI-label column as ``pandas.DataFrame.to_csv`` writes it: the
      header's first cell is empty (or ``roi``/``roi_id``/``index``).  The
      labels become the ROI ids when they are all integers and are dropped
      otherwise.

    Without a header a leading label column cannot be told apart from the
    first frame, so it is read as data.  Blank lines and lines starting with
    ``#`` are ignored.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` (comma), ``.tsv``/``.tab`` (tab) or another extension (the
        delimiter is guessed from the first line).

    Returns
    -------
    traces : numpy.ndarray
        float32, shape (n_rois, n_frames).
    roi_ids : numpy.ndarray or None
        int64 labels from the label column, or None.

    Raises
    ------
    InputError
        Rows of different length or non-numeric cells (naming the line and
        column), NaN/inf (naming the line and ROI row), no data rows.
    """
    path = _require_file(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            sample = fh.read(65536)
            fh.seek(0)
            delimiter = _sniff_delimiter(path, sample)
            rows, labels, lines = _parse_traces_table(fh, delimiter, path)
    except UnicodeDecodeError as exc:
        raise InputError(f"not a text file ({exc.reason} at byte {exc.start})", path=path) from None
    if not rows:
        raise InputError("no ROI rows found", path=path)
    parsed = np.vstack(rows)
    with np.errstate(over="ignore"):  # overflow is reported by _check_finite
        traces = parsed.astype(np.float32)
    _check_finite(traces, parsed, path, what="traces", row_lines=np.asarray(lines))
    return traces, _integer_labels(labels)


def _parse_traces_table(fh, delimiter, path):
    rows: list[np.ndarray] = []
    labels: list[str] | None = None
    lines: list[int] = []
    n_cells = None
    for line_no, cells in _split_lines(fh, delimiter):
        if n_cells is None:  # first non-blank line
            n_cells = len(cells)
            if _looks_like_header(cells):
                if cells[0].strip().lower() in _ROI_LABEL_HEADERS:
                    labels = []
                continue
        if len(cells) != n_cells:
            raise InputError(
                f"line {line_no}: {len(cells)} values where line {lines[0] if lines else 1} "
                f"has {n_cells} (ragged rows: every ROI needs the same number of frames)",
                path=path,
            )
        values = cells
        if labels is not None:
            labels.append(cells[0].strip())
            values = cells[1:]
        try:
            rows.append(np.array(values, dtype=np.float64))
        except ValueError:
            offset = 1 if labels is not None else 0
            col, cell = next(
                (i, c) for i, c in enumerate(values, start=1 + offset) if not _is_number(c)
            )
            raise InputError(
                f"line {line_no}, column {col}: non-numeric value {cell!r}", path=path
            ) from None
        lines.append(line_no)
    return rows, labels, lines


def _integer_labels(labels: list[str] | None) -> np.ndarray | None:
    if not labels:
        return None
    try:
        values = np.array([float(v) for v in labels])
    except ValueError:
        return None  # text labels: the row order is all we can keep
    if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
        return None
    return values.astype(np.int64)


# ---------------------------------------------------------------------------
# suite2p


def _find_plane_dir(path: Path) -> Path:
    """The plane folder holding F.npy: ``path`` itself, or its only plane.

    Accepting the suite2p output root (``.../suite2p``) or its parent saves a
    manifest round trip when the recording has a single plane.
    """
    if (path / "F.npy").exists():
        return path
    for root in (path, path / "suite2p"):
        planes = sorted(p for p in root.glob("plane*") if (p / "F.npy").exists())
        if len(planes) == 1:
            return planes[0]
        if len(planes) > 1:
            names = ", ".join(p.name for p in planes)
            raise InputError(
                f"holds {len(planes)} suite2p planes ({names}); point the manifest at one "
                "plane folder",
                path=path,
                role="suite2p folder",
            )
    raise InputError("no F.npy in this suite2p folder", path=path, role="suite2p folder")


def read_suite2p(plane_dir: PathArg, *, iscell_only: bool = True) -> dict[str, Any]:
    """Read one suite2p plane folder.

    Parameters
    ----------
    plane_dir : str or path-like
        A ``planeN`` folder (or a suite2p output folder with a single plane).
        It must hold ``F.npy``; ``Fneu.npy``, ``iscell.npy``, ``stat.npy`` and
        ``ops.npy`` are used when present.  ``stat.npy``/``ops.npy`` are
        pickled Python objects, so only read folders you trust.
    iscell_only : bool
        Keep only the ROIs that ``iscell.npy`` column 0 classifies as cells.

    Returns
    -------
    dict
        ``traces`` (F, float32, kept ROIs x frames), ``neuropil`` (Fneu,
        float32 or None), ``roi_ids`` (int64: the suite2p indices of the kept
        ROIs), ``positions`` (float64 n x 3: x, y from ``stat[i]['med']``,
        which suite2p stores as (y, x), and z = 0; None without stat.npy),
        ``frame_period_s`` (1 / ops['fs'] or None), ``metadata`` (``fs``,
        ``nplanes``, ``Ly``, ``Lx``, ``tau`` from ops when present, plus the
        ROI counts before and after the iscell filter).

    Raises
    ------
    InputError
        No folder or no F.npy; any file unreadable; Fneu/iscell/stat not
        matching F's ROIs (or Fneu its frames); ops fs not positive.
    """
    path = Path(plane_dir)
    if not path.exists():
        raise InputError("folder not found", path=path, role="suite2p folder")
    if not path.is_dir():
        raise InputError("is a file, expected a suite2p plane folder", path=path, role="suite2p folder")
    path = _find_plane_dir(path)

    f_path = path / "F.npy"
    traces = _numeric_matrix(_load_npy(f_path), f_path, what="F")
    n_all = traces.shape[0]

    neuropil = None
    fneu_path = path / "Fneu.npy"
    if fneu_path.exists():
        neuropil = _numeric_matrix(_load_npy(fneu_path), fneu_path, what="Fneu")
        if neuropil.shape != traces.shape:
            raise InputError(
                f"shape {neuropil.shape} does not match F.npy {traces.shape}", path=fneu_path
            )

    keep = np.ones(n_all, dtype=bool)
    iscell_path = path / "iscell.npy"
    if iscell_path.exists():
        iscell = np.asarray(_load_npy(iscell_path))
        if iscell.dtype.kind not in "biuf" or iscell.ndim not in (1, 2):
            raise InputError(
                f"expected a numeric n x 2 array, found {iscell.dtype} {iscell.shape}",
                path=iscell_path,
            )
        if iscell.shape[0] != n_all:
            raise InputError(
                f"has {iscell.shape[0]} ROIs but F.npy has {n_all}", path=iscell_path
            )
        if iscell_only:
            # column 0 is the 0/1 classification, column 1 its probability
            keep = (iscell if iscell.ndim == 1 else iscell[:, 0]) > 0.5

    positions = None
    stat_path = path / "stat.npy"
    if stat_path.exists():
        positions = _positions_from_stat(_load_npy(stat_path, allow_pickle=True), n_all, stat_path)

    ops: dict = {}
    ops_path = path / "ops.npy"
    if ops_path.exists():
        ops = _load_ops(ops_path)
    metadata = {k: _plain(ops[k]) for k in _OPS_KEYS if k in ops}
    frame_period_s = None
    if "fs" in ops:
        try:
            fs = float(ops["fs"])
        except (TypeError, ValueError):
            fs = float("nan")
        if not (math.isfinite(fs) and fs > 0):
            raise InputError(f"ops['fs'] = {ops['fs']!r} is not a positive frame rate", path=ops_path)
        frame_period_s = 1.0 / fs
    metadata.update(n_rois_segmented=n_all, n_rois_kept=int(keep.sum()))

    roi_ids = np.flatnonzero(keep).astype(np.int64)
    return dict(
        traces=np.ascontiguousarray(traces[keep]),
        neuropil=None if neuropil is None else np.ascontiguousarray(neuropil[keep]),
        roi_ids=roi_ids,
        positions=None if positions is None else positions[keep],
        frame_period_s=frame_period_s,
        metadata=to_jsonable(metadata),
    )


def _positions_from_stat(stat: Any, n_rois: int, path: Path) -> np.ndarray:
    stat = np.asarray(stat, dtype=object).ravel()
    if len(stat) != n_rois:
        raise InputError(f"has {len(stat)} ROIs but F.npy has {n_rois}", path=path)
    positions = np.zeros((n_rois, 3), dtype=np.float64)
    for i, roi in enumerate(stat):
        try:
            y, x = (float(v) for v in roi["med"])
        except (TypeError, KeyError, ValueError, IndexError):
            raise InputError(f"ROI {i} has no usable 'med' (y, x) centre", path=path) from None
        positions[i, :2] = x, y
    return positions


def _load_ops(path: Path) -> dict:
    ops = _load_npy(path, allow_pickle=True)
    if isinstance(ops, np.ndarray) and ops.dtype == object and ops.size == 1:
        ops = ops.item()  # np.save(dict) stores a 0-d object array
    if not isinstance(ops, dict):
        raise InputError("expected a saved dict of suite2p options", path=path)
    return ops


# ---------------------------------------------------------------------------
# stimulus events


def _events_frame(stimulus, onset_s, duration_s, params) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "stimulus": pd.Series(stimulus, dtype=object),
            "onset_s": pd.Series(onset_s, dtype=np.float64),
            "duration_s": pd.Series(duration_s, dtype=np.float64),
            "params": pd.Series(params, dtype=object),
        }
    )
    # stable sort keeps file order for simultaneous onsets
    return frame.sort_values("onset_s", kind="mergesort").reset_index(drop=True)


def read_events_table(path: PathArg) -> pd.DataFrame:
    """Read a table of stimulus presentations.

    Parameters
    ----------
    path : str or path-like
        A header row then one presentation per row, with the columns
        ``stimulus``, ``onset_s`` (seconds from the first frame) and
        ``duration_s`` (seconds); any further columns are stimulus
        parameters.  ``.tsv``/``.tab`` files are tab separated, ``.csv``
        comma separated, anything else is sniffed.

    Returns
    -------
    pandas.DataFrame
        ``stimulus``, ``onset_s``, ``duration_s``, ``params`` (per row a dict
        of the further columns, empty cells dropped, values as plain Python
        objects), sorted by onset.

    Raises
    ------
    InputError
        Missing columns (all listed), an empty stimulus name or a
        non-numeric/negative onset or duration (naming the line), no rows
        ("no stimulus events").
    """
    path = _require_file(path)
    try:
        sample = path.read_text(encoding="utf-8-sig")[:65536]
    except UnicodeDecodeError as exc:
        raise InputError(f"not a text file ({exc.reason} at byte {exc.start})", path=path) from None
    delimiter = _sniff_delimiter(path, sample)
    if not sample.strip():
        raise InputError("no stimulus events (the file is empty)", path=path)
    try:
        # blank lines are kept (and dropped below) so that row i is on line i + 2
        table = pd.read_csv(
            path,
            sep=delimiter if delimiter is not None else r"\s+",
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"cannot parse the table ({exc})", path=path) from None

    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in EVENT_COLUMNS[:3] if c not in table.columns]
    if missing:
        found = ", ".join(table.columns) or "none"
        raise InputError(
            f"missing required column(s) {', '.join(missing)} (found: {found})", path=path
        )
    table.index = table.index + 2  # header is line 1
    table = table.dropna(how="all")
    if table.empty:
        raise InputError("no stimulus events", path=path)

    onsets = _numeric_column(table, "onset_s", path)
    durations = _numeric_column(table, "duration_s", path)
    stimuli = []
    for line, name in table["stimulus"].items():
        if _is_missing(name) or not str(name).strip():
            raise InputError(f"line {line}: empty stimulus name", path=path)
        stimuli.append(str(name).strip())

    extra = [
        c for c in table.columns
        if c not in EVENT_COLUMNS[:3] and not (c.startswith("Unnamed:") and table[c].isna().all())
    ]
    params = [
        {c: _plain(v) for c, v in row.items() if not _is_missing(v)}
        for row in table[extra].to_dict("records")
    ]
    return _events_frame(stimuli, onsets, durations, params)


def _numeric_column(table: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = _plain(table[column].iloc[i])
        what = "missing" if _is_missing(raw) else f"{raw!r} is not a non-negative number"
        raise InputError(f"line {table.index[i]}: {column} {what}", path=path)
    return values


# ---------------------------------------------------------------------------
# protocol pickle


def read_protocol_pickle(
    path: PathArg,
    stimuli: Mapping[str, str],
    *,
    split_prey_direction: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Read stimulus presentations from the lab's protocol pickle.

    The pickle holds a dict ``{"metadata": dict, "protocol": DataFrame}``.
    The protocol has a time column ``t`` (seconds), per stimulus stem ``stimN``
    a ``stimN_presence`` column that is > 0 while it is shown and optional
    ``stimN_<param>`` columns, and a ``prey_direction`` column.

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

    Returns
    -------
    events : pandas.DataFrame
        As :func:`read_events_table`.
    metadata : dict
        The pickle's metadata made JSON-compatible, plus
        ``protocol_duration_s`` (the largest ``t``).

    Raises
    ------
    InputError
        Unreadable pickle, not a dict with a DataFrame ``protocol``, no or a
        non-increasing ``t``, a stem without ``_presence`` column, a stimulus
        never shown, an unusable prey direction when splitting.
    """
    path = _require_file(path)
    if not stimuli:
        raise InputError("no stimuli given to read from the protocol", path=path)
    try:
        content = pd.read_pickle(path)
    except Exception as exc:  # unpickling can fail in any way the file's code does
        raise InputError(
            f"cannot unpickle ({type(exc).__name__}: {exc})", path=path
        ) from None
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

    t = _protocol_time(protocol, path)
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
    return _events_frame(names, onsets, durations, params), metadata


def _protocol_time(protocol: pd.DataFrame, path: Path) -> np.ndarray:
    if "t" not in protocol.columns:
        raise InputError("the protocol has no time column 't'", path=path)
    t = pd.to_numeric(protocol["t"], errors="coerce").to_numpy(dtype=np.float64)
    if len(t) == 0:
        raise InputError("the protocol has no rows", path=path)
    if not np.all(np.isfinite(t)):
        row = int(np.flatnonzero(~np.isfinite(t))[0])
        raise InputError(f"'t' has a missing or non-numeric value at row {row}", path=path)
    if np.any(np.diff(t) <= 0):
        row = int(np.flatnonzero(np.diff(t) <= 0)[0]) + 1
        raise InputError(f"'t' does not increase at row {row} ({t[row - 1]} then {t[row]})", path=path)
    return t


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
        raise InputError(
            f"stimulus '{name}' ({presence_col}) is never shown in the protocol", path=path
        )

    prefix = f"{stem}_"
    param_cols = [
        c for c in protocol.columns
        if str(c).startswith(prefix) and c not in (presence_col, f"{stem}_dur")
    ]
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
                par[str(c)[len(prefix):]] = to_jsonable(value)
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
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and value != 0 \
            and math.isfinite(value):
        return PREY_DIRECTIONS[0] if value > 0 else PREY_DIRECTIONS[1]
    raise InputError(
        f"prey at {onset} s: cannot split by prey_direction {value!r} (expected "
        "'nasalward'/'temporalward', or a number > 0 nasalward, < 0 temporalward)",
        path=path,
    )


# ---------------------------------------------------------------------------
# Femtonics


_KEY_VALUE = re.compile(r"^\s*([^=:\t]+?)\s*(?:=|:|\t)\s*(.*?)\s*$")
_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)\s*(\S*)")
# D3Step is written in ms; other units are honoured if given
_TIME_UNITS_MS = {"": 1.0, "ms": 1.0, "msec": 1.0, "s": 1000.0, "sec": 1000.0, "us": 1e-3, "µs": 1e-3}


def _parse_key_values(text: str) -> dict[str, str]:
    raw: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";", "[")):
            continue
        match = _KEY_VALUE.match(line)
        if match:
            key, value = match.groups()
        else:
            parts = line.split(None, 1)  # "Key   Value"
            if len(parts) != 2:
                continue
            key, value = parts[0], parts[1].strip()
        # the first occurrence wins: later ones are per-channel repeats
        raw.setdefault(key.strip(), value)
    return raw


def _lookup(raw: dict[str, str], key: str) -> str | None:
    if key in raw:
        return raw[key]
    lowered = {k.lower(): v for k, v in raw.items()}
    return lowered.get(key.lower())


def _number(text: str) -> tuple[float, str] | None:
    match = _NUMBER_UNIT.match(text)
    if not match:
        return None
    number, unit = match.groups()
    # the lab's Hungarian-locale exports may use a decimal comma
    return float(number.replace(",", ".")), unit


def read_femtonics_metadata(path: PathArg) -> dict[str, Any]:
    """Read a Femtonics MES measurement-context text export.

    The file is a list of ``Key = Value``, ``Key: Value``, ``Key<TAB>Value``
    or ``Key  Value`` lines; values may carry units (``1000 ms``).  Keys are
    matched exactly, falling back to any case.

    Parameters
    ----------
    path : str or path-like
        The text export.

    Returns
    -------
    dict
        ``frame_period_s`` (``D3Step`` in ms / 1000; a unit of ``s`` or
        ``us`` written after it is honoured), ``width``, ``height``,
        ``n_frames`` (``Width``, ``Height``, ``D3Size`` as int, None when
        absent) and ``raw`` (every key and value as strings).

    Raises
    ------
    InputError
        No key/value lines, no ``D3Step``, ``D3Step`` not a positive number,
        ``Width``/``Height``/``D3Size`` not integers.
    """
    path = _require_file(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # older MES exports are Windows-1252/latin-1
    raw = _parse_key_values(text)
    if not raw:
        raise InputError("no 'Key = Value' lines found (not a Femtonics metadata export?)", path=path)

    step = _lookup(raw, "D3Step")
    if step is None:
        raise InputError("no D3Step (frame period, ms) in the Femtonics metadata", path=path)
    parsed = _number(step)
    factor = _TIME_UNITS_MS.get(parsed[1].lower()) if parsed else None
    if parsed is None or factor is None:
        raise InputError(f"D3Step = {step!r} is not a time in ms", path=path)
    step_ms = parsed[0] * factor
    if not (math.isfinite(step_ms) and step_ms > 0):
        raise InputError(f"D3Step = {step!r} must be a positive frame period in ms", path=path)

    return dict(
        frame_period_s=step_ms / 1000.0,
        width=_int_value(raw, "Width", path),
        height=_int_value(raw, "Height", path),
        n_frames=_int_value(raw, "D3Size", path),
        raw=raw,
    )


def _int_value(raw: dict[str, str], key: str, path: Path) -> int | None:
    text = _lookup(raw, key)
    if text is None:
        return None
    parsed = _number(text)
    if parsed is None or not parsed[0].is_integer() or parsed[0] < 0:
        raise InputError(f"{key} = {text!r} is not a whole number", path=path)
    return int(parsed[0])
