"""Figures for a paper, from arrays and DataFrames: no database access.

Every ``plot_*`` function takes plain data (NumPy arrays, pandas DataFrames,
dicts; what the database hands out, or what a notebook computes) and returns
a matplotlib ``Figure`` drawn without pyplot (its own Agg canvas, so
``fig.savefig(...)`` works and a notebook shows it), with mathtext off so
names print as given. Pass ``fig=`` to draw on a figure of your own (e.g.
``plt.figure()``). What was drawn is described in ``fig.tectum_info`` (a
dict: panels, counts, lines), which the tests and the report's captions use.

========================================  ==============================================================
:func:`plot_class_responses`              per class, the trial-averaged ΔF/F around each stimulus's onsets
:func:`plot_tuning_heatmap`               selected ROIs × regressors (or stimuli), response amplitude
:func:`plot_r2_vs_q`                      r² against −log10 q with the selection boundary
:func:`plot_roi_positions`                ROI centres coloured by class (x–y, and x–z for several planes)
:func:`plot_kernel`                       the kernel against the data's mean response; the τ objective
:func:`plot_shift_null`                   one ROI's shift-null distribution of r², observed r² and p
:func:`plot_class_fractions`              class fractions per group (e.g. genotype), one point per fish
:func:`write_cross_recording_page`        that figure as PNG and HTML with the SQL behind it
========================================  ==============================================================

Helpers computing their inputs from ΔF/F: :func:`align_to_onsets`,
:func:`presentation_amplitudes`, :func:`amplitude_matrix`,
:func:`class_mean_response`, :func:`fish_fractions`. :func:`save_png` writes
a figure at the report's resolution; ``python -m tectum.figures.gallery OUT``
draws every figure from a synthetic recording.

Classes keep one colour everywhere: :func:`tectum.report.style.class_color`
(the notebook's prey orange, looming fuchsia, dimming turquoise; a stable
colour-blind-friendly colour for any other stimulus; fixed greys for
``mixed``, ``inhibited``, ``unclassified``).

Examples
--------
>>> import numpy as np
>>> from pipeline import analyse_recording, make_recording
>>> from tectum.figures import plot_class_responses
>>> rec = make_recording(n_rois=60, n_frames=420, seed=0)
>>> res = analyse_recording(rec.traces, rec.events, rec.frame_period_s, sensor=rec.sensor,
...                         regressors={"groups": rec.groups}, clustering=False)
>>> names = res["regressors"].names
>>> roi_class = [names[i] if i >= 0 else "" for i in res["class_index"]]
>>> stim_to_reg = {s: r for r, stims in rec.groups.items() for s in stims}
>>> presentations = rec.events.assign(regressor=rec.events["stimulus"].map(stim_to_reg))
>>> fig = plot_class_responses(res["dff"], rec.frame_period_s, presentations, roi_class, regressors=names)
>>> [p["n_presentations"] for p in fig.tectum_info["panels"][:4]]
[3, 3, 3, 3]
"""

from ._base import save_png
from .align import AlignedResponses, align_to_onsets, presentation_amplitudes, presentations_frame
from .cross_recording import fish_fractions, plot_class_fractions, write_cross_recording_page
from .kernel import KERNEL_INFO_KEYS, MeanResponse, class_mean_response, plot_kernel
from .null import plot_shift_null
from .positions import plot_roi_positions
from .responses import plot_class_responses, spread_across_rois
from .selection import plot_r2_vs_q
from .tuning import amplitude_matrix, plot_tuning_heatmap, tuning_order

__all__ = [
    "AlignedResponses",
    "KERNEL_INFO_KEYS",
    "MeanResponse",
    "align_to_onsets",
    "amplitude_matrix",
    "class_mean_response",
    "fish_fractions",
    "plot_class_fractions",
    "plot_class_responses",
    "plot_kernel",
    "plot_r2_vs_q",
    "plot_roi_positions",
    "plot_shift_null",
    "plot_tuning_heatmap",
    "presentation_amplitudes",
    "presentations_frame",
    "save_png",
    "spread_across_rois",
    "tuning_order",
    "write_cross_recording_page",
]
