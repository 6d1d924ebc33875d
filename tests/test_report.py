"""The HTML report: pages, figures, names and the clustermap's row order."""

from __future__ import annotations

import html
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from dbutil import synthetic_kwargs

matplotlib.use("Agg")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = {"r2_histogram.png", "clustermap_all.png", "clustermap_selected.png", "class_prey.png",
           "class_looming.png", "class_dimming.png", "example_traces.png", "class_counts.png"}
#: a fish name that needs HTML escaping, a safe directory name and no mathtext
# ('$_$' is a mathtext error unless mathtext is off; no backslash: DataJoint 2.3.5 on PostgreSQL
# cannot restrict by a value containing one, so such a recording cannot even be populated there)
ODD_FISH = "F2 $_$ <b>&'%/.."
ODD_RECORDING = "rec 1/2"


@pytest.fixture(scope="module")
def recordings():
    from pipeline.synthetic import make_recording

    return [make_recording(n_rois=70, n_frames=420, seed=11), make_recording(n_rois=60, n_frames=420, seed=12)]


def _links(page: Path) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8"))]


def _images(page: Path) -> list[str]:
    return [html.unescape(s) for s in re.findall(r'<img src="([^"]+)"', page.read_text(encoding="utf-8"))]


def _check_png(path: Path) -> None:
    import matplotlib.image as mpimg

    assert path.is_file(), path
    assert path.stat().st_size > 1000, path
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100, (path, img.shape)
    assert img[..., :3].std() > 0.01, f"{path} is blank"


def test_report_end_to_end(clean_db, recordings, tmp_path):
    from urllib.parse import unquote

    from tectum.report import ReportError, dendrogram_leaf_rois, draw_clustermap, load_recording_data, write_report
    from matplotlib.figure import Figure

    db = clean_db
    db.insert_recording(**synthetic_kwargs(recordings[0], fish="F1", recording="R1"))
    traces = recordings[1].traces.copy()
    traces[5] = 500.0  # a constant trace: r2 undefined
    db.insert_recording(**synthetic_kwargs(recordings[1], fish=ODD_FISH, recording=ODD_RECORDING, traces=traces))
    reports = db.populate_all()
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    keys = (db.analysis.Fit & db.analysis.Clustering).keys(order_by="KEY")
    assert len(keys) == 4  # 2 recordings x (default, seed2020)

    out = tmp_path / "report"
    index = write_report(out, progress=False)
    assert index == out / "index.html" and index.is_file()
    text = index.read_text(encoding="utf-8")

    # every page is linked from the index, and every link leads to a page
    pages = sorted(out.glob("*/*/*/index.html"))
    assert len(pages) == 4
    linked = sorted((out / unquote(h)).resolve() for h in _links(index))
    assert linked == sorted(p.resolve() for p in pages)
    # directory names are safe, the odd names unique and escaped
    for page in pages:
        for part in page.relative_to(out).parts[:-1]:
            assert re.fullmatch(r"[A-Za-z0-9_-]+", part), part
    assert len({p.relative_to(out).parts[0] for p in pages}) == 2
    assert "<b>" not in text and html.escape(ODD_FISH) in text
    assert "wild type" in text  # genotype column
    for key in keys:
        n_selected = (db.analysis.Fit & key).fetch1("n_selected")
        assert f'<td class="num">{n_selected}</td>' in text

    # every page shows every figure, each a valid non-blank PNG
    for page in pages:
        images = _images(page)
        assert set(images) == FIGURES, page
        for name in images:
            _check_png(page.parent / name)
        body = page.read_text(encoding="utf-8")
        assert "<dl" in body and "r2_threshold" in body and "kernel" in body
        assert _links(page)[0] == "../../../index.html"
        assert (page.parent / _links(page)[0]).resolve() == index.resolve()
    odd_pages = [p for p in pages if html.escape(ODD_FISH) in p.read_text(encoding="utf-8")]
    assert len(odd_pages) == 2 and all(p.relative_to(out).parts[0].startswith("F2-") for p in odd_pages)
    # the constant ROI has no r2 under the per-ROI baseline of 'default' (seed2020's shared baseline gives it one)
    for page in pages:
        fish_dir, _, paramset = page.relative_to(out).parts[:-1]
        n_nan = 1 if (fish_dir.startswith("F2-") and paramset == "default") else 0
        assert f"{n_nan} ROI(s) with undefined r2" in page.read_text(encoding="utf-8"), page

    # the clustermap's rows, the stored leaf order and scipy's dendrogram of the stored linkage agree
    for key in keys:
        data = load_recording_data(key)
        for roi_set in ("all", "selected"):
            stored = np.asarray((db.analysis.Clustering.Tree & key & {"roi_set": roi_set}).fetch1("leaf_order")).ravel()
            tree = data.trees[roi_set]
            assert np.array_equal(tree.leaf_order, stored)
            if len(stored) < 2:
                continue
            assert np.array_equal(dendrogram_leaf_rois(tree), stored)
            info = draw_clustermap(Figure(figsize=(13, 8)), data, roi_set)
            assert np.array_equal(info["rows"], stored)
            assert np.array_equal(info["dendrogram"], stored)
            # the leaf ranks stored per member follow the same order
            roi, rank = (db.analysis.Clustering.Member & key & {"roi_set": roi_set}).to_arrays(
                "roi", "leaf_rank", order_by="leaf_rank")
            assert np.array_equal(roi, stored) and np.array_equal(rank, np.arange(len(stored)))

    # a restriction and a parameter-set list limit the report
    small = write_report(tmp_path / "small", {"fish": "F1"}, paramsets=["seed2020"], progress=False)
    small_pages = sorted((tmp_path / "small").glob("*/*/*/index.html"))
    assert [p.relative_to(tmp_path / "small").parts[:-1] for p in small_pages] == [("F1", "R1", "seed2020")]
    assert [unquote(h) for h in _links(small)] == ["F1/R1/seed2020/index.html"]
    sql = write_report(tmp_path / "sql", "genotype = 'wild type' AND paramset = 'default'", progress=False)
    assert len(_links(sql)) == 2
    with pytest.raises(ReportError, match="unknown parameter set"):
        write_report(tmp_path / "bad", paramsets=["no_such_set"], progress=False)


