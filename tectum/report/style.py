"""Look of the report's and the paper figures: resolution, colour maps, colours of classes and clusters.

Class colours live here and only here: :func:`class_color` gives every class
(a stimulus/regressor name, or one of the neutral classes ``mixed``,
``inhibited``, ``unclassified``) the same colour in every figure, recording
and run, and ROIs without a class (not selected) :data:`NOT_SELECTED_COLOR`.
"""

from __future__ import annotations

import hashlib

from matplotlib.colors import to_hex

#: resolution of every PNG
DPI = 100
#: heatmap colour map (seaborn's 'mako' is not in matplotlib) and limits of the z-score
HEATMAP_CMAP = "viridis"
HEATMAP_VMIN, HEATMAP_VMAX = -1.0, 3.0
#: at most this many single traces are drawn per class
MAX_CLASS_TRACES = 50
#: example traces: this many selected ROIs of highest r2
N_EXAMPLES = 5
#: flat-cluster colours of the cluster strip (cycled; each block also carries its cluster number).
#: Chosen to stay clear of every class colour: at least 27 CIELAB units (Delta E 1976) from the
#: fixed stimulus colours, the neutral classes, NOT_SELECTED_COLOR and the whole STIMULUS_PALETTE
#: (checked by tests/test_report.py), so a cluster is never read as a class.
CLUSTER_COLORS = ("#e1b4ff", "#ffb487", "#96e187", "#2d78d2", "#78875a", "#0f8787", "#a57896", "#e6e19b")

#: fixed colours of the known stimuli (keys lower case): the published notebook's prey
#: orange, looming fuchsia and dimming turquoise; the two prey directions a darker and
#: a lighter orange, so a split prey regressor still reads as prey
STIMULUS_COLORS = {
    "prey": "#ffa500",  # 'orange'
    "prey-nasalward": "#b35c00",
    "prey-temporalward": "#ffcc33",
    "looming": "#ff00ff",  # 'fuchsia'
    "dimming": "#40e0d0",  # 'turquoise'
}
#: any other stimulus name takes one of these by a hash of its (lower-case) name.
#: Colour-blind-friendly colours from Paul Tol's "muted" scheme and the Okabe-Ito
#: palette, keeping those at least 15 CIELAB units (Delta E 1976) from every
#: :data:`CLUSTER_COLORS` entry and 25 from the fixed and neutral colours (checked
#: by tests/test_paper_figures.py). Two unknown names can share a colour (1 in 10);
#: every figure names its classes in text as well.
STIMULUS_PALETTE = (
    "#332288",
    "#117733",
    "#882255",
    "#999933",
    "#aa4499",
    "#cc6677",
    "#56b4e9",
    "#009e73",
    "#663333",
    "#222255",
)
#: classes that are not a stimulus: fixed neutral colours
NEUTRAL_CLASS_COLORS = {"mixed": "#5a5a5a", "inhibited": "#4f6d8a", "unclassified": "#a6a6a6"}
#: ROIs without a class (not selected), e.g. in the class strip of the clustermap
NOT_SELECTED_COLOR = "#e6e6e6"


def _palette_index(key: str) -> int:
    # a cryptographic hash of the name, not hash(): stable across processes (PYTHONHASHSEED)
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % len(STIMULUS_PALETTE)


def class_color(name) -> str:
    """The colour (``'#rrggbb'``) of a class or stimulus, the same in every figure.

    Known stimuli (:data:`STIMULUS_COLORS`) and the neutral classes
    (:data:`NEUTRAL_CLASS_COLORS`) have fixed colours, matched case-insensitively;
    any other name gets a colour of :data:`STIMULUS_PALETTE` chosen by a hash of its
    lower-case name, so it does not depend on which other classes a recording has.
    An empty name or None (no class: not selected) gets :data:`NOT_SELECTED_COLOR`.

    Examples
    --------
    >>> class_color("Looming")
    '#ff00ff'
    >>> class_color("mixed")
    '#5a5a5a'
    >>> class_color("") == NOT_SELECTED_COLOR
    True
    """
    if name is None:
        return NOT_SELECTED_COLOR
    key = str(name).lower()
    if key == "":
        return NOT_SELECTED_COLOR
    fixed = STIMULUS_COLORS.get(key) or NEUTRAL_CLASS_COLORS.get(key)
    if fixed is not None:
        return to_hex(fixed)
    return STIMULUS_PALETTE[_palette_index(key)]


def class_colors(names) -> dict:
    """``{name: class_color(name)}`` for every name (see :func:`class_color`)."""
    return {name: class_color(name) for name in names}
