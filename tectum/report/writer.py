"""Writing the report: figures and pages of every recording, the cross-recording page and the index page.

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
    selection_rule,
)
from .names import _Namer, safe_name
from .pages import _count, _index_page, _recording_page
from .paper import (
    ReportFigure,
    class_responses_figure,
    kernel_figure,
    positions_figure,
    r2_vs_q_figure,
    shift_null_figure,
    tuning_figures,
)
from .style import DPI

logger = logging.getLogger(__package__)  # "tectum.report", the logger's name before the split

#: name of the cross-recording page next to the top index.html
CROSS_RECORDING_PAGE = "cross_recording.html"


def _guarded(data: RecordingData, name: str, heading: str, build) -> list:
    """``build()`` as a list of ReportFigure; an error becomes a visible note instead of a lost page."""
    try:
        made = build()
    except Exception as err:  # one figure must not cost the whole page
        logger.exception("figure %s of %s failed", name, data.title)
        return [ReportFigure(name, heading, note=f"This figure failed: {type(err).__name__}: {err}", failed=True)]
    return made if isinstance(made, list) else [made]


def _classic(data: RecordingData, name: str, heading: str, size, draw, caption, *args) -> ReportFigure:
    """A ``draw_*`` figure of :mod:`.figures` as a ReportFigure (drawn, not yet saved)."""
    fig = Figure(figsize=size, dpi=DPI, layout=None if draw is draw_clustermap else "constrained")
    info = draw(fig, data, *args)
    return ReportFigure(name, heading, caption=caption(info) if callable(caption) else caption, fig=fig, info=info)


def recording_sections(data: RecordingData) -> list:
    """``[(section title, [ReportFigure, ...]), ...]`` of one recording, drawn but not saved."""

    def one(name, heading, build):
        return _guarded(data, name, heading, build)

    responses = [
        *one("class_responses.png", "Responses per class", lambda: class_responses_figure(data)),
        *one("tuning.png", "Tuning of the selected ROIs", lambda: tuning_figures(data)),
    ]
    rule = selection_rule(data)
    selection = [
        *one("r2_vs_q.png", "Selection: r² against q", lambda: r2_vs_q_figure(data)),
        *one(
            "r2_histogram.png",
            "r² of every ROI",
            lambda: _classic(
                data,
                "r2_histogram.png",
                "r² of every ROI",
                (8, 5),
                draw_r2_histogram,
                lambda i: (
                    f"r2 of every ROI, selected ROIs stacked in blue; selection: {rule}"
                    + (
                        f" (dashed: r2 = {data.r2_min:g})"
                        if data.r2_min is not None
                        else " (no r2 floor: the selection is by q alone, see the figure above)"
                    )
                    + f"; {i['n_selected']} of {data.n_rois} ROIs selected. "
                    f"{i['n_nan']} ROI(s) with undefined r2 (excluded from dF/F or zero variance) not drawn."
                ),
            ),
        ),
        *one(
            "class_counts.png",
            "Selected ROIs per class",
            lambda: _classic(
                data,
                "class_counts.png",
                "Selected ROIs per class",
                (7, 4.5),
                draw_class_counts,
                "Selected ROIs per class (ClassSummary.Count), with the percentage of the selected ROIs.",
            ),
        ),
    ]
    positions = one("positions.png", "ROI positions", lambda: positions_figure(data))
    model = [
        *one("kernel.png", "Kernel", lambda: kernel_figure(data)),
        *one("shift_null.png", "Circular-shift null of an example ROI", lambda: shift_null_figure(data)),
        *one(
            "example_traces.png",
            "Example traces",
            lambda: _classic(
                data,
                "example_traces.png",
                "Example traces",
                (12, 8),
                draw_example_traces,
                "The selected ROIs of highest r2: dF/F in their class colour, the regression fit (intercept + "
                "coefficients × regressors) dashed; dotted: stimulus onsets.",
            ),
        ),
    ]
    clustering = []
    for roi_set in ("all", "selected"):
        tree = data.trees.get(roi_set)
        cap = ""
        if tree is not None and tree.capped:
            cap = f" Capped: only the {tree.n_rois} of {tree.n_candidates} ROIs of highest r2 were clustered."
        name = f"clustermap_{roi_set}.png"
        clustering += one(
            name,
            f"Clustering of {roi_set} ROIs",
            lambda roi_set=roi_set, name=name, cap=cap: _classic(
                data,
                name,
                f"Clustering of {roi_set} ROIs",
                (13, 8),
                draw_clustermap,
                f"Z-scored dF/F of {roi_set} ROIs in the order of the stored dendrogram ({data.linkage_method} linkage, "
                "correlation distance); strips: flat cluster and class; dashed white lines and the labels on top: "
                f"the onsets of every stimulus, coloured by regressor.{cap}",
                roi_set,
            ),
        )
    traces = []
    for cls in data.classes:
        name = f"class_{safe_name(cls)}.png"
        traces += one(
            name,
            f"Class {cls}",
            lambda cls=cls, name=name: _classic(
                data,
                name,
                f"Class {cls}",
                (12, 4.5),
                draw_class_traces,
                lambda i: (
                    f"Class '{cls}': no ROIs; the convolved regressors."
                    if not i["n"]
                    else f"Class '{cls}': {_count(i['n'], 'ROI')} ({i['shown']} of highest r2 drawn in grey, each "
                    "minus its median), their mean in black, and the convolved regressors scaled to the mean's "
                    "range."
                ),
                cls,
            ),
        )
    return [
        ("Responses", responses),
        ("Selection", selection),
        ("Positions", positions),
        ("Model", model),
        ("Clustering", clustering),
        ("Traces per class", traces),
    ]


def write_recording_report(data: RecordingData, directory: Path, depth: int = 3, cross_link: str | None = None) -> list:
    """Write the figures and index.html of one recording into ``directory``; return its ReportFigures.

    Figures that cannot be drawn for this recording (e.g. no positions
    ingested) are listed with a note saying why; a figure whose drawing
    fails is listed with the error (``failed``), and the page is still written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sections = recording_sections(data)
    for _title, items in sections:
        for item in items:
            if item.fig is None:
                continue
            try:
                _save(item.fig, directory / item.name)
                item.saved = True
            except Exception as err:
                logger.exception("saving %s of %s failed", item.name, data.title)
                item.note, item.failed = f"This figure failed to save: {type(err).__name__}: {err}", True
            item.fig = None  # drawn and written: free it
    (directory / "index.html").write_text(_recording_page(data, sections, depth, cross_link), encoding="utf-8")
    return [item for _title, items in sections for item in items]