def test_report_without_selected_rois(clean_db, recordings, tmp_path):
    """A parameter set no ROI passes gives 'no ROIs selected' figures, not errors; a capped tree says so."""
    db = clean_db
    ref = db.reference
    stages = ref.ParamSet.stage_params("default")
    fit_params = dict(stages["fit"][1], r2_threshold=2.0)  # r2 never exceeds 1
    cluster_method, cluster_params = stages["clustering"]
    ref.ParamSet.create("none_pass", "nothing is selected", dff=stages["dff"], regressors=stages["regressors"],
                        fit=(stages["fit"][0], fit_params), clustering=(cluster_method, dict(cluster_params, max_rois=20)))
    try:
        key = db.insert_recording(**synthetic_kwargs(recordings[1], fish="F3", recording="R1"))
        assert db.analysis.AnalysisTask.assign("none_pass", key)[0]
        reports = db.populate_all({"paramset": "none_pass"})
        assert all(not r.errors for r in reports), [r.errors for r in reports]
        assert (db.analysis.Fit & key & {"paramset": "none_pass"}).fetch1("n_selected") == 0

        from tectum.report import write_report

        index = write_report(tmp_path, paramsets=["none_pass"], progress=False)
        pages = list(tmp_path.glob("*/*/*/index.html"))
        assert len(pages) == 1 and len(_links(index)) == 1
        for name in _images(pages[0]):
            _check_png(pages[0].parent / name)
        body = pages[0].read_text(encoding="utf-8")
        assert "0 of 60 ROIs selected" in body
        assert "Capped: only the 20 of 60 ROIs of highest r2 were clustered" in body
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
        key={"fish": "fake", "recording": "r", "paramset": "p"}, genotype="", region="tectum", sensor="GCaMP6s",
        frame_period_s=0.5, n_frames=n_frames, paramset_description="", stage_params={"fit": ("ols", {})},
        kernel_name="k", n_rois=n_rois, n_selected=n_selected, r2_threshold=0.05, fdr_alpha=None, dff=dff, r2=r2,
        selected=selected, roi_class=roi_class, intercept=np.zeros(n_rois), coef=np.ones((n_rois, 3)),
        regressor_names=names, convolved=conv, onset_frames=onsets,
        counts=[(c, int(np.sum(roi_class == c)), None, 0.0) for c in names],
    )
    for roi_set, rows in (("all", np.arange(n_rois)), ("selected", np.flatnonzero(selected))):
        res = cluster_rois(dff[rows], n_clusters=4)
        clustered = rows[res.rows]
        data.trees[roi_set] = TreeData(roi_set, len(rows), len(clustered), int(res.labels.max(initial=0)), False,
                                       res.linkage, clustered[res.leaf_order], clustered, res.labels[res.leaf_order])
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

    data = _fake_data(n_selected=n_selected)
    figures = write_recording_report(data, tmp_path)
    assert {name for name, _ in figures} == FIGURES
    for name, _ in figures:
        _check_png(tmp_path / name)
    assert (tmp_path / "index.html").is_file()


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
