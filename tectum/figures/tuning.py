"""Figure 2: the tuning heatmap, selected ROIs × regressors (or stimuli), response amplitude."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..report.style import class_color
from ._base import class_labels, finish, fmt_count, message, new_figure, order_classes, plain_text

__all__ = ["amplitude_matrix", "plot_tuning_heatmap", "tuning_order"]

#: diverging colour map centred on 0 (excitation red, inhibition blue)
TUNING_CMAP = "RdBu_r"


def amplitude_matrix(amplitudes: pd.DataFrame, n_rois: int | None = None, *, column: str = "regressor", columns=None):
    """ROIs × columns matrix of the mean amplitude from a long table.

    Parameters
    ----------
    amplitudes : DataFrame
        Columns ``roi`` (0-based row, as in the database), ``column`` (e.g.
        ``regressor`` or ``stimulus``) and ``amplitude``; several rows of the
        same ROI and column (e.g. one per presentation, as
        :func:`~tectum.figures.align.presentation_amplitudes` gives) are
        averaged, NaN ignored.
    n_rois : int, optional
        Number of rows (default: largest roi + 1).
    column : str
        Which column names the heatmap's columns.
    columns : list of str, optional
        Column order (default: order of first appearance); every name must occur.

    Returns
    -------
    (matrix, names)
        ``matrix`` (n_rois, n_columns), NaN where a ROI has no value.
    """
    if not isinstance(amplitudes, pd.DataFrame):
        raise TypeError(f"amplitudes must be a DataFrame here, got {type(amplitudes).__name__}")
    missing = [c for c in ("roi", column, "amplitude") if c not in amplitudes.columns]
    if missing:
        raise ValueError(f"amplitudes lack column(s) {missing}; have {list(amplitudes.columns)}")
    roi = pd.to_numeric(amplitudes["roi"], errors="raise").to_numpy()
    if roi.size and (roi.min() < 0 or np.any(roi != np.round(roi))):
        raise ValueError("amplitudes column roi must hold row numbers (integers >= 0)")
    roi = roi.astype(np.int64)
    names_found = list(dict.fromkeys(amplitudes[column].astype(str)))
    if columns is None:
        names = names_found
    else:
        names = [str(c) for c in columns]
        unknown = [c for c in names if c not in names_found]
        if unknown:
            raise ValueError(f"columns {unknown} do not occur in amplitudes[{column!r}] ({names_found})")
        extra = [c for c in names_found if c not in names]
        if extra:
            raise ValueError(f"amplitudes[{column!r}] holds {extra}, not in columns {names}: pass them too")
    n = int(roi.max()) + 1 if n_rois is None and roi.size else int(n_rois or 0)
    if roi.size and roi.max() >= n:
        raise ValueError(f"amplitudes name roi {int(roi.max())} but there are {n} ROIs")
    col = pd.Categorical(amplitudes[column].astype(str), categories=names).codes
    value = pd.to_numeric(amplitudes["amplitude"], errors="raise").to_numpy(dtype=float)
    ok = np.isfinite(value)
    total = np.zeros((n, len(names)))
    count = np.zeros((n, len(names)))
    np.add.at(total, (roi[ok], col[ok]), value[ok])
    np.add.at(count, (roi[ok], col[ok]), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return matrix, names


def tuning_order(
    matrix: np.ndarray, labels: np.ndarray, names: list, classes: list, groups: dict | None = None
) -> np.ndarray:
    """Rows of the selected ROIs sorted by class (``classes`` order), then by amplitude.

    Within a class that has columns (``groups[class]``, by default the column
    of the same name): the largest amplitude among them, largest first;
    ``inhibited``: the smallest amplitude over all columns, most negative
    first; any other class: the largest amplitude over all columns. ROIs
    without any amplitude come last in their class; ties keep row order.
    """
    groups = groups if groups is not None else {n: [n] for n in names}
    order = []
    for cls in classes:
        rows = np.flatnonzero(labels == cls)
        if rows.size == 0:
            continue
        sub = matrix[rows]
        own = [names.index(c) for c in groups.get(cls, []) if c in names]
        with np.errstate(all="ignore"):
            if own:
                key = -np.max(np.where(np.isfinite(sub[:, own]), sub[:, own], -np.inf), axis=1)
            elif cls.lower() == "inhibited":
                key = np.min(np.where(np.isfinite(sub), sub, np.inf), axis=1)
            else:
                key = -np.max(np.where(np.isfinite(sub), sub, -np.inf), axis=1)
        key = np.where(np.isfinite(key), key, np.inf)
        order.append(rows[np.argsort(key, kind="stable")])
    return np.concatenate(order) if order else np.zeros(0, dtype=np.int64)


def _regressor_groups(amplitudes: pd.DataFrame, column: str, names: list):
    """Regressor -> its columns, and the columns grouped by regressor, when a stimulus table says so."""
    if column == "regressor" or "regressor" not in amplitudes.columns:
        return None, names
    pairs = amplitudes[[column, "regressor"]].astype(str).drop_duplicates()
    groups: dict = {}
    for col_name, reg in pairs.itertuples(index=False):
        groups.setdefault(reg, [])
        if col_name not in groups[reg]:
            groups[reg].append(col_name)
    ordered = [c for reg in groups for c in groups[reg] if c in names]
    ordered += [c for c in names if c not in ordered]
    return groups, ordered


@plain_text
def plot_tuning_heatmap(
    amplitudes,
    roi_class,
    *,
    columns=None,
    column="regressor",
    classes=None,
    value_label="response amplitude (ΔF/F)",
    max_abs=None,
    roi_ids=None,
    title=None,
    fig: Figure | None = None,
) -> Figure:
    """Heatmap of the selected ROIs' response amplitudes, rows sorted by class then amplitude.

    Parameters
    ----------
    amplitudes : array (n_rois, n_columns) or DataFrame
        An array with ``columns`` naming its columns (e.g. the regressors),
        or a long table (``roi``, ``column``, ``amplitude``, e.g. one row per
        presentation) averaged by :func:`amplitude_matrix`.
    roi_class : array of str (n_rois,)
        Class per ROI; '' or None (not selected) rows are not drawn.
    columns : list of str
        Names of the array's columns, or the column order of a table.
    column : str
        The table's column naming the heatmap's columns (``regressor`` or
        ``stimulus``). With ``stimulus`` and a ``regressor`` column in the
        table, the stimuli of a regressor stand together and the ROIs of a
        class are sorted by their largest amplitude to its stimuli.
    classes : list of str, optional
        Classes to draw, in this order (default: the classes present,
        regressors first, then ``mixed``, ``inhibited``, ``unclassified``).
    value_label : str
        Colour-bar label: say what the amplitude is (e.g. "mean ΔF/F 0-5 s
        after onset − 3 s before").
    max_abs : float, optional
        Colour limits ±max_abs (default: 99th percentile of |amplitude|).
    roi_ids : array (n_rois,), optional
        ROI labels for the row ticks (drawn when at most 40 rows).
    title : str, optional
    fig : Figure, optional

    Returns
    -------
    Figure
        ``fig.tectum_info``: ``rows`` (ROI rows top to bottom), ``row_class``,
        ``columns``, ``class_counts`` (class -> ROIs), ``limits`` (vmin,
        vmax), ``n_no_amplitude`` (selected ROIs without any value).
    """
    groups = None
    if isinstance(amplitudes, pd.DataFrame):
        labels = class_labels(roi_class)
        matrix, names = amplitude_matrix(amplitudes, len(labels), column=column, columns=columns)
        groups, grouped = _regressor_groups(amplitudes, column, names)
        if columns is None and grouped != names:  # stimuli next to the others of their regressor
            matrix = matrix[:, [names.index(c) for c in grouped]]
            names = grouped
    else:
        matrix = np.asarray(amplitudes, dtype=float)
        if matrix.ndim != 2:
            raise ValueError(f"amplitudes must be 2-D (ROIs x columns), got shape {matrix.shape}")
        if columns is None or len(columns) != matrix.shape[1]:
            raise ValueError(f"columns must name the {matrix.shape[1]} columns of amplitudes, got {columns!r}")
        names = [str(c) for c in columns]
        labels = class_labels(roi_class, matrix.shape[0])
    if classes is None:
        classes = order_classes(labels, list(groups) if groups else names)
    else:
        classes = [str(c) for c in classes]
    head = title or "Tuning of the selected ROIs"
    if not classes:
        fig = new_figure(fig, (7, 4))
        message(fig, head, "no ROIs selected")
        return finish(
            fig,
            {
                "rows": np.zeros(0, dtype=np.int64),
                "row_class": [],
                "columns": names,
                "class_counts": {},
                "limits": None,
                "n_no_amplitude": 0,
            },
        )
    rows = tuning_order(matrix, labels, names, classes, groups)
    data = matrix[rows]
    finite = np.isfinite(data)
    n_no_amp = int((~finite.any(axis=1)).sum())
    if max_abs is None:
        max_abs = float(np.percentile(np.abs(data[finite]), 99)) if finite.any() else 1.0
    max_abs = max_abs if max_abs > 0 else 1.0
    n = len(rows)
    width = max(6.4, 3.0 + 0.8 * len(names))
    fig = new_figure(fig, (width, 6.2))
    gs = fig.add_gridspec(1, 2, width_ratios=[max(2.0, 0.8 * len(names)), 0.2])
    ax = fig.add_subplot(gs[0, 0])
    ax_cb = fig.add_subplot(gs[0, 1])
    # the class strip hugs the heatmap's left edge (an inset keeps it out of the layout's spacing)
    strip = 0.3 / max(2.0, 0.8 * len(names))
    ax_cls = ax.inset_axes((-strip - 0.015, 0.0, strip, 1.0), sharey=ax)

    row_class = labels[rows]
    index = {c: i for i, c in enumerate(classes)}
    ax_cls.imshow(
        np.array([index[c] for c in row_class])[:, None],
        aspect="auto",
        interpolation="nearest",
        cmap=ListedColormap([to_rgb(class_color(c)) for c in classes]),
        vmin=-0.5,
        vmax=len(classes) - 0.5,
        extent=(0, 1, n, 0),
    )
    ax_cls.set_xticks([0.5])
    ax_cls.set_xticklabels(["class"], rotation=90, fontsize=8)
    cmap = matplotlib_cmap(TUNING_CMAP)
    im = ax.imshow(
        data,
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        vmin=-max_abs,
        vmax=max_abs,
        extent=(0, len(names), n, 0),
    )
    counts = {c: int((row_class == c).sum()) for c in classes}
    edge = 0
    for c in classes[:-1]:
        edge += counts[c]
        for a in (ax, ax_cls):
            a.axhline(edge, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(names)) + 0.5)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=9)
    ax.tick_params(axis="y", left=False, labelleft=False)
    if n <= 40:
        ids = np.arange(len(labels)) if roi_ids is None else np.asarray(roi_ids)
        ax_cls.set_yticks(np.arange(n) + 0.5)
        ax_cls.set_yticklabels([str(ids[r]) for r in rows], fontsize=7)
        ax_cls.set_ylabel("ROI", fontsize=9)
    else:
        ax_cls.tick_params(axis="y", left=False, labelleft=False)
        ax_cls.set_ylabel(f"{n} selected ROIs, sorted by class, then amplitude", fontsize=9)
    ax.set_xlabel(column, fontsize=9)
    fig.colorbar(im, cax=ax_cb, label=value_label)
    handles = [Patch(color=class_color(c), label=f"{c} ({counts[c]})") for c in classes]
    constrained = getattr(fig.get_layout_engine(), "__class__", type(None)).__name__ == "ConstrainedLayoutEngine"
    fig.legend(
        handles=handles,
        loc="outside lower center" if constrained else "lower center",
        ncol=min(len(handles), 4),
        fontsize=8,
        frameon=False,
        title="class (ROIs)",
        title_fontsize=8,
    )
    sub = f"{fmt_count(n, 'selected ROI')}; colour limits ±{max_abs:.3g}"
    if n_no_amp:
        sub += f"; {n_no_amp} without amplitude (grey)"
    fig.suptitle(f"{head}\n{sub}", fontsize=10.5)
    return finish(
        fig,
        {
            "rows": rows,
            "row_class": list(row_class),
            "columns": names,
            "class_counts": counts,
            "limits": (-max_abs, max_abs),
            "n_no_amplitude": n_no_amp,
        },
    )


def matplotlib_cmap(name: str):
    """A copy of a registered colour map with NaN drawn light grey."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="0.55")
