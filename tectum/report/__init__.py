"""HTML report: figures and an index page for every recording and parameter set.

:func:`write_report` writes, for every ``(fish, recording, paramset)`` that has
been fitted, classified and clustered::

    out_dir/index.html                          one table linking every page
    out_dir/cross_recording.html                class fractions per fish, grouped (genotype by default),
    out_dir/class_fractions_<paramset>.png      one figure per parameter set, with the SQL behind it
    out_dir/<fish>/<recording>/<paramset>/
        index.html                              figures by section, class counts, parameters
        class_responses.png                     per class, trial-averaged dF/F around each stimulus's onsets
        tuning.png                              selected ROIs x regressors, response amplitude
        tuning_stimuli.png                      the same per stimulus (when a regressor pools several)
        r2_vs_q.png                             r2 against -log10 q, the selection boundary
        r2_histogram.png                        r2 of all ROIs, the r2 floor
        class_counts.png                        selected ROIs per class
        positions.png                           ROI centres by class (where positions were ingested)
        kernel.png                              the kernel against the data's mean response (+ objective)
        shift_null.png                          circular-shift null of r2 of an example ROI
        example_traces.png                      the 5 selected ROIs of highest r2
        clustermap_all.png                      z-scored dF/F of all ROIs, dendrogram order
        clustermap_selected.png                 the same for the selected ROIs
        class_<class>.png                       traces of each class with the regressors

A figure that cannot be drawn for a recording (no positions, no kernel, no
shift null in this installation) is listed on the page with a note saying
why. docs/report.md explains how to read each figure.

Directory names are the fish, recording and parameter-set names with anything
but letters, digits, ``_`` and ``-`` replaced; a name that had to be changed
gets a short hash of the original appended, so different names never share a
directory.

The figures are drawn by the ``draw_*`` functions on a matplotlib ``Figure``
given by the caller (the report uses the Agg canvas, a notebook may pass
``plt.figure()``), from a :class:`RecordingData` loaded with
:func:`load_recording_data`. No pyplot state is touched by the report itself.

The package holds one module per job: :mod:`.data` (loading from the
database), :mod:`.figures` (the ``draw_*`` functions), :mod:`.paper` (the
paper figures of :mod:`tectum.figures` fed from a :class:`RecordingData`),
:mod:`.cross` (the cross-recording query and page), :mod:`.pages` (the
pages), :mod:`.writer` (:func:`write_report`), :mod:`.names` (directory
names) and :mod:`.style` (resolution and colours). The public names are
re-exported here (``from tectum.report import write_report``).
"""

from .cross import CrossRecording, class_fractions, class_fractions_sql, group_attributes
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
from .paper import ReportFigure, paper_figures
from .writer import write_recording_report, write_report

__all__ = [
    "CrossRecording",
    "RecordingData",
    "ReportFigure",
    "ReportError",
    "TreeData",
    "class_fractions",
    "class_fractions_sql",
    "dendrogram_leaf_rois",
    "draw_class_counts",
    "draw_class_traces",
    "draw_clustermap",
    "draw_example_traces",
    "draw_r2_histogram",
    "group_attributes",
    "load_recording_data",
    "load_tree",
    "paper_figures",
    "report_keys",
    "safe_name",
    "write_recording_report",
    "write_report",
]
