"""Shared plumbing of the paper figures: the Figure, plain text, class labels, checks."""

from __future__ import annotations

import functools
import numbers
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..report.style import DPI, NEUTRAL_CLASS_COLORS, STIMULUS_COLORS

#: the order of the classes that are not a stimulus, after the stimulus classes
NEUTRAL_CLASSES = tuple(NEUTRAL_CLASS_COLORS)  # mixed, inhibited, unclassified
#: label of ROIs without a class
NOT_SELECTED = "not selected"


def new_figure(fig: Figure | None, size: tuple) -> Figure:
    """``fig`` if given (drawn on as it is), else a new Agg ``Figure`` of ``size`` inches, constrained layout."""
    if fig is not None:
        if not isinstance(fig, Figure):
            raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
        return fig
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # no pyplot: the figure carries its own canvas, so fig.savefig works
    return fig


def plain_text(plot):
    """Run ``plot`` with mathtext off, so a '$' in a fish, stimulus or class name stays a '$'.

    Text objects take ``text.parse_math`` when they are created, so the
    figure keeps plain text when it is saved later, outside this context.
    """

    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context({"text.parse_math": False}):
            return plot(*args, **kwargs)

    return wrapper


def finish(fig: Figure, info: dict) -> Figure:
    """Attach the description of what was drawn as ``fig.tectum_info`` and return the figure."""
    fig.tectum_info = info
    return fig


def message(fig: Figure, title: str, text: str):
    """An empty figure saying ``text`` (e.g. "no ROIs selected"); returns its axes."""
    ax = fig.add_subplot(111)
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=13, transform=ax.transAxes, wrap=True)
    return ax


def save_png(fig: Figure, path) -> Path:
    """Write ``fig`` as a PNG at :data:`~tectum.report.style.DPI` (Agg canvas, no pyplot)."""
    path = Path(path)
    FigureCanvasAgg(fig)
    with matplotlib.rc_context({"text.parse_math": False}):
        fig.savefig(path, dpi=DPI)
    return path


def class_labels(roi_class, n_rois: int | None = None, name: str = "roi_class") -> np.ndarray:
    """Class label per ROI as an object array of ``str``; '' for no class.

    None, NaN and '' all mean "no class" (not selected), as a database NULL
    or a pandas missing value would arrive.
    """
    arr = np.asarray(roi_class, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per ROI), got shape {arr.shape}")
    if n_rois is not None and arr.shape[0] != n_rois:
        raise ValueError(f"{name} has {arr.shape[0]} labels but there are {n_rois} ROIs")
    out = np.empty(arr.shape[0], dtype=object)
    for i, value in enumerate(arr):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out[i] = ""
        else:
            out[i] = str(value)
    return out


def order_classes(labels, regressors=()) -> list:
    """Classes present in ``labels`` in figure order.

    First the ``regressors`` (in their given order), then the known stimuli
    (prey, its directions, looming, dimming), then other names
    (alphabetical), then ``mixed``, ``inhibited``, ``unclassified``; ''
    (no class) is left out.
    """
    present = {str(c) for c in labels if c}
    neutral = {c.lower() for c in NEUTRAL_CLASSES}
    first = [r for r in dict.fromkeys(regressors) if r in present]
    known = [c for k in STIMULUS_COLORS for c in sorted(present) if c.lower() == k and c not in first]
    rest = sorted(c for c in present if c not in first and c not in known and c.lower() not in neutral)
    last = [c for n in NEUTRAL_CLASSES for c in sorted(present) if c.lower() == n and c not in first]
    return first + known + rest + last


def check_frame_period(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"frame_period_s must be a finite number > 0, got {value!r}")
    return float(value)


def check_window(window, name: str) -> tuple:
    try:
        lo, hi = (float(v) for v in window)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a pair (start_s, end_s), got {window!r}") from err
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be finite with start < end, got {window!r}")
    return lo, hi


def as_float_vector(values, name: str, n: int | None = None) -> np.ndarray:
    """``values`` as a 1-D float array (None -> NaN), of length ``n`` if given."""
    arr = np.asarray(values)
    if arr.dtype == object:  # database NULLs arrive as None
        arr = np.array([np.nan if v is None else float(v) for v in arr.ravel()]).reshape(arr.shape)
    arr = np.asarray(arr, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} values, expected {n}")
    return arr


def fmt_count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
