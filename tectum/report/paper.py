"""The paper figures of one recording, drawn by :mod:`tectum.figures` from a :class:`RecordingData`.

Each ``*_figure`` function returns a :class:`ReportFigure`: the figure (or
None when it cannot be drawn for this recording, with a note saying why),
its file name and a caption built from what was drawn (``fig.tectum_info``).
:func:`paper_figures` returns all of them in page order.

What the database may lack is handled here, not in the figure functions:
no response amplitudes yet, no ROI positions, a kernel-free (FIR) model, a
kernel without an objective grid, NULL ``p_permutation`` (parametric
significance) and a ``pipeline.shift_null`` that this installation does not
have yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .data import RecordingData
from .figures import selection_rule

#: window of the trial-averaged responses before the onset (s); also the baseline subtracted
PRE_ONSET_S = 3.0
#: the response window lasts at least this long after the onset (s) ...
MIN_POST_ONSET_S = 10.0
#: ... and at least this long after the end of the longest presentation (s)
AFTER_OFFSET_S = 7.0
#: the kernel figure's window around the onsets (s)
KERNEL_WINDOW_S = (-3.0, 15.0)
#: significance -> what the p-value is
P_NAMES = {"shift": "circular-shift permutation p", "parametric": "F-test p"}


@dataclass
class ReportFigure:
    """One figure of a recording's page."""

    name: str  # file name (PNG) on the page
    heading: str  # short title above the figure
    caption: str = ""
    fig: object | None = None  # matplotlib Figure, or None when not drawn
    note: str = ""  # why it was not drawn, or a caveat shown above it
    info: dict = field(default_factory=dict)
    saved: bool = False  # the PNG was written (set by the writer)
    failed: bool = False  # drawing raised an error (the note holds it)


def _fmt(x: float) -> str:
    return f"{x:g}".replace("-", "\u2212")


def _p_used(data: RecordingData) -> str:
    return P_NAMES.get(data.significance, f"{data.significance} p" if data.significance else "p")


# ---------------------------------------------------------------- responses


def response_window(data: RecordingData) -> tuple:
    """(start, end) in s around each onset: 3 s before to 7 s past the longest presentation (at least 10 s)."""
    longest = (
        float(data.presentations["duration_s"].max())
        if data.presentations is not None and len(data.presentations)
        else 0.0
    )
    return (-PRE_ONSET_S, max(MIN_POST_ONSET_S, longest + AFTER_OFFSET_S))


def class_responses_figure(data: RecordingData) -> ReportFigure:
    """Per class (rows) and stimulus (columns), the trial-averaged ΔF/F around the onsets, mean ± SEM over ROIs."""
    from tectum.figures import plot_class_responses

    out = ReportFigure("class_responses.png", "Responses per class")
    if data.presentations is None or not len(data.presentations):
        out.note = "No stimulus presentations are stored for this recording: nothing to align to."
        return out
    window = response_window(data)
    out.fig = plot_class_responses(
        data.dff,
        data.frame_period_s,
        data.presentations,
        data.roi_class,
        window_s=window,
        baseline_s=(-PRE_ONSET_S, 0.0),
        regressors=data.regressor_names,
        classes=_classes_with_rois(data),
        title=f"{data.title}: trial-averaged ΔF/F per class",
    )
    out.info = out.fig.tectum_info
    if not out.info["classes"]:
        out.caption = f"No ROI was selected ({selection_rule(data)}), so there is no class to show."
        return out
    out.caption = (
        "Rows: the classes of the selected ROIs; columns: the stimuli (with the regressor that pools them). "
        "Each ROI's ΔF/F is averaged over the presentations of the stimulus, aligned to the onsets "
        f"(interpolated between frames) and its mean over the {PRE_ONSET_S:g} s before the onset subtracted; "
        "the line is the mean over the ROIs of the class, the band ± SEM across those ROIs. Shaded: the stimulus "
        "(light: up to the longest presentation when durations vary). Each panel states its ROIs and "
        "presentations. A class responding in its own column and not in the others is selective."
    )
    return out


def _classes_with_rois(data: RecordingData) -> list:
    present = {str(c) for c in data.roi_class if c}
    return [c for c in data.classes if c in present]


# ------------------------------------------------------------------ tuning


