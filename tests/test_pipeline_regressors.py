"""build_regressors: onset/boxcar trains, groups, convolution, validation."""

import numpy as np
import pandas as pd
import pytest

from pipeline import RegressorSet, build_regressors, exponential_kernel
from pipeline.regressors import fir_design, resolve_groups

EVENTS = pd.DataFrame(
    {
        "stimulus": ["prey-nasalward", "looming", "prey-temporalward", "dimming", "looming", "prey-nasalward", "flash"],
        "onset_s": [20.3, 51.7, 80.0, 110.95, 140.2, 170.5, 200.0],
        "duration_s": [5.0, 3.0, 5.0, 3.0, 3.0, 5.0, 1.0],
    }
)
GROUPS = {"prey": ["prey-nasalward", "prey-temporalward"], "looming": ["looming"], "dimming": ["dimming"]}


def test_onset_regressors_default_groups():
    kernel = exponential_kernel(1.0, 1.8)
    regs = build_regressors(EVENTS, 240, 1.0, kernel)
    assert isinstance(regs, RegressorSet)
    # one regressor per stimulus, in order of first appearance
    assert regs.names == ["prey-nasalward", "looming", "prey-temporalward", "dimming", "flash"]
    assert regs.raw.shape == regs.convolved.shape == (5, 240)
    np.testing.assert_array_equal(np.flatnonzero(regs.raw[0]), [20, 170])
    np.testing.assert_array_equal(regs.onset_frames[1], [51, 140])
    np.testing.assert_array_equal(regs.n_presentations, [2, 2, 1, 1, 1])
    assert regs.design.shape == (240, 5)
    for raw, conv in zip(regs.raw, regs.convolved):
        np.testing.assert_allclose(conv, np.convolve(raw, kernel)[:240], rtol=0, atol=1e-12)


def test_groups_pool_stimuli_others_get_their_own_regressor():
    regs = build_regressors(EVENTS, 240, 1.0, [1.0, 0.5], groups=GROUPS)
    # "flash" is in no group: a regressor of its own, never dropped
    assert regs.names == ["prey", "looming", "dimming", "flash"]
    np.testing.assert_array_equal(regs.onset_frames[0], [20, 80, 170])
    assert regs.raw.sum() == 7
    assert regs.stimuli["prey"] == GROUPS["prey"]
    np.testing.assert_array_equal(regs.presentation_index[0], [0, 2, 5])
    # a group without presentations is absent, not an error
    regs = build_regressors(EVENTS, 240, 1.0, [1.0], groups={**GROUPS, "optomotor": ["grating"]})
    assert "optomotor" not in regs.names


def test_group_validation():
    with pytest.raises(ValueError, match="groups 'prey' and 'b'"):
        resolve_groups({"prey": ["a"], "b": ["a"]}, ["a"])
    with pytest.raises(ValueError, match="reserved"):
        resolve_groups({"inhibited": ["a"]}, ["a"])
    with pytest.raises(ValueError, match="reserved"):
        resolve_groups(None, ["unclassified"])
    with pytest.raises(ValueError, match="a group is called so"):
        resolve_groups({"a": ["b"]}, ["a", "b"])
    assert resolve_groups({"x": ["a", "c"]}, ["b", "a"]) == {"x": ["a"], "b": ["b"]}


def test_fir_design_columns():
    raw = np.zeros((2, 12))
    raw[0, 2] = raw[1, 6] = 1
    design, cols = fir_design(raw, 3)
    assert design.shape == (12, 6)
    np.testing.assert_array_equal(np.flatnonzero(design[:, 0]), [2])
    np.testing.assert_array_equal(np.flatnonzero(design[:, 2]), [4])
    np.testing.assert_array_equal(np.flatnonzero(design[:, 5]), [8])
    np.testing.assert_array_equal(cols[1], [3, 4, 5])


def test_onset_frame_rule_matches_notebook_bit_for_bit():
    dt = 0.1
    onsets = [0.3, 0.7, 2.9, 5.1, 12.3]
    events = [{"stimulus": "a", "onset_s": o, "duration_s": 0.0} for o in onsets]
    regs = build_regressors(events, 200, dt, [1.0])
    frame_rate = float(1 / dt)
    expected = [int(o * frame_rate) for o in onsets]
    np.testing.assert_array_equal(regs.onset_frames[0], sorted(expected))
    assert expected[0] == 3  # 0.3 / 0.1 would give 2


def test_boxcar_mode():
    events = pd.DataFrame({"stimulus": ["a", "a", "b"], "onset_s": [2.5, 10.0, 18.2], "duration_s": [3.0, 0.0, 5.0]})
    regs = build_regressors(events, 20, 1.0, [1.0], mode="boxcar")
    # 2.5 s + 3 s -> frames 2..5; zero duration -> onset frame only
    np.testing.assert_array_equal(np.flatnonzero(regs.raw[0]), [2, 3, 4, 5, 10])
    # clipped to the recording
    np.testing.assert_array_equal(np.flatnonzero(regs.raw[1]), [18, 19])
    np.testing.assert_array_equal(regs.onset_frames[0], [2, 10])
    with pytest.raises(ValueError, match="duration_s"):
        build_regressors(events.drop(columns="duration_s"), 20, 1.0, [1.0], mode="boxcar")


def test_fft_path_matches_np_convolve():
    n = 6000
    events = [
        {"stimulus": s, "onset_s": o, "duration_s": 2.0} for s, o in [("a", 10), ("b", 400), ("a", 3000), ("c", 5990)]
    ]
    kernel = np.exp(-np.arange(n) / 40.0)
    kernel /= kernel.sum()
    regs = build_regressors(events, n, 1.0, kernel, mode="boxcar")
    for raw, conv in zip(regs.raw, regs.convolved):
        np.testing.assert_allclose(conv, np.convolve(raw, kernel)[:n], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "onset, duration, match",
    [
        (240.5, 1.0, "outside the recording"),
        (-0.5, 1.0, "outside the recording"),
        (np.nan, 1.0, "non-finite"),
        (10.0, np.inf, "non-finite"),
        (10.0, -1.0, "negative duration"),
    ],
)
def test_bad_event_is_named(onset, duration, match):
    events = EVENTS.copy()
    events.loc[3, ["onset_s", "duration_s"]] = [onset, duration]
    with pytest.raises(ValueError, match=match) as info:
        build_regressors(events, 240, 1.0, [1.0])
    msg = str(info.value)
    assert "'dimming'" in msg and "index 3" in msg
    if "outside" in match:
        assert "240.0 s" in msg and str(onset) in msg


def test_events_validation():
    with pytest.raises(ValueError, match="lack column"):
        build_regressors(EVENTS.drop(columns="onset_s"), 240, 1.0, [1.0])
    with pytest.raises(ValueError, match="empty"):
        build_regressors(EVENTS.iloc[:0], 240, 1.0, [1.0])
    with pytest.raises(ValueError, match="mode"):
        build_regressors(EVENTS, 240, 1.0, [1.0], mode="ramp")
    with pytest.raises(ValueError, match="kernel"):
        build_regressors(EVENTS, 240, 1.0, np.ones((2, 2)))
    # onset mode tolerates a missing duration column
    regs = build_regressors(EVENTS.drop(columns="duration_s"), 240, 1.0, [1.0])
    assert regs.raw.sum() == len(EVENTS)
