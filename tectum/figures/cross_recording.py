"""Figure 7 and its page: class fractions across recordings, one point per fish, with the SQL beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..report.pages import _e, _page
from ..report.style import class_color
from ._base import finish, fmt_count, message, new_figure, order_classes, plain_text, save_png

__all__ = ["fish_fractions", "plot_class_fractions", "write_cross_recording_page"]

#: label of a missing group value (NULL genotype)
NO_GROUP = "(none)"


def fish_fractions(
    df: pd.DataFrame, group_by: str = "genotype", *, class_column: str = "class", missing_as_zero: bool = True
) -> tuple:
    """One value per fish, group and class: the mean of the class fraction over the fish's recordings.

    Parameters
    ----------
    df : DataFrame
        Columns ``fish``, ``recording``, ``group_by``, ``class_column``,
        ``fraction``: one row per recording and class.
    group_by : str
        The Fish or Recording attribute to group by (e.g. ``genotype``,
        ``region``); a missing value becomes :data:`NO_GROUP`.
    class_column : str
    missing_as_zero : bool
        A class that some recordings list and another does not counts as
        fraction 0 in that recording (stated on the figure); False makes it
        an error.

    Returns
    -------
    (per_fish, notes)
        ``per_fish``: DataFrame fish, group, class, fraction, n_recordings
        (recordings with a defined fraction). ``notes``: dict ``n_filled``
        (recording × class pairs counted as 0), ``n_undefined`` (NaN
        fractions, e.g. no selected ROIs, left out), ``n_recordings``.

    Raises
    ------
    ValueError
        For a missing column, a fraction outside [0, 1], a duplicated
        (fish, recording, class) row or a recording in two groups.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a DataFrame, got {type(df).__name__}")
    need = ["fish", "recording", group_by, class_column, "fraction"]
    missing = [c for c in dict.fromkeys(need) if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks column(s) {missing}; have {list(df.columns)}")
    data = pd.DataFrame(
        {
            "fish": df["fish"].astype(str),
            "recording": df["recording"].astype(str),
            "group": [
                NO_GROUP if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in df[group_by]
            ],
            "class": df[class_column].astype(str),
            "fraction": pd.to_numeric(df["fraction"], errors="raise").astype(float),
        }
    )
    bad = data["fraction"].notna() & ((data["fraction"] < 0) | (data["fraction"] > 1))
    if bad.any():
        row = data[bad].iloc[0]
        raise ValueError(
            f"fraction {row['fraction']!r} of class {row['class']!r} in {row['fish']}/{row['recording']} "
            "is outside [0, 1]"
        )
    dup = data.duplicated(["fish", "recording", "class"], keep=False)
    if dup.any():
        row = data[dup].iloc[0]
        raise ValueError(f"{row['fish']}/{row['recording']} lists class {row['class']!r} more than once")
    groups_per_rec = data.groupby(["fish", "recording"])["group"].nunique()
    if (groups_per_rec > 1).any():
        fish, rec = groups_per_rec[groups_per_rec > 1].index[0]
        raise ValueError(f"{fish}/{rec} has more than one {group_by!r} value")
    recs = data[["fish", "recording", "group"]].drop_duplicates()
    classes = list(dict.fromkeys(data["class"]))
    full = recs.merge(pd.DataFrame({"class": classes}), how="cross")
    full = full.merge(data, on=["fish", "recording", "group", "class"], how="left", indicator=True)
    absent = full["_merge"] == "left_only"
    if absent.any() and not missing_as_zero:
        row = full[absent].iloc[0]
        raise ValueError(f"{row['fish']}/{row['recording']} has no row for class {row['class']!r}")
    full.loc[absent, "fraction"] = 0.0
    n_undefined = int(full["fraction"].isna().sum())
    per_fish = (
        full.dropna(subset=["fraction"])
        .groupby(["fish", "group", "class"], sort=False)["fraction"]
        .agg(["mean", "size"])
        .reset_index()
        .rename(columns={"mean": "fraction", "size": "n_recordings"})
    )
    notes = {"n_filled": int(absent.sum()), "n_undefined": n_undefined, "n_recordings": int(len(recs))}
    return per_fish, notes


@plain_text
def plot_class_fractions(
    df: pd.DataFrame,
    group_by: str = "genotype",
    *,
    class_column: str = "class",
    classes=None,
    groups=None,
    fraction_label="fraction of selected ROIs",
    missing_as_zero: bool = True,
    title=None,
    fig: Figure | None = None,
) -> Figure:
    """Class fractions per group (e.g. genotype), one point per fish, one panel per class.

    A fish's point is the mean fraction over its recordings
    (:func:`fish_fractions`); the black bar is the mean over the group's
    fish. Each group's tick states its fish and recordings.

    Parameters
    ----------
    df : DataFrame
        ``fish, recording, <group_by>, <class_column>, fraction`` (one row
        per recording and class, e.g. from ``ClassSummary.Count`` joined to
        ``Fish``).
    group_by : str
        Column to group by (any Fish or Recording attribute).
    classes, groups : list of str, optional
        Which classes (panels) and groups (x positions) to draw, in this
        order (default: all, stimulus classes first / groups sorted).
    fraction_label : str
        y-axis label: say what the fraction is of.
    missing_as_zero : bool
        See :func:`fish_fractions`.
    title : str, optional
    fig : Figure, optional

    Returns
    -------
    Figure
        ``fig.tectum_info``: ``classes``, ``groups``, ``points`` (the
        per-fish DataFrame drawn), ``n_fish`` (group -> fish), ``notes``.
    """
    per_fish, notes = fish_fractions(df, group_by, class_column=class_column, missing_as_zero=missing_as_zero)
    head = title or f"Class fractions by {group_by}"
    all_classes = order_classes(per_fish["class"].unique()) if classes is None else [str(c) for c in classes]
    all_groups = sorted(per_fish["group"].unique()) if groups is None else [str(g) for g in groups]
    unknown = [c for c in all_classes if c not in set(per_fish["class"])]
    unknown_g = [g for g in all_groups if g not in set(per_fish["group"])]
    if classes is not None and unknown:
        raise ValueError(f"classes {unknown} do not occur in the data")
    if groups is not None and unknown_g:
        raise ValueError(f"{group_by} values {unknown_g} do not occur in the data")
    if per_fish.empty or not all_classes:
        fig = new_figure(fig, (7, 4))
        message(fig, head, "no class fractions to show")
        return finish(fig, {"classes": [], "groups": [], "points": per_fish, "n_fish": {}, "notes": notes})
    points = per_fish[per_fish["class"].isin(all_classes) & per_fish["group"].isin(all_groups)]
    n_cols = min(len(all_classes), 4)
    n_rows = -(-len(all_classes) // n_cols)
    fig = new_figure(fig, (max(8.0, 1.0 + max(2.4, 0.9 * len(all_groups) + 1.0) * n_cols), 1.4 + 3.4 * n_rows))
    axes = fig.subplots(n_rows, n_cols, sharey=True, squeeze=False)
    recs = df.assign(
        _g=[NO_GROUP if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in df[group_by]]
    )
    n_fish = {g: int(points.loc[points["group"] == g, "fish"].nunique()) for g in all_groups}
    n_recs = {g: int(recs.loc[recs["_g"] == g, ["fish", "recording"]].drop_duplicates().shape[0]) for g in all_groups}
    tick_labels = [f"{g}\n{fmt_count(n_fish[g], 'fish', 'fish')}, {n_recs[g]} rec." for g in all_groups]
    top = max(0.05, float(points["fraction"].max()) if len(points) else 0.05)
    for idx, cls in enumerate(all_classes):
        ax = axes[idx // n_cols, idx % n_cols]
        color = class_color(cls)
        for gi, g in enumerate(all_groups):
            sel = points[(points["class"] == cls) & (points["group"] == g)].sort_values("fish")
            if sel.empty:
                continue
            # deterministic spread of the fish around the group's position
            offsets = np.linspace(-0.18, 0.18, len(sel)) if len(sel) > 1 else np.zeros(1)
            ax.scatter(gi + offsets, sel["fraction"], s=36, color=color, edgecolors="black", linewidths=0.5, zorder=3)
            mean = float(sel["fraction"].mean())
            ax.plot([gi - 0.3, gi + 0.3], [mean, mean], color="black", lw=2.0, zorder=2)
        ax.set_xticks(range(len(all_groups)))
        ax.set_xticklabels(tick_labels, fontsize=8)
        ax.set_xlim(-0.6, len(all_groups) - 0.4)
        y_top = min(1.0, top * 1.15) if top < 0.87 else 1.0
        ax.set_ylim(-0.03 * y_top, y_top + 0.03 * y_top)  # room for the dots at 0 and 1
        ax.set_title(cls, fontsize=10, color="black")
        ax.axhline(0, color="0.8", lw=0.6, zorder=0)
        if idx % n_cols == 0:
            ax.set_ylabel(fraction_label, fontsize=9)
    for idx in range(len(all_classes), n_rows * n_cols):
        axes[idx // n_cols, idx % n_cols].set_axis_off()
    lines = [
        head,
        "dot: one fish (mean over its recordings); bar: mean over fish",
        f"under each {group_by}: its fish and recordings",
    ]
    extra = []
    if notes["n_filled"]:
        extra.append(f"{notes['n_filled']} recording × class pair(s) without a row counted as 0")
    if notes["n_undefined"]:
        extra.append(f"{notes['n_undefined']} undefined fraction(s) (e.g. no selected ROIs) left out")
    if extra:
        lines.append("; ".join(extra))
    fig.suptitle("\n".join(lines), fontsize=10.5)
    return finish(
        fig,
        {
            "classes": all_classes,
            "groups": all_groups,
            "points": points.reset_index(drop=True),
            "n_fish": n_fish,
            "notes": notes,
        },
    )


_PAGE_CSS = """
.side{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
.side figure{flex:1 1 640px;margin:0}
.side .sql{flex:1 1 380px;min-width:0}
pre.sql{background:#f7f7f7;border:1px solid #ddd;padding:.8em;overflow-x:auto;white-space:pre;font-size:.85em}
"""


def write_cross_recording_page(
    out_dir,
    fig: Figure,
    sql: str,
    *,
    title: str = "Class fractions across recordings",
    caption: str | None = None,
    name: str = "class_fractions",
    sql_note: str = "The query that produced the data shown.",
) -> Path:
    """Write ``fig`` as ``<name>.png`` and ``<name>.html``: the figure with the SQL that produced its data beside it.

    Parameters
    ----------
    out_dir : path
        Directory (created).
    fig : Figure
        E.g. from :func:`plot_class_fractions`.
    sql : str
        The query whose result the figure shows, as run (shown verbatim,
        HTML-escaped, in a ``<pre>`` block).
    title, caption : str
        Page heading and the figure's caption.
    sql_note : str
        One line above the SQL.
    name : str
        File stem; letters, digits, ``_`` and ``-`` only.

    Returns
    -------
    Path
        The HTML page.
    """
    import re

    if not isinstance(sql, str) or not sql.strip():
        raise ValueError("sql must be the (non-empty) query text that produced the figure's data")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name or ""):
        raise ValueError(f"name must be letters, digits, '_' or '-' (a file stem), got {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = save_png(fig, out / f"{name}.png")
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    body = (
        f'<style>{_PAGE_CSS}</style>\n<h1>{_e(title)}</h1>\n<div class="side">\n'
        f'<figure><img src="{_e(png.name)}" alt="{_e(title)}">{cap}</figure>\n'
        f'<div class="sql"><h2>SQL</h2><p class="muted">{_e(sql_note)}</p>'
        f'<pre class="sql">{_e(sql.strip())}</pre></div>\n</div>'
    )
    page = out / f"{name}.html"
    page.write_text(_page(title, body), encoding="utf-8")
    return page