def amplitude_label(data: RecordingData) -> tuple:
    """(short colour-bar label, sentence for the caption) of ``ResponseAmplitude`` as stored."""
    info, method = data.window_info or {}, data.amplitude_method
    resp, base = info.get("response_window_s"), info.get("baseline_window_s")
    if method == "seed2020":
        frames = info.get("response_frames") or info.get("response_window_frames")
        k = (
            (frames[1] - frames[0])
            if isinstance(frames, (list, tuple)) and len(frames) == 2
            else data.fit_params.get("response_window_frames")
        )
        what = f"{k} frames" if k else "a window"
        return (
            "ΔF/F, notebook's average",
            f"the published notebook's amplitude (amplitude_method 'seed2020'): mean ΔF/F over {what} from each "
            "onset frame, averaged with the notebook's padding (zeros for regressors with fewer presentations "
            "than the first); not baseline-subtracted",
        )
    if _pair(resp):
        after = f"mean ΔF/F {_fmt(resp[0])} to {_fmt(resp[1])} s after onset"
        if _pair(base):
            return (
                f"{after} − mean {_fmt(base[0])} to {_fmt(base[1])} s",
                f"{after} minus the mean from {_fmt(base[0])} to {_fmt(base[1])} s (the baseline), per "
                "presentation, averaged over the regressor's presentations",
            )
        if isinstance(base, (int, float)) and not isinstance(base, bool):
            return (
                f"{after} − mean {_fmt(base)} s before",
                f"{after} minus the mean over the {_fmt(base)} s before it, per presentation, averaged over "
                "the regressor's presentations",
            )
        return after, f"{after}, averaged over the regressor's presentations"
    label = f"response amplitude ({method})" if method else "response amplitude"
    return (
        label,
        f"ResponseAmplitude.Roi.mean_amplitude ({method or 'method not stored'}; windows {info or 'not stored'})",
    )


def _pair(value) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )


def tuning_figures(data: RecordingData) -> list:
    """The tuning heatmap per regressor and, when a regressor pools several stimuli, per stimulus."""
    from tectum.figures import plot_tuning_heatmap

    main = ReportFigure("tuning.png", "Tuning of the selected ROIs")
    if data.amplitude is None:
        main.note = "ResponseAmplitude is not populated for this recording and parameter set (run tectum populate)."
        return [main]
    short, sentence = amplitude_label(data)
    main.fig = plot_tuning_heatmap(
        data.amplitude,
        data.roi_class,
        columns=data.regressor_names,
        classes=_classes_with_rois(data) or None,
        value_label=short,
        title=f"{data.title}: tuning of the selected ROIs",
    )
    main.info = main.fig.tectum_info
    if not len(main.info["rows"]):
        main.caption = f"No ROI was selected ({selection_rule(data)}): no rows to show."
        return [main]
    main.caption = (
        "One row per selected ROI, one column per regressor: the response amplitude stored in "
        f"ResponseAmplitude.Roi.mean_amplitude, {sentence}. Rows are grouped by class (strip on the left, "
        "black lines between classes) and sorted by the amplitude to the class's own regressor; red: "
        "excitation, blue: inhibition, grey: no value. The colour limits are ±the 99th percentile of |amplitude|."
    )
    out = [main]
    if data.trial_amplitudes is not None and len(data.trial_amplitudes):
        per = ReportFigure("tuning_stimuli.png", "Tuning per stimulus")
        present = set(data.trial_amplitudes["stimulus"])
        order = [s for r in data.regressor_names for s in data.regressor_stimuli.get(r, []) if s in present]
        order += sorted(present - set(order))  # a stimulus of no regressor (not expected) last
        per.fig = plot_tuning_heatmap(
            data.trial_amplitudes,
            data.roi_class,
            column="stimulus",
            columns=order,
            classes=_classes_with_rois(data) or None,
            value_label=short,
            title=f"{data.title}: tuning per stimulus",
        )
        per.info = per.fig.tectum_info
        pooled = "; ".join(f"{r}: {', '.join(s)}" for r, s in data.regressor_stimuli.items() if len(s) > 1)
        per.caption = (
            "The same ROIs with one column per stimulus, from the per-presentation amplitudes "
            f"(ResponseAmplitude.Roi.per_presentation) averaged over each stimulus's presentations. Pooled regressors: "
            f"{pooled}; their stimuli stand side by side."
        )
        out.append(per)
    return out


