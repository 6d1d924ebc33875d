"""Small shared input-validation helpers (private)."""

from __future__ import annotations

import numbers

import numpy as np

# Rows per block are chosen so one float64 block holds about this many values
# (~32 MB); large recordings are processed block by block to bound memory.
BLOCK_VALUES = 4_000_000


def block_rows(n_cols: int, *, values: int = BLOCK_VALUES) -> int:
    """Number of rows per block for a row-blocked computation."""
    return max(1, values // max(int(n_cols), 1))


def check_positive_float(value, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (or >= 0), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return value


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def as_2d_array(x, name: str) -> np.ndarray:
    """View ``x`` as a 2-D real numeric array (no copy when possible)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (ROI x frame), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer) or x.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    return x


def first_nonfinite_row(x: np.ndarray) -> int | None:
    """Index of the first row of ``x`` holding NaN/inf, or None (blockwise)."""
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        return None
    step = block_rows(x.shape[1])
    for start in range(0, x.shape[0], step):
        bad = ~np.isfinite(x[start : start + step]).all(axis=1)
        if bad.any():
            return start + int(np.argmax(bad))
    return None


_CONTROLLER = []


def single_threaded_blas():
    """Context limiting BLAS to one thread, for small factorisations.

    Multi-threaded OpenBLAS spends ~0.2 s on a thin QR of a (2000 x 9)
    design when the machine is busy (threads wait for each other), 500x
    the single-threaded time; large products keep their threads outside.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    if not _CONTROLLER:  # inspecting the loaded libraries is slow: once
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")
