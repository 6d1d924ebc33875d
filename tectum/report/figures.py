"""The report's figures: the ``draw_*`` functions.

Each ``draw_*`` function draws on a matplotlib ``Figure`` given by the caller
from a :class:`~tectum.report.data.RecordingData` and returns a small dict
describing what it drew; ``_save`` writes a figure as PNG with the Agg canvas.
"""

from __future__ import annotations

import functools
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.cluster import hierarchy

from pipeline.clustering import zscore_rows  # the clustering's own z-score (ddof=1, constant rows -> 0)

from .data import RecordingData, TreeData
from .style import (
    CLUSTER_COLORS,
    DPI,
    HEATMAP_CMAP,
    HEATMAP_VMAX,
    HEATMAP_VMIN,
    MAX_CLASS_TRACES,
    N_EXAMPLES,
    NOT_SELECTED_COLOR,
    class_color,
    class_colors,
)


@contextmanager
def _recursion_limit(n: int):
    """scipy's dendrogram recurses once per tree level; deep trees need a higher limit."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 3 * int(n) + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def dendrogram_leaf_rois(tree: TreeData) -> np.ndarray:
    """Roi ids in the order scipy's dendrogram of the stored linkage puts its leaves."""
    if tree.n_rois < 2:
        return tree.clustered[: tree.n_rois].copy()
    with _recursion_limit(tree.n_rois):
        leaves = hierarchy.dendrogram(tree.linkage, no_plot=True, no_labels=True)["leaves"]
    return tree.clustered[np.asarray(leaves, dtype=int)]


