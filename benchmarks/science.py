"""Science benchmark of the default analysis (issue 9); no database needed.

    python benchmarks/science.py                  # figures + timing
    python benchmarks/science.py --only figures --seeds 3
    python benchmarks/science.py --only timing --repeats 5

Figures, on seeded synthetic recordings (1000 ROIs; pipeline.synthetic:
random truth kinetics, 0.03 Hz spontaneous transients, slow noise, drift,
inhibited and mixed ROIs) for the protocols "seed2020" (1 Hz), "spots"
(4 Hz, 9 stimuli) and "flash" (2 Hz, one stimulus), each target printed
with MET / NOT MET:

- complete-null recordings: permutation p < 0.05 (<= 6.5 %), ROIs selected
  by the default (<= 0.25 %), and the parametric F-test's p < 0.05 for
  comparison;
- mixed recordings: tuned ROIs selected (>= 95 %), false-discovery
  proportion (<= 5 %), selected tuned ROIs in the right class (>= 95 %),
  inhibited ROIs labelled inhibited (>= 90 %) / with a stimulus class (0 %),
  median amplitude of spontaneous ROIs (|.| <= 0.01 dF/F), the kernel
  chosen vs the truth decay, residual lag-1 autocorrelation;
- the same figures for the old default (sensor kernel, onset trains,
  parametric F-test + BH, largest coefficient) for comparison.

Further sections, on request: ``--only kernels`` (response models compared
under the same null and class rule), ``--only calibration`` (p-value tails
on null ROIs), ``--only classes`` (the class rule's alpha).

Timing: in-memory analysis of a 10,000-ROI x 3,000-frame recording by the
old-equivalent default (sensor kernel, parametric F-test: today's
DEFAULT_PARAMS through the new stages) and by the new default (kernel
chosen per recording, circular-shift null), alternated, with and without
clustering; medians and their ratio (target <= 2).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

from pipeline import (  # noqa: E402  (after sys.path: the benchmark runs from a checkout)
    analyse_recording,
    build_regressors,
    compute_dff,
    make_null_recording,
    make_recording,
    paramset,
    sensor_kernel,
)
from pipeline.evaluation import residual_lag1, score_analysis  # noqa: E402
from pipeline.params import SEED2020_GROUPS  # noqa: E402

PROTOCOLS = ("seed2020", "spots", "flash")


def old_default(groups=SEED2020_GROUPS):
    """Today's DEFAULT_PARAMS expressed in the registry (no clustering)."""
    return dict(
        dff=("percentile", {}),
        regressors=("sensor", {"groups": groups, "train": "onset", "delay_s": 0.5}),
        fit=("ols", {"significance": "parametric", "fdr_alpha": 0.05, "r2_min": 0.05, "class_rule": "largest_coef"}),
    )


def _verdict(ok):
    return "MET" if ok else "NOT MET"


def _fmt(values, pct=True):
    if pct:
        return " ".join(f"{v:6.1%}" for v in values)
    return " ".join(f"{v:6.3f}" for v in values)


