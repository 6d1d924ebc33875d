"""Figure 3: r² against −log10 q with the selection boundary, ROIs coloured by class."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from ..report.style import NOT_SELECTED_COLOR, class_color
from ._base import NOT_SELECTED, as_float_vector, class_labels, finish, fmt_count, new_figure, order_classes, plain_text

__all__ = ["plot_r2_vs_q"]

#: q values below this are drawn at it (−log10 of the smallest normal double, ~307.7)
Q_FLOOR = float(np.finfo(float).tiny)
#: the x axis turns logarithmic above SYMLOG_LINTHRESH when some −log10 q exceeds SYMLOG_ABOVE
SYMLOG_ABOVE = 30.0
SYMLOG_LINTHRESH = 2.0


@plain_text
def plot_r2_vs_q(
    r2, q_value, roi_class, *, q_threshold=None, r2_floor=None, regressors=None, title=None, fig: Figure | None = None
) -> Figure:
    """Every ROI's r² against −log10 of its Benjamini-Hochberg q, with the selection boundary.

    Parameters
    ----------
    r2, q_value : array (n_rois,)
        From the fit (NaN/None where undefined: such ROIs are counted, not drawn).
    roi_class : array of str (n_rois,)
        Class of every ROI; '' or None = not selected (drawn light grey, underneath).
    q_threshold : float, optional
        ROIs need q ≤ this (vertical dashed line at −log10 q_threshold).
    r2_floor : float, optional
        ROIs need r² > this (horizontal dashed line), if the selection uses one.
    regressors : list of str, optional
        Order of the classes in the legend.
    title : str, optional
    fig : Figure, optional

    Returns
    -------
    Figure
        ``fig.tectum_info``: ``n_drawn``, ``n_undefined`` (NaN r² or q),
        ``n_q_clipped`` (q = 0 drawn at :data:`Q_FLOOR`), ``counts``
        (legend label -> ROIs), ``q_line`` (x of the q line or None),
        ``r2_line``.
    """
    labels = class_labels(roi_class)
    n = len(labels)
    r2 = as_float_vector(r2, "r2", n)
    q = as_float_vector(q_value, "q_value", n)
    if np.any(q[np.isfinite(q)] < 0) or np.any(q[np.isfinite(q)] > 1):
        raise ValueError("q_value entries must lie within [0, 1]")
    for name, value in (("q_threshold", q_threshold), ("r2_floor", r2_floor)):
        if value is not None and not np.isfinite(float(value)):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if q_threshold is not None and not 0 < float(q_threshold) <= 1:
        raise ValueError(f"q_threshold must lie in (0, 1], got {q_threshold!r}")
    ok = np.isfinite(r2) & np.isfinite(q)
    clipped = ok & (q < Q_FLOOR)
    x = -np.log10(np.maximum(np.where(ok, q, 1.0), Q_FLOOR))

    fig = new_figure(fig, (7.5, 5.5))
    ax = fig.add_subplot(111)
    counts = {}
    not_sel = ok & (labels == "")
    counts[NOT_SELECTED] = int(not_sel.sum())
    ax.scatter(
        x[not_sel],
        r2[not_sel],
        s=9,
        color=NOT_SELECTED_COLOR,
        edgecolors="0.6",
        linewidths=0.3,
        label=f"{NOT_SELECTED} ({counts[NOT_SELECTED]})",
        zorder=2,
    )
    for cls in order_classes(labels, regressors or ()):
        m = ok & (labels == cls)
        counts[cls] = int(m.sum())
        ax.scatter(
            x[m],
            r2[m],
            s=14,
            color=class_color(cls),
            edgecolors="black",
            linewidths=0.3,
            label=f"{cls} ({counts[cls]})",
            zorder=3,
        )
    x_max = float(x[ok].max()) if ok.any() else 0.0
    symlog = x_max > SYMLOG_ABOVE
    if symlog:  # a few very small q would squash the boundary region into the left edge
        ax.set_xscale("symlog", linthresh=SYMLOG_LINTHRESH, linscale=1.0)
        ax.set_xlim(0.0, x_max * 1.3)
        # plain tick labels: the log formatters write mathtext, which is off here
        ticks = [t for t in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500) if t <= x_max * 1.3]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
    q_line = r2_line = None
    if q_threshold is not None:
        q_line = float(-np.log10(float(q_threshold)))
        ax.axvline(q_line, color="crimson", ls="--", lw=1.2, label=f"q = {float(q_threshold):g}", zorder=4)
    if r2_floor is not None:
        r2_line = float(r2_floor)
        ax.axhline(r2_line, color="crimson", ls=":", lw=1.2, label=f"r² = {r2_line:g}", zorder=4)
    if q_line is not None or r2_line is not None:
        # the selected region: right of the q line and above the r² floor
        x0 = q_line if q_line is not None else ax.get_xlim()[0]
        y0 = r2_line if r2_line is not None else ax.get_ylim()[0]
        xlim, ylim = ax.get_xlim(), ax.get_ylim()
        ax.fill_between(
            [x0, max(xlim[1], x0)],
            y0,
            max(ylim[1], y0),
            color="crimson",
            alpha=0.05,
            lw=0,
            zorder=0,
            label="selection region",
        )
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
    n_undef = int((~ok).sum())
    if n_undef:
        ax.plot([], [], " ", label=f"{fmt_count(n_undef, 'ROI')} with undefined r² or q not drawn")
    if clipped.any():
        ax.plot([], [], " ", label=f"{int(clipped.sum())} with q = 0 drawn at q = {Q_FLOOR:.1e}")
    xlabel = "−log10 q (Benjamini-Hochberg adjusted p of the F-test)"
    if symlog:
        xlabel += f"\nlinear up to {SYMLOG_LINTHRESH:g}, logarithmic above"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("r² (variance of ΔF/F explained by the regressors)")
    rule = []
    if q_threshold is not None:
        rule.append(f"q ≤ {float(q_threshold):g}")
    if r2_floor is not None:
        rule.append(f"r² > {float(r2_floor):g}")
    n_sel = int((labels != "").sum())
    sub = f"{n_sel} of {fmt_count(n, 'ROI')} selected" + (
        f" ({' and '.join(rule)})" if rule else " (no selection boundary given)"
    )
    ax.set_title(f"{title or 'Selection of stimulus-locked ROIs'}\n{sub}", fontsize=10.5)
    ax.legend(fontsize=8, frameon=True, framealpha=0.85, edgecolor="none", loc="best")
    return finish(
        fig,
        {
            "n_drawn": int(ok.sum()),
            "n_undefined": n_undef,
            "n_q_clipped": int(clipped.sum()),
            "counts": counts,
            "q_line": q_line,
            "r2_line": r2_line,
            "x_scale": "symlog" if symlog else "linear",
        },
    )
