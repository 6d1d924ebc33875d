"""Figure 6: the shift-null distribution of r² of one ROI, with its observed r² and p."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ._base import as_float_vector, finish, message, new_figure, plain_text

__all__ = ["plot_shift_null"]


@plain_text
def plot_shift_null(
    null_r2, observed_r2, p_value, *, roi_label=None, bins=40, title=None, fig: Figure | None = None
) -> Figure:
    """Histogram of the r² of one ROI under circular shifts of its trace, the observed r² marked, p stated.

    Parameters
    ----------
    null_r2 : array (n_shifts,)
        r² of the ROI against the regressors after each shift (NaN values
        are counted and left out).
    observed_r2 : float
        r² of the unshifted trace.
    p_value : float
        The shift test's p (as computed by the caller, e.g. ``(k + 1) / (n + 1)``).
        The figure also states how many shifts reached the observed r².
    roi_label : str, optional
        Which ROI (e.g. "F1 / R1 / ROI 17").
    bins : int
    title : str, optional
    fig : Figure, optional

    Returns
    -------
    Figure
        ``fig.tectum_info``: ``n_null`` (finite values drawn), ``n_nan``,
        ``n_at_least`` (null r² ≥ observed), ``observed_r2``, ``p_value``.
    """
    null = as_float_vector(null_r2, "null_r2")
    observed = float(observed_r2)
    p = float(p_value)
    if not np.isfinite(observed):
        raise ValueError(f"observed_r2 must be finite, got {observed_r2!r}")
    if not (np.isfinite(p) and 0.0 <= p <= 1.0):
        raise ValueError(f"p_value must lie in [0, 1], got {p_value!r}")
    finite = np.isfinite(null)
    values = null[finite]
    n_nan = int((~finite).sum())
    head = title or "Shift null distribution of r²"
    if roi_label:
        head += f": {roi_label}"
    if values.size == 0:
        fig = new_figure(fig, (6.5, 4))
        message(fig, head, f"no finite null r² ({null.size} given)")
        return finish(fig, {"n_null": 0, "n_nan": n_nan, "n_at_least": 0, "observed_r2": observed, "p_value": p})
    n_at_least = int((values >= observed).sum())
    fig = new_figure(fig, (7.2, 4.6))
    ax = fig.add_subplot(111)
    lo = min(float(values.min()), observed)
    hi = max(float(values.max()), observed)
    pad = 0.03 * (hi - lo) if hi > lo else 0.01
    ax.hist(
        values,
        bins=np.linspace(lo - pad, hi + pad, int(bins) + 1),
        color="0.6",
        edgecolor="white",
        lw=0.4,
        label=f"r² after {values.size} circular shifts",
    )
    ax.axvline(observed, color="crimson", lw=2.0, label=f"observed r² = {observed:.3g}")
    ax.set_xlabel("r² (variance of ΔF/F explained by the regressors)")
    ax.set_ylabel("shifts")
    stated = f"p = {p:.3g}; {n_at_least} of {values.size} shifts reach the observed r²"
    if n_nan:
        stated += f"; {n_nan} undefined (NaN) left out"
    ax.set_title(f"{head}\n{stated}", fontsize=10.5)
    ax.legend(fontsize=8.5, frameon=False, loc="upper right")
    return finish(
        fig,
        {"n_null": int(values.size), "n_nan": n_nan, "n_at_least": n_at_least, "observed_r2": observed, "p_value": p},
    )