def figures(seeds, n_rois=1000):
    print(f"\n== Figures (python benchmarks/science.py --only figures --seeds {seeds}) ==")
    all_ok = True
    for protocol in PROTOCOLS:
        print(f"\n-- protocol {protocol!r}, {n_rois} ROIs, seeds 0..{seeds - 1} (mixed) / 200.. (null)")
        null = {"perm": [], "sel": [], "param": [], "old_sel": []}
        for k in range(seeds):
            rec = make_null_recording(n_rois, protocol=protocol, seed=200 + k)
            res = analyse_recording(rec.traces, rec.events, rec.frame_period_s, sensor=rec.sensor, clustering=False)
            old = analyse_recording(
                rec.traces,
                rec.events,
                rec.frame_period_s,
                sensor=rec.sensor,
                clustering=False,
                **old_default(rec.groups),
            )
            null["perm"].append(np.mean(res.fit.p_permutation < 0.05))
            null["param"].append(np.mean(old.fit.p_parametric < 0.05))
            null["sel"].append(res.fit.selected.mean())
            null["old_sel"].append(old.fit.selected.mean())
        ok1 = max(null["perm"]) <= 0.065
        ok2 = max(null["sel"]) <= 0.0025
        all_ok &= ok1 and ok2
        print(f"null: permutation p<0.05  {_fmt(null['perm'])}  (target <= 6.5 %) -> {_verdict(ok1)}")
        print(f"null: selected (default)  {_fmt(null['sel'])}  (target <= 0.25 %) -> {_verdict(ok2)}")
        print(f"null: F-test p<0.05       {_fmt(null['param'])}  (the old test, for comparison)")
        print(f"null: selected (old)      {_fmt(null['old_sel'])}")

        rows = {"new": [], "old": []}
        kernels = []
        for k in range(seeds):
            rec = make_recording(n_rois, protocol=protocol, seed=k)
            for label, kwargs in (("new", {}), ("old", old_default(rec.groups))):
                res = analyse_recording(
                    rec.traces, rec.events, rec.frame_period_s, sensor=rec.sensor, clustering=False, **kwargs
                )
                rows[label].append(score_analysis(rec, res))
            r2obj = analyse_recording(
                rec.traces,
                rec.events,
                rec.frame_period_s,
                sensor=rec.sensor,
                clustering=False,
                regressors=("fitted", {"groups": rec.groups, "objective": "r2"}),
            )
            kernels.append(
                (
                    rec.truth_kernel["tau_decay_s"],
                    rows["new"][-1]["kernel"],
                    r2obj.regressors.kernel_info["tau_decay_s"],
                )
            )
        targets = [
            ("recall", "tuned selected", ">= 95 %", lambda v: min(v) >= 0.95),
            ("fdp", "false-discovery prop.", "<= 5 %", lambda v: max(v) <= 0.05),
            ("class_accuracy", "right class", ">= 95 %", lambda v: min(v) >= 0.95),
            ("inhibited_labelled", "inhibited -> inhibited", ">= 90 %", lambda v: min(v) >= 0.90),
            ("inhibited_stimulus_class", "inhibited -> stimulus", "0 %", lambda v: max(v) == 0.0),
            ("mixed_labelled_mixed", "mixed -> mixed", "(report)", None),
            (
                "amplitude_median_spontaneous",
                "amplitude median spont.",
                "|.| <= 0.01",
                lambda v: max(abs(x) for x in v) <= 0.01,
            ),
        ]
        for key, label, target, check in targets:
            new = [r[key] for r in rows["new"]]
            old = [r[key] for r in rows["old"]]
            pct = key != "amplitude_median_spontaneous"
            verdict = ""
            if check is not None and not any(np.isnan(new)):
                ok = check(new)
                all_ok &= ok
                verdict = f" -> {_verdict(ok)}"
            print(f"mixed: {label:24s} {_fmt(new, pct)}  (target {target}){verdict}   old: {_fmt(old, pct)}")
        for truth, chosen, r2tau in kernels:
            print(
                f"kernel: truth decay {truth:.2f} s; chosen (z objective) "
                f"tau {chosen['tau_decay_s']:g} s delay "
                f"{chosen['delay_s']:g} s; r2 objective tau {r2tau:g} s"
            )
        rec = make_null_recording(300, protocol=protocol, seed=7)
        dff = compute_dff(rec.traces)
        design = build_regressors(
            rec.events,
            dff.shape[1],
            rec.frame_period_s,
            sensor_kernel("GCaMP6s", rec.frame_period_s, delay_s=0.5),
            groups=rec.groups,
        ).design
        print(
            f"noise: residual lag-1 autocorrelation (median, spontaneous) "
            f"{residual_lag1(dff, design):.2f} (generator target >= 0.35)"
        )
    print(f"\nall figure targets met: {all_ok}")
    return all_ok


KERNELS = {
    "fitted, boxcar, z objective (default)": ("fitted", {}),
    "fitted, boxcar, r2 objective": ("fitted", {"objective": "r2"}),
    "fitted, onset trains": ("fitted", {"train": "onset"}),
    "sensor 1-AP kernel, boxcar": ("sensor", {"train": "boxcar"}),
    "sensor 1-AP kernel, onset (old)": ("sensor", {"train": "onset"}),
    "exponential tau 2 s, boxcar": ("exponential", {"tau_decay_s": 2.0}),
    "fir 10 s": ("fir", {"window_s": 10.0}),
}


def kernels(seeds, n_rois=1000):
    """Response models compared with the same shift null and class rule."""
    print(f"\n== Response models (python benchmarks/science.py --only kernels --seeds {seeds}) ==")
    print("per recording: tuned selected / right class / inhibited labelled inhibited / FDP")
    for protocol in PROTOCOLS:
        recs = [make_recording(n_rois, protocol=protocol, seed=k) for k in range(seeds)]
        print(f"-- {protocol}")
        for label, (method, params) in KERNELS.items():
            cells = []
            for rec in recs:
                res = analyse_recording(
                    rec.traces,
                    rec.events,
                    rec.frame_period_s,
                    sensor=rec.sensor,
                    clustering=False,
                    regressors=(method, dict(params, groups=rec.groups)),
                )
                s = score_analysis(rec, res)
                cells.append(
                    f"{s['recall']:.3f}/{s['class_accuracy']:.3f}/{s['inhibited_labelled']:.3f}/{s['fdp']:.3f}"
                )
            print(f"  {label:40s} {'  '.join(cells)}")


