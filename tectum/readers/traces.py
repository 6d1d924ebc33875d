"""Readers of fluorescence traces and ROI positions.

* traces as a ``.npy`` matrix (ROIs x frames): :func:`read_traces_npy`
* traces as CSV/TSV text, one ROI per row: :func:`read_traces_csv`
* ROI positions as a ``.npy`` array: :func:`read_positions_npy`
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import numpy as np

from ..errors import InputError
from ._common import PathArg, _check_finite, _load_npy, _numeric_matrix, _require_file, _sniff_delimiter

#: how a traces matrix is laid out: one ROI per row (the default) or one frame per row
ORIENTATIONS = ("rois_x_frames", "frames_x_rois")


def _check_orientation(orientation: str, path) -> None:
    if orientation not in ORIENTATIONS:
        raise InputError(f"traces_orientation must be one of {', '.join(ORIENTATIONS)}, got {orientation!r}", path=path)


def read_traces_npy(path: PathArg, *, orientation: str = "rois_x_frames") -> np.ndarray:
    """Read a ``.npy`` matrix of fluorescence traces.

    Parameters
    ----------
    path : str or path-like
        A ``.npy`` file holding one numeric 2-D array, ROIs x frames.
    orientation : {"rois_x_frames", "frames_x_rois"}
        How the array is laid out; ``"frames_x_rois"`` is transposed on reading.

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
    _check_orientation(orientation, path)
    traces = _numeric_matrix(_load_npy(path), path)
    return np.ascontiguousarray(traces.T) if orientation == "frames_x_rois" else traces


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


def _counts_up(values: np.ndarray) -> str | None:
    """How ``values`` look like labels rather than fluorescence, or None.

    Integers increasing in order (``0..n-1``, ``1..n``, ids with gaps) or
    equal steps (frame numbers or times) are labels; a measured trace is
    neither. At least three values are needed to tell.
    """
    if len(values) < 3 or not np.all(np.isfinite(values)):
        return None
    steps = np.diff(values)
    if not np.all(steps > 0):
        return None
    if np.all(values == np.round(values)):
        return "whole numbers counting up"
    if np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        return "equal steps like frame numbers or times"
    return None


def _preview(cells: list[str], n: int = 4) -> str:
    shown = ", ".join(c.strip() or "''" for c in cells[:n])
    return shown + (", ..." if len(cells) > n else "")


