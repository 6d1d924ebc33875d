"""Ground truth: the default analysis recovers the synthetic classes.

Synthetic recordings at SNR 4 (peak response / baseline noise sd), 1 Hz,
GCaMP6s, 420 frames, with bleaching, drift and spontaneous events; analysed
with the default parameters: 8th-percentile dF/F, GCaMP6s sensor kernel (with
the default 0.5 s onset delay), onset regressors with the two prey directions
pooled, r2 > 0.05 and Benjamini-Hochberg q <= 0.05, class = largest
coefficient. Run with ``pytest -s`` to see the figures.
"""

import numpy as np
import pytest

from pipeline import analyse_recording, make_recording

SNR = 4.0
TUNED = ("prey", "looming", "dimming")


def score(rec, res):
    truth = rec.truth
    names = np.array(res["regressors"].names)
    sel = res["selected"]
    tuned = np.isin(truth, TUNED)
    sel_tuned = sel & tuned
    assigned = names[res["class_index"][sel_tuned]]
    return dict(
        tuned_selected=sel[tuned].mean(),
        spontaneous_selected=sel[truth == "spontaneous"].mean(),
        mixed_selected=sel[truth == "mixed"].mean(),
        correct_class=(assigned == truth[sel_tuned]).mean(),
        per_class={c: sel[truth == c].mean() for c in TUNED},
    )


def report(label, figures):
    per = ", ".join(f"{c} {v:.1%}" for c, v in figures["per_class"].items())
    print(f"\n[{label}] SNR {SNR:g}: tuned selected "
          f"{figures['tuned_selected']:.1%} ({per}); spontaneous selected "
          f"{figures['spontaneous_selected']:.1%}; mixed selected "
          f"{figures['mixed_selected']:.1%}; selected tuned in right class "
          f"{figures['correct_class']:.1%}")


def check(figures):
    assert figures["tuned_selected"] >= 0.95
    assert figures["spontaneous_selected"] <= 0.05
    assert figures["correct_class"] >= 0.95


@pytest.mark.parametrize("seed", [0, 1])
def test_default_parameters_recover_classes(seed):
    rec = make_recording(n_rois=1000, n_frames=420, snr=SNR, seed=seed)
    res = analyse_recording(rec.traces, rec.events, rec.frame_period_s,
                            sensor=rec.sensor,
                            regressors=dict(groups=rec.groups),
                            clustering=False)
    figures = score(rec, res)
    report(f"default, seed {seed}", figures)
    check(figures)


def test_neuropil_and_sliding_baseline():
    rec = make_recording(n_rois=1000, n_frames=420, snr=SNR, seed=2,
                         neuropil=True)
    res = analyse_recording(rec.traces, rec.events, rec.frame_period_s,
                            sensor=rec.sensor, neuropil=rec.neuropil,
                            dff=dict(method="sliding_percentile"),
                            regressors=dict(groups=rec.groups),
                            clustering=False)
    figures = score(rec, res)
    report("neuropil-subtracted, sliding 60 s baseline", figures)
    check(figures)


def test_alternatives_for_reference():
    """Not asserted: the figures of other settings, for the record."""
    rec = make_recording(n_rois=1000, n_frames=420, snr=SNR, seed=0)
    settings = {
        "seed2020 (notebook dF/F + kernel, no FDR)": dict(
            dff=dict(method="seed2020"),
            regressors=dict(kernel="seed2020", groups=rec.groups),
            fit=dict(fdr_alpha=None)),
        "sensor kernel without onset delay": dict(
            regressors=dict(groups=rec.groups, delay_s=0.0)),
        "boxcar regressors": dict(
            regressors=dict(groups=rec.groups, mode="boxcar")),
    }
    for label, kwargs in settings.items():
        res = analyse_recording(rec.traces, rec.events, rec.frame_period_s,
                                sensor=rec.sensor, clustering=False, **kwargs)
        report(label, score(rec, res))
