"""The report's HTML: the page of one recording, the index page and the cross-recording page."""

from __future__ import annotations

import datetime as _dt
import html
import json
from urllib.parse import quote

from .data import RecordingData

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:.5em 0 2em}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{color:#444;font-size:.92em;max-width:1100px}
h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.15em}
h3{margin:1.2em 0 .3em}
dl.params dt{font-weight:bold;margin-top:.4em}
dl.params dd{margin-left:1.5em}
code{background:#f5f5f5;padding:0 .2em}
.muted{color:#777}
p.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em;max-width:1100px}
p.failed{background:#fdecea;border-left:4px solid #d32f2f;padding:.4em .8em}
nav.toc a{margin-right:1em}
.side{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
.side figure{flex:3 1 640px;margin:0}
.side .sql{flex:2 1 420px;min-width:0}
pre.sql{background:#f7f7f7;border:1px solid #ddd;padding:.8em;white-space:pre-wrap;overflow-wrap:anywhere;
font-size:.85em}
details{margin:.5em 0 1.5em}
"""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _href(*parts: str) -> str:
    return _e("/".join(quote(p) for p in parts))


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "—" if value != value else f"{value:g}"
    return str(value)


def _params_html(stage_params: dict) -> str:
    items = []
    for stage, (method, params) in stage_params.items():
        inner = "".join(
            f"<dt>{_e(name)}</dt><dd><code>{_e(json.dumps(value) if not isinstance(value, str) else value)}</code></dd>"
            for name, value in sorted((params or {}).items())
        )
        items.append(f'<dt>{_e(stage)}: <code>{_e(method)}</code></dt><dd><dl class="params">{inner}</dl></dd>')
    return f'<dl class="params">{"".join(items)}</dl>'


def _anchor(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def _figure_html(item) -> str:
    """One :class:`~tectum.report.paper.ReportFigure`: heading, note, image and caption."""
    from pathlib import PurePosixPath

    stem = PurePosixPath(item.name).stem
    parts = [f'<h3 id="{_e(stem)}">{_e(item.heading)}</h3>']
    if item.note:
        parts.append(f'<p class="{"failed" if item.failed else "note"}">{_e(item.note)}</p>')
    if item.saved:
        parts.append(
            f'<figure><img src="{_href(item.name)}" alt="{_e(item.heading)}">'
            f"<figcaption>{_e(item.caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def _significance(data: RecordingData) -> str:
    if data.significance == "shift":
        n = int(data.n_shifts.max()) if data.n_shifts is not None and data.n_shifts.size else 0
        return f"circular-shift permutation null ({n} shifts)" if n else "circular-shift permutation null"
    if data.significance == "parametric":
        return "F-test (assumes white noise)"
    return data.significance or "—"


def _recording_page(data: RecordingData, sections: list, depth: int, cross_link: str | None = None) -> str:
    """The page of one recording: facts, class counts, figures by section, parameters.

    ``sections`` is a list of ``(section title, [ReportFigure, ...])``.
    """
    k = data.key
    up = "/".join([".."] * depth) + "/index.html"
    meta = [
        ("fish", k["fish"]),
        ("genotype", data.genotype or "—"),
        ("recording", k["recording"]),
        ("region", data.region),
        ("sensor", data.sensor),
        ("frames", f"{data.n_frames} × {data.frame_period_s:g} s"),
        (
            "stimuli",
            ", ".join(f"{r} ({', '.join(s)})" if s and s != [r] else r for r, s in data.regressor_stimuli.items())
            or ", ".join(data.regressor_names),
        ),
        ("parameter set", f"{k['paramset']}: {data.paramset_description}"),
        ("kernel", data.kernel_name),
        ("ROIs", data.n_rois),
        ("excluded from dF/F", data.n_excluded),
        ("selected", data.n_selected),
        ("significance", _significance(data)),
        ("r2 floor (r2_min)", "not used" if data.r2_min is None else f"r2 > {data.r2_min:g}"),
        ("FDR (Benjamini-Hochberg)", "not used" if data.fdr_alpha is None else f"q ≤ {data.fdr_alpha:g}"),
    ]
    meta_rows = "".join(f"<tr><th>{_e(a)}</th><td>{_e(b)}</td></tr>" for a, b in meta)
    count_rows = "".join(
        f'<tr><td>{_e(c)}</td><td class="num">{n}</td>'
        f'<td class="num">{_e("—" if fs is None else f"{100 * fs:.1f}%")}</td>'
        f'<td class="num">{100 * fa:.1f}%</td></tr>'
        for c, n, fs, fa in data.counts
    )
    toc = " ".join(f'<a href="#{_e(_anchor(title))}">{_e(title)}</a>' for title, _ in sections)
    blocks = []
    for title, items in sections:
        blocks.append(f'<h2 id="{_e(_anchor(title))}">{_e(title)}</h2>')
        blocks.extend(_figure_html(item) for item in items)
    links = f'<a href="{_e(up)}">← all recordings</a>'
    if cross_link:
        links += f' · <a href="{_e(cross_link)}">across recordings</a>'
    body = (
        f"<p>{links}</p>\n"
        f"<h1>{_e(data.title)}</h1>\n"
        f"<table>{meta_rows}</table>\n"
        '<h2 id="class-counts">Class counts</h2>\n'
        "<table><tr><th>class</th><th>ROIs</th><th>of selected</th><th>of all</th></tr>"
        f"{count_rows}</table>\n"
        f'<nav class="toc">Figures: {toc} <a href="#parameters">Parameters</a></nav>\n'
        + "\n".join(blocks)
        + f'\n<h2 id="parameters">Parameters</h2>\n{_params_html(data.stage_params)}\n'
    )
    return _page(f"{data.title} — tectum report", body)


def _index_page(
    rows: list,
    class_names: list,
    failures: list,
    pending: int,
    restriction,
    paramsets,
    cross_link: str | None = None,
    figure_failures: list = (),
) -> str:
    head = "".join(
        f"<th>{_e(c)}</th>"
        for c in ["fish", "genotype", "recording", "parameter set", "ROIs", "selected", *class_names, "page"]
    )
    body_rows = []
    for r in rows:
        counts = "".join(f'<td class="num">{_e(r["counts"].get(c, "—"))}</td>' for c in class_names)
        body_rows.append(
            f"<tr><td>{_e(r['fish'])}</td><td>{_e(r['genotype'] or '—')}</td><td>{_e(r['recording'])}</td>"
            f'<td>{_e(r["paramset"])}</td><td class="num">{r["n_rois"]}</td>'
            f'<td class="num">{r["n_selected"]}</td>{counts}'
            f'<td><a href="{_href(*r["path"], "index.html")}">figures</a></td></tr>'
        )
    scope = []
    if restriction not in (None, {}, ""):
        scope.append(f"restriction <code>{_e(restriction)}</code>")
    if paramsets is not None:
        scope.append("parameter sets " + ", ".join(f"<code>{_e(p)}</code>" for p in paramsets))
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = [
        "<h1>Functional classification of tectal neurons</h1>",
        "<p>Regression of every ROI's dF/F on the stimulus regressors (each stimulus train convolved with the "
        "calcium kernel; after Miri et al. 2011). ROIs whose fit passes the parameter set's selection are "
        "selected and classified: a stimulus (regressor), or inhibited, mixed or unclassified. Counts per class "
        "are of selected ROIs.</p>",
        f'<p class="muted">Written {_e(when)}'
        + (f" for {'; '.join(scope)}" if scope else "")
        + f". {len(rows)} recording/parameter-set pages.</p>",
    ]
    if cross_link:
        body.append(
            f'<p><a href="{_e(cross_link)}"><strong>Across recordings</strong></a>: class fractions per '
            "fish, grouped, with the SQL behind them.</p>"
        )
    if rows:
        body.append(f"<table><tr>{head}</tr>{''.join(body_rows)}</table>")
    else:
        body.append("<p><strong>No fitted, classified and clustered recordings match.</strong></p>")
    if pending:
        body.append(
            f'<p class="muted">{pending} fitted recording/parameter-set pair(s) not yet classified and '
            "clustered are not shown (run <code>tectum populate</code>).</p>"
        )
    if failures:
        items = "".join(f"<li>{_e(f)}</li>" for f in failures)
        body.append(f"<h2>Failed</h2><ul>{items}</ul>")
    if figure_failures:
        items = "".join(f"<li>{_e(f)}</li>" for f in figure_failures)
        body.append(f"<h2>Figures that failed</h2><ul>{items}</ul>")
    return _page("tectum report", "\n".join(body))


def _table_html(df, columns=None) -> str:
    columns = list(columns or df.columns)
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    rows = []
    for values in df[columns].itertuples(index=False):
        cells = []
        for v in values:
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            text = _fmt(round(v, 4) if isinstance(v, float) and v == v else v)
            cells.append(f'<td class="num">{_e(text)}</td>' if num else f"<td>{_e(text)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def cross_recording_page(sections: list, images: list, group_by: str, restriction=None) -> str:
    """The cross-recording page: per parameter set, the figure with the SQL that produced its data beside it."""
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = [
        '<p><a href="index.html">← all recordings</a></p>',
        "<h1>Class fractions across recordings</h1>",
        f"<p>For every parameter set: the fraction of the selected ROIs in each class, one dot per fish (the mean "
        f"over its recordings), grouped by <code>{_e(group_by)}</code>; the bar is the mean over the group's fish. "
        "Beside it, the SQL that produced the data, exactly as it was executed on the database (run it in any "
        "SQL client to get the same rows). A recording whose protocol lacks a stimulus has no value in that "
        "class's panel; a recording without selected ROIs has no fractions at all.</p>",
        f'<p class="muted">Written {_e(when)}'
        + (f" for restriction <code>{_e(restriction)}</code>" if restriction not in (None, {}, "") else "")
        + "; group with <code>tectum report --group-by ATTRIBUTE</code>.</p>",
    ]
    if not sections:
        body.append("<p><strong>No recordings in this report.</strong></p>")
    for section, image in zip(sections, images):
        anchor = _anchor(f"paramset {section.paramset}")
        body.append(f'<h2 id="{_e(anchor)}">Parameter set {_e(section.paramset)}</h2>')
        notes = []
        n_recs = section.rows[["fish", "recording"]].drop_duplicates().shape[0] if len(section.rows) else 0
        notes.append(f"{_count(n_recs, 'recording')} with class counts")
        if section.missing:
            notes.append(
                f"{len(section.missing)} recording(s) of the report without class counts (not shown): "
                + ", ".join(f"{f}/{r}" for f, r in section.missing)
            )
        if len(section.rows):
            undefined = section.rows.groupby(["fish", "recording"], sort=True)["fraction"].apply(
                lambda f: bool(f.isna().all())
            )
            none_selected = [f"{f}/{r}" for (f, r), yes in undefined.items() if yes]
            if none_selected:
                notes.append(
                    f"{len(none_selected)} recording{'s' if len(none_selected) > 1 else ''} without "
                    f"selected ROIs (no fractions): {', '.join(none_selected)}"
                )
        if section.not_presented:
            notes.append(
                f"{section.not_presented} recording × class pair(s) where the recording has no such "
                "regressor (left out of that panel)"
            )
        body.append(f'<p class="muted">{_e("; ".join(notes))}.</p>')
        caption = (
            "Dots: fish (mean of the recordings' fraction_of_selected); bars: mean over fish; under each "
            f"{group_by}: its fish and recordings."
        )
        body.append(
            '<div class="side">'
            f'<figure><img src="{_href(image)}" alt="class fractions, parameter set {_e(section.paramset)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
            '<div class="sql"><h3>SQL</h3>'
            f'<pre class="sql">{_e(section.sql)}</pre></div></div>'
        )
        if len(section.rows):
            body.append(
                f"<details><summary>The {len(section.rows)} rows this query returned</summary>"
                f"{_table_html(section.rows)}</details>"
            )
            points = section.info.get("points")
            if points is not None and len(points):
                shown = points.rename(columns={"group": group_by, "n_recordings": "recordings"})
                body.append(
                    f"<details><summary>The {len(points)} points drawn (fish × class)</summary>"
                    f"{_table_html(shown)}</details>"
                )
    return _page("Across recordings — tectum report", "\n".join(body))
