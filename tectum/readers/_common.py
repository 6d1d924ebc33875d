"""Helpers shared by the readers.

:func:`to_jsonable` (plain JSON-compatible values), small value checks
(``_plain``, ``_is_missing``), opening files (``_require_file``,
``_load_npy``), checking numeric trace matrices (``_numeric_matrix``,
``_check_finite``) and guessing the delimiter of a text table
(``_sniff_delimiter``).
"""

from __future__ import annotations

import datetime as _dt
import math
import pickle
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

PathArg = str | PathLike


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
        raise InputError(f"{what} must be numeric, found dtype {arr.dtype}", path=path)
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
