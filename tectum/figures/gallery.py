"""Every paper figure drawn from synthetic recordings, for looking at: ``python -m tectum.figures.gallery OUT``.

The recordings come from :func:`pipeline.make_recording` and are analysed
with :func:`pipeline.analyse_recording`; inputs the pipeline does not
produce yet (a shift null, a kernel chosen over a τ grid) are computed here
with the pipeline's own functions, and each figure's title says what its
data are. ``write_gallery`` also draws the edge cases the figures handle (no
selected ROIs, NaN rows, missing positions, a single stimulus, a stimulus
name without a fixed colour) and an ``index.html`` showing them all.
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path

import numpy as np
import pandas as pd

from ..report.style import DPI
from ._base import save_png
from .align import presentation_amplitudes
from .cross_recording import plot_class_fractions, write_cross_recording_page
from .kernel import class_mean_response, kernel_figure_info, plot_kernel
from .null import plot_shift_null
from .positions import plot_roi_positions
from .responses import plot_class_responses
from .selection import plot_r2_vs_q
from .tuning import plot_tuning_heatmap

__all__ = ["CLASS_FRACTIONS_SQL", "class_fractions_sql", "shift_null_r2", "write_gallery"]

#: the cross-recording query: fraction of the selected ROIs in each class, per recording, with the
#: fish's genotype (``{prefix}`` is the schema prefix, ``{paramset}`` the parameter set)
CLASS_FRACTIONS_SQL = """\
SELECT c.fish, c.recording, f.genotype, c.roi_class,
       c.fraction_of_selected AS fraction
