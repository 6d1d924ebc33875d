"""Look of the report's figures: resolution, colour maps, colours of classes and clusters, trace counts."""

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


def class_colors(names) -> dict:
    """Colour of every class/regressor: the notebook's for prey, looming, dimming; a palette otherwise."""
    out, palette = {}, iter(PALETTE * (1 + len(list(names)) // len(PALETTE)))
    for name in names:
        out[name] = CLASS_COLORS.get(str(name).lower()) or next(palette)
    return out
