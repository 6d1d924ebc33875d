"""Figure 5: the kernel against the data's mean response, and the objective over the τ grid."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from ..report.style import class_color
from ._base import as_float_vector, check_frame_period, class_labels, finish, fmt_count, new_figure, plain_text
from .align import align_to_onsets, presentations_frame

__all__ = ["KERNEL_INFO_KEYS", "MeanResponse", "class_mean_response", "kernel_figure_info", "plot_kernel"]

#: keys of ``kernel_info`` that :func:`plot_kernel` knows; other scalar keys are listed in the legend
KERNEL_INFO_KEYS = ("kernel_name", "tau_decay_s", "tau_rise_s", "delay_s", "tau_grid_s", "objective", "objective_label")
_LEGEND_NAMES = {"tau_decay_s": ("τ decay", "s"), "tau_rise_s": ("τ rise", "s"), "delay_s": ("delay", "s")}


@dataclass
class MeanResponse:
    """Mean ΔF/F of the ROIs of one class around the onsets of its regressor's stimuli."""

    t_s: np.ndarray
    mean: np.ndarray
    n_rois: int
    n_presentations: int
    label: str
    class_name: str = ""


def class_mean_response(
    dff, frame_period_s, presentations, roi_class, class_name, *, window_s=(-3.0, 15.0)
) -> MeanResponse:
    """Mean ΔF/F of the ROIs of ``class_name`` around every onset of its regressor's stimuli.

    Each ROI's ΔF/F is averaged over all presentations whose ``regressor`` is
    ``class_name`` (all its stimuli pooled), then averaged over the class's
    ROIs with data (all-NaN rows left out).

    Raises
    ------
    ValueError
        When no presentation belongs to ``class_name`` (e.g. ``mixed``) or
        no ROI of the class has ΔF/F.
    """
    dff = np.asarray(dff, dtype=float)
    labels = class_labels(roi_class, dff.shape[0] if dff.ndim == 2 else None)
    table = presentations_frame(presentations)
    own = table[table["regressor"] == class_name]
    if own.empty:
        raise ValueError(
            f"no presentation has regressor {class_name!r} (regressors: "
            f"{sorted(set(table['regressor']) - {''})}); the class's mean response needs its onsets"
        )
    members = np.flatnonzero((labels == class_name) & np.isfinite(dff).any(axis=1))
    if members.size == 0:
        raise ValueError(f"no ROI of class {class_name!r} has ΔF/F")
    pooled = own.assign(stimulus=class_name)
    aligned = align_to_onsets(dff, frame_period_s, pooled, rois=members, window_s=window_s)
    with np.errstate(invalid="ignore"):
        x = aligned.mean[0]
        ok = np.isfinite(x)
        mean = np.where(ok.any(axis=0), np.where(ok, x, 0).sum(axis=0) / np.maximum(ok.sum(axis=0), 1), np.nan)
    n_pres = aligned.n_presentations[class_name]
    label = f"mean ΔF/F of {fmt_count(members.size, 'ROI')} of class {class_name}, {fmt_count(n_pres, 'presentation')}"
    return MeanResponse(
        t_s=aligned.t_s, mean=mean, n_rois=int(members.size), n_presentations=n_pres, label=label, class_name=class_name
    )


def _check_info(kernel_info: dict) -> dict:
    if kernel_info is None:
        return {}
    if not isinstance(kernel_info, dict):
        raise TypeError(f"kernel_info must be a dict, got {type(kernel_info).__name__}")
    for key, value in kernel_info.items():
        if key in ("tau_grid_s", "objective"):
            continue
        if value is not None and not isinstance(value, (str, numbers.Number, np.generic)):
            raise ValueError(
                f"kernel_info[{key!r}] must be a number or text, got {type(value).__name__}; "
                f"known keys: {', '.join(KERNEL_INFO_KEYS)}"
            )
    if ("tau_grid_s" in kernel_info) != ("objective" in kernel_info):
        raise ValueError("kernel_info needs both 'tau_grid_s' and 'objective' (the objective at each τ), or neither")
    return dict(kernel_info)


