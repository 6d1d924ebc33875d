"""Writing the report: figures and pages of every recording, and the index page.

:func:`write_report` writes the whole report; :func:`write_recording_report`
the figures and page of one recording.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from matplotlib.figure import Figure

from .data import RecordingData, load_recording_data, report_keys
from .figures import (
    _save,
    draw_class_counts,
    draw_class_traces,
    draw_clustermap,
    draw_example_traces,
    draw_r2_histogram,
)
from .pages import _count, _index_page, _recording_page
from .names import _Namer, safe_name
from .style import DPI

logger = logging.getLogger(__package__)  # "tectum.report", the logger's name before the split

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
