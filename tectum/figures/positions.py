"""Figure 4: where the ROIs are, coloured by class."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..report.style import NOT_SELECTED_COLOR, class_color
from ._base import NOT_SELECTED, class_labels, finish, fmt_count, message, new_figure, order_classes, plain_text

__all__ = ["plot_roi_positions"]


@plain_text
def plot_roi_positions(
    positions, roi_class, *, units="px", invert_y=True, regressors=None, title=None, fig: Figure | None = None
) -> Figure:
    """ROI centres coloured by class: x–y, and x–z under it when the ROIs lie in more than one plane.

    Parameters
    ----------
    positions : array (n_rois, 2 or 3), or None
        Centres (x, y[, z]) as ingested (``RoiTraces.Roi`` x, y, z); NaN
        where unknown (a NaN z column: a single plane). None or all NaN: a
        figure saying there are no positions.
    roi_class : array of str (n_rois,)
        '' or None = not selected (light grey, underneath).
    units : str
        Unit of the coordinates, for the axis labels.
    invert_y : bool
        y (and z) grow downward, as in the image the ROIs were segmented from
        (and with depth).
    regressors : list of str, optional
        Order of the classes in the legend.
    title : str, optional
    fig : Figure, optional

    Returns
    -------
    Figure
        ``fig.tectum_info``: ``has_positions``, ``panels`` (e.g. ``["x-y",
        "x-z"]``), ``n_drawn``, ``n_missing`` (ROIs without x or y), ``counts``.
    """
    head = title or "ROI positions by class"
    if positions is None:
        labels = class_labels(roi_class)
        fig = new_figure(fig, (6, 4))
        message(fig, head, "no positions: none were ingested for this recording")
        return finish(fig, {"has_positions": False, "panels": [], "n_drawn": 0, "n_missing": len(labels), "counts": {}})
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[1] not in (2, 3):
        raise ValueError(f"positions must be n_rois x 2 or 3 (x, y[, z]), got shape {pos.shape}")
    labels = class_labels(roi_class, pos.shape[0])
    xy_ok = np.isfinite(pos[:, 0]) & np.isfinite(pos[:, 1])
    if not xy_ok.any():
        fig = new_figure(fig, (6, 4))
        message(fig, head, "no positions: every ROI's x or y is missing")
        return finish(fig, {"has_positions": False, "panels": [], "n_drawn": 0, "n_missing": len(labels), "counts": {}})
    z = pos[:, 2] if pos.shape[1] == 3 else np.full(len(labels), np.nan)
    z_ok = np.isfinite(z)
    # a z panel only when the drawn ROIs lie in more than one plane
    depth = bool((xy_ok & z_ok).any()) and np.unique(z[xy_ok & z_ok]).size > 1
    panels = ["x-y", "x-z"] if depth else ["x-y"]
    x, y = pos[xy_ok, 0], pos[xy_ok, 1]
    x_range = max(float(np.ptp(x)), 1e-9)
    y_range = max(float(np.ptp(y)), 1e-9)
    if depth:
        # side view under the top view, sharing x, heights in proportion to the data (same scale)
        z_range = max(float(np.ptp(z[xy_ok & z_ok])), 1e-9)
        ratios = [y_range, max(z_range, 0.12 * y_range)]
        width = 8.0
        height = 1.6 + (width - 2.6) * (ratios[0] + ratios[1]) / x_range
        fig = new_figure(fig, (width, min(max(height, 5.0), 12.0)))
        axes = fig.subplots(2, 1, sharex=True, squeeze=False, height_ratios=ratios)[:, 0]
    else:
        height = 1.6 + 5.4 * min(max(y_range / x_range, 0.3), 1.6)
        fig = new_figure(fig, (8.0, height))
        axes = fig.subplots(1, 1, squeeze=False)[0]
    classes = order_classes(labels, regressors or ())
    groups = [("", NOT_SELECTED, NOT_SELECTED_COLOR, 8, "0.65")]
    groups += [(c, c, class_color(c), 16, "black") for c in classes]
    counts = {}
    axes_panels = panels
    for ax, panel in zip(axes, panels):
        ycol = pos[:, 1] if panel == "x-y" else z
        shown = xy_ok & (np.isfinite(ycol) if panel == "x-z" else True)
        for value, label, color, size, edge in groups:
            m = shown & (labels == value)
            if panel == "x-y":
                counts[label] = int(m.sum())
            ax.scatter(
                pos[m, 0],
                ycol[m],
                s=size,
                color=color,
                edgecolors=edge,
                linewidths=0.3,
                label=f"{label} ({int(m.sum())})",
                zorder=2 if value == "" else 3,
            )
        if panel == axes_panels[-1]:
            ax.set_xlabel(f"x ({units})")
        ax.set_ylabel(f"{'y' if panel == 'x-y' else 'z'} ({units})")
        ax.set_aspect("equal", adjustable="datalim")
        if invert_y:
            ax.invert_yaxis()
        ax.set_title("top view (x–y)" if panel == "x-y" else "side view (x–z)", fontsize=10)
    axes[0].legend(
        fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="class (ROIs)", title_fontsize=8
    )
    n_missing = int((~xy_ok).sum())
    sub = f"{fmt_count(int(xy_ok.sum()), 'ROI')} drawn"
    if n_missing:
        sub += f"; {n_missing} without a position not drawn"
    fig.suptitle(f"{head}\n{sub}", fontsize=10.5)
    return finish(
        fig,
        {
            "has_positions": True,
            "panels": panels,
            "n_drawn": int(xy_ok.sum()),
            "n_missing": n_missing,
            "counts": counts,
        },
    )
