"""The paper figures take what the database hands out, as it hands it out; the gallery's SQL runs.

The figure functions themselves never touch the database (tests/test_paper_figures.py);
these tests fetch their inputs from populated tables and pass them straight in.
"""

from __future__ import annotations

import html

import matplotlib
import numpy as np
import pandas as pd
import pytest
from dbutil import synthetic_kwargs

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def recordings():
    from pipeline.synthetic import make_recording

    return {
        ("F1", "R1"): make_recording(n_rois=60, n_frames=420, seed=21),
        ("F1", "R2"): make_recording(n_rois=60, n_frames=420, seed=22),
        ("F2", "R1"): make_recording(n_rois=60, n_frames=420, seed=23),
    }


@pytest.fixture
def populated(clean_db, recordings):
    db = clean_db
    for (fish, rec_name), rec in recordings.items():
        db.insert_recording(
            **synthetic_kwargs(rec, fish=fish, recording=rec_name, genotype="wt" if fish == "F1" else "mut")
        )
    reports = db.populate_all({"paramset": "default"})
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    return db


def test_class_fractions_sql_feeds_the_cross_recording_page(populated, tmp_path):
    from schemas.config import schema_prefix
    from tectum.figures import plot_class_fractions, write_cross_recording_page
    from tectum.figures.gallery import class_fractions_sql

    an = populated.analysis
    sql = class_fractions_sql(schema_prefix(), "default")
    cursor = an.Fit.connection.query(sql)
    df = pd.DataFrame(cursor.fetchall(), columns=[d[0] for d in cursor.description])
    assert list(df.columns) == ["fish", "recording", "genotype", "roi_class", "fraction"]
    # the same numbers as DataJoint's own fetch
    counts = (an.ClassSummary.Count & {"paramset": "default"}).to_pandas().reset_index()
    assert len(df) == len(counts) == 3 * 6  # 3 recordings x (3 regressors + inhibited, mixed, unclassified)
    merged = df.merge(counts, on=["fish", "recording", "roi_class"])
    assert np.allclose(merged["fraction"].astype(float), merged["fraction_of_selected"].astype(float))
    assert set(df.loc[df["fish"] == "F1", "genotype"]) == {"wt"}

    fig = plot_class_fractions(df, "genotype", class_column="roi_class")
    info = fig.tectum_info
    assert info["groups"] == ["mut", "wt"] and info["n_fish"] == {"mut": 1, "wt": 1}
    f1 = info["points"][(info["points"]["fish"] == "F1") & (info["points"]["class"] == "looming")]
    expected = df[(df["fish"] == "F1") & (df["roi_class"] == "looming")]["fraction"].astype(float).mean()
    assert f1["fraction"].item() == pytest.approx(expected) and f1["n_recordings"].item() == 2
    page = write_cross_recording_page(tmp_path, fig, sql)
    pre = page.read_text(encoding="utf-8").split('<pre class="sql">', 1)[1].split("</pre>", 1)[0]
    assert html.unescape(pre) == sql


def test_per_recording_figures_from_fetched_rows(populated, tmp_path):
    from tectum.figures import (
        plot_class_responses,
        plot_kernel,
        plot_r2_vs_q,
        plot_roi_positions,
        plot_tuning_heatmap,
        save_png,
    )

    acq, an = populated.acquisition, populated.analysis
    key = {"fish": "F1", "recording": "R1", "paramset": "default"}
    frame_period = (acq.Recording & key).fetch1("frame_period_s")
    dff = an.DeltaF.load(key)
    n = dff.shape[0]
    presentations = (acq.Presentation & key).to_pandas().reset_index()
    # the regressor of each stimulus, from the parameter set's groups
    regressors, stimuli = (an.Regressors.Regressor & key).to_arrays("regressor", "stimuli")
    stim_to_reg = {s: r for r, stims in zip(regressors, stimuli) for s in stims}
    presentations["regressor"] = presentations["stimulus"].map(stim_to_reg)
    roi, r2, q = (an.Fit.Roi & key).to_arrays("roi", "r2", "q_value", order_by="roi")
    croi, cname = (an.Classification.Roi & key).to_arrays("roi", "roi_class")
    roi_class = np.full(n, "", dtype=object)
    roi_class[np.asarray(croi, dtype=int)] = cname
    amplitudes = (an.ResponseAmplitude.Roi & key).proj(amplitude="mean_amplitude").to_pandas().reset_index()
    x, y, z = (acq.RoiTraces.Roi & key).to_arrays("x", "y", "z", order_by="roi")
    kernel, kernel_name = (an.Regressors & key).fetch1("kernel", "kernel_name")
    r2_min, fdr_alpha = (an.Fit & key).fetch1("r2_min", "fdr_alpha")
    names = an.Regressors.names(key)

    figs = {
        "responses": plot_class_responses(dff, frame_period, presentations, roi_class, regressors=names),
        "tuning": plot_tuning_heatmap(
            amplitudes, roi_class, columns=names, value_label="mean ΔF/F 0-5 s after onset minus 3 s before"
        ),
        "r2q": plot_r2_vs_q(r2, q, roi_class, q_threshold=fdr_alpha, r2_floor=r2_min or None, regressors=names),
        "positions": plot_roi_positions(np.column_stack([x, y, z]).astype(float), roi_class),
        "kernel": plot_kernel(kernel, frame_period, {"kernel_name": kernel_name}),
    }
    n_selected = int((roi_class != "").sum())
    assert n_selected > 0
    panels = figs["responses"].tectum_info["panels"]
    n_stimuli = presentations["stimulus"].nunique()
    assert len(panels) == len(figs["responses"].tectum_info["classes"]) * n_stimuli
    assert sum(p["n_rois"] for p in panels) == n_selected * n_stimuli
    assert {p["regressor"] for p in panels} <= set(names)
    assert len(figs["tuning"].tectum_info["rows"]) == n_selected
    assert figs["r2q"].tectum_info["counts"]["not selected"] == n - n_selected
    assert figs["positions"].tectum_info["has_positions"] and figs["positions"].tectum_info["n_drawn"] == n
    assert figs["kernel"].tectum_info["legend"] == f"kernel: {kernel_name}"
    for name, fig in figs.items():
        save_png(fig, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
