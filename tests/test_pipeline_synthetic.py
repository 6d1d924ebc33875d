"""Synthetic recordings: protocol, determinism, ground truth bookkeeping."""

import os
import time

import numpy as np
import pytest

from pipeline import SyntheticRecording, make_recording
from pipeline.synthetic import CLASSES, make_protocol


def test_shapes_types_and_truth():
    rec = make_recording(n_rois=200, n_frames=420, seed=1)
    assert isinstance(rec, SyntheticRecording)
    assert rec.traces.shape == (200, 420) and rec.traces.dtype == np.float32
    assert (rec.traces > 0).all() and np.isfinite(rec.traces).all()
    assert rec.positions.shape == (200, 3)
    assert rec.neuropil is None and rec.sensor == "GCaMP6s"
    counts = {c: int((rec.truth == c).sum()) for c in CLASSES}
    assert counts == {"prey": 40, "looming": 30, "dimming": 30, "mixed": 20,
                      "spontaneous": 80}
    assert rec.groups == {"prey": ["prey-nasalward", "prey-temporalward"],
                          "looming": ["looming"], "dimming": ["dimming"]}
    assert rec.frame_period_s == 1.0 and rec.snr == 4.0


def test_protocol():
    ev = make_protocol(420, 1.0)
    assert sorted(ev["stimulus"].value_counts().items()) == [
        ("dimming", 3), ("looming", 3), ("prey-nasalward", 3),
        ("prey-temporalward", 3)]
    onsets = ev["onset_s"].to_numpy()
    assert onsets[0] == 20.0 and np.all(np.diff(onsets) >= 25.0)
    assert np.all(np.diff(onsets) <= 35.0)
    assert (onsets + ev["duration_s"]).max() <= 420
    prey = ev["stimulus"].str.startswith("prey")
    assert set(ev.loc[prey, "duration_s"]) == {5.0}
    assert set(ev.loc[~prey, "duration_s"]) == {3.0}
    # compressed to fit a short recording, still in order and in range
    short = make_protocol(150, 1.0)
    gaps = np.diff(short["onset_s"]) - short["duration_s"].to_numpy()[:-1]
    assert (short["onset_s"] + short["duration_s"]).max() <= 150
    assert gaps.min() >= 2.0
    with pytest.raises(ValueError, match="too short"):
        make_protocol(60, 1.0)


def test_deterministic_given_seed():
    a = make_recording(n_rois=50, n_frames=300, seed=7, neuropil=True)
    b = make_recording(n_rois=50, n_frames=300, seed=7, neuropil=True)
    c = make_recording(n_rois=50, n_frames=300, seed=8, neuropil=True)
    np.testing.assert_array_equal(a.traces, b.traces)
    np.testing.assert_array_equal(a.neuropil, b.neuropil)
    np.testing.assert_array_equal(a.truth, b.truth)
    assert a.events.equals(b.events)
    assert not np.array_equal(a.traces, c.traces)


def test_tuned_rois_respond_to_their_stimuli():
    rec = make_recording(n_rois=300, seed=2, snr=50.0, drift=False)
    f0 = np.median(rec.traces, axis=1, keepdims=True)
    dff = rec.traces / f0 - 1
    for cls, stims in (("looming", ["looming"]), ("dimming", ["dimming"]),
                       ("prey", ["prey-nasalward", "prey-temporalward"])):
        onsets = rec.events.loc[rec.events["stimulus"].isin(stims), "onset_s"]
        frames = (onsets.to_numpy() // rec.frame_period_s).astype(int)
        window = np.concatenate([np.arange(f, f + 4) for f in frames])
        evoked = dff[:, window].mean(axis=1)
        tuned = rec.truth == cls
        assert evoked[tuned].min() > 0.05
        assert np.median(evoked[rec.truth == "spontaneous"]) < 0.02


def test_options_and_validation():
    rec = make_recording(n_rois=20, n_frames=600, frame_period_s=0.5,
                         sensor="jgcamp8m", neuropil=True, drift=False,
                         fractions={"looming": 0.5, "spontaneous": 0.5})
    assert rec.sensor == "jGCaMP8m" and rec.neuropil.shape == (20, 600)
    assert (rec.neuropil > 0).all()
    assert set(rec.truth) == {"looming", "spontaneous"}
    with pytest.raises(ValueError, match="sum to 1"):
        make_recording(fractions={"prey": 0.5})
    with pytest.raises(ValueError, match="unknown classes"):
        make_recording(fractions={"grating": 1.0})
    with pytest.raises(ValueError, match="too short"):
        make_recording(n_frames=50)
    with pytest.raises(ValueError, match="sensor"):
        make_recording(sensor="GCaMP3")


@pytest.mark.skipif(not os.environ.get("PIPELINE_BIG_TESTS"),
                    reason="set PIPELINE_BIG_TESTS=1 (100k ROIs, ~10 s)")
def test_large_recording_fast():
    start = time.perf_counter()
    rec = make_recording(n_rois=100_000, n_frames=2000)
    assert time.perf_counter() - start < 30
    assert rec.traces.nbytes == 100_000 * 2000 * 4
