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
names) and :mod:`.style` (resolution and colours). The public names are
re-exported here (``from tectum.report import write_report``).
"""

from .data import RecordingData, ReportError, TreeData, load_recording_data, load_tree, report_keys
from .figures import (
    dendrogram_leaf_rois,
    draw_class_counts,
    draw_class_traces,
    draw_clustermap,
    draw_example_traces,
    draw_r2_histogram,
)
from .names import _Namer, safe_name  # noqa: F401  (_Namer: used by the tests)
from .writer import write_recording_report, write_report

__all__ = [
    "RecordingData",
    "ReportError",
    "TreeData",
    "dendrogram_leaf_rois",
    "draw_class_counts",
    "draw_class_traces",
    "draw_clustermap",
    "draw_example_traces",
    "draw_r2_histogram",
    "load_recording_data",
    "load_tree",
    "report_keys",
    "safe_name",
    "write_recording_report",
    "write_report",
]