def read_traces_csv(
    path: PathArg,
    *,
    header: bool | None = None,
    index_column: bool | None = None,
    orientation: str = "rois_x_frames",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read traces from a delimited text table, laid out as stated.

    Nothing about the layout is guessed. ``header``, ``index_column`` and
    ``orientation`` say how the file is written (the manifest keys
    ``traces_header``, ``traces_index_column``, ``traces_orientation``).
    A value left as None takes its default (no header, no index column) and
    the file is checked against it: a first row of numbers counting up (frame
    numbers, times, ROI ids) or a first column counting up (``0..n-1``,
    ``1..n``) is an error that names the key to set. A value given as True
    or False is trusted.

    * ``orientation="rois_x_frames"`` (default): one ROI per row. A header
      names the frames (it is skipped); an index column holds the ROI ids
      (integers).
    * ``orientation="frames_x_rois"``: one frame per row. A header holds the
      ROI ids (integers; the cell above an index column is skipped); an index
      column holds frame numbers or times (skipped).

    ``numpy.savetxt`` writes no header and no index; ``DataFrame.to_csv``
    writes both (``index=False``: a header only). Blank lines and lines
    starting with ``#`` are ignored.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` (comma), ``.tsv``/``.tab`` (tab) or another extension (the
        delimiter is guessed from the first line: comma, tab, semicolon or
        whitespace).
    header : bool or None
        Whether the first line is a header.
    index_column : bool or None
        Whether the first column is an index.
    orientation : {"rois_x_frames", "frames_x_rois"}

    Returns
    -------
    traces : numpy.ndarray
        float32, shape (n_rois, n_frames).
    roi_ids : numpy.ndarray or None
        int64 ROI ids from the index column (ROIs x frames) or the header
        (frames x ROIs), else None.

    Raises
    ------
    InputError
        A layout the file contradicts (naming the key to set), ROI ids that
        are not integers, rows of different length or non-numeric cells
        (naming the line and column), NaN/inf (naming the line and ROI), no
        data rows.
    """
    path = _require_file(path)
    _check_orientation(orientation, path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            sample = fh.read(65536)
            fh.seek(0)
            delimiter = _sniff_delimiter(path, sample)
            head, rows, labels, lines = _parse_traces_table(fh, delimiter, path, header, index_column)
    except UnicodeDecodeError as exc:
        raise InputError(f"not a text file ({exc.reason} at byte {exc.start})", path=path) from None
    if not rows:
        raise InputError("no data rows found", path=path)
    parsed = np.vstack(rows)
    with np.errstate(over="ignore"):  # overflow is reported by _check_finite
        matrix = parsed.astype(np.float32)
    by_rois = orientation == "rois_x_frames"
    if by_rois:
        _check_finite(matrix, parsed, path, what="traces", row_lines=np.asarray(lines))
        roi_ids = None if labels is None else _integer_ids(labels, lines, path)
        return matrix, roi_ids
    # frames x ROIs: check per ROI (column), then transpose
    traces = np.ascontiguousarray(matrix.T)
    roi_ids = None
    if head is not None:
        roi_ids = _header_ids(head[1:] if labels is not None else head, path, offset=2 if labels is not None else 1)
    _check_finite(traces, np.ascontiguousarray(parsed.T), path, what="traces")
    return traces, roi_ids


def _parse_traces_table(fh, delimiter, path, header, index_column):
    rows: list[np.ndarray] = []
    first_cells: list[str] = []
    labels: list[str] | None = [] if index_column else None
    lines: list[int] = []
    head = None
    n_cells = None
    for line_no, cells in _split_lines(fh, delimiter):
        if n_cells is None:  # the first line
            n_cells = len(cells)
            if header:
                head = cells
                if index_column is None and not cells[0].strip() and len(cells) > 1:
                    raise InputError(
                        "the header's first cell is empty, as pandas writes above an index column; "
                        "set traces_index_column = true (or false to read the first column as data)",
                        path=path,
                    )
                continue
            if header is None:
                _refuse_header_like(cells, line_no, path)
        if len(cells) != n_cells:
            raise InputError(
                f"line {line_no}: {len(cells)} values where line {lines[0] if lines else 1} "
                f"has {n_cells} (ragged rows: every row needs the same number of values)",
                path=path,
            )
        values = cells
        first_cells.append(cells[0])
        if labels is not None:
            labels.append(cells[0].strip())
            values = cells[1:]
        try:
            rows.append(np.array(values, dtype=np.float64))
        except ValueError:
            offset = 1 if labels is not None else 0
            col, cell = next((i, c) for i, c in enumerate(values, start=1 + offset) if not _is_number(c))
            raise InputError(f"line {line_no}, column {col}: non-numeric value {cell!r}", path=path) from None
        lines.append(line_no)
    if index_column is None and len(rows) >= 3:
        first = np.array([r[0] for r in rows])
        looks = _counts_up(first)
        if looks:
            raise InputError(
                f"column 1 ({_preview(first_cells)}) holds {looks}, like an index "
                "column, not a trace: set traces_index_column = true (or false to read it as data)",
                path=path,
            )
    return head, rows, labels, lines


def _refuse_header_like(cells: list[str], line_no: int, path) -> None:
    """The default says "no header": refuse a first line that is evidently one."""
    numeric = [_is_number(c) for c in cells]
    if not all(numeric):
        both = not cells[0].strip() and len(cells) > 1 and all(numeric[1:])
        extra = (
            (" and traces_index_column = true (an empty first cell is what pandas writes above an index column)")
            if both
            else ""
        )
        raise InputError(
            f"line {line_no} ({_preview(cells)}) is not numbers, so it looks like a header: "
            f"set traces_header = true{extra}",
            path=path,
        )
    looks = _counts_up(np.array([float(c) for c in cells]))
    if looks:
        raise InputError(
            f"line {line_no} ({_preview(cells)}) holds {looks}, like a header, not a trace: "
            "set traces_header = true (or false to read it as data)",
            path=path,
        )


def _integer_ids(labels: list[str], lines: list[int], path) -> np.ndarray:
    """ROI ids from an index column: every one an integer."""
    ids = np.empty(len(labels), dtype=np.int64)
    for i, (text, line_no) in enumerate(zip(labels, lines)):
        value = _whole_number(text)
        if value is None:
            raise InputError(
                f"line {line_no}: ROI id {text!r} in the index column is not an integer "
                "(traces_index_column = true reads the first column as ROI ids)",
                path=path,
            )
        ids[i] = value
    return ids


def _header_ids(cells: list[str], path, *, offset: int) -> np.ndarray:
    """ROI ids from the header of a frames x ROIs table: every one an integer."""
    ids = np.empty(len(cells), dtype=np.int64)
    for i, text in enumerate(cells):
        value = _whole_number(text.strip())
        if value is None:
            raise InputError(
                f"header column {i + offset}: ROI id {text.strip()!r} is not an integer "
                '(with traces_orientation = "frames_x_rois" the header holds the ROI ids)',
                path=path,
            )
        ids[i] = value
    return ids


def _whole_number(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if not np.isfinite(value) or value != round(value) or abs(value) >= 2**63:
        return None
    return int(value)
