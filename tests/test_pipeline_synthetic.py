"""Synthetic recordings: protocols, determinism, ground truth bookkeeping."""

import os
import time

import numpy as np
import pytest

from pipeline import SyntheticRecording, make_null_recording, make_recording
from pipeline import kernels as kernel_module
from pipeline.protocols import PROTOCOLS, make_protocol


def test_shapes_types_and_truth():
    rec = make_recording(n_rois=200, seed=1)
    assert isinstance(rec, SyntheticRecording)
    assert rec.traces.shape == (200, 456) and rec.traces.dtype == np.float32
    assert (rec.traces > 0).all() and np.isfinite(rec.traces).all()
    assert rec.positions.shape == (200, 3)
    assert rec.neuropil is None and rec.sensor == "GCaMP6s"
    counts = {c: int((rec.truth == c).sum()) for c in np.unique(rec.truth)}
    assert counts == {"prey": 30, "looming": 30, "dimming": 30, "mixed": 20, "inhibited": 16, "spontaneous": 74}
    assert rec.groups == {
        "prey": ["prey-nasalward", "prey-temporalward"],
        "looming": ["looming"],
        "dimming": ["dimming"],
    }
    assert rec.gains.shape == (200, 3)
    mixed = rec.truth == "mixed"
    assert ((rec.gains[mixed] > 0).sum(axis=1) == 2).all()
    inhibited = rec.truth == "inhibited"
    assert ((rec.gains[inhibited] < 0).sum(axis=1) == 1).all()
    assert (rec.gains[rec.truth == "spontaneous"] == 0).all()
    tk = rec.truth_kernel
    assert 1.5 <= tk["tau_decay_s"] <= 3.0 and 0 < tk["tau_rise_s"] < 0.5


def test_protocols():
    ev, n, dt = make_protocol("seed2020")
    assert sorted(ev["stimulus"].value_counts().items()) == [
        ("dimming", 3),
        ("looming", 3),
        ("prey-nasalward", 3),
        ("prey-temporalward", 3),
    ]
    assert dt == 1.0 and 420 <= n <= 470
    onsets = ev["onset_s"].to_numpy()
    assert onsets[0] == 30.0 and np.all(np.diff(onsets) >= 27.0)
    assert (onsets + ev["duration_s"]).max() <= n
    spots, n_s, dt_s = make_protocol("spots")
    assert dt_s == 0.25 and spots["stimulus"].nunique() == 9
    assert len(spots) == 36
    flash, _, _ = make_protocol("flash")
    assert set(flash["stimulus"]) == {"flash"} and len(flash) == 10
    # longer recordings repeat the protocol; shorter ones compress it
    long, _, _ = make_protocol("seed2020", n_frames=3000)
    assert len(long) >= 72 and long["onset_s"].max() < 3000
    short, _, _ = make_protocol("seed2020", n_frames=150)
    gaps = np.diff(short["onset_s"]) - short["duration_s"].to_numpy()[:-1]
    assert gaps.min() >= 2.0
    with pytest.raises(ValueError, match="too short"):
        make_protocol("seed2020", n_frames=60)
    with pytest.raises(ValueError, match="known"):
        make_protocol("gratings")
    assert set(PROTOCOLS) == {"seed2020", "spots", "flash"}


def test_deterministic_given_seed():
    a = make_recording(n_rois=50, n_frames=300, seed=7, neuropil=True)
    b = make_recording(n_rois=50, n_frames=300, seed=7, neuropil=True)
    c = make_recording(n_rois=50, n_frames=300, seed=8, neuropil=True)
    np.testing.assert_array_equal(a.traces, b.traces)
    np.testing.assert_array_equal(a.neuropil, b.neuropil)
    np.testing.assert_array_equal(a.truth, b.truth)
    assert a.events.equals(b.events)
    assert not np.array_equal(a.traces, c.traces)
    assert a.truth_kernel != c.truth_kernel


def test_responses_follow_the_truth():
    rec = make_recording(n_rois=300, seed=2, snr=50.0, drift=False, spont_rate_hz=0.0, slow_noise=False)
    f0 = np.median(rec.traces, axis=1, keepdims=True)
    dff = rec.traces / f0 - 1
    for cls, stims in rec.groups.items():
        on = rec.events.loc[rec.events["stimulus"].isin(stims), "onset_s"]
        frames = on.to_numpy().astype(int)
        window = np.concatenate([np.arange(f + 1, f + 5) for f in frames])
        evoked = dff[:, window].mean(axis=1)
        assert evoked[rec.truth == cls].min() > 0.05
        assert np.abs(evoked[rec.truth == "spontaneous"]).max() < 0.02
        down = (rec.truth == "inhibited") & (rec.gains[:, list(rec.groups).index(cls)] < 0)
        assert evoked[down].max() < -0.02


def test_null_recording_and_options():
    null = make_null_recording(100, protocol="flash", seed=1)
    assert set(null.truth) == {"spontaneous"} and null.frame_period_s == 0.5
    rec = make_recording(
        n_rois=20,
        n_frames=600,
        frame_period_s=0.5,
        sensor="jgcamp8m",
        neuropil=True,
        drift=False,
        fractions={"looming": 0.5, "spontaneous": 0.5},
        truth_kernel={"tau_decay_s": 2.0},
    )
    assert rec.sensor == "jGCaMP8m" and rec.neuropil.shape == (20, 600)
    assert rec.truth_kernel["tau_decay_s"] == 2.0
    assert set(rec.truth) == {"looming", "spontaneous"}
    with pytest.raises(ValueError, match="sum to 1"):
        make_recording(fractions={"prey": 0.5})
    with pytest.raises(ValueError, match="unknown classes"):
        make_recording(fractions={"grating": 1.0})
    with pytest.raises(ValueError, match="mixed"):
        make_recording(protocol="flash", fractions={"mixed": 1.0})
    with pytest.raises(ValueError, match="truth_kernel"):
        make_recording(truth_kernel={"tau": 1.0})


def test_generator_does_not_use_the_analysis_kernels(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the generator used an analysis kernel")

    import pipeline.synthetic as synthetic

    names = ("exponential_kernel", "double_exponential_kernel", "sensor_kernel", "make_kernel", "seed2020_kernel")
    for name in names:
        monkeypatch.setattr(kernel_module, name, forbidden)
        assert not hasattr(synthetic, name)
    make_recording(n_rois=30, seed=3)


@pytest.mark.skipif(not os.environ.get("PIPELINE_BIG_TESTS"), reason="set PIPELINE_BIG_TESTS=1 (100k ROIs)")
def test_large_recording():
    start = time.perf_counter()
    rec = make_recording(n_rois=100_000, n_frames=2000)
    assert time.perf_counter() - start < 120
    assert rec.traces.nbytes == 100_000 * 2000 * 4
