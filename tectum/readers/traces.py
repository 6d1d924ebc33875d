"""Readers of fluorescence traces and ROI positions.

* traces as a ``.npy`` matrix (ROIs x frames): :func:`read_traces_npy`
* traces as CSV/TSV text, one ROI per row: :func:`read_traces_csv`
* ROI positions as a ``.npy`` array: :func:`read_positions_npy`
"""

from __future__ import annotations

import csv
from typing import Iterator

import numpy as np

from ..errors import InputError
from ._common import PathArg, _check_finite, _load_npy, _numeric_matrix, _require_file, _sniff_delimiter

#: header names accepted for the ROI-label column of a traces CSV, besides
#: the empty name pandas writes for an unnamed index
_ROI_LABEL_HEADERS = ("", "roi", "roi_id", "index")


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