def _legend_text(info: dict) -> str:
    name = info.get("kernel_name") or "kernel"
    parts = []
    for key, (label, unit) in _LEGEND_NAMES.items():
        if info.get(key) is not None:
            parts.append(f"{label} = {float(info[key]):.3g} {unit}")
    for key, value in info.items():  # anything else the caller gave is shown, not dropped
        if key in KERNEL_INFO_KEYS or value is None:
            continue
        parts.append(f"{key} = {value:.3g}" if isinstance(value, (float, np.floating)) else f"{key} = {value}")
    return f"kernel: {name}" + (f"\n{', '.join(parts)}" if parts else "")


def _unit_peak(y: np.ndarray) -> tuple:
    peak = np.nanmax(np.abs(y)) if np.isfinite(y).any() else np.nan
    if not np.isfinite(peak) or peak == 0:
        return y, None
    return y / peak, float(peak)


@plain_text
def plot_kernel(
    kernel, frame_period_s, kernel_info=None, *, response=None, duration_s=None, title=None, fig: Figure | None = None
) -> Figure:
    """The regressors' kernel drawn against the data's mean response; the τ objective beside it.

    Parameters
    ----------
    kernel : array (n,)
        The kernel as used, sampled at ``k * frame_period_s`` after the
        onset frame (``Regressors.kernel``).
    frame_period_s : float
    kernel_info : dict, optional
        ``kernel_name``, ``tau_decay_s``, ``tau_rise_s``, ``delay_s`` (shown
        in the legend); when the kernel was chosen from the data also
        ``tau_grid_s`` and ``objective`` (equal-length arrays: the objective
        at each τ of the grid; drawn in a second panel with the chosen
        ``tau_decay_s`` marked) and optionally ``objective_label``. Any other
        scalar entry is listed in the legend too; other values are refused.
    response : MeanResponse or (t_s, values), optional
        The data's mean response around the onsets (:func:`class_mean_response`).
        Drawn minus its pre-onset mean (t < 0), both curves scaled to a peak of 1.
    duration_s : float, optional
        Shade the stimulus period from 0 to this.
    title : str, optional
    fig : Figure, optional

    Returns
    -------
    Figure
        ``fig.tectum_info``: ``panels`` (``["kernel"]`` or ``["kernel",
        "objective"]``), ``legend`` (the kernel's legend text),
        ``kernel_peak``, ``response_peak`` (the scale factors, None when not
        drawn), ``chosen_tau_s``.
    """
    frame_period_s = check_frame_period(frame_period_s)
    k = np.asarray(kernel, dtype=float).ravel()
    if k.size == 0 or not np.isfinite(k).all():
        raise ValueError("kernel must be a non-empty 1-D array of finite values")
    info = _check_info(kernel_info)
    grid = objective = None
    if "tau_grid_s" in info:
        grid = as_float_vector(info["tau_grid_s"], "kernel_info['tau_grid_s']")
        objective = as_float_vector(info["objective"], "kernel_info['objective']", grid.size)
    panels = ["kernel", "objective"] if grid is not None else ["kernel"]
    fig = new_figure(fig, (11.5, 4.6) if grid is not None else (7.2, 4.6))
    axes = fig.subplots(1, len(panels), squeeze=False, width_ratios=[1.4, 1] if grid is not None else None)[0]
    ax = axes[0]

    t_resp = y_resp = None
    label_resp = "data: mean response"
    if response is not None:
        if isinstance(response, MeanResponse):
            t_resp, y_resp, label_resp = response.t_s, response.mean, response.label
        else:
            t_resp, y_resp = (np.asarray(v, dtype=float).ravel() for v in response)
        if t_resp.shape != y_resp.shape:
            raise ValueError(f"response times ({t_resp.size}) and values ({y_resp.size}) differ in length")
    t_k = np.arange(k.size) * frame_period_s
    if t_resp is not None:
        t_max = float(np.nanmax(t_resp))
    else:  # until the kernel has decayed to 1% of its peak (a whole-recording kernel would squash the plot)
        above = np.flatnonzero(np.abs(k) >= 0.01 * np.abs(k).max())
        t_max = min(float(t_k[above[-1]]) + 3 * frame_period_s, float(t_k[-1]))
    keep = t_k <= t_max + 1e-9
    k_scaled, k_peak = _unit_peak(k)
    if duration_s is not None:
        ax.axvspan(0.0, float(duration_s), color="0.85", lw=0, zorder=0, label=f"stimulus ({float(duration_s):g} s)")
    ax.axvline(0.0, color="0.5", lw=0.6, ls=":")
    ax.axhline(0.0, color="0.75", lw=0.6)
    r_peak = None
    if t_resp is not None:
        pre = t_resp < 0
        base = float(np.nanmean(y_resp[pre])) if (pre & np.isfinite(y_resp)).any() else 0.0
        r_scaled, r_peak = _unit_peak(y_resp - base)
        color = class_color(response.class_name) if getattr(response, "class_name", "") else "tab:gray"
        ax.plot(
            t_resp,
            r_scaled,
            color=color,
            lw=2.0,
            marker="o",
            ms=3,
            label=label_resp + (f"\n(minus pre-onset mean, ÷ {r_peak:.3g})" if r_peak else ""),
            zorder=3,
        )
    legend = _legend_text(info)
    ax.plot(
        t_k[keep],
        k_scaled[keep],
        color="black",
        lw=1.4,
        ls="--",
        marker="s",
        ms=3,
        mfc="white",
        label=legend + (f"\n(÷ {k_peak:.3g})" if k_peak else ""),
        zorder=4,
    )
    ax.set_xlabel("time from onset (s)")
    ax.set_ylabel("scaled to a peak of 1")
    # the regressor puts kernel sample k on frame (onset frame + k), and the onset falls within its frame
    ax.text(
        0.0,
        -0.2,
        "kernel sample k at k × frame period after the start of the frame holding the onset, as in the regressor",
        transform=ax.transAxes,
        fontsize=7.5,
        color="0.35",
        va="top",
    )
    if grid is not None:
        ax.set_title("kernel and mean response", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", frameon=True, framealpha=0.85, edgecolor="none")
    lo = float(np.nanmin(t_resp)) if t_resp is not None else 0.0
    ax.set_xlim(min(lo, 0.0) - 0.2 * frame_period_s, t_max + 0.2 * frame_period_s)

    chosen = info.get("tau_decay_s")
    if grid is not None:
        ax2 = axes[1]
        order = np.argsort(grid)
        ax2.plot(grid[order], objective[order], color="black", marker="o", ms=3.5, lw=1.2)
        if chosen is not None:
            ax2.axvline(
                float(chosen), color="crimson", ls="--", lw=1.2, label=f"chosen τ decay = {float(chosen):.3g} s"
            )
            ax2.legend(fontsize=8, frameon=False)
        ax2.set_xlabel("τ decay of the grid (s)")
        ax2.set_ylabel(str(info.get("objective_label") or "objective"))
        ax2.set_title("kernel chosen from the data: objective over the τ grid", fontsize=10)
    fig.suptitle(title or "Calcium kernel of the regressors", fontsize=11)
    return finish(
        fig,
        {
            "panels": panels,
            "legend": legend,
            "kernel_peak": k_peak,
            "response_peak": r_peak,
            "chosen_tau_s": None if chosen is None else float(chosen),
        },
    )


def kernel_figure_info(kernel_name: str, kernel_info: dict | None) -> dict:
    """:func:`plot_kernel`'s ``kernel_info`` from a regressor stage's ``kernel_info`` (``Regressors.kernel_info``).

    Keeps the kernel's constants; when the kernel was chosen from the data
    (``kernel_info["fit"]["grid"]``, see :func:`pipeline.kernel_fit.choose_kernel`),
    the objective over the τ grid at the chosen delay and rise becomes
    ``tau_grid_s`` / ``objective``.
    """
    info = dict(kernel_info or {})
    out = {"kernel_name": kernel_name}
    for key in ("tau_decay_s", "tau_rise_s", "delay_s"):
        if info.get(key) is not None:
            out[key] = float(info[key])
    grid = (info.get("fit") or {}).get("grid")
    if grid:
        taus = np.asarray(grid["tau_decay_s"], dtype=float)
        delays = np.asarray(grid["delay_s"], dtype=float)
        rises = np.asarray([np.nan if r is None else r for r in grid["tau_rise_s"]], dtype=float)
        values = np.asarray(grid["objective"], dtype=float)
        at = np.isclose(delays, out.get("delay_s", 0.0))
        rise = out.get("tau_rise_s")
        at &= np.isnan(rises) | np.isclose(rises, 0.0) if rise is None else np.isclose(rises, rise)
        if at.sum() >= 2:
            order = np.argsort(taus[at])
            out["tau_grid_s"] = taus[at][order]
            out["objective"] = values[at][order]
            out["objective_label"] = f"objective at delay {out.get('delay_s', 0.0):g} s"
    return out