def _plain_text(draw):
    """Run a ``draw_*`` function with mathtext off: a '$' in a fish or recording name stays a '$'."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return wrapper


def _message(fig: Figure, title: str, text: str) -> None:
    ax = fig.add_subplot(111)
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=14, transform=ax.transAxes)


def _onset_events(data: RecordingData):
    """``[(time_s, regressor), ...]`` of every stimulus onset, sorted."""
    events = [
        (int(f) * data.frame_period_s, name)
        for name, frames in zip(data.regressor_names, data.onset_frames)
        for f in frames
    ]
    return sorted(events)


def selection_rule(data: RecordingData) -> str:
    """The selection rule in words, e.g. ``r2 > 0.05 and BH q ≤ 0.05`` (either part may be absent)."""
    parts = []
    if data.r2_min is not None:
        parts.append(f"r2 > {data.r2_min:g}")
    if data.fdr_alpha is not None:
        test = {"shift": "circular-shift", "parametric": "F-test"}.get(data.significance, data.significance)
        parts.append(f"BH q \u2264 {data.fdr_alpha:g}" + (f" ({test} p)" if test else ""))
    return " and ".join(parts) if parts else "no threshold stored"


@_plain_text
def draw_r2_histogram(fig: Figure, data: RecordingData) -> dict:
    """Histogram of r2 over all ROIs (selected ROIs stacked in colour), the r2 floor (r2_min) dashed if there is one.

    Returns ``{"n_nan": ROIs without r2, "n_selected": ..., "threshold": the line's r2 or None}``.
    """
    r2 = data.r2
    finite = np.isfinite(r2)
    n_nan = int((~finite).sum())
    ax = fig.add_subplot(111)
    # up to the largest r2 (typical r2 are far below 1), and past the floor line
    hi = max(float(np.nanmax(r2)) if finite.any() else 0.0, data.r2_min or 0.0) * 1.05
    bins = np.linspace(0.0, max(hi, 0.05), 51)
    not_sel = r2[finite & ~data.selected]
    sel = r2[finite & data.selected]
    ax.hist(
        [not_sel, sel],
        bins=bins,
        stacked=True,
        color=["#9e9e9e", "tab:blue"],
        label=[f"not selected ({len(not_sel)})", f"selected ({len(sel)})"],
    )
    if data.r2_min is not None:
        ax.axvline(data.r2_min, color="crimson", ls="--", lw=1.5, label=f"r2 floor (r2_min) = {data.r2_min:g}")
    ax.set_xlabel("r2 (variance of dF/F explained by the regressors)")
    ax.set_ylabel("ROIs")
    ax.set_title(
        f"{data.title}\nr2 of {int(finite.sum())} ROIs: {data.n_selected} selected ({selection_rule(data)})",
        fontsize=11,
    )
    if n_nan:
        ax.plot([], [], " ", label=f"{n_nan} ROI(s) with undefined r2\n(excluded or zero variance) not shown")
    ax.legend(frameon=False)
    return {"n_nan": n_nan, "n_selected": data.n_selected, "threshold": data.r2_min}


@_plain_text
def draw_clustermap(fig: Figure, data: RecordingData, roi_set: str = "all") -> dict:
    """Heatmap of row-z-scored dF/F in dendrogram order with the stored dendrogram on the left.

    Rows follow the stored ``leaf_order``; the dendrogram is drawn by scipy from
    the stored linkage with its first leaf at the top, next to the first row.
    Thin strips show the flat cluster and the class of every row; white dashed
    lines mark every stimulus onset.

    Returns ``{"rows": roi ids top to bottom, "dendrogram": roi ids of the
    dendrogram's leaves top to bottom, "onsets": [(time_s, regressor), ...]
    marked}`` (rows and dendrogram None when nothing was drawn).
    """
    label = "all ROIs" if roi_set == "all" else "selected ROIs"
    tree = data.trees.get(roi_set)
    if tree is None:
        _message(fig, f"{data.title}: {label}", "not clustered")
        return {"rows": None, "dendrogram": None, "onsets": []}
    if tree.n_rois < 2:
        text = "no ROIs selected" if tree.n_rois == 0 else "only 1 ROI selected:\nnothing to cluster"
        if roi_set == "all":
            text = "fewer than 2 ROIs: nothing to cluster"
        _message(fig, f"{data.title}: {label}", text)
        return {"rows": None, "dendrogram": None, "onsets": []}

    rows = tree.leaf_order
    n = len(rows)
    t_end = data.n_frames * data.frame_period_s
    z = zscore_rows(data.dff[rows])

    gs = fig.add_gridspec(
        1,
        5,
        width_ratios=[2.2, 0.22, 0.22, 12, 0.25],
        wspace=0.03,
        left=0.02,
        right=0.93,
        top=0.82 if tree.capped else 0.86,
        bottom=0.12,
    )
    ax_dend = fig.add_subplot(gs[0, 0])
    ax_clu = fig.add_subplot(gs[0, 1])
    ax_cls = fig.add_subplot(gs[0, 2])
    ax_map = fig.add_subplot(gs[0, 3])
    ax_cb = fig.add_subplot(gs[0, 4])

    # dendrogram: scipy puts leaf k at y = 10 k + 5; inverting y puts leaf 0 at the top, like row 0
    with _recursion_limit(n):
        dend = hierarchy.dendrogram(
            tree.linkage, orientation="left", no_labels=True, ax=ax_dend, link_color_func=lambda _k: "black"
        )
    for coll in ax_dend.collections:  # thinner lines for many leaves, or the tree turns into a black block
        coll.set_linewidth(0.6 if n <= 300 else max(0.05, 180.0 / n))
    ax_dend.set_ylim(10 * n, 0)
    ax_dend.set_axis_off()
    dend_rois = tree.clustered[np.asarray(dend["leaves"], dtype=int)]

    # flat cluster strip
    cmap_clu = ListedColormap(CLUSTER_COLORS)
    ax_clu.imshow(
        ((tree.cluster - 1) % len(CLUSTER_COLORS))[:, None],
        aspect="auto",
        cmap=cmap_clu,
        vmin=0,
        vmax=len(CLUSTER_COLORS) - 1,
        interpolation="nearest",
        extent=(0, 1, n, 0),
    )
    # the cluster number on every block tall enough to hold it (colours cycle after len(CLUSTER_COLORS))
    edges = np.flatnonzero(np.diff(tree.cluster)) + 1
    for start, stop in zip(np.r_[0, edges], np.r_[edges, n]):
        if (stop - start) / n >= 0.025:
            ax_clu.text(
                0.5,
                (start + stop) / 2,
                str(int(tree.cluster[start])),
                ha="center",
                va="center",
                fontsize=7,
                color="black",
            )
    # class strip: the regressors' classes, then any other class found (e.g. 'mixed'), in the shared colours
    colors = data.colors
    strip_classes = data.classes
    palette = [NOT_SELECTED_COLOR, *[class_color(c) for c in strip_classes]]
    index = {c: i + 1 for i, c in enumerate(strip_classes)}
    cls_idx = np.array([index.get(c, 0) for c in data.roi_class[rows]])
    ax_cls.imshow(
        cls_idx[:, None],
        aspect="auto",
        cmap=ListedColormap([to_rgb(c) for c in palette]),
        vmin=0,
        vmax=len(palette) - 1,
        interpolation="nearest",
        extent=(0, 1, n, 0),
    )
    for ax, name in ((ax_clu, "cluster"), (ax_cls, "class")):
        ax.set_xticks([0.5])
        ax.set_xticklabels([name], rotation=90, fontsize=8)
        ax.set_yticks([])

    # heatmap, row 0 at the top
    im = ax_map.imshow(
        z,
        aspect="auto",
        cmap=HEATMAP_CMAP,
        vmin=HEATMAP_VMIN,
        vmax=HEATMAP_VMAX,
        interpolation="nearest" if n <= 600 else "antialiased",
        extent=(0, t_end, n, 0),
    )
    events = _onset_events(data)
    for t, _name in events:
        ax_map.axvline(t, color="white", ls="--", lw=0.9)
    ax_map.set_yticks([])
    ax_map.set_xlabel("time (s)")
    top = ax_map.secondary_xaxis("top")
    top.set_xticks([t for t, _ in events])
    top.set_xticklabels([name for _, name in events], rotation=90, fontsize=7)
    for tick, (_t, name) in zip(top.get_xticklabels(), events):
        tick.set_color(colors.get(name, "black"))
    fig.colorbar(im, cax=ax_cb, label="z-scored dF/F")

    title = f"{data.title}: {label} ({n} ROIs, {tree.n_clusters} clusters)"
    if tree.capped:
        title += f"\ncapped: only the {tree.n_rois} of {tree.n_candidates} ROIs with the highest r2 were clustered"
    title += (
        f"\nrows: ROIs in the order of the {data.linkage_method}-linkage tree (correlation distance); "
        "dashed lines: stimulus onsets"
    )
    fig.suptitle(title, fontsize=10.5)
    handles = [Patch(color=class_color(c), label=c) for c in strip_classes]
    handles.append(Patch(color=NOT_SELECTED_COLOR, label="not classified"))
    fig.legend(
        handles=handles,
        loc="lower left",
        ncol=len(handles),
        fontsize=8,
        frameon=False,
        title="class strip",
        title_fontsize=8,
        bbox_to_anchor=(0.02, 0.0),
    )
    order_ok = np.array_equal(dend_rois, rows)
    if not order_ok:
        warnings.warn(
            f"{data.title} ({roi_set}): the stored leaf order differs from the dendrogram of the stored linkage",
            RuntimeWarning,
            stacklevel=2,
        )
        fig.text(0.5, 0.06, "WARNING: stored leaf order differs from the dendrogram", color="red", ha="center")
    return {
        "rows": np.asarray(rows).copy(),
        "dendrogram": dend_rois,
        "onsets": [(float(t), name) for t, name in events],
    }


def _scaled(reg: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``reg`` mapped linearly onto ``[lo, hi]``."""
    span = float(np.ptp(reg)) if reg.size else 0.0
    if span == 0 or not np.isfinite(span):
        return np.full_like(reg, lo, dtype=float)
    return lo + (reg - reg.min()) / span * (hi - lo)


def _draw_regressors(ax, data: RecordingData, lo: float, hi: float) -> None:
    colors = data.colors
    t = data.time_s
    for name, reg in zip(data.regressor_names, data.convolved):
        ax.plot(t, _scaled(reg, lo, hi), color=colors[name], lw=1.4, alpha=0.9, label=f"{name} regressor")


@_plain_text
def draw_class_traces(fig: Figure, data: RecordingData, roi_class: str) -> dict:
    """Traces of the ROIs of one class (grey), their mean (black) and the scaled regressors.

    ``roi_class`` is a regressor or any other class (``inhibited``, ``mixed``,
    ``unclassified``).

    Every trace is shown minus its median, so ROIs with different baselines
    overlap. Up to :data:`MAX_CLASS_TRACES` ROIs of highest r2 are drawn; the
    mean is over all ROIs of the class. Returns ``{"n": ROIs in the class, "shown": drawn}``.
    """
    members = np.flatnonzero(data.roi_class == roi_class)
    ax = fig.add_subplot(111)
    title = f"{data.title}: class '{roi_class}' ({len(members)} ROIs)"
    t = data.time_s
    if len(members) == 0:
        _draw_regressors(ax, data, 0.0, 1.0)
        ax.text(
            0.5,
            0.5,
            f"no ROIs classified as '{roi_class}'",
            ha="center",
            va="center",
            fontsize=14,
            transform=ax.transAxes,
        )
        ax.set_ylabel("regressors (scaled to 0-1)")
        shown = []
    else:
        r2 = np.nan_to_num(data.r2[members], nan=-np.inf)
        shown = members[np.argsort(-r2, kind="stable")[:MAX_CLASS_TRACES]]
        # each trace minus its median: baselines differ between ROIs (much so for a shared
        # baseline like seed2020's), the responses are what the class has in common
        traces = data.dff[members] - np.median(data.dff[members], axis=1, keepdims=True)
        position = {roi: j for j, roi in enumerate(members)}
        for i in shown:
            ax.plot(t, traces[position[i]], color="0.55", lw=0.5, alpha=0.6)
        mean = traces.mean(axis=0)
        lo, hi = float(mean.min()), float(mean.max())
        _draw_regressors(ax, data, lo, hi)
        ax.plot(t, mean, color="black", lw=1.8, label=f"mean of {len(members)} ROIs")
        ax.plot([], [], color="0.55", lw=0.8, label=f"single ROIs ({len(shown)} of highest r2)")
        ax.set_ylabel("dF/F minus each ROI's median\n(regressors scaled to the mean trace's range)", fontsize=9)
        if len(shown) < len(members):
            title += f", {len(shown)} shown"
    for onset, _name in _onset_events(data):
        ax.axvline(onset, color="0.8", ls=":", lw=0.7, zorder=0)
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, data.n_frames * data.frame_period_s)
    ax.set_title(title, fontsize=11)
    ax.legend(loc="upper right", fontsize=8, frameon=False, ncol=2)
    return {"n": int(len(members)), "shown": int(len(shown))}


