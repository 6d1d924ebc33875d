"""The plausibility checks shared by insert_recording and the manifest reader (no database)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from schemas import plausibility as pl


@pytest.mark.parametrize(
    "period, problem",
    [
        (1.0, None),
        (0.001, None),
        (60.0, None),
        (0.033, None),
        (
            500.0,
            "500.0 s is outside the plausible range 1 ms to 60 s per frame; was it written in ms? (500.0 ms = 0.5 s)",
        ),
        (
            61.0,
            "61.0 s is outside the plausible range 1 ms to 60 s per frame; was it written in ms? (61.0 ms = 0.061 s)",
        ),
        (1e6, "1e+06 s is outside the plausible range 1 ms to 60 s per frame"),
        (0.0005, "0.0005 s is outside the plausible range"),
        (0.0, "must be a positive number of seconds"),
        (float("nan"), "must be a positive number of seconds"),
    ],
)
def test_frame_period(period, problem):
    found = pl.frame_period_problem(period)
    assert (found is None) if problem is None else (found is not None and found.startswith(problem)), found
    if period == 1e6:
        assert "ms" not in found.split("per frame")[1]  # 1000 s per frame is no better


def test_frame_period_hint_can_be_left_out():
    assert "written in ms" not in pl.frame_period_problem(500.0, unit_hint=False)


@pytest.mark.parametrize(
    "age, ok",
    [
        (7, True),
        (0, True),
        (10000, True),
        (10001, False),
        (1e39, False),
        (-1, False),
        (float("inf"), False),
        (True, False),
        ("7", False),
    ],
)
def test_age(age, ok):
    assert (pl.age_problem(age) is None) == ok


def test_recorded_at_keeps_the_wall_clock_and_the_offset():
    aware = dt.datetime(2024, 3, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30)))
    assert pl.recorded_at_value(aware) == (dt.datetime(2024, 3, 1, 10, 30), "-05:30")
    assert pl.recorded_at_value("2024-03-01T10:30:00+01:00") == (dt.datetime(2024, 3, 1, 10, 30), "+01:00")
    assert pl.recorded_at_value(dt.date(2024, 3, 1)) == (dt.datetime(2024, 3, 1), None)
    assert pl.recorded_at_value(None) == (None, None)
    for bad in ("yesterday", 1709285400, np.datetime64("2024-03-01"), dt.datetime(999, 1, 1)):
        with pytest.raises(ValueError):
            pl.recorded_at_value(bad)


def test_positions():
    positions = np.zeros((4, 2))
    assert pl.position_problem(positions) is None
    positions[3, 1] = np.nan  # not known: stored as NULL
    assert pl.position_problem(positions, [10, 11, 12, 13]) is None
    positions[3, 1] = np.inf
    assert pl.position_problem(positions, [10, 11, 12, 13]) == "position y = inf of ROI 13 (row 3) is not finite"
    positions[3, 1] = np.nan
    positions[2, 0] = np.inf
    positions[1, 0] = -2e6
    assert pl.position_problem(positions).startswith(
        "position x = -2000000.0 of ROI row 1 is beyond ±1e+06 pixels (2 ROI rows affected)"
    )


def test_duplicate_presentations():
    assert pl.duplicate_presentations(["prey", "looming", "prey", "prey"], [1.0, 1.0, 1.0, 2.0]) == [(0, 2)]
    assert pl.duplicate_presentations(["prey", "prey"], [1.0, 1.5]) == []


def test_late_stimuli():
    # 1 s frames: the last second is the last frame
    assert "last frame" in pl.late_stimuli_problem([99.0, 99.5], 100, 1.0)
    assert pl.late_stimuli_problem([98.9, 99.5], 100, 1.0) is None
    # 0.1 s frames: the last second spans ten frames
    assert "last second" in pl.late_stimuli_problem([9.05, 9.9], 100, 0.1)
    assert pl.late_stimuli_problem([8.9, 9.9], 100, 0.1) is None
    # 5 s frames: the last frame is longer than a second
    assert "last frame" in pl.late_stimuli_problem([496.0], 100, 5.0)
    assert pl.late_stimuli_problem([494.0], 100, 5.0) is None


def test_low_baseline_rois():
    traces = np.random.default_rng(0).uniform(100, 200, size=(6, 200))
    traces[1] = -3.0  # every frame negative
    traces[3, :5] = -50.0  # a few negative frames: its 8th percentile is still > 0
    traces[4, :40] = 0.0  # 20 % zeros: the 8th percentile is 0
    assert pl.low_baseline_rois(traces, 8.0).tolist() == [1, 4]
    assert pl.low_baseline_rois(np.abs(traces) + 1, 8.0).tolist() == []


def test_transposed_fit():
    # read as 30 ROIs x 420 frames at 1 s: the stimuli up to 410 s fit only the other way round
    assert "its 420 rows match the recording's frames (the last stimulus starts at 410.0 s" in pl.transposed_fit(
        420, 30, 1.0, last_onset_s=410.0
    )
    assert pl.transposed_fit(420, 30, 1.0, last_onset_s=20.0) is None  # fits as it is
    assert pl.transposed_fit(420, 30, 1.0, last_onset_s=500.0) is None  # fits neither way
    assert "the microscope recorded 420" in pl.transposed_fit(420, 30, 1.0, expected_frames=420)
    assert pl.transposed_fit(420, 30, 1.0, expected_frames=400) is None
    assert "the protocol runs for 419.9 s" in pl.transposed_fit(420, 30, 1.0, protocol_s=419.9)
    assert pl.transposed_fit(30, 30, 1.0, last_onset_s=100.0) is None  # square: no telling
