"""The HTML report: pages, paper figures, the cross-recording page and its SQL, names, the clustermap's order."""

from __future__ import annotations

import html
import importlib.util
import math
import re
import sys
import types
from pathlib import Path
from urllib.parse import unquote

import matplotlib
import numpy as np
import pandas as pd
import pytest
from dbutil import synthetic_kwargs

matplotlib.use("Agg")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: figures every recording page has (besides class_<class>.png, positions, tuning_stimuli, shift_null)
BASE_FIGURES = {
    "class_responses.png",
    "tuning.png",
    "r2_vs_q.png",
    "r2_histogram.png",
    "class_counts.png",
    "kernel.png",
    "example_traces.png",
    "clustermap_all.png",
    "clustermap_selected.png",
}
#: a fish name that needs HTML escaping, SQL quoting ('), a literal % (no driver interpolation), a safe
#: directory name and no mathtext ('$_$' is a mathtext error unless mathtext is off; no backslash: DataJoint
#: 2.3.5 on PostgreSQL cannot restrict by a value containing one, so such a recording cannot even be populated)
ODD_FISH = "F2 $_$ <b>&'%/.."
ODD_RECORDING = "rec 1/2"
#: whether this installation has the circular-shift null the shift-null figure recomputes
HAS_SHIFT_NULL = importlib.util.find_spec("pipeline.shift_null") is not None


@pytest.fixture(scope="module")
def recordings():
    from pipeline.synthetic import make_recording

    return [
        make_recording(n_rois=60, n_frames=420, seed=11),
        make_recording(n_rois=50, n_frames=420, seed=12),
        make_recording(n_rois=50, n_frames=420, seed=13),
    ]


def _links(page: Path) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"#]+)"', page.read_text(encoding="utf-8"))]


def _images(page: Path) -> list[str]:
    return [html.unescape(s) for s in re.findall(r'<img src="([^"]+)"', page.read_text(encoding="utf-8"))]


def _sql_blocks(page: Path) -> list[str]:
    return [
        html.unescape(s)
        for s in re.findall(r'<pre class="sql">(.*?)</pre>', page.read_text(encoding="utf-8"), flags=re.S)
    ]


def _check_png(path: Path) -> None:
    import matplotlib.image as mpimg

    assert path.is_file(), path
    assert path.stat().st_size > 1000, path
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100, (path, img.shape)
    assert img[..., :3].std() > 0.01, f"{path} is blank"


def _insert_three(db, recordings):
    """A standard protocol (F1), looming + dimming only with an odd name (F2), a new stimulus 'flash' (F3)."""
    a, b, c = recordings
    db.insert_recording(**synthetic_kwargs(a, fish="F1", recording="R1", genotype="wt"))
    traces = b.traces.copy()
    traces[5] = 500.0  # a constant trace: r2 undefined
    events = b.events[b.events["stimulus"].isin(["looming", "dimming"])].reset_index(drop=True)
    db.insert_recording(
        **synthetic_kwargs(
            b,
            fish=ODD_FISH,
            recording=ODD_RECORDING,
            genotype="mut",
            traces=traces,
            events=events,
            stimulus_groups=None,
        )
    )
    if not (db.reference.StimulusType & {"stimulus": "flash"}):
        db.reference.StimulusType.add("flash", "whole-field flash")
    events = c.events.replace({"stimulus": {"dimming": "flash"}})
    groups = {"prey": ["prey-nasalward", "prey-temporalward"], "looming": ["looming"], "flash": ["flash"]}
    db.insert_recording(
        **synthetic_kwargs(
            c, fish="F3", recording="R1", genotype="mut", events=events, stimulus_groups=groups, positions=None
        )
    )


def _record_queries(monkeypatch, conn) -> list:
    """Every SQL text sent through DataJoint's connection from now on."""
    seen = []
    original = conn.query

    def query(sql, *args, **kwargs):
        seen.append(sql)
        return original(sql, *args, **kwargs)

    monkeypatch.setattr(conn, "query", query)
    return seen


