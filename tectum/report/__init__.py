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

The package holds one module per job: :mod:`.data` (loading from the
database), :mod:`.figures` (the ``draw_*`` functions), :mod:`.pages` (the
pages), :mod:`.writer` (:func:`write_report`), :mod:`.names` (directory
names) and :mod:`.style` (resolution and colours). Every name is re-exported
here, so ``from tectum.report import write_report`` works as before the split.
"""

from .data import (  # noqa: F401
    RecordingData,
    ReportError,
    TreeData,
    _float_array,
    load_recording_data,
    load_tree,
    report_keys,
)
from .figures import (  # noqa: F401
    _draw_regressors,
    _message,
    _onset_events,
    _plain_text,
    _recursion_limit,
    _save,
    _scaled,
    dendrogram_leaf_rois,
    draw_class_counts,
    draw_class_traces,
    draw_clustermap,
    draw_example_traces,
    draw_r2_histogram,
)
from .pages import _CSS, _count, _e, _fmt, _href, _index_page, _page, _params_html, _recording_page  # noqa: F401
from .names import _RESERVED_NAMES, _Namer, safe_name  # noqa: F401
from .style import (  # noqa: F401
    CLASS_COLORS,
    CLUSTER_COLORS,
    DPI,
    HEATMAP_CMAP,
    HEATMAP_VMAX,
    HEATMAP_VMIN,
    MAX_CLASS_TRACES,
    N_EXAMPLES,
    PALETTE,
    UNCLASSIFIED_COLOR,
    class_colors,
)
from .writer import logger, write_recording_report, write_report  # noqa: F401