FROM {prefix}analysis.__class_summary__count AS c
JOIN {prefix}acquisition.fish AS f ON f.fish = c.fish
WHERE c.paramset = '{paramset}'
ORDER BY c.fish, c.recording, c.roi_class"""


def class_fractions_sql(prefix: str = "tectum_", paramset: str = "default") -> str:
    """:data:`CLASS_FRACTIONS_SQL` for a schema prefix and a parameter set (names checked, not quoted)."""
    import re

    for name, value in (("prefix", prefix), ("paramset", paramset)):
        if not re.fullmatch(r"[A-Za-z0-9_]*", value):
            raise ValueError(f"{name} {value!r}: letters, digits and '_' only")
    return CLASS_FRACTIONS_SQL.format(prefix=prefix, paramset=paramset)


def shift_null_r2(res, roi):
    """The circular-shift null of one ROI as the analysis used it: ``(null_r2, observed_r2, p)``.

    The shifts are the fit's admissible shifts (:func:`pipeline.shift_null.admissible_shifts`);
    ``p`` is the stored permutation p-value (with its tail approximation).
    """
    from pipeline import roi_null_distribution
    from pipeline.shift_null import admissible_shifts

    fit = res.fit
    design = res.regressors.design
    shifts = admissible_shifts(design.shape[0], fit.min_shift_frames, fit.params.get("max_shifts"))
    null = roi_null_distribution(design, res.dff.dff[roi], shifts)
    return null["r2"], null["r2_observed"], float(fit.p_permutation[roi])


def _analyse(rec, **kw):
    from pipeline import analyse_recording

    return analyse_recording(
        rec.traces,
        rec.events,
        rec.frame_period_s,
        sensor=rec.sensor,
        stimulus_groups=rec.groups,
        clustering=False,
        **kw,
    )


def _labels(res) -> np.ndarray:
    return np.array([label or "" for label in res.labels], dtype=object)


def _presentations(rec) -> pd.DataFrame:
    reg = {s: r for r, stims in rec.groups.items() for s in stims}
    return rec.events.assign(regressor=rec.events["stimulus"].map(reg))


def write_gallery(out_dir, *, seed: int = 0, n_rois: int = 300, n_rois_cross: int = 120) -> list:
    """Draw every paper figure (and its edge cases) from synthetic recordings into ``out_dir``.

    ``n_rois``: ROIs of the main recording; ``n_rois_cross``: of each of the
    10 recordings of the cross-recording figure. Returns the list of
    ``(file name, caption)`` written; ``out_dir/index.html`` shows them.
    """
    from pipeline import make_recording

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name, caption):
        save_png(fig, out / name)
        written.append((name, caption))

    rec = make_recording(n_rois=n_rois, n_frames=420, seed=seed)
    res = _analyse(rec)
    names = res.regressors.names
    labels = _labels(res)
    pres = _presentations(rec)
    dff = res.dff.dff.copy()
    dff[:3] = np.nan  # three excluded ROIs, as a NaN row arrives from the database
    T = rec.frame_period_s
    src = f"synthetic recording, {n_rois} ROIs, default parameters"

    # 1. class responses: SEM, bootstrap CI, baseline-subtracted; the ground-truth classes (with 'mixed')
    save(
        plot_class_responses(dff, T, pres, labels, regressors=names, title=f"Responses per class ({src})"),
        "01_class_responses.png",
        "Trial-averaged ΔF/F per class and stimulus, mean ± SEM across ROIs.",
    )
    save(
        plot_class_responses(
            dff,
            T,
            pres,
            labels,
            regressors=names,
            error="ci95",
            baseline_s=(-3, 0),
            title="Responses per class, baseline-subtracted",
        ),
        "01b_class_responses_ci.png",
        "The same with a bootstrap 95% CI and the 3 s before onset subtracted.",
    )
    truth = np.where(rec.truth == "spontaneous", "", rec.truth).astype(object)
    save(
        plot_class_responses(
            dff, T, pres, truth, regressors=names, title="Responses per ground-truth class (incl. 'mixed')"
        ),
        "01c_class_responses_truth.png",
        "Ground-truth classes of the synthetic ROIs: the neutral 'mixed' colour.",
    )
    single = pres[pres["stimulus"] == "looming"]
    save(
        plot_class_responses(dff, T, single, labels, classes=["looming"], title="A single stimulus"),
        "01d_single_stimulus.png",
        "Only the looming presentations: one panel.",
    )
    varied = pres.copy()
    varied.loc[varied["stimulus"] == "looming", "duration_s"] = [2.0, 3.0, 4.0]
    renamed = varied.replace(
        {"stimulus": {"dimming": "whole-field flash"}, "regressor": {"dimming": "whole-field flash"}}
    )
    renamed_labels = np.where(labels == "dimming", "whole-field flash", labels).astype(object)
    save(
        plot_class_responses(
            dff,
            T,
            renamed,
            renamed_labels,
            regressors=["prey", "looming", "whole-field flash"],
            title="A stimulus name without a fixed colour; looming durations 2-4 s",
        ),
        "01e_unknown_stimulus.png",
        "'dimming' renamed 'whole-field flash' takes its hashed palette colour; "
        "looming durations varied (light shading up to the longest).",
    )
    save(
        plot_class_responses(dff, T, pres, np.full(len(labels), "", dtype=object), title="No ROI selected"),
        "01f_no_selected.png",
        "Nothing selected: a figure saying so.",
    )

    # 2. tuning heatmaps, per regressor and per stimulus
    amp = presentation_amplitudes(dff, T, pres, window_s=(0, 5), baseline_s=(-3, 0))
    label = "mean ΔF/F 0-5 s after onset − mean 3 s before"
    save(
        plot_tuning_heatmap(amp, labels, columns=names, value_label=label),
        "02_tuning_regressors.png",
        "Selected ROIs × regressors, sorted by class then amplitude.",
    )
    save(
        plot_tuning_heatmap(amp, labels, column="stimulus", value_label=label),
        "02b_tuning_stimuli.png",
        "The same per stimulus (prey directions apart).",
    )
    save(
        plot_tuning_heatmap(amp, truth, column="stimulus", value_label=label, title="Tuning of ground-truth classes"),
        "02c_tuning_truth.png",
        "Ground-truth classes, 'mixed' sorted by its largest amplitude.",
    )

    # 3. selection
    fit = res.params["fit"][1]
    save(
        plot_r2_vs_q(
            res.fit.r2,
            res.fit.q_value,
            labels,
            q_threshold=fit["fdr_alpha"],
            r2_floor=fit["r2_min"] or None,
            regressors=names,
            title=f"Selection ({src})",
        ),
        "03_r2_vs_q.png",
        "r² against −log10 q, the selection boundary dashed.",
    )

    # 4. positions
    save(
        plot_roi_positions(rec.positions, labels, units="µm", regressors=names),
        "04_positions.png",
        "ROI centres by class (synthetic positions, several planes).",
    )
    flat = rec.positions[:, :2].copy()
    flat[::7] = np.nan
    save(
        plot_roi_positions(flat, labels, regressors=names, title="One plane, some positions missing"),
        "04b_positions_plane.png",
        "x-y only; ROIs without a position are counted, not drawn.",
    )
    save(plot_roi_positions(None, labels), "04c_no_positions.png", "No positions ingested.")

    # 5. kernel: the kernel chosen from the data, and a fixed literature kernel for comparison
    looming = class_mean_response(dff, T, pres, labels, "looming")
    regs = res.regressors
    save(
        plot_kernel(
            regs.kernel,
            T,
            kernel_figure_info(regs.kernel_name, regs.kernel_info),
            response=looming,
            duration_s=3.0,
            title="Kernel chosen from the data",
        ),
        "05b_kernel_chosen.png",
        "The kernel chosen from the data against the looming class's mean response; "
        "the objective over the τ grid beside it.",
    )
    sensor = _analyse(rec, regressors=("sensor", {}), fit=("ols", {"significance": "parametric"})).regressors
    save(
        plot_kernel(
            sensor.kernel,
            T,
            kernel_figure_info(sensor.kernel_name, sensor.kernel_info),
            response=looming,
            duration_s=3.0,
        ),
        "05_kernel.png",
        "The sensor's published 1-AP kernel against the looming class's mean response.",
    )

    # 6. shift null of the best ROI and of an unselected one
    best_roi = int(np.nanargmax(np.where(labels != "", res.fit.r2, np.nan)))
    null, obs, p = shift_null_r2(res, best_roi)
    save(
        plot_shift_null(null, obs, p, roi_label=f"ROI {best_roi} ({labels[best_roi]})"),
        "06_shift_null.png",
        "Every admissible circular shift of the selected ROI of highest r².",
    )
    weak = int(np.flatnonzero(labels == "")[0])
    null, obs, p = shift_null_r2(res, weak)
    save(
        plot_shift_null(null, obs, p, roi_label=f"ROI {weak} (not selected)"),
        "06b_shift_null_unselected.png",
        "The same for a ROI that was not selected.",
    )

    # 7. class fractions across recordings: 2 genotypes x 3 fish x 1-2 recordings
    rows = []
    plan = [("wt", "F1", 2), ("wt", "F2", 1), ("wt", "F3", 2), ("mut", "F4", 2), ("mut", "F5", 1), ("mut", "F6", 2)]
    k = 0
    for genotype, fish, n_rec in plan:
        for r in range(n_rec):
            k += 1
            frac = {
                "wt": None,
                "mut": {"prey": 0.1, "looming": 0.3, "dimming": 0.15, "mixed": 0.05, "spontaneous": 0.4},
            }[genotype]
            small = make_recording(n_rois=n_rois_cross, n_frames=420, seed=seed + 100 + k, fractions=frac)
            res_k = _analyse(small)
            lab = _labels(res_k)
            n_sel = int((lab != "").sum())
            for cls in res_k.regressors.names:
                rows.append(
                    dict(
                        fish=fish,
                        recording=f"R{r + 1}",
                        genotype=genotype,
                        roi_class=cls,
                        fraction=(lab == cls).sum() / n_sel if n_sel else np.nan,
                    )
                )
    table = pd.DataFrame(rows)
    fig = plot_class_fractions(
        table,
        "genotype",
        class_column="roi_class",
        groups=["wt", "mut"],
        title="Class fractions by genotype (synthetic: 'mut' has more looming ROIs)",
    )
    save(fig, "07_class_fractions.png", "Fraction of selected ROIs per class, one dot per fish.")
    page = write_cross_recording_page(
        out,
        fig,
        class_fractions_sql(),
        name="07_cross_recording_page",
        caption="Gallery data: 10 synthetic recordings analysed in Python, 2 genotypes x 3 fish.",
        sql_note="On a tectum database this query returns the table the figure takes "
        "(plot_class_fractions(df, 'genotype', class_column='roi_class')); "
        "tests/test_paper_figures_db.py runs it.",
    )
    written.append((page.name, "The cross-recording page: figure and SQL."))

    _index(out, written)
    return written


def _index(out: Path, written: list) -> None:
    items = []
    for name, caption in written:
        if name.endswith(".png"):
            items.append(
                f'<figure><img src="{html.escape(name)}" style="max-width:100%">'
                f"<figcaption><b>{html.escape(name)}</b>: {html.escape(caption)}</figcaption></figure>"
            )
        else:
            items.append(f'<p><a href="{html.escape(name)}">{html.escape(name)}</a>: {html.escape(caption)}</p>')
    (out / "index.html").write_text(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tectum paper figures</title></head>'
        f'<body style="font-family:sans-serif;max-width:1300px;margin:auto"><h1>Paper figures (gallery, {DPI} dpi)'
        f"</h1>{''.join(items)}</body></html>\n",
        encoding="utf-8",
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tectum.figures.gallery", description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rois", type=int, default=300, help="ROIs of the main synthetic recording")
    args = parser.parse_args(argv)
    written = write_gallery(args.out, seed=args.seed, n_rois=args.rois)
    print(f"{len(written)} files in {args.out}; open {Path(args.out) / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