@_plain_text
def draw_example_traces(fig: Figure, data: RecordingData, n: int = N_EXAMPLES) -> dict:
    """The ``n`` selected ROIs of highest r2: dF/F in their class colour and the model fit (dashed)."""
    cand = np.flatnonzero(data.selected & np.isfinite(data.r2))
    best = cand[np.argsort(-data.r2[cand], kind="stable")[:n]]
    if len(best) == 0:
        _message(fig, f"{data.title}: example traces", "no ROIs selected")
        return {"rois": []}
    t = data.time_s
    axes = fig.subplots(len(best), 1, sharex=True, squeeze=False)[:, 0]
    for ax, i in zip(axes, best):
        cls = data.roi_class[i] or "not classified"
        fitted = data.intercept[i] + np.nan_to_num(data.coef[i]) @ data.convolved
        ax.plot(
            t,
            data.dff[i],
            color=class_color(data.roi_class[i]) if data.roi_class[i] else "0.3",
            lw=1.0,
            label=f"ROI {i}: {cls} (r2 = {data.r2[i]:.2f})",
        )
        ax.plot(t, fitted, color="black", ls="--", lw=0.9, label="regression fit")
        for onset, _name in _onset_events(data):
            ax.axvline(onset, color="0.8", ls=":", lw=0.7, zorder=0)
        ax.set_ylabel("dF/F")
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8, edgecolor="none", ncol=2)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, data.n_frames * data.frame_period_s)
    fig.suptitle(f"{data.title}: the {len(best)} selected ROIs of highest r2", fontsize=11)
    return {"rois": [int(i) for i in best]}


@_plain_text
def draw_class_counts(fig: Figure, data: RecordingData) -> dict:
    """Bar chart of selected ROIs per class (``ClassSummary.Count``)."""
    ax = fig.add_subplot(111)
    names = [c for c, *_ in data.counts]
    values = [k for _, k, *_ in data.counts]
    colors = class_colors(names)
    bars = ax.bar(range(len(names)), values, color=[colors[c] for c in names], edgecolor="black", lw=0.6)
    for bar, (_c, k, frac_sel, _frac_all) in zip(bars, data.counts):
        text = f"{k}" if frac_sel is None else f"{k} ({100 * frac_sel:.0f}%)"
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("selected ROIs")
    ax.set_xlabel(
        f"class (rule: {data.stage_params.get('fit', (None, {}))[1].get('class_rule', 'see parameters')})"
        if data.stage_params.get("fit")
        else "class"
    )
    ax.set_ylim(0, max(values + [1]) * 1.15)
    ax.set_title(f"{data.title}\n{data.n_selected} of {data.n_rois} ROIs selected; percent of selected", fontsize=11)
    return {"counts": dict(zip(names, values))}


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    with matplotlib.rc_context({"text.parse_math": False}):
        fig.savefig(path, dpi=DPI)