def test_report_end_to_end(clean_db, recordings, tmp_path, monkeypatch, capsys):
    from matplotlib.figure import Figure

    from tectum.report import ReportError, dendrogram_leaf_rois, draw_clustermap, load_recording_data, write_report
    from tectum.report.writer import recording_sections

    db = clean_db
    _insert_three(db, recordings)
    reports = db.populate_all()
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    keys = (db.analysis.Fit & db.analysis.Clustering).keys(order_by="KEY")
    # seed2020 fits only the standard protocol: F1 x (default, seed2020), F2 and F3 x default
    assert {(k["fish"], k["paramset"]) for k in keys} == {
        ("F1", "default"),
        ("F1", "seed2020"),
        (ODD_FISH, "default"),
        ("F3", "default"),
    }

    out = tmp_path / "report"
    executed = _record_queries(monkeypatch, db.analysis.Fit.connection)
    index = write_report(out, progress=False)
    monkeypatch.undo()
    assert index == out / "index.html" and index.is_file()
    text = index.read_text(encoding="utf-8")
    assert "<h2>Failed" not in text and "<h2>Figures that failed" not in text

    # every page is linked from the index, and every link leads to a page
    pages = sorted(out.glob("*/*/*/index.html"))
    assert len(pages) == 4
    linked = [(out / unquote(h)).resolve() for h in _links(index)]
    assert sorted(linked) == sorted([*(p.resolve() for p in pages), (out / "cross_recording.html").resolve()])
    # directory names are safe, the odd names unique and escaped
    for page in pages:
        for part in page.relative_to(out).parts[:-1]:
            assert re.fullmatch(r"[A-Za-z0-9_-]+", part), part
    assert "<b>" not in text and html.escape(ODD_FISH) in text
    for key in keys:
        n_selected = (db.analysis.Fit & key).fetch1("n_selected")
        assert f'<td class="num">{n_selected}</td>' in text

    # every page shows its figures, each a valid non-blank PNG; notes say what was not drawn
    for page in pages:
        body = page.read_text(encoding="utf-8")
        fish_dir, _, paramset = page.relative_to(out).parts[:-1]
        images = set(_images(page))
        assert BASE_FIGURES <= images, page
        classes = re.findall(r"<h3 id=\"class_[^\"]+\">Class ([^<]+)</h3>", body)
        assert {f"class_{c}.png" for c in classes} <= images and classes
        if fish_dir == "F3":
            assert "positions.png" not in images and "No ROI positions were ingested" in body
            assert "flash" in classes
        else:
            assert "positions.png" in images
        assert ("tuning_stimuli.png" in images) == (not fish_dir.startswith("F2-"))  # prey pools two stimuli
        assert ("shift_null.png" in images) == HAS_SHIFT_NULL
        if not HAS_SHIFT_NULL:
            assert "has no circular-shift null" in body
        for name in images:
            _check_png(page.parent / name)
        assert "<dl" in body and "kernel" in body
        assert _links(page)[:2] == ["../../../index.html", "../../../cross_recording.html"]
        assert (page.parent / _links(page)[0]).resolve() == index.resolve()
        n_nan = 1 if (fish_dir.startswith("F2-") and paramset == "default") else 0
        assert f"{n_nan} ROI(s) with undefined r2" in body, page
        # seed2020 has no FDR step: NULL fdr_alpha is shown, not formatted
        assert ("FDR (Benjamini-Hochberg)</th><td>not used" in body) == (paramset == "seed2020")

    # what the paper figures drew matches the database (drawn again in memory, not saved)
    for key in keys:
        data = load_recording_data(key)
        items = {i.name: i for _, group in recording_sections(data) for i in group}
        assert not [i for i in items.values() if i.failed]
        pres = (db.acquisition.Presentation & key).to_pandas()
        labels = dict(zip(*(db.analysis.Classification.Roi & key).to_arrays("roi", "roi_class")))
        resp = items["class_responses.png"].info
        assert set(resp["stimuli"]) == set(pres["stimulus"])
        assert resp["classes"] == [c for c in data.classes if c in set(labels.values())]
        for panel in resp["panels"]:
            assert panel["n_presentations"] == int((pres["stimulus"] == panel["stimulus"]).sum())
            assert panel["n_rois"] == sum(1 for c in labels.values() if c == panel["class"])
            assert panel["spans"][0][0] == 0.0
        tuning = items["tuning.png"].info
        assert tuning["columns"] == db.analysis.Regressors.names(key)
        assert sorted(tuning["rows"].tolist()) == sorted(labels)
        r2q = items["r2_vs_q.png"].info
        fdr_alpha, r2_min = (db.analysis.Fit & key).fetch1("fdr_alpha", "r2_min")
        assert r2q["q_line"] == (None if fdr_alpha is None else pytest.approx(-math.log10(fdr_alpha)))
        assert r2q["r2_line"] == (None if r2_min is None else pytest.approx(r2_min))
        n_undefined = int(np.sum(~np.isfinite(data.r2)))
        assert r2q["counts"]["not selected"] == data.n_rois - len(labels) - n_undefined
        kernel_name, kernel_info = (db.analysis.Regressors & key).fetch1("kernel_name", "kernel_info")
        kernel = items["kernel.png"].info
        assert kernel["legend"].startswith(f"kernel: {kernel_name}") and kernel["regressor_drawn"]
        fitted = isinstance(kernel_info.get("fit"), dict)  # a kernel chosen from the data has its objective grid
        assert kernel["panels"] == (["kernel", "objective"] if fitted else ["kernel"])
        if fitted:
            assert kernel["chosen_tau_s"] == pytest.approx(kernel_info["tau_decay_s"])
        if HAS_SHIFT_NULL:  # the example ROI's null is the fit's: same shifts, and the stored p is shown
            null = items["shift_null.png"].info
            roi = {"roi": null["roi"]}
            n_shifts, p_perm, p_par = (db.analysis.Fit.Roi & key & roi).fetch1(
                "n_shifts", "p_permutation", "p_parametric"
            )
            if data.significance == "shift":
                assert null["n_shifts"] == n_shifts and null["p_value"] == pytest.approx(p_perm)
            else:
                assert (p_perm is None or np.isnan(p_perm)) and null["p_value"] == pytest.approx(p_par)
            assert null["observed_r2"] == pytest.approx(data.r2[null["roi"]])
        if items["positions.png"].fig is not None:
            assert items["positions.png"].info["n_drawn"] == data.n_rois
        # the clustermap marks the onsets of every regressor the recording has, not only prey/looming/dimming
        onsets = items["clustermap_all.png"].info["onsets"]
        assert {name for _, name in onsets} == set(data.regressor_names)
        assert len(onsets) == sum(len(o) for o in data.onset_frames)
        if key["fish"] == "F3":
            assert "flash" in data.regressor_names
        for roi_set in ("all", "selected"):  # rows, stored leaf order and scipy's dendrogram agree
            stored = np.asarray((db.analysis.Clustering.Tree & key & {"roi_set": roi_set}).fetch1("leaf_order")).ravel()
            assert np.array_equal(data.trees[roi_set].leaf_order, stored)
            if len(stored) >= 2:
                assert np.array_equal(dendrogram_leaf_rois(data.trees[roi_set]), stored)
                info = draw_clustermap(Figure(figsize=(13, 8)), data, roi_set)
                assert np.array_equal(info["rows"], stored) and np.array_equal(info["dendrogram"], stored)

    # the cross-recording page: per parameter set the SQL as executed, and the numbers DataJoint fetches
    cross = out / "cross_recording.html"
    body = cross.read_text(encoding="utf-8")
    sqls = _sql_blocks(cross)
    assert len(sqls) == 2 and all(s in executed for s in sqls)
    assert _images(cross) == ["class_fractions_default.png", "class_fractions_seed2020.png"]
    for name in _images(cross):
        _check_png(out / name)
    tables = {
        "count": db.analysis.ClassSummary.Count.full_table_name,
        "fit": db.analysis.Fit.full_table_name,
        "fish": db.acquisition.Fish.full_table_name,
    }
    assert all(t in sqls[0] for t in tables.values()) and "__class_summary__count" in sqls[0]
    conn = db.analysis.Fit.connection
    for sql, paramset in zip(sqls, ("default", "seed2020")):
        cursor = conn.query(sql, args=None)
        shown = pd.DataFrame(list(cursor.fetchall()), columns=[d[0] for d in cursor.description])
        assert list(shown.columns) == [
            "fish",
            "recording",
            "genotype",
            "roi_class",
            "n_in_class",
            "n_selected",
            "fraction",
        ]
        expected = (
            (
                (
                    db.analysis.ClassSummary.Count
                    * db.analysis.Fit.proj("n_selected")
                    * db.acquisition.Fish.proj("genotype")
                )
                & {"paramset": paramset}
            )
            .to_pandas()
            .reset_index()
        )
        merged = shown.merge(expected, on=["fish", "recording", "roi_class"], suffixes=("", "_dj"))
        assert len(merged) == len(shown) == len(expected)
        assert (merged["n_in_class"].astype(int) == merged["n_in_class_dj"].astype(int)).all()
        assert (merged["genotype"] == merged["genotype_dj"]).all()
        assert np.allclose(
            merged["fraction"].astype(float), merged["fraction_of_selected"].astype(float), equal_nan=True
        )
    # the page's table of rows shows the same numbers
    first = re.search(r"<details><summary>The (\d+) rows this query returned</summary>(.*?)</details>", body, re.S)
    assert int(first.group(1)) == len(db.analysis.ClassSummary.Count & {"paramset": "default"})
    cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", first.group(2))]
    page_rows = [cells[i : i + 7] for i in range(0, len(cells), 7)]
    f1 = {r[3]: r for r in page_rows if r[0] == "F1"}
    for cls, n_in_class, frac in zip(
        *(db.analysis.ClassSummary.Count & {"fish": "F1", "paramset": "default"}).to_arrays(
            "roi_class", "n_in_class", "fraction_of_selected"
        )
    ):
        assert int(f1[cls][4]) == n_in_class and float(f1[cls][6]) == pytest.approx(round(frac, 4))
    # F2 (looming + dimming only) is left out of the prey panel, not counted as 0
    assert "recording × class pair(s) where the recording has no such regressor" in body

    # grouping by another attribute, for recordings named by a restriction (the odd fish: a quoted literal with a %)
    from tectum.report import report_keys
    from tectum.report.cross import write_cross_recording_page

    odd_keys, _ = report_keys({"fish": ODD_FISH})
    executed = _record_queries(monkeypatch, db.analysis.Fit.connection)
    page, sections = write_cross_recording_page(tmp_path / "odd", odd_keys, "region", {"fish": ODD_FISH})
    monkeypatch.undo()
    sql = _sql_blocks(page)
    assert len(sql) == 1 and sql[0] == sections[0].sql and sql[0] in executed
    assert db.acquisition.Recording.full_table_name in sql[0] and conn.adapter.quote_string(ODD_FISH) in sql[0]
    assert set(sections[0].rows["fish"]) == {ODD_FISH} and set(sections[0].rows["region"]) == {"right_tectum"}
    assert sections[0].info["groups"] == ["right_tectum"]

    # the command line: a restriction and a parameter set limit the report, --group-by groups the page
    # (docs/report.md's examples run on the demo's schemas in tests/test_docs.py)
    from tectum.cli import main

    assert (
        main(
            [
                "-q",
                "report",
                "fish=F1",
                "--paramset",
                "seed2020",
                "--group-by",
                "experiment",
                "--out",
                str(tmp_path / "cli"),
            ]
        )
        == 0
    )
    cli_index = tmp_path / "cli" / "index.html"
    assert [unquote(h) for h in _links(cli_index)] == ["cross_recording.html", "F1/R1/seed2020/index.html"]
    sql = _sql_blocks(cli_index.parent / "cross_recording.html")
    assert len(sql) == 1 and f"r.{conn.adapter.quote_identifier('experiment')}" in sql[0]
    assert "restriction <code>fish=F1</code>" in cli_index.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["-q", "report", "--group-by", "version_x", "--out", str(tmp_path / "bad")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'version_x'" in err[0] and "experiment" in err[0]

    # restrictions as the report reads them; bad options are refused before writing
    mutants = report_keys("genotype = 'mut' AND paramset = 'default'")[0]
    assert sorted(k["fish"] for k in mutants) == sorted(["F3", ODD_FISH])
    with pytest.raises(ReportError, match="unknown parameter set"):
        write_report(tmp_path / "bad", paramsets=["no_such_set"], progress=False)
    with pytest.raises(ReportError, match=r"cannot group .* by 'stimulus_groups'.*genotype"):
        write_report(tmp_path / "bad", group_by="stimulus_groups", progress=False)
    assert not (tmp_path / "bad").exists()


def _nothing_selected_fit(stages) -> dict:
    """The default fit parameters with an r2 floor no fit reaches."""
    return dict(stages["fit"][1], r2_min=0.999)


def test_report_without_selected_rois(clean_db, recordings, tmp_path):
    """A parameter set no ROI passes gives 'no ROIs selected' figures, not errors; a capped tree says so."""
    db = clean_db
    ref = db.reference
    stages = ref.ParamSet.stage_params("default")
    cluster_method, cluster_params = stages["clustering"]
    ref.ParamSet.create(
        "none_pass",
        "nothing is selected",
        dff=stages["dff"],
        regressors=stages["regressors"],
        fit=(stages["fit"][0], _nothing_selected_fit(stages)),
        clustering=(cluster_method, dict(cluster_params, max_rois=20)),
    )
    try:
        key = db.insert_recording(**synthetic_kwargs(recordings[1], fish="F3", recording="R1"))
        assert db.analysis.AnalysisTask.assign("none_pass", key)[0]
        reports = db.populate_all({"paramset": "none_pass"})
        assert all(not r.errors for r in reports), [r.errors for r in reports]
        assert (db.analysis.Fit & key & {"paramset": "none_pass"}).fetch1("n_selected") == 0

        from tectum.report import load_recording_data, write_report
        from tectum.report.writer import recording_sections

        index = write_report(tmp_path, paramsets=["none_pass"], progress=False)
        pages = list(tmp_path.glob("*/*/*/index.html"))
        assert len(pages) == 1 and len(_links(index)) == 2
        for name in _images(pages[0]):
            _check_png(pages[0].parent / name)
        body = pages[0].read_text(encoding="utf-8")
        assert "0 of 50 ROIs selected" in body
        assert "No ROI was selected" in body and "This figure failed" not in body
        assert "Capped: only the 20 of 50 ROIs of highest r2 were clustered" in body
        items = {
            i.name: i
            for _, group in recording_sections(load_recording_data(dict(key, paramset="none_pass")))
            for i in group
        }
        assert items["class_responses.png"].info["classes"] == []
        assert len(items["tuning.png"].info["rows"]) == 0
        assert items["r2_vs_q.png"].info["counts"] == {"not selected": 50}
        assert items["example_traces.png"].info == {"rois": []}
        assert items["clustermap_selected.png"].info["rows"] is None
        # the cross-recording page: no selected ROIs means no fractions (NULL), stated, not an error
        cross = (tmp_path / "cross_recording.html").read_text(encoding="utf-8")
        assert "1 recording without selected ROIs (no fractions): F3/R1" in cross
        _check_png(tmp_path / "class_fractions_none_pass.png")
    finally:
        (ref.ParamSet & {"paramset": "none_pass"}).delete(prompt=False)


# ---------------------------------------------------------------- without the database


def _fake_data(n_rois=40, n_selected=10, n_frames=200, seed=0):
    """A RecordingData built in memory, clustered with the pipeline's own code."""
    from pipeline.clustering import cluster_rois
    from tectum.report import RecordingData, TreeData

    rng = np.random.default_rng(seed)
    names = ["prey", "looming", "dimming"]
    onsets = [np.array([20, 120]), np.array([60, 160]), np.array([90])]
    conv = np.zeros((3, n_frames))
    for i, frames in enumerate(onsets):
        for f in frames:
            conv[i, f:] += np.exp(-np.arange(n_frames - f) / 8.0)
    cls = rng.integers(0, 3, n_rois)
    dff = 0.5 * conv[cls] + 0.2 * rng.normal(size=(n_rois, n_frames))
    r2 = rng.uniform(0, 0.04, n_rois)
    best = rng.permutation(n_rois)[:n_selected]
    r2[best] = rng.uniform(0.1, 0.9, n_selected)
    selected = np.zeros(n_rois, bool)
    selected[best] = True
    roi_class = np.where(selected, np.array(names, dtype=object)[cls], "")
    data = RecordingData(
        key={"fish": "fake", "recording": "r", "paramset": "p"},
        genotype="",
        region="tectum",
        sensor="GCaMP6s",
        frame_period_s=0.5,
        n_frames=n_frames,
        paramset_description="",
        stage_params={"fit": ("ols", {})},
        kernel_name="k",
        n_rois=n_rois,
        n_selected=n_selected,
        r2_min=0.05,
        fdr_alpha=None,
        dff=dff,
        r2=r2,
        selected=selected,
        roi_class=roi_class,
        intercept=np.zeros(n_rois),
        coef=np.ones((n_rois, 3)),
        regressor_names=names,
        convolved=conv,
        onset_frames=onsets,
        counts=[(c, int(np.sum(roi_class == c)), None, 0.0) for c in names],
    )
    for roi_set, rows in (("all", np.arange(n_rois)), ("selected", np.flatnonzero(selected))):
        res = cluster_rois(dff[rows], n_clusters=4)
        clustered = rows[res.rows]
        data.trees[roi_set] = TreeData(
            roi_set,
            len(rows),
            len(clustered),
            int(res.labels.max(initial=0)),
            False,
            res.linkage,
            clustered[res.leaf_order],
            clustered,
            res.labels[res.leaf_order],
        )
    return data


def _with_paper_inputs(data, *, q_value=True):
    """``data`` plus what the paper figures read: presentations, amplitudes, positions, kernel, design, p and q."""
    n = data.n_rois
    rng = np.random.default_rng(1)
    onsets = [(name, int(f)) for name, frames in zip(data.regressor_names, data.onset_frames) for f in frames]
    data.presentations = pd.DataFrame(
        [
            dict(presentation=i, stimulus=name, onset_s=f * data.frame_period_s, duration_s=3.0, regressor=name)
            for i, (name, f) in enumerate(onsets)
        ]
    )
    data.regressor_stimuli = {name: [name] for name in data.regressor_names}
    data.amplitude = rng.normal(size=(n, len(data.regressor_names)))
    data.amplitude_method, data.window_info = "baseline", {"response_window_s": [0, 5], "baseline_window_s": [-3, 0]}
    data.positions = np.column_stack([rng.uniform(0, 100, n), rng.uniform(0, 60, n), np.full(n, np.nan)])
    data.kernel = np.exp(-np.arange(20) / 4.0)
    data.kernel_info = {"tau_decay_s": 2.0, "tau_rise_s": None, "delay_s": 0.0, "train": "boxcar"}
    data.design = data.convolved.T.copy()
    data.q_value = np.clip(1 - data.r2, 0, 1) if q_value else None
    data.p_parametric = np.clip(1 - data.r2, 0, 1) / 10
    data.p_permutation = np.full(n, np.nan)
    data.n_shifts = np.zeros(n, dtype=np.int64)
    data.significance = "parametric"
    return data


def test_clustermap_rows_follow_the_dendrogram():
    from matplotlib.figure import Figure

    from tectum.report import draw_clustermap

    data = _fake_data()
    for roi_set in ("all", "selected"):
        fig = Figure(figsize=(13, 8))
        info = draw_clustermap(fig, data, roi_set)
        assert np.array_equal(info["rows"], data.trees[roi_set].leaf_order)
        assert np.array_equal(info["dendrogram"], info["rows"])
        # the dendrogram's first leaf is drawn at the top, next to heatmap row 0
        ax_dend = fig.axes[0]
        bottom, top = ax_dend.get_ylim()
        assert top < bottom  # y inverted: leaf 0 (y = 5) at the top


@pytest.mark.parametrize("n_selected", [0, 1, 2])
def test_few_selected_rois(tmp_path, n_selected):
    from tectum.report import write_recording_report

    data = _with_paper_inputs(_fake_data(n_selected=n_selected))
    items = write_recording_report(data, tmp_path)
    names = {i.name for i in items if i.saved}
    assert BASE_FIGURES | {"positions.png"} <= names
    assert not [i for i in items if i.failed]
    for name in names:
        _check_png(tmp_path / name)
    assert (tmp_path / "index.html").is_file()


def test_missing_inputs_are_notes_not_errors(tmp_path):
    """No presentations, amplitudes, positions, kernel or q: each figure says so; the page is still written."""
    from tectum.report import write_recording_report

    data = _fake_data()  # none of the paper inputs
    data.r2_min = None  # NULL in Fit: shown as 'not used', not formatted
    items = {i.name: i for i in write_recording_report(data, tmp_path)}
    assert not [i for i in items.values() if i.failed]
    for name, phrase in [
        ("class_responses.png", "No stimulus presentations"),
        ("tuning.png", "not populated"),
        ("r2_vs_q.png", "No q-values"),
        ("positions.png", "No ROI positions"),
        ("kernel.png", "has no kernel"),
    ]:
        assert not items[name].saved and phrase in items[name].note, name
    body = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "r2 floor (r2_min)</th><td>not used" in body
    assert items["r2_histogram.png"].saved and items["r2_histogram.png"].info["threshold"] is None


def test_null_thresholds_in_the_selection_figures():
    from tectum.report.paper import r2_vs_q_figure

    data = _with_paper_inputs(_fake_data())
    data.r2_min, data.fdr_alpha = None, None
    item = r2_vs_q_figure(data)
    assert item.info["q_line"] is None and item.info["r2_line"] is None
    assert "no FDR requirement" in item.caption and "no r² floor" in item.caption
    data.fdr_alpha, data.significance = 0.05, "shift"
    item = r2_vs_q_figure(data)
    assert item.info["q_line"] == pytest.approx(-math.log10(0.05))
    assert "circular-shift permutation p" in item.fig.axes[0].get_xlabel()


def test_kernel_objective_from_a_fitted_kernel():
    """A kernel chosen over a τ x delay grid: the objective is drawn over τ at the chosen delay."""
    from tectum.report.paper import kernel_figure, kernel_plot_info

    data = _with_paper_inputs(_fake_data(n_selected=12))
    taus, delays = [0.5, 1.0, 2.0, 4.0], [0.0, 0.5]
    grid = {
        "tau_decay_s": [t for d in delays for t in taus],
        "delay_s": [d for d in delays for _ in taus],
        "tau_rise_s": [0.0] * 8,
        "objective": [1, 2, 5, 3, 10, 20, 50, 30],
    }
    data.kernel_info = {
        "tau_decay_s": 2.0,
        "tau_rise_s": None,
        "delay_s": 0.5,
        "train": "boxcar",
        "response_length_s": 12.0,
        "fit": {
            "tau_decay_s": 2.0,
            "tau_rise_s": None,
            "delay_s": 0.5,
            "objective_name": "z",
            "objective": 50.0,
            "n_rois": 40,
            "grid": grid,
        },
    }
    info, sentence = kernel_plot_info(data)
    assert info["tau_grid_s"] == taus and info["objective"] == [10, 20, 50, 30]
    assert info["objective_label"] == "objective (z) at delay 0.5 s" and "grid points" in sentence
    item = kernel_figure(data)
    assert item.info["panels"] == ["kernel", "objective"] and item.info["chosen_tau_s"] == 2.0
    assert item.info["response_peak"] is not None  # drawn against the largest class's mean response
    # without a grid (the sensor's kernel): one panel, and the caption says why
    data.kernel_info = {"tau_decay_s": 0.8, "delay_s": 0.5}
    item = kernel_figure(data)
    assert item.info["panels"] == ["kernel"] and "not chosen from the data" in item.caption


def _reference_null_module():
    """A stand-in for the science branch's pipeline.shift_null: r² of the circularly shifted design, by OLS."""
    from pipeline.regression import fit_ols

    def roi_null_distribution(design, y, shifts=None, *, contrasts=None):
        y = np.asarray(y, dtype=float)
        shifts = np.arange(y.size) if shifts is None else np.asarray(shifts) % y.size
        r2 = np.array([fit_ols(np.roll(design, int(s), axis=0), y[None, :]).r2[0] for s in shifts])
        return dict(shifts=shifts, r2=r2, r2_observed=float(fit_ols(design, y[None, :]).r2[0]))

    module = types.ModuleType("pipeline.shift_null")
    module.roi_null_distribution = roi_null_distribution
    return module


def test_shift_null_of_an_example_roi(monkeypatch):
    from tectum.report.paper import shift_null_figure

    data = _with_paper_inputs(_fake_data(n_selected=12))
    monkeypatch.setitem(sys.modules, "pipeline.shift_null", None)  # an installation without it: a note
    item = shift_null_figure(data)
    assert item.fig is None and "has no circular-shift null" in item.note
    monkeypatch.undo()
    if not HAS_SHIFT_NULL:
        monkeypatch.setitem(sys.modules, "pipeline.shift_null", _reference_null_module())
    data.fit_params = {"min_shift_s": 10.0, "max_shifts": 50}
    best = int(np.flatnonzero(data.selected)[np.argmax(data.r2[data.selected])])
    item = shift_null_figure(data)
    assert item.saved is False and item.fig is not None and item.info["roi"] == best
    assert item.info["n_shifts"] == item.info["n_null"] == 50 and item.info["min_shift_frames"] == 20
    assert item.info["p_value"] == pytest.approx(data.p_parametric[best])  # p_permutation NULL: the F-test p
    assert "p_permutation is NULL" in item.caption
    data.p_permutation[best], data.n_shifts[best] = 0.004, 50
    item = shift_null_figure(data)
    assert item.info["p_value"] == 0.004 and "Fit.Roi.p_permutation, from 50 shifts" in item.caption


def test_amplitude_labels_follow_the_stored_windows():
    from tectum.report.paper import amplitude_label

    data = _fake_data()
    data.amplitude_method, data.window_info = "baseline", {"response_window_s": [0, 5], "baseline_window_s": [-3, 0]}
    assert amplitude_label(data)[0] == "mean ΔF/F 0 to 5 s after onset − mean \u22123 to 0 s"
    data.amplitude_method, data.window_info = "seed2020", {"response_frames": [0, 5]}
    short, sentence = amplitude_label(data)
    assert "notebook" in short and "5 frames" in sentence and "not baseline-subtracted" in sentence


def test_cluster_colours_are_not_class_colours():
    from test_paper_figures import _delta_e

    from tectum.report.style import (
        CLUSTER_COLORS,
        NEUTRAL_CLASS_COLORS,
        NOT_SELECTED_COLOR,
        STIMULUS_COLORS,
        STIMULUS_PALETTE,
    )

    classes = [*STIMULUS_COLORS.values(), *NEUTRAL_CLASS_COLORS.values(), NOT_SELECTED_COLOR, *STIMULUS_PALETTE]
    for c in CLUSTER_COLORS:
        assert min(_delta_e(c, k) for k in classes) >= 27, c


def test_safe_names_are_unique_and_safe():
    from tectum.report import _Namer, safe_name

    names = ["F1", "F 1", "F/1", "F\\1", "f1", "", "..", "CON", "ä", "a" * 200, "<script>", "F-1"]
    namer = _Namer()
    out = [namer.name((), n) for n in names]
    assert out[0] == "F1"
    assert len({o.casefold() for o in out}) == len(names)
    for o in out:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", o) and len(o) <= 64, o
    assert safe_name("F 1") == safe_name("F 1")  # stable across runs