def write_report(
    out_dir,
    restriction=None,
    *,
    paramsets=None,
    group_by: str = "genotype",
    cross_recording: bool = True,
    progress=True,
) -> Path:
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
    group_by : str
        Attribute of ``acquisition.Fish`` or ``acquisition.Recording`` that
        groups the cross-recording figure (default ``genotype``).
    cross_recording : bool
        Write ``cross_recording.html`` (class fractions across the report's
        recordings, with their SQL) and link it from the index.
    progress : bool
        Show a progress bar over the recordings.

    Returns
    -------
    Path
        The top ``index.html``.
    """
    from tqdm import tqdm

    from .cross import check_group_by, write_cross_recording_page

    if isinstance(paramsets, str):
        paramsets = [paramsets]
    keys, pending = report_keys(restriction, paramsets)  # connects; refuses unknown parameter sets
    if cross_recording:
        check_group_by(group_by)  # refuse a bad option before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    namer = _Namer()
    rows, failures, figure_failures, class_names = [], [], [], []
    cross_link = None
    if cross_recording:  # first, so that the recording pages link it only when it exists
        try:
            write_cross_recording_page(out, keys, group_by, restriction)
            cross_link = CROSS_RECORDING_PAGE
        except Exception as err:
            logger.exception("the cross-recording page failed")
            failures.append(f"cross-recording page: {type(err).__name__}: {err}")
    for key in tqdm(keys, desc="report", unit="recording", disable=not progress):
        parts = (namer.name((), key["fish"]),)
        parts += (namer.name(parts, key["recording"]),)
        parts += (namer.name(parts, key["paramset"]),)
        where = f"{key['fish']}/{key['recording']} ({key['paramset']})"
        try:
            data = load_recording_data(key)
            items = write_recording_report(
                data, out.joinpath(*parts), depth=3, cross_link=None if cross_link is None else f"../../../{cross_link}"
            )
        except Exception as err:  # one bad recording does not stop the report
            logger.exception("report of %s failed", key)
            failures.append(f"{where}: {type(err).__name__}: {err}")
            continue
        figure_failures += [f"{where}: {item.name}: {item.note}" for item in items if item.failed]
        for c in data.classes:
            if c not in class_names:
                class_names.append(c)
        rows.append(
            dict(
                key,
                genotype=data.genotype,
                n_rois=data.n_rois,
                n_selected=data.n_selected,
                counts={c: n for c, n, *_ in data.counts},
                path=parts,
            )
        )
    if failures or figure_failures:
        warnings.warn(
            f"report: {len(failures)} page(s) and {len(figure_failures)} figure(s) failed: "
            + "; ".join([*failures, *figure_failures]),
            RuntimeWarning,
            stacklevel=2,
        )
    index = out / "index.html"
    index.write_text(
        _index_page(rows, class_names, failures, pending, restriction, paramsets, cross_link, figure_failures),
        encoding="utf-8",
    )
    return index
