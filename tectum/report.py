"""HTML report: figures and an index page for every recording and parameter set.

:func:`write_report` writes, for every ``(fish, recording, paramset)`` that has
been fitted, classified and clustered::

    out_dir/index.html                          one table linking every page
    out_dir/<fish>/<recording>/<paramset>/
        index.html                              figures, class counts, parameters
        r2_histogram.png                        r2 of all ROIs, the selection threshold
        clustermap_all.png                      z-scored dF/F of all ROIs, dendrogram order
        clustermap_selected.png                 the same for the selected ROIs
        class_<class>.png                       traces of each class with the regressors
        example_traces.png                      the 5 selected ROIs of highest r2
        class_counts.png                        selected ROIs per class

Directory names are the fish, recording and parameter-set names with anything
but letters, digits, ``_`` and ``-`` replaced; a name that had to be changed
gets a short hash of the original appended, so different names never share a
directory.

The figures are drawn by the ``draw_*`` functions on a matplotlib ``Figure``
given by the caller (the report uses the Agg canvas, a notebook may pass
``plt.figure()``), from a :class:`RecordingData` loaded with
:func:`load_recording_data`. No pyplot state is touched by the report itself.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import html
import json
import logging
import re
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.cluster import hierarchy

from pipeline.clustering import zscore_rows  # the clustering's own z-score (ddof=1, constant rows -> 0)

from .errors import TectumError

logger = logging.getLogger(__name__)

#: resolution of every PNG
DPI = 100
#: heatmap colour map (seaborn's 'mako' is not in matplotlib) and limits of the z-score
HEATMAP_CMAP = "viridis"
HEATMAP_VMIN, HEATMAP_VMAX = -1.0, 3.0
#: at most this many single traces are drawn per class
MAX_CLASS_TRACES = 50
#: example traces: this many selected ROIs of highest r2
N_EXAMPLES = 5
#: the published notebook's colours; other regressors take colours of :data:`PALETTE`
CLASS_COLORS = {"prey": "orange", "looming": "fuchsia", "dimming": "turquoise"}
PALETTE = ("tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:olive",
           "navy", "darkgoldenrod", "teal", "crimson")
#: colour of ROIs without a class in the class strip
UNCLASSIFIED_COLOR = "#d9d9d9"
#: flat-cluster colours of the cluster strip (cycled)
CLUSTER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                  "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
                  "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5")

_RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


class ReportError(TectumError, ValueError):
    """The report cannot be written (e.g. an unknown parameter set); the CLI prints it as one line."""


# --------------------------------------------------------------------------- names


def safe_name(text, max_len: int = 48) -> str:
    """A file-system-safe, unique directory name for ``text``.

    Letters, digits, ``_`` and ``-`` are kept; any other run of characters
    becomes ``-``. When the name had to be changed (or is empty, too long or a
    reserved Windows device name) the first 8 hex digits of the MD5 of the
    original are appended, so two different names never map to the same
    directory.

    Examples
    --------
    >>> safe_name("F1")
    'F1'
    >>> safe_name("fish 1/2")  # doctest: +ELLIPSIS
    'fish-1-2-...'
    """
    text = str(text)
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    slug = slug[:max_len].strip("-")
    if slug != text or not slug or slug.upper() in _RESERVED_NAMES:
        digest = hashlib.md5(text.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug}-{digest}" if slug else f"_{digest}"
    return slug


class _Namer:
    """Directory names unique per parent, also on case-insensitive file systems."""

    def __init__(self):
        self._used: dict[tuple, dict[str, str]] = {}

    def name(self, parent: tuple, text: str) -> str:
        used = self._used.setdefault(parent, {})
        name = safe_name(text)
        folded = name.casefold()
        owner = used.get(folded)
        if owner is not None and owner != text:
            name = f"{name}-{hashlib.md5(text.encode('utf-8')).hexdigest()[:8]}"
            folded = name.casefold()
        used[folded] = text
        return name


# --------------------------------------------------------------------------- data


@dataclass
class TreeData:
    """One stored clustering (``Clustering.Tree`` and its members)."""

    roi_set: str                  # 'all' or 'selected'
    n_candidates: int             # ROIs in the set before any cap
    n_rois: int                   # ROIs clustered
    n_clusters: int
    capped: bool
    linkage: np.ndarray           # scipy linkage matrix over the clustered ROIs
    leaf_order: np.ndarray        # roi ids in dendrogram order, as stored
    clustered: np.ndarray         # roi ids in the linkage's row order
    cluster: np.ndarray           # flat cluster label of each roi of leaf_order


@dataclass
class RecordingData:
    """Everything the figures of one ``(fish, recording, paramset)`` need."""

    key: dict
    genotype: str
    region: str
    sensor: str
    frame_period_s: float
    n_frames: int
    paramset_description: str
    stage_params: dict
    kernel_name: str
    n_rois: int
    n_selected: int
    r2_threshold: float
    fdr_alpha: float | None
    dff: np.ndarray               # ROIs x frames, row i is roi i
    r2: np.ndarray                # NaN where undefined
    selected: np.ndarray          # bool per roi
    roi_class: np.ndarray         # class name per roi, '' when not classified
    intercept: np.ndarray
    coef: np.ndarray              # ROIs x regressors
    regressor_names: list
    convolved: np.ndarray         # regressors x frames
    onset_frames: list            # int array per regressor
    counts: list                  # (class, n, fraction of selected or None, fraction of all)
    trees: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        k = self.key
        return f"{k['fish']} / {k['recording']} / {k['paramset']}"

    @property
    def time_s(self) -> np.ndarray:
        return np.arange(self.n_frames) * self.frame_period_s

    @property
    def colors(self) -> dict:
        return class_colors(self.regressor_names)


def class_colors(names) -> dict:
    """Colour of every class/regressor: the notebook's for prey, looming, dimming; a palette otherwise."""
    out, palette = {}, iter(PALETTE * (1 + len(list(names)) // len(PALETTE)))
    for name in names:
        out[name] = CLASS_COLORS.get(str(name).lower()) or next(palette)
    return out


def _float_array(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in np.asarray(values, dtype=object)], dtype=float)


def load_tree(key, roi_set: str, n_candidates: int) -> TreeData | None:
    """The stored clustering of ``roi_set`` ('all' or 'selected') of one key, or None."""
    from schemas import analysis

    tkey = dict(key, roi_set=roi_set)
    rows = (analysis.Clustering.Tree & tkey).to_dicts()
    if not rows:
        return None
    row = rows[0]
    roi, cluster = (analysis.Clustering.Member & tkey).to_arrays("roi", "cluster", order_by="leaf_rank")
    leaf_order = np.asarray(row["leaf_order"], dtype=np.int64).ravel()
    linkage = np.asarray(row["linkage"], dtype=float).reshape(-1, 4)
    roi = np.asarray(roi, dtype=np.int64)
    by_roi = dict(zip(roi.tolist(), np.asarray(cluster, dtype=np.int64).tolist()))
    return TreeData(
        roi_set=roi_set,
        n_candidates=int(n_candidates),
        n_rois=int(row["n_rois"]),
        n_clusters=int(row["n_clusters"]),
        capped=bool(row["capped"]),
        linkage=linkage,
        leaf_order=leaf_order,
        # pipeline.clustering clusters its rows in ascending order, so leaf i of the linkage is the i-th smallest roi
        clustered=np.sort(roi),
        cluster=np.array([by_roi.get(int(r), 0) for r in leaf_order], dtype=np.int64),
    )


def load_recording_data(key) -> RecordingData:
    """Fetch everything the report shows for one ``(fish, recording, paramset)`` key."""
    from schemas import acquisition, analysis, reference

    key = {k: key[k] for k in ("fish", "recording", "paramset")}
    genotype = (acquisition.Fish & key).fetch1("genotype")
    region, sensor, frame_period, n_frames = (acquisition.Recording & key).fetch1(
        "region", "sensor", "frame_period_s", "n_frames")
    description = (reference.ParamSet & key).fetch1("description")
    n_rois, n_selected, r2_threshold, fdr_alpha = (analysis.Fit & key).fetch1(
        "n_rois", "n_selected", "r2_threshold", "fdr_alpha")
    kernel_name = (analysis.Regressors & key).fetch1("kernel_name")
    names, convolved, onsets = analysis.Regressors.load(key)
    dff = analysis.DeltaF.load(key)
    roi, r2, selected, intercept = (analysis.Fit.Roi & key).to_arrays("roi", "r2", "selected", "intercept", order_by="roi")
    n = dff.shape[0]
    r2_all = np.full(n, np.nan)
    r2_all[np.asarray(roi, dtype=int)] = _float_array(r2)
    sel = np.zeros(n, dtype=bool)
    sel[np.asarray(roi, dtype=int)] = np.asarray(selected, dtype=bool)
    icpt = np.zeros(n)
    icpt[np.asarray(roi, dtype=int)] = _float_array(intercept)
    _, coef = analysis.Fit.load_coefficients(key)
    coef_all = np.full((n, len(names)), np.nan)
    coef_all[: coef.shape[0]] = coef
    roi_class = np.full(n, "", dtype=object)
    croi, cname = (analysis.Classification.Roi & key).to_arrays("roi", "roi_class")
    roi_class[np.asarray(croi, dtype=int)] = np.asarray(cname, dtype=object)

    count_rows = (analysis.ClassSummary.Count & key).to_dicts()
    if count_rows:
        found = {r["roi_class"]: r for r in count_rows}
        counts = [(c, int(found[c]["n_rois"]), found[c]["fraction_of_selected"], float(found[c]["fraction_of_all"]))
                  for c in [*names, *sorted(set(found) - set(names))] if c in found]
    else:  # ClassSummary not populated yet: count the classification directly
        counts = []
        for c in names:
            k = int(np.sum(roi_class == c))
            counts.append((c, k, k / n_selected if n_selected else None, k / n_rois if n_rois else 0.0))

    data = RecordingData(
        key=key,
        genotype=str(genotype or ""),
        region=str(region),
        sensor=str(sensor),
        frame_period_s=float(frame_period),
        n_frames=int(n_frames),
        paramset_description=str(description),
        stage_params=reference.ParamSet.stage_params(key["paramset"]),
        kernel_name=str(kernel_name),
        n_rois=int(n_rois),
        n_selected=int(n_selected),
        r2_threshold=float(r2_threshold),
        fdr_alpha=None if fdr_alpha is None or np.isnan(fdr_alpha) else float(fdr_alpha),
        dff=np.asarray(dff, dtype=float),
        r2=r2_all,
        selected=sel,
        roi_class=roi_class,
        intercept=icpt,
        coef=coef_all,
        regressor_names=list(names),
        convolved=np.atleast_2d(np.asarray(convolved, dtype=float)),
        onset_frames=[np.asarray(o, dtype=int).ravel() for o in onsets],
        counts=counts,
    )
    for roi_set, n_cand in (("all", n), ("selected", int(sel.sum()))):
        tree = load_tree(key, roi_set, n_cand)
        if tree is not None:
            data.trees[roi_set] = tree
    return data


# --------------------------------------------------------------------------- figures


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
    events = [(int(f) * data.frame_period_s, name)
              for name, frames in zip(data.regressor_names, data.onset_frames) for f in frames]
    return sorted(events)


@_plain_text
def draw_r2_histogram(fig: Figure, data: RecordingData) -> dict:
    """Histogram of r2 over all ROIs (selected ROIs stacked in colour), the threshold dashed.

    Returns ``{"n_nan": ROIs without r2, "n_selected": ...}``.
    """
    r2 = data.r2
    finite = np.isfinite(r2)
    n_nan = int((~finite).sum())
    ax = fig.add_subplot(111)
    hi = max(1.0, float(np.nanmax(r2)) if finite.any() else 1.0)
    bins = np.linspace(0.0, hi, 51)
    not_sel = r2[finite & ~data.selected]
    sel = r2[finite & data.selected]
    ax.hist([not_sel, sel], bins=bins, stacked=True, color=["#9e9e9e", "tab:blue"],
            label=[f"not selected ({len(not_sel)})", f"selected ({len(sel)})"])
    rule = f"r2 > {data.r2_threshold:g}"
    if data.fdr_alpha is not None:
        rule += f" and BH q \u2264 {data.fdr_alpha:g}"
    ax.axvline(data.r2_threshold, color="crimson", ls="--", lw=1.5, label=f"threshold r2 = {data.r2_threshold:g}")
    ax.set_xlabel("r2 (variance of dF/F explained by the regressors)")
    ax.set_ylabel("ROIs")
    ax.set_title(f"{data.title}\nr2 of {int(finite.sum())} ROIs: {data.n_selected} selected ({rule})", fontsize=11)
    if n_nan:
        ax.plot([], [], " ", label=f"{n_nan} ROI(s) with undefined r2\n(zero-variance trace) not shown")
    ax.legend(frameon=False)
    return {"n_nan": n_nan, "n_selected": data.n_selected}


@_plain_text
def draw_clustermap(fig: Figure, data: RecordingData, roi_set: str = "all") -> dict:
    """Heatmap of row-z-scored dF/F in dendrogram order with the stored dendrogram on the left.

    Rows follow the stored ``leaf_order``; the dendrogram is drawn by scipy from
    the stored linkage with its first leaf at the top, next to the first row.
    Thin strips show the flat cluster and the class of every row; white dashed
    lines mark every stimulus onset.

    Returns ``{"rows": roi ids top to bottom, "dendrogram": roi ids of the
    dendrogram's leaves top to bottom}`` (both None when nothing was drawn).
    """
    label = "all ROIs" if roi_set == "all" else "selected ROIs"
    tree = data.trees.get(roi_set)
    if tree is None:
        _message(fig, f"{data.title}: {label}", "not clustered")
        return {"rows": None, "dendrogram": None}
    if tree.n_rois < 2:
        text = "no ROIs selected" if tree.n_rois == 0 else "only 1 ROI selected:\nnothing to cluster"
        if roi_set == "all":
            text = "fewer than 2 ROIs: nothing to cluster"
        _message(fig, f"{data.title}: {label}", text)
        return {"rows": None, "dendrogram": None}

    rows = tree.leaf_order
    n = len(rows)
    t_end = data.n_frames * data.frame_period_s
    z = zscore_rows(data.dff[rows])

    gs = fig.add_gridspec(1, 5, width_ratios=[2.2, 0.22, 0.22, 12, 0.25], wspace=0.03,
                          left=0.02, right=0.93, top=0.82 if tree.capped else 0.86, bottom=0.12)
    ax_dend = fig.add_subplot(gs[0, 0])
    ax_clu = fig.add_subplot(gs[0, 1])
    ax_cls = fig.add_subplot(gs[0, 2])
    ax_map = fig.add_subplot(gs[0, 3])
    ax_cb = fig.add_subplot(gs[0, 4])

    # dendrogram: scipy puts leaf k at y = 10 k + 5; inverting y puts leaf 0 at the top, like row 0
    with _recursion_limit(n):
        dend = hierarchy.dendrogram(tree.linkage, orientation="left", no_labels=True, ax=ax_dend,
                                    link_color_func=lambda _k: "black")
    for coll in ax_dend.collections:  # thinner lines for many leaves, or the tree turns into a black block
        coll.set_linewidth(0.6 if n <= 300 else max(0.05, 180.0 / n))
    ax_dend.set_ylim(10 * n, 0)
    ax_dend.set_axis_off()
    dend_rois = tree.clustered[np.asarray(dend["leaves"], dtype=int)]

    # flat cluster strip
    cmap_clu = ListedColormap(CLUSTER_COLORS)
    ax_clu.imshow(((tree.cluster - 1) % len(CLUSTER_COLORS))[:, None], aspect="auto", cmap=cmap_clu,
                  vmin=0, vmax=len(CLUSTER_COLORS) - 1, interpolation="nearest", extent=(0, 1, n, 0))
    # class strip
    colors = data.colors
    palette = [UNCLASSIFIED_COLOR, *[colors[c] for c in data.regressor_names]]
    index = {c: i + 1 for i, c in enumerate(data.regressor_names)}
    cls_idx = np.array([index.get(c, 0) for c in data.roi_class[rows]])
    ax_cls.imshow(cls_idx[:, None], aspect="auto", cmap=ListedColormap([to_rgb(c) for c in palette]),
                  vmin=0, vmax=len(palette) - 1, interpolation="nearest", extent=(0, 1, n, 0))
    for ax, name in ((ax_clu, "cluster"), (ax_cls, "class")):
        ax.set_xticks([0.5])
        ax.set_xticklabels([name], rotation=90, fontsize=8)
        ax.set_yticks([])

    # heatmap, row 0 at the top
    im = ax_map.imshow(z, aspect="auto", cmap=HEATMAP_CMAP, vmin=HEATMAP_VMIN, vmax=HEATMAP_VMAX,
                       interpolation="nearest" if n <= 600 else "antialiased",
                       extent=(0, t_end, n, 0))
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
    title += "\nrows: ROIs in the order of the average-linkage tree (correlation distance); dashed lines: stimulus onsets"
    fig.suptitle(title, fontsize=10.5)
    handles = [Patch(color=colors[c], label=c) for c in data.regressor_names]
    handles.append(Patch(color=UNCLASSIFIED_COLOR, label="not classified"))
    fig.legend(handles=handles, loc="lower left", ncol=len(handles), fontsize=8, frameon=False,
               title="class strip", title_fontsize=8, bbox_to_anchor=(0.02, 0.0))
    order_ok = np.array_equal(dend_rois, rows)
    if not order_ok:
        warnings.warn(f"{data.title} ({roi_set}): the stored leaf order differs from the dendrogram "
                      "of the stored linkage", RuntimeWarning, stacklevel=2)
        fig.text(0.5, 0.06, "WARNING: stored leaf order differs from the dendrogram", color="red", ha="center")
    return {"rows": np.asarray(rows).copy(), "dendrogram": dend_rois}


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
        ax.text(0.5, 0.5, f"no ROIs classified as '{roi_class}'", ha="center", va="center",
                fontsize=14, transform=ax.transAxes)
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
    colors = data.colors
    t = data.time_s
    axes = fig.subplots(len(best), 1, sharex=True, squeeze=False)[:, 0]
    for ax, i in zip(axes, best):
        cls = data.roi_class[i] or "not classified"
        fitted = data.intercept[i] + np.nan_to_num(data.coef[i]) @ data.convolved
        ax.plot(t, data.dff[i], color=colors.get(data.roi_class[i], "0.3"), lw=1.0,
                label=f"ROI {i}: {cls} (r2 = {data.r2[i]:.2f})")
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
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=9, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("selected ROIs")
    ax.set_xlabel("class (regressor with the largest coefficient)")
    ax.set_ylim(0, max(values + [1]) * 1.15)
    ax.set_title(f"{data.title}\n{data.n_selected} of {data.n_rois} ROIs selected; percent of selected",
                 fontsize=11)
    return {"counts": dict(zip(names, values))}


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    with matplotlib.rc_context({"text.parse_math": False}):
        fig.savefig(path, dpi=DPI)


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0 2em}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{color:#555;font-size:.9em}
dl.params dt{font-weight:bold;margin-top:.4em}
dl.params dd{margin-left:1.5em}
code{background:#f5f5f5;padding:0 .2em}
.muted{color:#777}
"""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _href(*parts: str) -> str:
    return _e("/".join(quote(p) for p in parts))


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _params_html(stage_params: dict) -> str:
    items = []
    for stage, (method, params) in stage_params.items():
        inner = "".join(
            f"<dt>{_e(name)}</dt><dd><code>{_e(json.dumps(value) if not isinstance(value, str) else value)}</code></dd>"
            for name, value in sorted((params or {}).items())
        )
        items.append(f"<dt>{_e(stage)}: <code>{_e(method)}</code></dt><dd><dl class=\"params\">{inner}</dl></dd>")
    return f'<dl class="params">{"".join(items)}</dl>'


def _recording_page(data: RecordingData, figures: list, depth: int) -> str:
    k = data.key
    up = "/".join([".."] * depth) + "/index.html"
    meta = [
        ("fish", k["fish"]), ("genotype", data.genotype or "—"), ("recording", k["recording"]),
        ("region", data.region), ("sensor", data.sensor),
        ("frames", f"{data.n_frames} × {data.frame_period_s:g} s"),
        ("parameter set", f"{k['paramset']}: {data.paramset_description}"),
        ("kernel", data.kernel_name), ("ROIs", data.n_rois), ("selected", data.n_selected),
        ("r2 threshold", f"{data.r2_threshold:g}"),
        ("FDR (Benjamini-Hochberg)", "not used" if data.fdr_alpha is None else f"q ≤ {data.fdr_alpha:g}"),
    ]
    meta_rows = "".join(f"<tr><th>{_e(a)}</th><td>{_e(b)}</td></tr>" for a, b in meta)
    count_rows = "".join(
        f'<tr><td>{_e(c)}</td><td class="num">{n}</td>'
        f'<td class="num">{_e("—" if fs is None else f"{100 * fs:.1f}%")}</td>'
        f'<td class="num">{100 * fa:.1f}%</td></tr>'
        for c, n, fs, fa in data.counts
    )
    figs = "".join(
        f'<figure id="{_e(Path(name).stem)}"><img src="{_href(name)}" alt="{_e(Path(name).stem.replace("_", " "))}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>\n"
        for name, caption in figures
    )
    body = (
        f'<p><a href="{_e(up)}">← all recordings</a></p>\n'
        f"<h1>{_e(data.title)}</h1>\n"
        f"<table>{meta_rows}</table>\n"
        "<h2>Class counts</h2>\n"
        "<table><tr><th>class</th><th>ROIs</th><th>of selected</th><th>of all</th></tr>"
        f"{count_rows}</table>\n"
        f"<h2>Figures</h2>\n{figs}"
        f"<h2>Parameters</h2>\n{_params_html(data.stage_params)}\n"
    )
    return _page(f"{data.title} — tectum report", body)


def _index_page(rows: list, class_names: list, failures: list, pending: int, restriction, paramsets) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in
                   ["fish", "genotype", "recording", "parameter set", "ROIs", "selected", *class_names, "page"])
    body_rows = []
    for r in rows:
        counts = "".join(f'<td class="num">{_e(r["counts"].get(c, "—"))}</td>' for c in class_names)
        body_rows.append(
            f"<tr><td>{_e(r['fish'])}</td><td>{_e(r['genotype'] or '—')}</td><td>{_e(r['recording'])}</td>"
            f"<td>{_e(r['paramset'])}</td><td class=\"num\">{r['n_rois']}</td>"
            f"<td class=\"num\">{r['n_selected']}</td>{counts}"
            f"<td><a href=\"{_href(*r['path'], 'index.html')}\">figures</a></td></tr>"
        )
    scope = []
    if restriction not in (None, {}, ""):
        scope.append(f"restriction <code>{_e(restriction)}</code>")
    if paramsets is not None:
        scope.append("parameter sets " + ", ".join(f"<code>{_e(p)}</code>" for p in paramsets))
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = [
        "<h1>Functional classification of tectal neurons</h1>",
        "<p>Regression of every ROI's dF/F on the stimulus regressors convolved with the calcium kernel "
        "(after Miri et al. 2011); ROIs above the r2 threshold are selected and take the class of their "
        "largest coefficient. Counts per class are of selected ROIs.</p>",
        f'<p class="muted">Written {_e(when)}'
        + (f" for {'; '.join(scope)}" if scope else "") + f". {len(rows)} recording/parameter-set pages.</p>",
    ]
    if rows:
        body.append(f"<table><tr>{head}</tr>{''.join(body_rows)}</table>")
    else:
        body.append("<p><strong>No fitted, classified and clustered recordings match.</strong></p>")
    if pending:
        body.append(f'<p class="muted">{pending} fitted recording/parameter-set pair(s) not yet classified and '
                    "clustered are not shown (run <code>tectum populate</code>).</p>")
    if failures:
        items = "".join(f"<li>{_e(f)}</li>" for f in failures)
        body.append(f"<h2>Failed</h2><ul>{items}</ul>")
    return _page("tectum report", "\n".join(body))


# --------------------------------------------------------------------------- driver


def report_keys(restriction=None, paramsets=None):
    """``(ready keys, number of fits not yet classified/clustered)`` matching the restriction.

    ``restriction`` may name attributes of ``Fit`` and also ``genotype``,
    ``region``, ``experiment`` and ``sensor``.
    """
    from schemas import acquisition, analysis, reference

    if isinstance(paramsets, str):
        paramsets = [paramsets]
    base = (analysis.Fit * acquisition.Recording.proj("region", "experiment", "sensor")
            * acquisition.Fish.proj("genotype"))
    fits = base & (restriction if restriction is not None else {})
    if paramsets is not None:
        known = set(reference.ParamSet().to_arrays("paramset"))
        unknown = [p for p in paramsets if p not in known]
        if unknown:
            raise ReportError(f"unknown parameter set(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(sorted(known))}")
        fits = fits & [{"paramset": p} for p in paramsets]
    ready = fits & analysis.Clustering & analysis.Classification
    keys = ready.proj().to_dicts(order_by=["fish", "recording", "paramset"])
    return keys, len(fits) - len(keys)


def write_recording_report(data: RecordingData, directory: Path, depth: int = 3) -> list:
    """Write the figures and index.html of one recording into ``directory``; return the figure list."""
    directory.mkdir(parents=True, exist_ok=True)
    figures = []

    def save(name, size, draw, caption, *args):
        fig = Figure(figsize=size, dpi=DPI, layout=None if draw is draw_clustermap else "constrained")
        info = draw(fig, data, *args)
        _save(fig, directory / name)
        figures.append((name, caption(info) if callable(caption) else caption))
        return info

    save("r2_histogram.png", (8, 5), draw_r2_histogram,
         lambda i: (f"r2 of every ROI; dashed line: the threshold r2 = {data.r2_threshold:g}; "
                    f"{i['n_selected']} of {data.n_rois} ROIs selected. "
                    f"{i['n_nan']} ROI(s) with undefined r2 (zero-variance trace) excluded."))
    for roi_set in ("all", "selected"):
        tree = data.trees.get(roi_set)
        cap = ""
        if tree is not None and tree.capped:
            cap = f" Capped: only the {tree.n_rois} of {tree.n_candidates} ROIs of highest r2 were clustered."
        save(f"clustermap_{roi_set}.png", (13, 8), draw_clustermap,
             f"Z-scored dF/F of {roi_set} ROIs in the order of the stored dendrogram (average linkage, "
             f"correlation distance); strips: flat cluster and class; dashed white lines: stimulus onsets.{cap}",
             roi_set)
    for name in data.regressor_names:
        save(f"class_{safe_name(name)}.png", (12, 4.5), draw_class_traces,
             lambda i, name=name: (f"Class '{name}': no ROIs; the convolved regressors." if not i["n"] else
                                   f"Class '{name}': {_count(i['n'], 'ROI')} ({i['shown']} of highest r2 drawn in "
                                   "grey, each minus its median), their mean in black, and the convolved regressors "
                                   "scaled to the mean's range."),
             name)
    save("example_traces.png", (12, 8), draw_example_traces,
         "The selected ROIs of highest r2 in their class colour, with the regression fit (dashed).")
    save("class_counts.png", (7, 4.5), draw_class_counts, "Selected ROIs per class.")
    (directory / "index.html").write_text(_recording_page(data, figures, depth), encoding="utf-8")
    return figures


def write_report(out_dir, restriction=None, *, paramsets=None, progress=True) -> Path:
    """Write figures and HTML pages for every fitted, classified and clustered recording.

    Parameters
    ----------
    out_dir : path
        Output directory (created; existing pages are overwritten).
    restriction : DataJoint restriction, optional
        E.g. ``{"fish": "F1"}`` or ``"genotype LIKE 'gad%'"``; may name
        attributes of ``analysis.Fit`` and the recording's ``region``,
        ``experiment``, ``sensor`` and the fish's ``genotype``.
    paramsets : list of str, optional
        Only these parameter sets (default: all).
    progress : bool
        Show a progress bar over the recordings.

    Returns
    -------
    Path
        The top ``index.html``.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(paramsets, str):
        paramsets = [paramsets]
    keys, pending = report_keys(restriction, paramsets)
    namer = _Namer()
    rows, failures, class_names = [], [], []
    for key in tqdm(keys, desc="report", unit="recording", disable=not progress):
        parts = (namer.name((), key["fish"]),)
        parts += (namer.name(parts, key["recording"]),)
        parts += (namer.name(parts, key["paramset"]),)
        try:
            data = load_recording_data(key)
            write_recording_report(data, out.joinpath(*parts), depth=3)
        except Exception as err:  # one bad recording does not stop the report
            logger.exception("report of %s failed", key)
            failures.append(f"{key['fish']}/{key['recording']} ({key['paramset']}): {type(err).__name__}: {err}")
            continue
        for c, *_ in data.counts:
            if c not in class_names:
                class_names.append(c)
        rows.append(dict(key, genotype=data.genotype, n_rois=data.n_rois, n_selected=data.n_selected,
                         counts={c: n for c, n, *_ in data.counts}, path=parts))
    if failures:
        warnings.warn(f"report: {len(failures)} page(s) failed: " + "; ".join(failures), RuntimeWarning, stacklevel=2)
    index = out / "index.html"
    index.write_text(_index_page(rows, class_names, failures, pending, restriction, paramsets), encoding="utf-8")
    return index
