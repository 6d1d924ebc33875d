"""The report's HTML: the page of one recording and the index page."""

from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path
from urllib.parse import quote

from .data import RecordingData

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0 2em}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{color:#555;font-size:.9em}
dl.params dt{font-weight:bold;margin-top:.4em}
dl.params dd{margin-left:1.5em}
code{background:#f5f5f5;padding:0 .2em}
.muted{color:#777}
"""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _href(*parts: str) -> str:
    return _e("/".join(quote(p) for p in parts))


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _params_html(stage_params: dict) -> str:
    items = []
    for stage, (method, params) in stage_params.items():
        inner = "".join(
            f"<dt>{_e(name)}</dt><dd><code>{_e(json.dumps(value) if not isinstance(value, str) else value)}</code></dd>"
            for name, value in sorted((params or {}).items())
        )
        items.append(f"<dt>{_e(stage)}: <code>{_e(method)}</code></dt><dd><dl class=\"params\">{inner}</dl></dd>")
    return f'<dl class="params">{"".join(items)}</dl>'


def _recording_page(data: RecordingData, figures: list, depth: int) -> str:
    k = data.key
    up = "/".join([".."] * depth) + "/index.html"
    meta = [
        ("fish", k["fish"]), ("genotype", data.genotype or "—"), ("recording", k["recording"]),
        ("region", data.region), ("sensor", data.sensor),
        ("frames", f"{data.n_frames} × {data.frame_period_s:g} s"),
        ("parameter set", f"{k['paramset']}: {data.paramset_description}"),
        ("kernel", data.kernel_name), ("ROIs", data.n_rois), ("selected", data.n_selected),
        ("r2 threshold", f"{data.r2_threshold:g}"),
        ("FDR (Benjamini-Hochberg)", "not used" if data.fdr_alpha is None else f"q ≤ {data.fdr_alpha:g}"),
    ]
    meta_rows = "".join(f"<tr><th>{_e(a)}</th><td>{_e(b)}</td></tr>" for a, b in meta)
    count_rows = "".join(
        f'<tr><td>{_e(c)}</td><td class="num">{n}</td>'
        f'<td class="num">{_e("—" if fs is None else f"{100 * fs:.1f}%")}</td>'
        f'<td class="num">{100 * fa:.1f}%</td></tr>'
        for c, n, fs, fa in data.counts
    )
    figs = "".join(
        f'<figure id="{_e(Path(name).stem)}"><img src="{_href(name)}" alt="{_e(Path(name).stem.replace("_", " "))}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>\n"
        for name, caption in figures
    )
    body = (
        f'<p><a href="{_e(up)}">← all recordings</a></p>\n'
        f"<h1>{_e(data.title)}</h1>\n"
        f"<table>{meta_rows}</table>\n"
        "<h2>Class counts</h2>\n"
        "<table><tr><th>class</th><th>ROIs</th><th>of selected</th><th>of all</th></tr>"
        f"{count_rows}</table>\n"
        f"<h2>Figures</h2>\n{figs}"
        f"<h2>Parameters</h2>\n{_params_html(data.stage_params)}\n"
    )
    return _page(f"{data.title} — tectum report", body)


def _index_page(rows: list, class_names: list, failures: list, pending: int, restriction, paramsets) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in
                   ["fish", "genotype", "recording", "parameter set", "ROIs", "selected", *class_names, "page"])
    body_rows = []
    for r in rows:
        counts = "".join(f'<td class="num">{_e(r["counts"].get(c, "—"))}</td>' for c in class_names)
        body_rows.append(
            f"<tr><td>{_e(r['fish'])}</td><td>{_e(r['genotype'] or '—')}</td><td>{_e(r['recording'])}</td>"
            f"<td>{_e(r['paramset'])}</td><td class=\"num\">{r['n_rois']}</td>"
            f"<td class=\"num\">{r['n_selected']}</td>{counts}"
            f"<td><a href=\"{_href(*r['path'], 'index.html')}\">figures</a></td></tr>"
        )
    scope = []
    if restriction not in (None, {}, ""):
        scope.append(f"restriction <code>{_e(restriction)}</code>")
    if paramsets is not None:
        scope.append("parameter sets " + ", ".join(f"<code>{_e(p)}</code>" for p in paramsets))
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = [
        "<h1>Functional classification of tectal neurons</h1>",
        "<p>Regression of every ROI's dF/F on the stimulus regressors convolved with the calcium kernel "
        "(after Miri et al. 2011); ROIs above the r2 threshold are selected and take the class of their "
        "largest coefficient. Counts per class are of selected ROIs.</p>",
        f'<p class="muted">Written {_e(when)}'
        + (f" for {'; '.join(scope)}" if scope else "") + f". {len(rows)} recording/parameter-set pages.</p>",
    ]
    if rows:
        body.append(f"<table><tr>{head}</tr>{''.join(body_rows)}</table>")
    else:
        body.append("<p><strong>No fitted, classified and clustered recordings match.</strong></p>")
    if pending:
        body.append(f'<p class="muted">{pending} fitted recording/parameter-set pair(s) not yet classified and '
                    "clustered are not shown (run <code>tectum populate</code>).</p>")
    if failures:
        items = "".join(f"<li>{_e(f)}</li>" for f in failures)
        body.append(f"<h2>Failed</h2><ul>{items}</ul>")
    return _page("tectum report", "\n".join(body))