def calibration(seeds, n_rois=1000):
    """Tail approximations on null ROIs at pseudo-observed alignments."""
    from pipeline import admissible_shifts, make_kernel, shift_null

    print(
        f"\n== Calibration of p-values on null ROIs (python "
        f"benchmarks/science.py --only calibration --seeds {seeds}) =="
    )
    print(
        "observed / nominal rate of p < alpha (1.00 = calibrated), r2 "
        "and coefficients; design aligned at 4 offsets per recording"
    )
    alphas = (0.05, 0.01, 1e-3, 1e-4)
    for protocol in ("seed2020", "spots"):
        got = {t: ([], []) for t in ("gpd", "beta", "none")}
        for k in range(seeds):
            rec = make_null_recording(n_rois, protocol=protocol, seed=300 + k)
            dff = compute_dff(rec.traces)
            dt = rec.frame_period_s
            design = build_regressors(
                rec.events, dff.shape[1], dt, make_kernel(dt, 2.0, delay_s=0.5), groups=rec.groups, mode="boxcar"
            ).design
            n = dff.shape[1]
            shifts = admissible_shifts(n, int(np.ceil(12.0 / dt)))
            for s0 in (0, n // 4, n // 2, 3 * n // 4):
                for tail in got:
                    res = shift_null(np.roll(design, s0, axis=0), dff, shifts, tail=tail)
                    got[tail][0].append(res.p_value)
                    got[tail][1].append(res.contrast_p.ravel())
        print(f"-- {protocol} ({len(shifts)} shifts)")
        for tail, (p_r2, p_c) in got.items():
            p_r2, p_c = np.concatenate(p_r2), np.concatenate(p_c)
            r = "  ".join(f"{np.mean(p_r2 < a) / a:5.2f}" for a in alphas)
            c = "  ".join(f"{np.mean(p_c < a) / a:5.2f}" for a in alphas)
            print(f"  tail {tail:5s} r2: {r}   coef: {c}   (alpha {', '.join(f'{a:g}' for a in alphas)})")


def classes(seeds, n_rois=1000):
    """The class rule's alpha: class accuracy vs inhibited mislabels."""
    from pipeline import classify, resolve_params

    print(f"\n== Class alpha (python benchmarks/science.py --only classes --seeds {seeds}) ==")
    print("per recording: right class / inhibited labelled inhibited / inhibited with a stimulus class (count)")
    for protocol in PROTOCOLS:
        runs = []
        for k in range(seeds):
            rec = make_recording(n_rois, protocol=protocol, seed=k)
            runs.append(
                (
                    rec,
                    analyse_recording(rec.traces, rec.events, rec.frame_period_s, sensor=rec.sensor, clustering=False),
                )
            )
        print(f"-- {protocol}")
        for alpha in (0.003, 0.01, 0.02, 0.05):
            params = resolve_params("fit", "ols", {"class_alpha": alpha})
            cells = []
            for rec, res in runs:
                res.labels, _, _ = classify(res.fit, res.regressors.names, params)
                s = score_analysis(rec, res)
                n_inh = int((rec.truth == "inhibited").sum())
                cells.append(
                    f"{s['class_accuracy']:.3f}/"
                    f"{s['inhibited_labelled']:.3f}/"
                    f"{round(s['inhibited_stimulus_class'] * n_inh)}"
                )
            print(f"  class_alpha {alpha:<6g} {'  '.join(cells)}")


def timing(repeats, n_rois=10_000, n_frames=3_000):
    print(f"\n== Timing (python benchmarks/science.py --only timing --repeats {repeats}) ==")
    t0 = time.perf_counter()
    rec = make_recording(n_rois, n_frames, seed=0)
    print(
        f"recording: {n_rois:,} ROIs x {n_frames:,} frames, "
        f"{len(rec.events)} presentations (generated in "
        f"{time.perf_counter() - t0:.1f} s)"
    )
    old = old_default()
    old_ps = paramset(**old)
    cases = {
        "old-equivalent": dict(old),
        "new default": {},
    }
    results = {}
    for clustering in (True, False):
        times = {name: [] for name in cases}
        for _ in range(repeats):
            for name, kwargs in cases.items():  # alternate: same load
                kw = dict(kwargs)
                if not clustering:
                    kw["clustering"] = False
                start = time.perf_counter()
                res = analyse_recording(rec.traces, rec.events, rec.frame_period_s, sensor=rec.sensor, **kw)
                times[name].append(time.perf_counter() - start)
                del res
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = med["new default"] / med["old-equivalent"]
        label = "with clustering" if clustering else "without clustering"
        for name, v in times.items():
            print(f"{label:19s} {name:15s} median {med[name]:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in v)})")
        ok = ratio <= 2.0
        print(f"{label:19s} ratio new / old = {ratio:.2f} (target <= 2) -> {_verdict(ok)}")
        results[label] = (med, ratio)
    print(
        f"(old-equivalent parameters: regressors {old_ps['regressors']}, "
        f"fit significance {old_ps['fit'][1]['significance']})"
    )
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only",
        choices=("figures", "timing", "kernels", "calibration", "classes"),
        help="one section (default: figures and timing)",
    )
    ap.add_argument("--seeds", type=int, default=3, help="recordings per protocol and kind (default 3)")
    ap.add_argument("--repeats", type=int, default=3, help="timing runs of each analysis (default 3)")
    args = ap.parse_args(argv)
    if args.only in (None, "figures"):
        figures(args.seeds)
    if args.only in (None, "timing"):
        timing(args.repeats)
    if args.only == "kernels":
        kernels(args.seeds)
    if args.only == "calibration":
        calibration(args.seeds)
    if args.only == "classes":
        classes(args.seeds)


if __name__ == "__main__":
    main()