# --------------------------------------------------------------- selection


def r2_vs_q_figure(data: RecordingData) -> ReportFigure:
    """r² against −log10 q of every ROI with the selection boundary (either part may be absent)."""
    from tectum.figures import plot_r2_vs_q

    out = ReportFigure("r2_vs_q.png", "Selection: r² against q")
    if data.q_value is None:
        out.note = "No q-values are stored for this recording."
        return out
    out.fig = plot_r2_vs_q(
        data.r2,
        data.q_value,
        data.roi_class,
        q_threshold=data.fdr_alpha,
        r2_floor=data.r2_min,
        regressors=data.regressor_names,
        title=f"{data.title}: selection of stimulus-locked ROIs",
    )
    out.info = out.fig.tectum_info
    # the figure function names the F-test; say which p the q-values of this parameter set adjust
    ax = out.fig.axes[0]
    xlabel = f"−log10 q (Benjamini-Hochberg adjusted {_p_used(data)})"
    if out.info.get("x_scale") == "symlog":
        xlabel += "\n" + ax.get_xlabel().split("\n", 1)[1]
    ax.set_xlabel(xlabel)
    boundary = []
    if data.fdr_alpha is not None:
        boundary.append(f"dashed vertical line: q = {data.fdr_alpha:g}")
    else:
        boundary.append("no FDR requirement in this parameter set (Fit.fdr_alpha is NULL): no q line")
    if data.r2_min is not None:
        boundary.append(f"dotted horizontal line: r² = {data.r2_min:g}")
    else:
        boundary.append("no r² floor (Fit.r2_min is NULL)")
    out.caption = (
        f"Every ROI's r² against −log10 of its Benjamini-Hochberg q (of the {_p_used(data)}); selected ROIs are "
        f"coloured by class, the others light grey. Selection: {selection_rule(data)}; "
        + "; ".join(boundary)
        + ". The shaded region is where selected ROIs lie."
        + (
            f" {out.info['n_undefined']} ROI(s) without r² or q (excluded or zero variance) are not drawn."
            if out.info["n_undefined"]
            else ""
        )
    )
    return out


# --------------------------------------------------------------- positions


def positions_figure(data: RecordingData) -> ReportFigure:
    """ROI centres coloured by class, where positions were ingested."""
    from tectum.figures import plot_roi_positions

    out = ReportFigure("positions.png", "ROI positions")
    pos = data.positions
    if pos is None or not (np.isfinite(pos[:, 0]) & np.isfinite(pos[:, 1])).any():
        out.note = "No ROI positions were ingested for this recording (RoiTraces.Roi x and y are NULL)."
        return out
    out.fig = plot_roi_positions(
        pos, data.roi_class, units="px", regressors=data.regressor_names, title=f"{data.title}: ROI positions by class"
    )
    out.info = out.fig.tectum_info
    out.caption = (
        "ROI centres as ingested (RoiTraces.Roi x, y, z), y growing downward as in the image; "
        "selected ROIs in their class colour, the others light grey underneath"
        + ("; below: the side view (x–z) because the ROIs lie in several planes" if "x-z" in out.info["panels"] else "")
        + (f"; {out.info['n_missing']} ROI(s) without a position not drawn" if out.info["n_missing"] else "")
        + "."
    )
    return out


# ------------------------------------------------------------------ kernel


