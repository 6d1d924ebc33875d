"""Paper figures (tectum.figures) and the shared class colours: no database needed.

Every test asserts on what was drawn (``fig.tectum_info``, the artists) and
renders the figure to PNG; ``test_gallery`` draws them all into a folder.
"""

from __future__ import annotations

import doctest
import html
import itertools
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex, to_rgb

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _render(fig, path: Path) -> Path:
    """Save as PNG and check it is a real, non-blank image."""
    import matplotlib.image as mpimg

    from tectum.figures import save_png

    save_png(fig, path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = mpimg.imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 200, img.shape
    assert img[..., :3].std() > 0.01, f"{path} is blank"
    return path


def _texts(fig) -> str:
    """Every text on the figure (titles, labels, annotations, legends), joined."""
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


@pytest.fixture(scope="module")
def rec():
    """A realistic synthetic recording, analysed: dF/F, classes, presentations with regressors."""
    from pipeline import analyse_recording, make_recording

    r = make_recording(n_rois=150, n_frames=420, seed=5)
    res = analyse_recording(
        r.traces, r.events, r.frame_period_s, sensor=r.sensor, stimulus_groups=r.groups, clustering=False
    )
    names = res.regressors.names
    labels = np.array([label or "" for label in res.labels], dtype=object)
    stim_to_reg = {s: g for g, stims in r.groups.items() for s in stims}
    pres = r.events.assign(regressor=r.events["stimulus"].map(stim_to_reg))
    return dict(r=r, res=res, names=names, labels=labels, pres=pres, dff=res.dff.dff, T=r.frame_period_s)


# ------------------------------------------------------------------ colours


def _lab(color) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour, for colour distances (Delta E 1976)."""
    rgb = np.array(to_rgb(color))
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _delta_e(a, b) -> float:
    return float(np.linalg.norm(_lab(a) - _lab(b)))


def test_known_and_neutral_classes_have_fixed_colours():
    from tectum.report.style import NOT_SELECTED_COLOR, class_color, class_colors

    assert class_color("prey") == to_hex("orange")
    assert class_color("looming") == to_hex("fuchsia")
    assert class_color("dimming") == to_hex("turquoise")
    assert class_color("LOOMING") == class_color("looming")
    assert {class_color(c) for c in ("mixed", "inhibited", "unclassified")} == {"#5a5a5a", "#4f6d8a", "#a6a6a6"}
    assert class_color("") == class_color(None) == NOT_SELECTED_COLOR
    # the colour of a name does not depend on the other names of the recording, nor on their order
    assert class_colors(["grating", "prey"])["grating"] == class_colors(["x", "y", "grating"])["grating"]


def test_unknown_stimulus_colour_is_stable_across_processes():
    from tectum.report.style import STIMULUS_PALETTE, class_color

    names = ["grating-left", "whole-field flash", "OMR 90°", "$x_1$"]
    here = [class_color(n) for n in names]
    assert all(c in STIMULUS_PALETTE for c in here)
    assert len({class_color(f"stim{i}") for i in range(60)}) == len(STIMULUS_PALETTE)  # the hash spreads
    code = f"from tectum.report.style import class_color; print(','.join(class_color(n) for n in {names!r}))"
    for seed in ("0", "12345"):  # hash() would differ between these; the colours must not
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        assert out.split(",") == here


def test_palette_is_distinct_from_cluster_fixed_and_neutral_colours():
    from tectum.report.style import (
        CLUSTER_COLORS,
        NEUTRAL_CLASS_COLORS,
        NOT_SELECTED_COLOR,
        STIMULUS_COLORS,
        STIMULUS_PALETTE,
    )

    fixed = [*STIMULUS_COLORS.values(), *NEUTRAL_CLASS_COLORS.values(), NOT_SELECTED_COLOR]
    for c in STIMULUS_PALETTE:
        assert min(_delta_e(c, k) for k in CLUSTER_COLORS) >= 15, c
        assert min(_delta_e(c, k) for k in fixed) >= 25, c
    assert min(_delta_e(a, b) for a, b in itertools.combinations(STIMULUS_PALETTE, 2)) >= 20
    for c in NEUTRAL_CLASS_COLORS.values():
        assert c not in CLUSTER_COLORS and min(_delta_e(c, k) for k in CLUSTER_COLORS) >= 10, c


def test_report_figures_use_the_shared_class_colours():
    from matplotlib.figure import Figure
    from test_report import _fake_data

    from tectum.report import draw_class_counts, draw_clustermap
    from tectum.report.style import NOT_SELECTED_COLOR, class_color

    data = _fake_data(n_selected=12)
    sel = np.flatnonzero(data.selected)
    data.roi_class[sel[:2]] = "mixed"  # a class that is no regressor: its own colour in the strip
    fig = Figure(figsize=(13, 8))
    draw_clustermap(fig, data, "selected")
    strip = fig.axes[2].images[0]
    colours = {to_hex(c) for c in strip.get_cmap().colors}
    assert colours == {NOT_SELECTED_COLOR, class_color("mixed"), *(class_color(c) for c in data.regressor_names)}
    fig = Figure(figsize=(7, 4.5))
    draw_class_counts(fig, data)
    bars = fig.axes[0].patches
    assert [to_hex(b.get_facecolor()) for b in bars] == [class_color(c) for c, *_ in data.counts]


def test_doctests_of_style_and_figures():
    import tectum.figures
    import tectum.report.style

    for module in (tectum.report.style, tectum.figures):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# ------------------------------------------------------------------ alignment


def test_align_to_onsets_interpolates_between_frames():
    from tectum.figures import align_to_onsets

    n_frames, T = 100, 0.5
    dff = np.tile(np.arange(n_frames, dtype=float), (3, 1))  # value = frame index: interpolation is exact
    dff[2] = np.nan
    pres = pd.DataFrame({"stimulus": ["a", "a", "b"], "onset_s": [10.2, 20.7, 48.0], "duration_s": [1, 1, 2]})
    al = align_to_onsets(dff, T, pres, window_s=(-1.0, 2.0))
    assert np.allclose(al.t_s, np.arange(-2, 5) * T)
    assert al.stimuli == ["a", "b"] and al.n_presentations == {"a": 2, "b": 1}
    expected_a = ((10.2 + al.t_s) / T + (20.7 + al.t_s) / T) / 2
    assert np.allclose(al.mean[0, 0], expected_a)
    # b at 48 s: samples after the last frame (49.5 s) are missing, not extrapolated
    b = al.mean[1, 0]
    assert np.allclose(b[al.t_s <= 1.5], (48.0 + al.t_s[al.t_s <= 1.5]) / T)
    assert np.isnan(b[al.t_s > 1.5]).all()
    assert np.isnan(al.mean[:, 2]).all()  # a NaN row stays NaN
    base = align_to_onsets(dff, T, pres, window_s=(-1.0, 2.0), baseline_s=(-1.0, 0.0))
    assert np.allclose(base.mean[0, 0], expected_a - expected_a[:2].mean())


def test_presentations_are_checked():
    from tectum.figures import presentations_frame

    good = {"stimulus": "a", "onset_s": 1.0, "duration_s": 2.0}
    assert list(presentations_frame([good])["regressor"]) == ["a"]  # no regressor column: its own
    assert list(presentations_frame([dict(good, regressor=None)])["regressor"]) == [""]
    with pytest.raises(ValueError, match="lack column"):
        presentations_frame([{"stimulus": "a", "onset_s": 1.0}])
    with pytest.raises(ValueError, match="negative duration"):
        presentations_frame([dict(good, duration_s=-1.0)])
    with pytest.raises(ValueError, match=r"index 0 .*outside the recording, which spans 0 to 10 s"):
        presentations_frame([dict(good, onset_s=12.0)], n_frames=10, frame_period_s=1.0)
    with pytest.raises(ValueError, match="no stimulus name"):
        presentations_frame([dict(good, stimulus=None)])


def test_presentation_amplitudes_are_window_minus_baseline():
    from tectum.figures import amplitude_matrix, presentation_amplitudes

    dff = np.tile(np.arange(50, dtype=float), (2, 1))
    dff[1] *= 2
    pres = [
        {"stimulus": "a", "onset_s": 10.0, "duration_s": 1, "regressor": "A"},
        {"stimulus": "a", "onset_s": 30.0, "duration_s": 1, "regressor": "A"},
    ]
    amp = presentation_amplitudes(dff, 1.0, pres, window_s=(0, 5), baseline_s=(-3, 0))
    # frames 10..14 minus frames 7..9: 12 - 8 = 4 (ROI 1: twice that)
    assert np.allclose(amp.loc[amp["roi"] == 0, "amplitude"], 4.0)
    assert np.allclose(amp.loc[amp["roi"] == 1, "amplitude"], 8.0)
    matrix, names = amplitude_matrix(amp, 2)
    assert names == ["A"] and np.allclose(matrix[:, 0], [4.0, 8.0])
    with pytest.raises(ValueError, match="holds no frame"):
        presentation_amplitudes(dff, 1.0, pres, window_s=(0.2, 0.4))


# ------------------------------------------------------------------ 1. class responses


def test_class_responses_panels_counts_and_spans(rec, tmp_path):
    from tectum.figures import plot_class_responses
    from tectum.report.style import class_color

    dff = rec["dff"].copy()
    labels = rec["labels"]
    nan_rois = np.flatnonzero(labels == "prey")[:2]
    dff[nan_rois] = np.nan  # excluded ROIs arrive as NaN rows
    fig = plot_class_responses(dff, rec["T"], rec["pres"], labels, regressors=rec["names"])
    info = fig.tectum_info
    stimuli = ["prey-nasalward", "prey-temporalward", "looming", "dimming"]
    assert sorted(info["stimuli"]) == sorted(stimuli)
    assert info["stimuli"][2:] == ["looming", "dimming"]  # grouped by regressor, in the regressors' order
    assert info["classes"] == [c for c in [*rec["names"], "mixed", "inhibited", "unclassified"] if (labels == c).any()]
    assert len(info["panels"]) == len(info["classes"]) * len(stimuli) == len(fig.axes)
    assert info["n_excluded"] == 2
    durations = rec["r"].events.groupby("stimulus")["duration_s"].first().to_dict()
    for panel, ax in zip(info["panels"], fig.axes):
        n = int(((labels == panel["class"]) & np.isfinite(dff).any(axis=1)).sum())
        assert panel["n_rois"] == n
        assert panel["n_presentations"] == 3
        assert f"n = {n} ROIs, 3 presentations" in [t.get_text() for t in ax.texts]
        spans = [p for p in ax.patches if p.get_gid() == "stimulus-span"]
        assert [(round(p.get_x(), 9), round(p.get_x() + p.get_width(), 9)) for p in spans] == [
            (0.0, durations[panel["stimulus"]])
        ]
        assert to_hex(ax.lines[-1].get_color()) == class_color(panel["class"])
    assert fig.axes[0].get_xlim() == (-3.0, 10.0)
    assert "mean ± SEM across ROIs" in fig._suptitle.get_text()
    assert "2 classified ROIs without ΔF/F (NaN rows) left out" in fig._suptitle.get_text()
    _render(fig, tmp_path / "responses.png")


def test_class_responses_band_is_the_sem_or_a_bootstrap_ci(rec, tmp_path):
    from tectum.figures import align_to_onsets, plot_class_responses, spread_across_rois

    labels = rec["labels"]
    members = np.flatnonzero(labels == "looming")
    al = align_to_onsets(rec["dff"], rec["T"], rec["pres"], rois=members)
    x = al.mean[al.stimuli.index("looming")]
    mean, low, high = spread_across_rois(x, "sem")
    sem = x.std(axis=0, ddof=1) / np.sqrt(len(members))
    assert np.allclose(mean, x.mean(axis=0)) and np.allclose(high - mean, sem) and np.allclose(mean - low, sem)
    m2, lo2, hi2 = spread_across_rois(x, "ci95", n_boot=400, seed=1)
    assert np.allclose(m2, mean) and (lo2 <= mean + 1e-12).all() and (hi2 >= mean - 1e-12).all()
    assert np.allclose(spread_across_rois(x, "ci95", n_boot=400, seed=1)[1], lo2)  # seeded: reproducible
    fig = plot_class_responses(
        rec["dff"], rec["T"], rec["pres"], labels, error="ci95", baseline_s=(-3, 0), classes=["looming"]
    )
    assert "bootstrap 95% CI" in fig._suptitle.get_text()
    assert "mean from −3 to 0 s subtracted" in fig._suptitle.get_text()
    assert len(fig.axes) == len(fig.tectum_info["stimuli"])
    _render(fig, tmp_path / "responses_ci.png")


def test_class_responses_single_and_unknown_stimulus_and_varying_durations(rec, tmp_path):
    from tectum.figures import plot_class_responses
    from tectum.report.style import STIMULUS_PALETTE, class_color

    pres = rec["pres"]
    single = pres[pres["stimulus"] == "dimming"]
    fig = plot_class_responses(rec["dff"], rec["T"], single, rec["labels"], classes=["dimming"])
    assert [(p["class"], p["stimulus"]) for p in fig.tectum_info["panels"]] == [("dimming", "dimming")]
    _render(fig, tmp_path / "single.png")

    renamed = pres.replace({"stimulus": {"looming": "expanding disc"}, "regressor": {"looming": "expanding disc"}})
    renamed.loc[renamed["stimulus"] == "expanding disc", "duration_s"] = [2.0, 4.0, 3.0]
    labels = np.where(rec["labels"] == "looming", "expanding disc", rec["labels"]).astype(object)
    fig = plot_class_responses(rec["dff"], rec["T"], renamed, labels, classes=["expanding disc"])
    colour = class_color("expanding disc")
    assert colour in STIMULUS_PALETTE
    panel = next(p for p in fig.tectum_info["panels"] if p["stimulus"] == "expanding disc")
    assert panel["spans"] == [(0.0, 2.0), (2.0, 4.0)]  # dark to the shortest, light to the longest
    ax = fig.axes[fig.tectum_info["panels"].index(panel)]
    spans = [p for p in ax.patches if p.get_gid() == "stimulus-span"]
    assert {to_hex(p.get_facecolor()) for p in spans} == {colour}
    assert to_hex(ax.lines[-1].get_color()) == colour
    assert "light: duration varies" in fig._suptitle.get_text()
    _render(fig, tmp_path / "unknown.png")


def test_class_responses_without_selected_rois_and_with_plain_text_names(rec, tmp_path):
    from tectum.figures import plot_class_responses

    none = np.full(len(rec["labels"]), None, dtype=object)
    fig = plot_class_responses(rec["dff"], rec["T"], rec["pres"], none)
    assert fig.tectum_info["panels"] == [] and "no ROIs selected" in _texts(fig)
    _render(fig, tmp_path / "none.png")
    # an explicitly requested class without ROIs gets empty panels saying so
    assert not (rec["labels"] == "grating").any()
    fig = plot_class_responses(rec["dff"], rec["T"], rec["pres"], rec["labels"], classes=["grating"])
    assert all(p["n_rois"] == 0 for p in fig.tectum_info["panels"]) and "no ROIs" in _texts(fig)
    # mathtext is off: '$' in a class name is printed, not parsed (or failed on)
    labels = np.where(rec["labels"] == "dimming", "$dim_1$", rec["labels"]).astype(object)
    fig = plot_class_responses(rec["dff"], rec["T"], rec["pres"], labels, classes=["$dim_1$"])
    assert "$dim_1$\nΔF/F" in _texts(fig)
    _render(fig, tmp_path / "dollar.png")


# ------------------------------------------------------------------ 2. tuning heatmap


def test_tuning_heatmap_sorts_by_class_then_amplitude(tmp_path):
    from tectum.figures import plot_tuning_heatmap
    from tectum.report.style import class_color

    amp = np.array(
        [
            [0.1, 0.0, 0.0],  # 0 prey
            [0.5, 0.0, 0.1],  # 1 prey, strongest
            [0.0, 0.3, 0.0],  # 2 looming
            [0.0, 0.0, 0.2],  # 3 not selected
            [-0.4, -0.1, 0.0],  # 4 inhibited, most negative
            [-0.1, -0.2, 0.0],  # 5 inhibited
            [0.2, 0.2, 0.6],  # 6 mixed
            [np.nan, np.nan, np.nan],  # 7 prey without amplitude: last of its class
            [0.0, 0.2, 0.0],  # 8 a stimulus without a fixed colour
        ]
    )
    labels = ["prey", "prey", "looming", "", "inhibited", "inhibited", "mixed", "prey", "grating"]
    names = ["prey", "looming", "grating"]
    fig = plot_tuning_heatmap(amp, labels, columns=names)
    info = fig.tectum_info
    assert list(info["rows"]) == [1, 0, 7, 2, 8, 6, 4, 5]
    assert info["class_counts"] == {"prey": 3, "looming": 1, "grating": 1, "mixed": 1, "inhibited": 2}
    assert info["n_no_amplitude"] == 1
    assert info["limits"][0] == -info["limits"][1]
    heat = fig.axes[0].images[0]
    assert np.array_equal(heat.get_array().filled(np.nan)[:2], amp[[1, 0]])
    strip = fig.axes[0].child_axes[0].images[0]
    assert [to_hex(c) for c in strip.get_cmap().colors] == [class_color(c) for c in info["class_counts"]]
    assert "8 selected ROIs" in fig._suptitle.get_text()
    _render(fig, tmp_path / "tuning.png")
    # drawn on a figure of the caller's (e.g. plt.figure(), no constrained layout) as well
    from matplotlib.figure import Figure

    own = Figure(figsize=(6, 5))
    assert plot_tuning_heatmap(amp, labels, columns=names, fig=own) is own and own.tectum_info["rows"][0] == 1
    _render(own, tmp_path / "tuning_own.png")


def test_tuning_heatmap_from_per_presentation_rows(rec, tmp_path):
    from tectum.figures import plot_tuning_heatmap, presentation_amplitudes

    amp = presentation_amplitudes(rec["dff"], rec["T"], rec["pres"])
    labels = rec["labels"]
    fig = plot_tuning_heatmap(amp, labels, column="stimulus")
    info = fig.tectum_info
    assert info["columns"][:2] in (["prey-nasalward", "prey-temporalward"], ["prey-temporalward", "prey-nasalward"])
    assert len(info["rows"]) == int((labels != "").sum())
    # within the prey class: sorted by the larger of the two prey directions
    prey_rows = [r for r, c in zip(info["rows"], info["row_class"]) if c == "prey"]
    wide = amp.groupby(["roi", "stimulus"])["amplitude"].mean().unstack()
    best = wide.loc[prey_rows, ["prey-nasalward", "prey-temporalward"]].max(axis=1).to_numpy()
    assert (np.diff(best) <= 1e-12).all()
    _render(fig, tmp_path / "tuning_stimuli.png")
    fig = plot_tuning_heatmap(amp, np.full(len(labels), "", dtype=object))
    assert len(fig.tectum_info["rows"]) == 0 and "no ROIs selected" in _texts(fig)
    _render(fig, tmp_path / "tuning_none.png")
    with pytest.raises(ValueError, match="columns must name the 3 columns"):
        plot_tuning_heatmap(np.zeros((2, 3)), ["a", "b"], columns=["a", "b"])


# ------------------------------------------------------------------ 3. r² against q


def test_r2_vs_q_boundary_colours_and_undefined(tmp_path):
    from tectum.figures import plot_r2_vs_q
    from tectum.report.style import NOT_SELECTED_COLOR, class_color

    r2 = np.array([0.3, 0.2, 0.01, np.nan, 0.5, 0.04, 0.25])
    q = np.array([1e-6, 1e-3, 0.6, 0.5, 0.0, 0.2, None], dtype=object)
    labels = ["prey", "looming", "", "", "prey", None, "mixed"]
    fig = plot_r2_vs_q(r2, q, labels, q_threshold=0.05, r2_floor=0.05)
    info = fig.tectum_info
    assert info["counts"] == {"not selected": 2, "prey": 2, "looming": 1, "mixed": 0}
    assert info["n_undefined"] == 2 and info["n_q_clipped"] == 1 and info["n_drawn"] == 5
    ax = fig.axes[0]
    assert info["q_line"] == pytest.approx(-np.log10(0.05))
    vlines = [ln for ln in ax.lines if ln.get_label().startswith("q =")]
    assert vlines and vlines[0].get_xdata()[0] == pytest.approx(info["q_line"])
    from matplotlib.collections import PathCollection

    points = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    colours = [to_hex(c.get_facecolor()[0]) for c in points]
    assert colours == [NOT_SELECTED_COLOR, class_color("prey"), class_color("looming")]
    prey = [c for c in ax.collections if c.get_label().startswith("prey")][0].get_offsets()
    assert np.allclose(sorted(prey[:, 1]), [0.3, 0.5])
    assert "2 ROIs with undefined r² or q not drawn" in _texts(fig)
    assert "4 of 7 ROIs selected (q ≤ 0.05 and r² > 0.05)" in ax.get_title()
    _render(fig, tmp_path / "r2q.png")
    # q down to 0 would squash the boundary: the axis turns logarithmic above 2, with plain tick labels
    assert info["x_scale"] == "symlog" and ax.get_xscale() == "symlog"
    labels_x = [t.get_text() for t in ax.get_xticklabels()]
    assert labels_x[:4] == ["0", "1", "2", "5"] and not any("$" in t for t in labels_x)
    fig = plot_r2_vs_q(r2, np.where(np.arange(7) == 4, 1e-9, q), [""] * 7, q_threshold=0.05)
    assert fig.tectum_info["x_scale"] == "linear" and fig.tectum_info["n_q_clipped"] == 0
    assert fig.tectum_info["r2_line"] is None and "0 of 7 ROIs selected (q ≤ 0.05)" in fig.axes[0].get_title()
    _render(fig, tmp_path / "r2q_none.png")


# ------------------------------------------------------------------ 4. positions


def test_positions_panels_and_missing_positions(rec, tmp_path):
    from tectum.figures import plot_roi_positions
    from tectum.report.style import class_color

    labels = rec["labels"]
    pos = rec["r"].positions
    fig = plot_roi_positions(pos, labels, units="µm")
    info = fig.tectum_info
    assert info["has_positions"] and info["panels"] == ["x-y", "x-z"] and info["n_missing"] == 0
    assert info["counts"]["prey"] == int((labels == "prey").sum())
    prey = [c for c in fig.axes[0].collections if c.get_label().startswith("prey ")][0]
    assert to_hex(prey.get_facecolor()[0]) == class_color("prey")
    assert np.allclose(prey.get_offsets(), pos[labels == "prey", :2])
    _render(fig, tmp_path / "positions.png")

    flat = pos[:, :2].copy()
    flat[:10] = np.nan
    fig = plot_roi_positions(flat, labels)
    assert fig.tectum_info["panels"] == ["x-y"] and fig.tectum_info["n_missing"] == 10
    assert "10 without a position not drawn" in fig._suptitle.get_text()
    _render(fig, tmp_path / "positions_plane.png")
    one_plane = np.column_stack([pos[:, :2], np.full(len(pos), np.nan)])  # z NULL in the database
    assert plot_roi_positions(one_plane, labels).tectum_info["panels"] == ["x-y"]

    for missing in (None, np.full((len(labels), 3), np.nan)):
        fig = plot_roi_positions(missing, labels)
        assert fig.tectum_info["has_positions"] is False and "no positions" in _texts(fig)
        _render(fig, tmp_path / "no_positions.png")
    with pytest.raises(ValueError, match="n_rois x 2 or 3"):
        plot_roi_positions(np.zeros((len(labels), 4)), labels)


# ------------------------------------------------------------------ 5. kernel


def test_kernel_against_mean_response_and_objective(rec, tmp_path):
    from pipeline import exponential_kernel
    from tectum.figures import class_mean_response, plot_kernel

    T = rec["T"]
    resp = class_mean_response(rec["dff"], T, rec["pres"], rec["labels"], "prey")
    assert resp.n_presentations == 6 and resp.n_rois == int((rec["labels"] == "prey").sum())
    kernel = exponential_kernel(T, 2.0, delay_s=0.5)
    info = {"kernel_name": "exponential", "tau_decay_s": 2.0, "delay_s": 0.5}
    fig = plot_kernel(kernel, T, info, response=resp, duration_s=5.0)
    d = fig.tectum_info
    assert d["panels"] == ["kernel"] and len(fig.axes) == 1
    assert d["legend"] == "kernel: exponential\nτ decay = 2 s, delay = 0.5 s"
    ax = fig.axes[0]
    k_line = [ln for ln in ax.lines if ln.get_label().startswith("kernel:")][0]
    r_line = [ln for ln in ax.lines if ln.get_label().startswith("mean ΔF/F of")][0]
    assert np.nanmax(k_line.get_ydata()) == pytest.approx(1.0) and np.nanmax(r_line.get_ydata()) == pytest.approx(1.0)
    assert d["kernel_peak"] == pytest.approx(kernel.max())
    assert np.allclose(k_line.get_xdata(), np.arange(len(k_line.get_xdata())) * T)
    _render(fig, tmp_path / "kernel.png")

    grid = np.array([0.5, 1.0, 2.0, 4.0])
    chosen = dict(info, tau_grid_s=grid, objective=[0.1, 0.2, 0.25, 0.15], objective_label="mean r²", sensor="GCaMP6s")
    fig = plot_kernel(kernel, T, chosen, response=(resp.t_s, resp.mean))
    d = fig.tectum_info
    assert d["panels"] == ["kernel", "objective"] and d["chosen_tau_s"] == 2.0
    assert "sensor = GCaMP6s" in d["legend"]  # a key the figure does not know is shown, not dropped
    ax2 = fig.axes[1]
    assert np.allclose(ax2.lines[0].get_xdata(), grid) and ax2.get_ylabel() == "mean r²"
    assert ax2.lines[1].get_xdata()[0] == 2.0  # the chosen τ
    _render(fig, tmp_path / "kernel_chosen.png")

    with pytest.raises(ValueError, match="both 'tau_grid_s' and 'objective'"):
        plot_kernel(kernel, T, {"tau_grid_s": grid})
    with pytest.raises(ValueError, match="kernel_info\\['extra'\\] must be a number or text"):
        plot_kernel(kernel, T, {"extra": [1, 2]})
    with pytest.raises(ValueError, match="no presentation has regressor 'mixed'"):
        class_mean_response(rec["dff"], T, rec["pres"], rec["labels"], "mixed")


# ------------------------------------------------------------------ 6. shift null


def test_shift_null_histogram_observed_and_p(tmp_path):
    from tectum.figures import plot_shift_null

    rng = np.random.default_rng(0)
    null = rng.uniform(0, 0.05, 199)
    null[:3] = [0.2, 0.3, np.nan]
    fig = plot_shift_null(null, 0.15, 0.015, roi_label="F1 / R1 / ROI 7")
    d = fig.tectum_info
    assert d == {"n_null": 198, "n_nan": 1, "n_at_least": 2, "observed_r2": 0.15, "p_value": 0.015}
    ax = fig.axes[0]
    assert sum(p.get_height() for p in ax.patches) == 198
    assert ax.lines[0].get_xdata()[0] == 0.15
    assert "p = 0.015; 2 of 198 shifts reach the observed r²; 1 undefined (NaN) left out" in ax.get_title()
    assert "ROI 7" in ax.get_title()
    _render(fig, tmp_path / "null.png")
    fig = plot_shift_null([np.nan], 0.1, 1.0)
    assert fig.tectum_info["n_null"] == 0 and "no finite null r²" in _texts(fig)
    with pytest.raises(ValueError, match="p_value must lie in"):
        plot_shift_null(null, 0.1, 1.5)


# ------------------------------------------------------------------ 7. cross-recording page


def _fractions_table():
    rows = []
    for fish, genotype, recs in (
        ("F1", "wt", {"R1": 0.2, "R2": 0.4}),
        ("F2", "wt", {"R1": 0.3}),
        ("F3", "mut", {"R1": 0.6}),
        ("F4", None, {"R1": 0.1}),
    ):
        for recording, prey in recs.items():
            rows.append(dict(fish=fish, recording=recording, genotype=genotype, roi_class="prey", fraction=prey))
            rows.append(dict(fish=fish, recording=recording, genotype=genotype, roi_class="looming", fraction=1 - prey))
    df = pd.DataFrame(rows)
    # F3 has a dimming row, the others none (counted as 0); F2's looming is undefined (no selected ROIs)
    df.loc[len(df)] = dict(fish="F3", recording="R1", genotype="mut", roi_class="dimming", fraction=0.0)
    df.loc[(df["fish"] == "F2") & (df["roi_class"] == "looming"), "fraction"] = np.nan
    return df


def test_class_fractions_one_point_per_fish(tmp_path):
    from tectum.figures import fish_fractions, plot_class_fractions
    from tectum.report.style import class_color

    df = _fractions_table()
    per_fish, notes = fish_fractions(df, "genotype", class_column="roi_class")
    assert notes == {"n_filled": 4, "n_undefined": 1, "n_recordings": 5}
    f1 = per_fish[(per_fish["fish"] == "F1") & (per_fish["class"] == "prey")]
    assert f1["fraction"].item() == pytest.approx(0.3) and f1["n_recordings"].item() == 2  # mean of 0.2, 0.4
    assert set(per_fish["group"]) == {"wt", "mut", "(none)"}
    fig = plot_class_fractions(df, "genotype", class_column="roi_class", groups=["wt", "mut", "(none)"])
    info = fig.tectum_info
    assert info["classes"] == ["prey", "looming", "dimming"] and len([a for a in fig.axes if a.axison]) == 3
    assert info["n_fish"] == {"wt": 2, "mut": 1, "(none)": 1}
    prey_ax = fig.axes[0]
    wt = prey_ax.collections[0]
    assert np.allclose(sorted(wt.get_offsets()[:, 1]), [0.3, 0.3]) and len(wt.get_offsets()) == 2
    assert to_hex(wt.get_facecolor()[0]) == class_color("prey")
    ticks = [t.get_text() for t in prey_ax.get_xticklabels()]
    assert ticks[0] == "wt\n2 fish, 3 rec."
    looming_wt = fig.axes[1].collections[0].get_offsets()
    assert len(looming_wt) == 1  # F2's only looming fraction is undefined: F2 has no looming point
    text = fig._suptitle.get_text()
    assert "4 recording × class pair(s) without a row counted as 0" in text
    assert "1 undefined fraction(s) (e.g. no selected ROIs) left out" in text
    _render(fig, tmp_path / "fractions.png")

    with pytest.raises(ValueError, match="has no row for class 'dimming'"):
        fish_fractions(df, "genotype", class_column="roi_class", missing_as_zero=False)
    with pytest.raises(ValueError, match="lists class 'prey' more than once"):
        fish_fractions(pd.concat([df, df.iloc[:1]]), "genotype", class_column="roi_class")
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        fish_fractions(df.assign(fraction=df["fraction"] * 3), "genotype", class_column="roi_class")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['region'\]"):
        fish_fractions(df, "region", class_column="roi_class")


def test_cross_recording_page_shows_escaped_sql(tmp_path):
    from tectum.figures import plot_class_fractions, write_cross_recording_page

    fig = plot_class_fractions(_fractions_table(), "genotype", class_column="roi_class")
    sql = "SELECT fish, roi_class\nFROM t WHERE genotype LIKE '%<b>&x' AND n < 3"
    page = write_cross_recording_page(tmp_path / "out", fig, sql, title="Fractions & <genotypes>")
    text = page.read_text(encoding="utf-8")
    assert page.name == "class_fractions.html" and (tmp_path / "out" / "class_fractions.png").is_file()
    pre = text.split('<pre class="sql">', 1)[1].split("</pre>", 1)[0]
    assert html.unescape(pre) == sql and "<b>" not in pre
    assert '<img src="class_fractions.png"' in text and "Fractions &amp; &lt;genotypes&gt;" in text
    with pytest.raises(ValueError, match="sql must be"):
        write_cross_recording_page(tmp_path, fig, "  ")
    with pytest.raises(ValueError, match="name must be"):
        write_cross_recording_page(tmp_path, fig, sql, name="../x")


# ------------------------------------------------------------------ gallery


def test_gallery(tmp_path):
    """Every figure from synthetic data, written to a folder (``python -m tectum.figures.gallery OUT`` does the same)."""
    from tectum.figures.gallery import write_gallery

    out = tmp_path / "gallery"
    written = write_gallery(out, n_rois=120, n_rois_cross=60)
    pngs = [name for name, _ in written if name.endswith(".png")]
    assert len(pngs) >= 18
    for name in pngs:
        _render_check(out / name)
    assert (out / "index.html").is_file() and (out / "07_cross_recording_page.html").is_file()


def _render_check(path: Path) -> None:
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == PNG_MAGIC, path
    img = mpimg.imread(path)
    assert img[..., :3].std() > 0.01, f"{path} is blank"


def test_readme_example_runs(tmp_path, monkeypatch):
    """The README's example of the paper figures runs as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Figures for a paper", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    for name in ("class_responses.png", "tuning.png"):
        _render_check(tmp_path / name)
