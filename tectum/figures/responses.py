"""Figure 1: the trial-averaged ΔF/F of every class around the onsets of every stimulus."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..report.style import class_color
from ._base import class_labels, finish, fmt_count, message, new_figure, order_classes, plain_text
from .align import align_to_onsets

__all__ = ["plot_class_responses", "spread_across_rois"]

ERRORS = {"sem": "mean ± SEM across ROIs", "ci95": "mean and bootstrap 95% CI across ROIs", "none": "mean across ROIs"}


def spread_across_rois(x: np.ndarray, error: str = "sem", *, n_boot: int = 1000, seed: int = 0):
    """Mean over ROIs (rows of ``x``, NaN ignored) and the band around it.

    ``error``: ``"sem"`` (standard error, ddof 1), ``"ci95"`` (percentile
    bootstrap over ROIs, ``n_boot`` resamples, fixed ``seed``) or ``"none"``.
    Returns ``(mean, low, high)``; the band is NaN where fewer than 2 ROIs
    have data.
    """
    if error not in ERRORS:
        raise ValueError(f"error must be one of {sorted(ERRORS)}, got {error!r}")
    x = np.atleast_2d(np.asarray(x, dtype=float))
    ok = np.isfinite(x)
    n = ok.sum(axis=0)
    xz = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, xz.sum(axis=0) / np.maximum(n, 1), np.nan)
    low = np.full_like(mean, np.nan)
    high = np.full_like(mean, np.nan)
    if error == "sem":
        dev = np.where(ok, x - mean, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            sem = np.sqrt((dev**2).sum(axis=0) / (n - 1)) / np.sqrt(n)
        sem[n < 2] = np.nan
        low, high = mean - sem, mean + sem
    elif error == "ci95" and x.shape[0] >= 2:
        rng = np.random.default_rng(seed)
        k = x.shape[0]
        # resampling ROIs with replacement = multinomial weights on the rows
        w = rng.multinomial(k, np.full(k, 1.0 / k), size=int(n_boot)).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = (w @ xz) / (w @ ok)
        low, high = np.nanpercentile(boot, [2.5, 97.5], axis=0)
        low[n < 2] = np.nan
        high[n < 2] = np.nan
    return mean, low, high


def _num(x: float) -> str:
    """A number with a typographic minus."""
    return f"{x:g}".replace("-", "\u2212")


def _spans(durations: np.ndarray) -> list:
    """Shaded stimulus periods: [0, d] for one duration; [0, shortest] and [shortest, longest] when they vary."""
    d = np.asarray(durations, dtype=float)
    if d.size == 0 or d.max() == 0:
        return []
    if d.min() == d.max():
        return [(0.0, float(d.max()))]
    return [(0.0, float(d.min())), (float(d.min()), float(d.max()))]


@plain_text
def plot_class_responses(
    dff,
    frame_period_s,
    presentations,
    roi_class,
    *,
    window_s=(-3.0, 10.0),
    baseline_s=None,
    error="sem",
    n_boot=1000,
    seed=0,
    classes=None,
    regressors=None,
    title=None,
    fig: Figure | None = None,
) -> Figure:
    """Trial-averaged ΔF/F of each class around each stimulus's onsets, one panel per class and stimulus.

    Every ROI's ΔF/F is averaged over the presentations of a stimulus
    (:func:`~tectum.figures.align.align_to_onsets`); a panel shows the mean of
    those averages over the ROIs of one class with a band (``error``), the
    stimulus period shaded from the onset for its duration (when the
    duration varies between presentations: dark to the shortest, light to
    the longest), and states the number of ROIs and presentations.

    Parameters
    ----------
    dff : array (n_rois, n_frames)
        ΔF/F; all-NaN rows (excluded ROIs) are left out and counted.
    frame_period_s : float
    presentations : DataFrame or list of dict
        ``stimulus, onset_s, duration_s[, regressor]``
        (:func:`~tectum.figures.align.presentations_frame`).
    roi_class : array of str (n_rois,)
        Class of every ROI: a regressor name, ``inhibited``, ``mixed``,
        ``unclassified``, or ''/None when not selected (not drawn).
    window_s : (float, float)
        Time around each onset (s); the samples are the multiples of the
        frame period within it.
    baseline_s : (float, float), optional
        Subtract each ROI's mean over this window (e.g. ``(-3, 0)``).
    error : {"sem", "ci95", "none"}
        Band around the mean: SEM across ROIs, a bootstrap 95% CI over ROIs
        (``n_boot`` resamples, ``seed``), or none. Stated on the figure.
    classes : list of str, optional
        Classes to draw, in this order, also when they have no ROI (default:
        the classes present, stimulus classes first).
    regressors : list of str, optional
        Order of the regressors (and so of the stimulus columns).
    title : str, optional
        First line of the figure title.
    fig : Figure, optional
        Draw on this figure (default: a new one sized to the grid).

    Returns
    -------
    Figure
        With ``fig.tectum_info``: ``panels`` (one dict per panel: class,
        stimulus, regressor, n_rois, n_presentations, spans), ``classes``,
        ``stimuli``, ``error`` (the text stated), ``n_excluded`` (classified
        ROIs without ΔF/F).
    """
    dff = np.asarray(dff, dtype=float)
    if dff.ndim != 2:
        raise ValueError(f"dff must be 2-D (ROIs x frames), got shape {dff.shape}")
    if error not in ERRORS:
        raise ValueError(f"error must be one of {sorted(ERRORS)}, got {error!r}")
    labels = class_labels(roi_class, dff.shape[0])
    has_data = np.isfinite(dff).any(axis=1)
    shown = list(classes) if classes is not None else order_classes(labels, regressors or ())
    head = title or "Trial-averaged ΔF/F per class"
    if not shown:
        fig = new_figure(fig, (7, 4))
        message(fig, head, "no ROIs selected: no class to show")
        return finish(fig, {"panels": [], "classes": [], "stimuli": [], "error": ERRORS[error], "n_excluded": 0})
    in_shown = np.isin(labels, shown)
    n_excluded = int((in_shown & ~has_data).sum())
    members = np.flatnonzero(in_shown & has_data)
    aligned = align_to_onsets(
        dff,
        frame_period_s,
        presentations,
        rois=members,
        window_s=window_s,
        baseline_s=baseline_s,
        regressors=regressors,
    )
    stimuli = aligned.stimuli
    n_rows, n_cols = len(shown), len(stimuli)
    fig = new_figure(fig, (max(8.0, 1.2 + 2.7 * n_cols), 1.5 + 2.1 * n_rows))
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey="row", squeeze=False)
    t = aligned.t_s
    member_class = labels[members]
    panels = []
    for i, cls in enumerate(shown):
        color = class_color(cls)
        rows_i = member_class == cls
        for j, stim in enumerate(stimuli):
            ax = axes[i, j]
            stim_color = class_color(aligned.regressor[stim] or stim)
            spans = _spans(aligned.durations_s[stim])
            for k, (a, b) in enumerate(spans):
                patch = ax.axvspan(a, b, color=stim_color, alpha=0.22 if k == 0 else 0.09, lw=0, zorder=0)
                patch.set_gid("stimulus-span")
            ax.axvline(0.0, color="0.5", lw=0.6, ls=":", zorder=1)
            if baseline_s is not None:
                ax.axhline(0.0, color="0.7", lw=0.6, zorder=1)
            x = aligned.mean[j][rows_i]
            n_rois = int(np.isfinite(x).any(axis=1).sum())
            n_pres = aligned.n_presentations[stim]
            if n_rois:
                mean, low, high = spread_across_rois(x[np.isfinite(x).any(axis=1)], error, n_boot=n_boot, seed=seed)
                if error != "none" and np.isfinite(low).any():
                    ax.fill_between(t, low, high, color=color, alpha=0.3, lw=0, zorder=2)
                ax.plot(t, mean, color=color, lw=1.6, zorder=3)
            else:
                ax.text(0.5, 0.5, "no ROIs", ha="center", va="center", color="0.4", transform=ax.transAxes)
            note = f"n = {fmt_count(n_rois, 'ROI')}, {fmt_count(n_pres, 'presentation')}"
            if n_rois == 1 and error != "none":
                note += "\n(1 ROI: no band)"
            ax.text(
                0.98,
                0.97,
                note,
                ha="right",
                va="top",
                fontsize=7.5,
                transform=ax.transAxes,
                bbox=dict(facecolor="white", edgecolor="none", alpha=0.7, pad=1.0),
                zorder=4,
            )
            if i == 0:
                reg = aligned.regressor[stim]
                head_j = stim if reg in ("", stim) else f"{stim}\n(regressor {reg})"
                ax.set_title(head_j, fontsize=9.5)
            if j == 0:
                ax.set_ylabel(f"{cls}\n" + ("ΔF/F − baseline" if baseline_s is not None else "ΔF/F"), fontsize=9)
            if i == n_rows - 1:
                ax.set_xlabel("time from onset (s)", fontsize=9)
            ax.tick_params(labelsize=8)
            panels.append(
                dict(
                    row=i,
                    col=j,
                    **{"class": cls},
                    stimulus=stim,
                    regressor=aligned.regressor[stim],
                    n_rois=n_rois,
                    n_presentations=n_pres,
                    spans=spans,
                )
            )
    axes[0, 0].set_xlim(t[0], t[-1])
    lines = [f"{head}: {ERRORS[error]}"]
    varies = any(len(_spans(aligned.durations_s[s])) > 1 for s in stimuli)
    detail = (
        "shaded: stimulus on"
        + (" (light: duration varies, up to the longest)" if varies else "")
        + "; n = ROIs of the class with data × presentations of the stimulus"
    )
    lines.append(detail)
    if baseline_s is not None:
        lines.append(f"each ROI's mean from {_num(baseline_s[0])} to {_num(baseline_s[1])} s subtracted")
    if n_excluded:
        lines.append(f"{fmt_count(n_excluded, 'classified ROI')} without ΔF/F (NaN rows) left out")
    fig.suptitle("\n".join(lines), fontsize=10)
    info = {
        "panels": panels,
        "classes": shown,
        "stimuli": stimuli,
        "error": ERRORS[error],
        "n_excluded": n_excluded,
        "t_s": t,
    }
    return finish(fig, info)