def kernel_plot_info(data: RecordingData) -> tuple:
    """(``kernel_info`` for :func:`tectum.figures.plot_kernel`, sentence about the objective or '').

    ``Regressors.kernel_info`` holds ``tau_decay_s``, ``tau_rise_s``,
    ``delay_s`` (None where not applicable) and, for a kernel chosen from the
    data, ``fit``: the choice with ``grid`` (lists ``tau_decay_s``,
    ``tau_rise_s``, ``delay_s``, ``objective``, one entry per grid point).
    The objective is drawn over τ decay at the chosen delay and rise. A flat
    ``tau_grid_s`` + ``objective`` pair is taken as it is.
    """
    ki = data.kernel_info or {}
    info = {"kernel_name": data.kernel_name}
    for k in ("tau_decay_s", "tau_rise_s", "delay_s"):
        v = ki.get(k)
        if _number(v):
            info[k] = float(v)
    if isinstance(ki.get("train"), str):
        info["train"] = ki["train"]
    sentence = ""
    fit = ki.get("fit") if isinstance(ki.get("fit"), dict) else None
    grid = fit.get("grid") if fit and isinstance(fit.get("grid"), dict) else None
    if (
        grid
        and isinstance(grid.get("tau_decay_s"), list)
        and isinstance(grid.get("objective"), list)
        and len(grid["tau_decay_s"]) == len(grid["objective"])
        and grid["objective"]
    ):
        n = len(grid["objective"])
        delays = (
            grid.get("delay_s") if isinstance(grid.get("delay_s"), list) and len(grid["delay_s"]) == n else [None] * n
        )
        rises = (
            grid.get("tau_rise_s")
            if isinstance(grid.get("tau_rise_s"), list) and len(grid["tau_rise_s"]) == n
            else [None] * n
        )
        chosen_delay = fit.get("delay_s", ki.get("delay_s"))
        chosen_rise = fit.get("tau_rise_s", ki.get("tau_rise_s"))
        keep = [i for i in range(n) if _same(delays[i], chosen_delay) and _same(rises[i] or None, chosen_rise or None)]
        if keep:
            order = sorted(keep, key=lambda i: grid["tau_decay_s"][i])
            info["tau_grid_s"] = [grid["tau_decay_s"][i] for i in order]
            info["objective"] = [grid["objective"][i] for i in order]
            at = []
            if len({d for d in delays if d is not None}) > 1 and _number(chosen_delay):
                at.append(f"delay {float(chosen_delay):g} s")
            if len({r or 0 for r in rises}) > 1:
                at.append(f"rise {float(chosen_rise or 0):g} s")
            name = fit.get("objective_name")
            info["objective_label"] = f"objective{f' ({name})' if name else ''}" + (
                f" at {', '.join(at)}" if at else ""
            )
            sentence = (
                f"Right: the objective the kernel was chosen by ({name or 'see the parameter set'}) over the "
                f"τ decay grid{' at the chosen ' + ' and '.join(at) if at else ''}; {len(grid['objective'])} "
                "grid points in all; dashed: the chosen τ."
            )
    elif (
        isinstance(ki.get("tau_grid_s"), list)
        and isinstance(ki.get("objective"), list)
        and len(ki["tau_grid_s"]) == len(ki["objective"])
    ):
        info["tau_grid_s"], info["objective"] = ki["tau_grid_s"], ki["objective"]
        if isinstance(ki.get("objective_label"), str):
            info["objective_label"] = ki["objective_label"]
        sentence = "Right: the objective over the τ grid the kernel was chosen from; dashed: the chosen τ."
    return info, sentence


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < 1e-9


def kernel_figure(data: RecordingData) -> ReportFigure:
    """The kernel of the regressors against the mean response of the largest stimulus class."""
    from tectum.figures import class_mean_response, plot_kernel

    out = ReportFigure("kernel.png", "Kernel")
    if data.kernel is None or not data.kernel.size:
        out.note = (
            f"This model has no kernel ({data.kernel_name}: e.g. a kernel-free FIR model, whose "
            "responses are fitted lag by lag)."
        )
        return out
    info, objective_sentence = kernel_plot_info(data)
    response, which = None, ""
    counts = {c: int(np.sum(data.roi_class == c)) for c in data.regressor_names}
    for cls in sorted(counts, key=lambda c: -counts[c]):
        if counts[cls] == 0 or data.presentations is None or not (data.presentations["regressor"] == cls).any():
            continue
        response = class_mean_response(
            data.dff, data.frame_period_s, data.presentations, data.roi_class, cls, window_s=KERNEL_WINDOW_S
        )
        which = cls
        break
    duration = None
    if which:
        d = np.unique(data.presentations.loc[data.presentations["regressor"] == which, "duration_s"])
        duration = float(d[0]) if d.size == 1 else None
    out.fig = plot_kernel(
        data.kernel,
        data.frame_period_s,
        info,
        response=response,
        duration_s=duration,
        title=f"{data.title}: calcium kernel of the regressors",
    )
    out.info = out.fig.tectum_info
    regressor_peak = _draw_regressor_response(out.fig.axes[0], data, which) if which else None
    out.info["regressor_drawn"] = regressor_peak is not None
    train = info.get("train")
    train_text = {"boxcar": "a boxcar over each presentation", "onset": "a single frame at each onset"}.get(
        train, f"its stimulus train ({train})" if train else "its stimulus train"
    )
    if response is None:
        data_text = "No stimulus class has ROIs, so no mean response is drawn."
    else:
        data_text = (
            f"Coloured: the mean ΔF/F of the {response.n_rois} ROIs of class '{which}' (the largest class) "
            f"around the {response.n_presentations} onsets of its stimuli, minus its pre-onset mean. "
            "Both are scaled to a peak of 1; their shapes, not sizes, compare."
        )
    if out.info["regressor_drawn"]:
        data_text += (
            f" Solid grey: the regressor '{which}' itself around the same onsets (kernel convolved with "
            "the stimulus train): the response shape the fit looks for, to compare with the data."
        )
    out.caption = (
        f"Dashed: the kernel used ({data.kernel_name}); a regressor is this kernel convolved with "
        f"{train_text}. {data_text}"
        + (
            f" {objective_sentence}"
            if objective_sentence
            else " The kernel was not chosen from the data (no objective stored), so there is no objective panel."
        )
    )
    return out


