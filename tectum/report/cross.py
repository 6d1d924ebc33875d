"""The cross-recording page: class fractions per recording, grouped by a Fish or Recording attribute.

For every parameter set of the report, :func:`class_fractions` runs one SQL
query through DataJoint's connection (identifiers quoted by the connection's
adapter, so the same code serves MySQL/MariaDB and PostgreSQL) and
:func:`write_cross_recording_page` shows its result as
:func:`tectum.figures.plot_class_fractions` (one point per fish, grouped by
genotype or any other attribute) with the query's text beside it: the text
shown is the string that was executed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .data import ReportError

#: the default grouping of the cross-recording figure
DEFAULT_GROUP_BY = "genotype"


def group_attributes() -> dict:
    """``{attribute: 'fish' | 'recording'}``: the attributes the cross-recording figure can group by.

    Every secondary attribute of ``acquisition.Fish`` and
    ``acquisition.Recording`` except JSON ones (which hold documents, not
    group labels).
    """
    from schemas import acquisition

    out = {}
    for owner, table in (("fish", acquisition.Fish), ("recording", acquisition.Recording)):
        heading = table.heading
        for name in heading.secondary_attributes:
            if not heading[name].json:
                out.setdefault(name, owner)
    return out


def check_group_by(group_by: str) -> str:
    """The table (``'fish'`` or ``'recording'``) holding ``group_by``; :class:`ReportError` naming the choices if none."""
    attrs = group_attributes()
    if group_by not in attrs:
        fish = ", ".join(a for a, o in attrs.items() if o == "fish")
        rec = ", ".join(a for a, o in attrs.items() if o == "recording")
        raise ReportError(
            f"cannot group the cross-recording figure by {group_by!r}: choose an attribute of "
            f"acquisition.Fish ({fish}) or acquisition.Recording ({rec})"
        )
    return attrs[group_by]


def class_fractions_sql(paramset: str, group_by: str = DEFAULT_GROUP_BY, recordings=None) -> str:
    """The query behind the cross-recording figure of one parameter set.

    One row per recording and class: ``fish, recording, <group_by>,
    roi_class, n_in_class, n_selected, fraction`` (``fraction`` =
    ``ClassSummary.Count.fraction_of_selected``, NULL when nothing was
    selected). Table names are DataJoint's own (``full_table_name``, quoted by
    the connection's adapter); values are literals quoted by the adapter.

    Parameters
    ----------
    paramset : str
    group_by : str
        An attribute of ``acquisition.Fish`` or ``acquisition.Recording`` (see :func:`group_attributes`).
    recordings : list of (fish, recording), optional
        Only these recordings (default: every recording with class counts under ``paramset``).
    """
    from schemas import acquisition, analysis

    owner = check_group_by(group_by)
    conn = analysis.Fit.connection
    q, lit = conn.adapter.quote_identifier, conn.adapter.quote_string
    for name in [paramset, *(v for pair in (recordings or []) for v in pair)]:
        if "\\" in str(name) or any(ord(ch) < 32 for ch in str(name)):
            raise ReportError(f"cannot write the name {name!r} as an SQL literal (backslash or control character)")
    group_alias = "f" if owner == "fish" else "r"
    lines = [
        f"SELECT c.{q('fish')}, c.{q('recording')}, {group_alias}.{q(group_by)},",
        f"       c.{q('roi_class')}, c.{q('n_in_class')}, s.{q('n_selected')},",
        f"       c.{q('fraction_of_selected')} AS {q('fraction')}",
        f"FROM {analysis.ClassSummary.Count.full_table_name} AS c",
        f"JOIN {analysis.Fit.full_table_name} AS s",
        f"  ON s.{q('fish')} = c.{q('fish')}",
        f" AND s.{q('recording')} = c.{q('recording')}",
        f" AND s.{q('paramset')} = c.{q('paramset')}",
    ]
    if owner == "fish":
        lines.append(f"JOIN {acquisition.Fish.full_table_name} AS f")
        lines.append(f"  ON f.{q('fish')} = c.{q('fish')}")
    else:
        lines.append(f"JOIN {acquisition.Recording.full_table_name} AS r")
        lines.append(f"  ON r.{q('fish')} = c.{q('fish')}")
        lines.append(f" AND r.{q('recording')} = c.{q('recording')}")
    lines.append(f"WHERE c.{q('paramset')} = {lit(str(paramset))}")
    if recordings is not None:
        pairs = [f"({lit(str(f))}, {lit(str(r))})" for f, r in recordings]
        if not pairs:
            raise ReportError("no recordings to query")
        lines.append(f"  AND (c.{q('fish')}, c.{q('recording')}) IN (")
        lines.append(",\n".join(f"    {pair}" for pair in pairs) + ")")
    lines.append(f"ORDER BY c.{q('fish')}, c.{q('recording')}, c.{q('roi_class')}")
    return "\n".join(lines)


@dataclass
class CrossRecording:
    """The cross-recording figure of one parameter set, and what produced it."""

    paramset: str
    group_by: str
    sql: str  # the query as executed
    rows: pd.DataFrame  # its result, one row per recording and class
    fig: object | None = None  # matplotlib Figure
    info: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)  # report recordings without class counts
    not_presented: int = 0  # recording x class pairs whose regressor the recording lacks


def class_fractions(paramset: str, report_keys: list, group_by: str = DEFAULT_GROUP_BY) -> CrossRecording:
    """Run the class-fraction query for the recordings of ``report_keys`` under ``paramset`` and draw it.

    ``report_keys`` are the report's ``(fish, recording, paramset)`` keys;
    the query names them explicitly only when they are not every recording
    with class counts under ``paramset``.
    """
    from schemas import analysis
    from tectum.figures import plot_class_fractions

    conn = analysis.Fit.connection
    wanted = sorted({(k["fish"], k["recording"]) for k in report_keys if k["paramset"] == paramset})
    counted = {(k["fish"], k["recording"]) for k in (analysis.ClassSummary & {"paramset": paramset}).keys()}
    recordings = None if set(wanted) == counted else wanted
    sql = class_fractions_sql(paramset, group_by, recordings)
    # args=None: the text goes to the server as it is (no %-interpolation by the driver), exactly as shown
    cursor = conn.query(sql, args=None)
    columns = [d[0] for d in cursor.description]
    rows = pd.DataFrame(list(cursor.fetchall()), columns=columns)
    if len(rows):
        rows["fraction"] = [np.nan if v is None else float(v) for v in rows["fraction"]]
    result = CrossRecording(
        paramset=paramset, group_by=group_by, sql=sql, rows=rows, missing=sorted(set(wanted) - counted)
    )
    plot_input = _with_absent_classes(rows, paramset, group_by)
    result.not_presented = int(len(plot_input) - len(rows))
    result.fig = plot_class_fractions(
        plot_input,
        group_by,
        class_column="roi_class",
        fraction_label="fraction of selected ROIs",
        title=f"Class fractions by {group_by}, parameter set {paramset}",
    )
    result.info = result.fig.tectum_info
    _explain_undefined(result)
    _wrap_group_labels(result.fig)
    return result


def _wrap_group_labels(fig, width: int = 16) -> None:
    """Break long group names (e.g. a full genotype) over lines so neighbouring tick labels do not collide."""
    import textwrap

    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_xticklabels()]
        if not labels or not any(len(line) > width for text in labels for line in text.split("\n")[:1]):
            continue
        wrapped = []
        for text in labels:
            head, _, tail = text.partition("\n")
            lines = textwrap.wrap(head, width) or [head]
            wrapped.append("\n".join([*lines, tail] if tail else lines))
        ax.set_xticks(ax.get_xticks(), wrapped, fontsize=8)


def _explain_undefined(result: CrossRecording) -> None:
    """Say in the figure's title why fractions are missing: the figure's own line guesses 'no selected ROIs'."""
    notes = result.info.get("notes", {})
    n_null = int(result.rows["fraction"].isna().sum()) if len(result.rows) else 0
    if not notes.get("n_undefined"):
        return
    lines = [line for line in result.fig.get_suptitle().split("\n") if "undefined fraction" not in line]
    said = []
    if result.not_presented:
        said.append(f"{result.not_presented} recording × class pair(s) without that stimulus")
    if n_null:
        said.append(f"{n_null} class row(s) of recordings without selected ROIs")
    lines.append("left out: " + "; ".join(said))
    result.fig.suptitle("\n".join(lines), fontsize=10.5)


def _with_absent_classes(rows: pd.DataFrame, paramset: str, group_by: str) -> pd.DataFrame:
    """The rows plus a NaN fraction for every (recording, class) the recording has no row for.

    A recording whose protocol lacks a stimulus has no such class; its
    fraction there is undefined, not 0, so the figure leaves it out of that
    panel (the figure's own default would count it as 0). An empty group
    value is shown as a missing one.
    """
    df = rows.copy()
    df[group_by] = [
        None
        if (v is None or (isinstance(v, str) and v == ""))
        else (str(v) if not isinstance(v, (int, float, str)) else v)
        for v in df[group_by]
    ]
    if df.empty:
        return df
    recs = df[["fish", "recording", group_by]].drop_duplicates(["fish", "recording"])
    classes = list(dict.fromkeys(df["roi_class"]))
    full = recs.merge(pd.DataFrame({"roi_class": classes}), how="cross")
    merged = full.merge(df.drop(columns=[group_by]), on=["fish", "recording", "roi_class"], how="left")
    return merged


def cross_recording_sections(report_keys: list, group_by: str = DEFAULT_GROUP_BY) -> list:
    """One :class:`CrossRecording` per parameter set of ``report_keys`` (in order of appearance)."""
    paramsets = list(dict.fromkeys(k["paramset"] for k in report_keys))
    return [class_fractions(p, report_keys, group_by) for p in paramsets]


def write_cross_recording_page(out_dir, report_keys: list, group_by: str = DEFAULT_GROUP_BY, restriction=None) -> tuple:
    """Write ``cross_recording.html`` and one PNG per parameter set into ``out_dir``.

    Returns ``(page path, list of CrossRecording)``.
    """
    from tectum.figures import save_png

    from .names import safe_name
    from .pages import cross_recording_page

    out = Path(out_dir)
    sections = cross_recording_sections(report_keys, group_by)
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for section in sections:
        name = f"class_fractions_{safe_name(section.paramset)}.png"
        save_png(section.fig, out / name)
        images.append(name)
    page = out / "cross_recording.html"
    page.write_text(cross_recording_page(sections, images, group_by, restriction), encoding="utf-8")
    return page, sections