def _draw_regressor_response(ax, data: RecordingData, regressor: str):
    """Add the regressor's own trace around its onsets (mean over presentations, peak 1); return its peak or None.

    With a boxcar train the regressor is the kernel smeared over the stimulus, so the kernel alone
    understates the response the fit expects; this line is that expectation.
    """
    from tectum.figures import align_to_onsets

    row = data.regressor_names.index(regressor)
    pres = data.presentations[data.presentations["regressor"] == regressor].assign(stimulus=regressor)
    aligned = align_to_onsets(np.atleast_2d(data.convolved[row]), data.frame_period_s, pres, window_s=KERNEL_WINDOW_S)
    y = aligned.mean[0, 0]
    if not np.isfinite(y).any():
        return None
    pre = aligned.t_s < 0
    y = y - (float(np.nanmean(y[pre])) if (pre & np.isfinite(y)).any() else 0.0)
    peak = float(np.nanmax(np.abs(y)))
    if peak == 0:
        return None
    ax.plot(
        aligned.t_s,
        y / peak,
        color="0.45",
        lw=1.3,
        zorder=3.5,
        label=f"regressor '{regressor}' around the same onsets\n(kernel ⊛ stimulus train)",
    )
    ax.legend(fontsize=8, loc="upper right", frameon=True, framealpha=0.85, edgecolor="none")
    return peak


# -------------------------------------------------------------- shift null


def null_shifts(data: RecordingData):
    """``(shifts, min_shift_frames, min_shift_s, source)``: the circular shifts of the fit's null.

    The shortest shift is the parameter set's ``min_shift_s``, else the
    response length stored with the kernel (``kernel_info.response_length_s``),
    else a tenth of the recording; at most ``max_shifts`` evenly spaced shifts
    are kept, as :func:`pipeline.shift_null.admissible_shifts` does (used when
    available).
    """
    n, T = data.dff.shape[1], data.frame_period_s
    min_shift_s, source = data.fit_params.get("min_shift_s"), "the parameter set's min_shift_s"
    if not _number(min_shift_s):
        min_shift_s, source = data.kernel_info.get("response_length_s"), "the response length stored with the kernel"
    if not _number(min_shift_s):
        min_shift_s, source = n * T / 10.0, "a tenth of the recording (no response length is stored)"
    m = max(1, int(math.ceil(float(min_shift_s) / T - 1e-9)))
    max_shifts = data.fit_params.get("max_shifts")
    max_shifts = int(max_shifts) if _number(max_shifts) else None
    try:
        from pipeline.shift_null import admissible_shifts
    except ImportError:
        shifts = np.arange(m, n - m + 1, dtype=np.int64)
        if shifts.size == 0:
            raise ValueError(f"no admissible circular shift: {n} frames, shortest shift {m} frames") from None
        if max_shifts is not None and shifts.size > max_shifts:
            shifts = shifts[np.unique(np.round(np.linspace(0, shifts.size - 1, max_shifts)).astype(np.int64))]
    else:
        shifts = admissible_shifts(n, m, max_shifts)
    return np.asarray(shifts, dtype=np.int64), m, float(min_shift_s), source


def shift_null_figure(data: RecordingData) -> ReportFigure:
    """The circular-shift null distribution of r² of one example ROI, recomputed in memory."""
    out = ReportFigure("shift_null.png", "Circular-shift null of an example ROI")
    try:
        from pipeline.shift_null import roi_null_distribution
    except ImportError:
        out.note = (
            "Not drawn: this installation's pipeline has no circular-shift null "
            "(pipeline.shift_null.roi_null_distribution), which the figure recomputes for one ROI."
        )
        return out
    if data.design is None:
        out.note = "Not drawn: the regressors' design matrix is not stored."
        return out
    valid = np.isfinite(data.dff).all(axis=1) & np.isfinite(data.r2)
    pool = np.flatnonzero(valid & data.selected)
    chosen = "the selected ROI of highest r²"
    if pool.size == 0:
        pool, chosen = np.flatnonzero(valid), "the ROI of highest r² (no ROI was selected)"
    if pool.size == 0:
        out.note = "Not drawn: no ROI has a defined r²."
        return out
    roi = int(pool[np.argmax(data.r2[pool])])
    try:
        shifts, m, min_shift_s, source = null_shifts(data)
    except ValueError as err:
        out.note = f"Not drawn: {err}."
        return out
    res = roi_null_distribution(data.design, data.dff[roi], shifts)
    observed = float(res.get("r2_observed", data.r2[roi]))
    p_perm, p_par = float(data.p_permutation[roi]), float(data.p_parametric[roi])
    if np.isfinite(p_perm):
        p, p_text = (
            p_perm,
            (
                f"p: the circular-shift permutation p stored for this ROI (Fit.Roi.p_permutation, "
                f"from {int(data.n_shifts[roi])} shifts"
            ),
        )
        if int(data.n_shifts[roi]) != shifts.size:
            p_text += f"; this figure's {shifts.size} shifts differ from them"
        p_text += "; a tail approximation where few shifts reach the observed r²)."
    elif np.isfinite(p_par):
        p, p_text = (
            p_par,
            (
                "p: the F-test p (Fit.Roi.p_parametric), shown because this parameter set did not use "
                "the shift null (p_permutation is NULL); the null drawn was computed for this figure only, "
                "and the count of shifts reaching the observed r² is its empirical counterpart."
            ),
        )
    else:
        out.note = f"Not drawn: ROI {roi} has neither a permutation nor a parametric p."
        return out
    cls = data.roi_class[roi] or "not selected"
    from tectum.figures import plot_shift_null

    out.fig = plot_shift_null(
        res["r2"], observed, p, roi_label=f"ROI {roi} ({cls})", title=f"{data.title}: circular-shift null of r²"
    )
    out.info = dict(out.fig.tectum_info, roi=roi, n_shifts=int(shifts.size), min_shift_frames=m)
    ax = out.fig.axes[0]
    if ax.get_legend() is not None:  # the example ROI's observed r² lies far right, under an upper-right legend
        ax.legend(fontsize=8.5, frameon=True, framealpha=0.9, edgecolor="none", loc="upper center")
    out.caption = (
        f"ROI {roi}, {chosen}: the r² of its ΔF/F against the regressors' design shifted circularly by each of "
        f"{shifts.size} shifts from {int(shifts.min())} to {int(shifts.max())} frames (grey; shifts shorter than "
        f"{m} frames = {min_shift_s:.3g} s, {source}, are left out because the shifted regressors would still "
        "overlap the responses), recomputed for this figure with pipeline.shift_null.roi_null_distribution. "
        f"Red: the observed r². {p_text}"
    )
    return out


#: the builders in page order; each returns a ReportFigure or a list of them
BUILDERS = (class_responses_figure, tuning_figures, r2_vs_q_figure, positions_figure, kernel_figure, shift_null_figure)


def paper_figures(data: RecordingData) -> list:
    """Every paper figure of one recording, in page order (see the module docstring)."""
    out = []
    for build in BUILDERS:
        made = build(data)
        out.extend(made if isinstance(made, list) else [made])
    return out
