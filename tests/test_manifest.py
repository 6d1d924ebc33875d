"""Tests of manifest parsing, per-entry reading and cross-file checks."""

import datetime as dt
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# the package is used from the work tree, not installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tectum.errors import InputError  # noqa: E402
from tectum.manifest import (  # noqa: E402
    MANIFEST_KEYS,
    RecordingInput,
    load_manifest,
    read_entry,
    read_manifest,
)

N_ROIS, N_FRAMES = 4, 60


def write_data(folder, name="r1", *, n_rois=N_ROIS, n_frames=N_FRAMES, events=None):
    """A .npy traces file and an events CSV under ``folder/data``."""
    data = folder / "data"
    data.mkdir(exist_ok=True)
    traces = np.random.default_rng(0).uniform(50, 150, size=(n_rois, n_frames)).astype(np.float32)
    np.save(data / f"{name}.npy", traces)
    if events is None:
        events = "stimulus,onset_s,duration_s,size\nlooming,10,5,30\nprey-nasalward,2.5,2,\n"
    (data / f"{name}_events.csv").write_text(events)
    return traces


def entry_text(name="r1", fish="F1", recording="R1", **extra):
    """One [[recording]] table using the files of ``write_data(name)``."""
    keys = {
        "fish": fish,
        "recording": recording,
        "region": "right_tectum",
        "sensor": "GCaMP6s",
        "traces": f"data/{name}.npy",
        "frame_period_s": 1.0,
        "events": f"data/{name}_events.csv",
    }
    keys.update(extra)
    lines = ["[[recording]]"]
    for key, value in keys.items():
        if value is None:
            continue
        lines.append(f"{key} = {value if isinstance(value, RawToml) else json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


class RawToml(str):
    """A value written into the TOML verbatim (tables, dates, nan)."""


def write_manifest(folder, *entries):
    path = folder / "manifest.toml"
    path.write_text("\n".join(entries), encoding="utf-8")
    return path


def read_one(folder, **extra):
    write_data(folder)
    return list(read_manifest(write_manifest(folder, entry_text(**extra))))


def assert_error(excinfo, *fragments):
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


ENTRY1 = "manifest.toml entry #1 (fish F1, recording R1)"


# ---------------------------------------------------------------------------
# a good manifest


def test_read_full_entry(tmp_path):
    traces = write_data(tmp_path)
    manifest = write_manifest(
        tmp_path,
        entry_text(
            experiment="MF343",
            genotype="gad1b:Gal4; UAS:NTR-mCherry",
            notes="good fish",
            age_dpf=7,
            recorded_at=RawToml("2024-03-01T10:30:00"),
            traces_kind="dff",
            groups=RawToml('{ prey = ["prey-nasalward", "prey-temporalward"], looming = "looming" }'),
        ),
    )
    [rec] = list(read_manifest(str(tmp_path / "manifest.toml"), known_sensors=["GCaMP6s", "GCaMP6f"]))
    assert isinstance(rec, RecordingInput)
    assert rec.entry.endswith("manifest.toml entry #1 (fish F1, recording R1)")
    assert (rec.fish, rec.recording, rec.experiment, rec.region) == ("F1", "R1", "MF343", "right_tectum")
    assert (rec.sensor, rec.genotype, rec.notes, rec.age_dpf) == (
        "GCaMP6s",
        "gad1b:Gal4; UAS:NTR-mCherry",
        "good fish",
        7.0,
    )
    assert rec.recorded_at == dt.datetime(2024, 3, 1, 10, 30)
    assert rec.frame_period_s == 1.0 and rec.traces_kind == "dff"
    np.testing.assert_array_equal(rec.traces, traces)
    assert rec.traces.dtype == np.float32
    assert (rec.n_rois, rec.n_frames, rec.duration_s) == (N_ROIS, N_FRAMES, 60.0)
    assert rec.roi_ids.dtype == np.int64 and rec.roi_ids.tolist() == [0, 1, 2, 3]
    assert rec.positions is None and rec.neuropil is None
    assert rec.events["stimulus"].tolist() == ["prey-nasalward", "looming"]
    assert rec.events["params"].tolist() == [{}, {"size": 30}]
    assert rec.groups == {"prey": ["prey-nasalward", "prey-temporalward"], "looming": ["looming"]}
    json.dumps(rec.metadata)  # must be JSON-serialisable
    # relative to the manifest: the metadata is readable by every user of the database
    assert rec.metadata["sources"] == {"traces": "data/r1.npy", "events": "data/r1_events.csv"}
    assert rec.metadata["frame_period"]["source"] == "manifest"
    assert manifest.exists()


def test_optional_fields_default_to_none(tmp_path):
    [rec] = read_one(tmp_path)
    assert rec.experiment is rec.genotype is rec.notes is rec.age_dpf is rec.recorded_at is None
    assert rec.groups is None and rec.traces_kind == "raw"


@pytest.mark.parametrize(
    "value, expected",
    [
        ('"2024-03-01T10:30:00"', dt.datetime(2024, 3, 1, 10, 30)),
        ('"2024-03-01 10:30"', dt.datetime(2024, 3, 1, 10, 30)),
        ("2024-03-01", dt.datetime(2024, 3, 1)),
        ("2024-03-01T10:30:00+01:00", dt.datetime(2024, 3, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))),
    ],
)
def test_recorded_at_forms(tmp_path, value, expected):
    [rec] = read_one(tmp_path, recorded_at=RawToml(value))
    assert rec.recorded_at == expected


def test_bad_recorded_at(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, recorded_at="yesterday")
    assert_error(exc, ENTRY1, "recorded_at 'yesterday' is not an ISO date-time")


def test_non_ascii_and_long_names_kept_whole(tmp_path):
    fish = "Fisch-Ä-斑马鱼-" + "x" * 50
    notes = "é" * 5000
    [rec] = read_one(tmp_path, fish=fish, recording="Aufnahme ü 1", notes=notes, genotype="ñ" * 400)
    assert rec.fish == fish and rec.recording == "Aufnahme ü 1"
    assert rec.notes == notes and rec.genotype == "ñ" * 400  # their column widths are checked at insert
    assert fish in rec.entry


@pytest.mark.parametrize(
    "fish, message",
    [
        ("x" * 65, "'fish' 'xxx"),
        ("X ", "begins or ends with white space"),
        (" X", "begins or ends with white space"),
        ("F\\1", "contains a backslash"),
        ("🐟" * 64, "bytes in the object store's file names"),
    ],
)
def test_identifying_names_are_checked_in_the_manifest(tmp_path, fish, message):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, fish=fish)
    assert_error(exc, "manifest.toml entry #1 (fish ", message)


@pytest.mark.parametrize(
    "extra, message",
    [
        (dict(groups=RawToml('{ "prey " = ["prey"] }')), "in groups: 'group' 'prey ' begins or ends with white space"),
        (dict(groups=RawToml('{ prey = ["prey\\t"] }')), "in group 'prey': 'stimulus'"),
        (
            dict(events=None, protocol="data/p.pkl", stimuli=RawToml('{ stim1 = " prey" }')),
            "in stimuli: 'stimulus' ' prey' begins or ends with white space",
        ),
    ],
)
def test_stimulus_and_group_names_are_checked(tmp_path, extra, message):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, **extra)
    assert_error(exc, ENTRY1, message)


def test_absolute_source_paths_only_when_asked(tmp_path):
    write_data(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    np.save(elsewhere / "pos.npy", np.zeros((N_ROIS, 2)))
    path = write_manifest(
        tmp_path / "data",
        entry_text(
            traces="r1.npy", events=str(tmp_path / "data" / "r1_events.csv"), positions=str(elsewhere / "pos.npy")
        ),
    )
    [rec] = list(read_manifest(path))
    assert rec.metadata["sources"] == {
        "traces": "r1.npy",
        "events": "r1_events.csv",
        "positions": "../elsewhere/pos.npy",
    }
    [rec] = list(read_manifest(path, absolute_paths=True))
    assert rec.metadata["sources"]["manifest_dir"] == str((tmp_path / "data").resolve())
    assert rec.metadata["sources"]["positions"] == str((elsewhere / "pos.npy").resolve())


def test_integer_fish_id_becomes_string(tmp_path):
    [rec] = read_one(tmp_path, fish=RawToml("12"))
    assert rec.fish == "12"


def test_sensor_is_canonicalised(tmp_path):
    write_data(tmp_path)
    path = write_manifest(tmp_path, entry_text(sensor="gcamp6S"))
    [rec] = list(read_manifest(path, known_sensors={"GCaMP6s", "GCaMP6f"}))
    assert rec.sensor == "GCaMP6s"
    [rec] = list(read_manifest(path))  # unchecked without a list
    assert rec.sensor == "gcamp6S"


def test_csv_traces_with_labels_positions_and_neuropil(tmp_path):
    traces = write_data(tmp_path)
    pd.DataFrame(traces, index=[5, 6, 7, 9]).to_csv(tmp_path / "data" / "t.csv")
    np.save(tmp_path / "data" / "pos.npy", np.arange(8.0).reshape(4, 2))
    np.save(tmp_path / "data" / "neu.npy", traces * 0.5)
    path = write_manifest(
        tmp_path,
        entry_text(
            traces="data/t.csv",
            positions="data/pos.npy",
            neuropil="data/neu.npy",
            traces_header=RawToml("true"),
            traces_index_column=RawToml("true"),
        ),
    )
    [rec] = list(read_manifest(path))
    assert rec.roi_ids.tolist() == [5, 6, 7, 9]
    np.testing.assert_allclose(rec.traces, traces, rtol=1e-6)
    np.testing.assert_array_equal(rec.positions, [[0, 1, 0], [2, 3, 0], [4, 5, 0], [6, 7, 0]])
    assert rec.positions.dtype == np.float64
    np.testing.assert_allclose(rec.neuropil, traces * 0.5)
    assert rec.metadata["sources"]["positions"] == "data/pos.npy"
    assert rec.metadata["traces_layout"] == {"orientation": "rois_x_frames", "header": True, "index_column": True}


def test_read_entry_without_manifest(tmp_path):
    write_data(tmp_path)
    raw = {
        "fish": "F1",
        "recording": "R1",
        "region": "r",
        "sensor": "s",
        "_base": tmp_path,
        "traces": "data/r1.npy",
        "frame_period_s": 0.5,
        "events": str(tmp_path / "data" / "r1_events.csv"),
    }
    rec = read_entry(raw)
    assert rec.entry == "manifest entry (fish F1, recording R1)" and rec.frame_period_s == 0.5


# ---------------------------------------------------------------------------
# suite2p + Femtonics, protocol pickle


def make_suite2p(folder, n=6, n_frames=N_FRAMES, noncells=(1, 4), fs=2.0):
    folder.mkdir(parents=True)
    F = np.random.default_rng(2).uniform(100, 200, size=(n, n_frames)).astype(np.float32)
    np.save(folder / "F.npy", F)
    np.save(folder / "Fneu.npy", F * 0.3)
    iscell = np.ones((n, 2))
    iscell[list(noncells), 0] = 0
    np.save(folder / "iscell.npy", iscell)
    np.save(folder / "stat.npy", np.array([{"med": [i, 2 * i]} for i in range(n)], dtype=object))
    if fs is not None:
        np.save(folder / "ops.npy", np.array({"fs": fs, "nplanes": 1, "Ly": 64, "Lx": 64}))
    return F


def femtonics_text(step_ms=1000, size=N_FRAMES):
    return f"MeasurementDate = 2024.03.01. 10:30:00\nD3Step = {step_ms} ms\nD3Size = {size}\nWidth = 64\nHeight = 64\n"


def test_suite2p_with_femtonics(tmp_path):
    write_data(tmp_path)
    F = make_suite2p(tmp_path / "data" / "s2p" / "plane0")
    (tmp_path / "data" / "fem.txt").write_text(femtonics_text())
    path = write_manifest(
        tmp_path, entry_text(traces="data/s2p/plane0", frame_period_s=None, femtonics_metadata="data/fem.txt")
    )
    [rec] = list(read_manifest(path))
    assert rec.roi_ids.tolist() == [0, 2, 3, 5]  # non-cells dropped
    np.testing.assert_array_equal(rec.traces, F[[0, 2, 3, 5]])
    np.testing.assert_array_equal(rec.neuropil, F[[0, 2, 3, 5]] * 0.3)
    np.testing.assert_array_equal(rec.positions[1], [4, 2, 0])
    # Femtonics (1 s) is preferred to suite2p's ops (fs 2 Hz); both recorded
    assert rec.frame_period_s == 1.0
    assert rec.metadata["frame_period"] == {"used_s": 1.0, "source": "femtonics", "femtonics_s": 1.0, "suite2p_s": 0.5}
    assert rec.metadata["femtonics"]["n_frames"] == N_FRAMES
    assert rec.metadata["suite2p"]["n_rois_kept"] == 4
    json.dumps(rec.metadata)


def test_suite2p_frame_rate_from_ops_and_manifest_wins(tmp_path):
    write_data(tmp_path)
    make_suite2p(tmp_path / "data" / "s2p")
    [rec] = list(read_manifest(write_manifest(tmp_path, entry_text(traces="data/s2p", frame_period_s=None))))
    assert rec.frame_period_s == 0.5 and rec.metadata["frame_period"]["source"] == "suite2p"
    [rec] = list(read_manifest(write_manifest(tmp_path, entry_text(traces="data/s2p", frame_period_s=0.25))))
    assert rec.frame_period_s == 0.25
    assert rec.metadata["frame_period"] == {"used_s": 0.25, "source": "manifest", "manifest_s": 0.25, "suite2p_s": 0.5}


def test_suite2p_include_non_cells(tmp_path):
    write_data(tmp_path)
    make_suite2p(tmp_path / "data" / "s2p")
    [rec] = list(
        read_manifest(write_manifest(tmp_path, entry_text(traces="data/s2p", include_non_cells=RawToml("true"))))
    )
    assert rec.roi_ids.tolist() == list(range(6))


def test_suite2p_without_any_frame_period(tmp_path):
    write_data(tmp_path)
    make_suite2p(tmp_path / "data" / "s2p", fs=None)
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(traces="data/s2p", frame_period_s=None))))
    assert_error(exc, ENTRY1, "no frame period")


def test_suite2p_only_non_cells(tmp_path):
    write_data(tmp_path)
    make_suite2p(tmp_path / "data" / "s2p", n=2, noncells=(0, 1))
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(traces="data/s2p"))))
    assert_error(exc, ENTRY1, "traces folder 'data/s2p': no ROIs (all 2 suite2p ROIs are non-cells")


def test_suite2p_file_error_names_file_inside_folder(tmp_path):
    write_data(tmp_path)
    make_suite2p(tmp_path / "data" / "s2p")
    np.save(tmp_path / "data" / "s2p" / "Fneu.npy", np.ones((6, 3)))
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(traces="data/s2p"))))
    assert_error(exc, ENTRY1, "traces file 'data/s2p/Fneu.npy': shape (6, 3) does not match")


def write_protocol(path, duration_s=N_FRAMES - 1, directions=("nasalward", "temporalward")):
    t = np.arange(int(duration_s * 10) + 1) / 10
    proto = pd.DataFrame({"t": t})
    proto["stim1_presence"] = ((t >= 5) & (t < 7)) | ((t >= 20) & (t < 22))
    proto["stim1_dur"] = 2.0
    proto["prey_direction"] = np.where(t < 10, *directions)
    proto["stim2_presence"] = (t >= 30) & (t < 35)
    with open(path, "wb") as fh:
        pickle.dump({"metadata": {"protocol": "demo", "when": dt.date(2024, 3, 1)}, "protocol": proto}, fh)


PROTOCOL_KEYS = dict(
    events=None,
    protocol="data/p.pkl",
    stimuli=RawToml('{ stim1 = "prey", stim2 = "looming" }'),
    split_prey_direction=RawToml("true"),
)


def test_protocol_entry_split_by_direction(tmp_path):
    write_data(tmp_path)
    write_protocol(tmp_path / "data" / "p.pkl")
    [rec] = list(read_manifest(write_manifest(tmp_path, entry_text(**PROTOCOL_KEYS))))
    assert rec.events["stimulus"].tolist() == ["prey-nasalward", "prey-temporalward", "looming"]
    assert rec.events["onset_s"].tolist() == [5.0, 20.0, 30.0]
    np.testing.assert_allclose(rec.events["duration_s"], [2.0, 2.0, 4.9])
    assert rec.metadata["protocol"] == {"protocol": "demo", "when": "2024-03-01", "protocol_duration_s": 59.0}
    assert rec.metadata["sources"]["protocol"].endswith("p.pkl")


def test_protocol_longer_than_traces_is_a_frame_count_mismatch(tmp_path):
    write_data(tmp_path)
    write_protocol(tmp_path / "data" / "p.pkl", duration_s=90)
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(**PROTOCOL_KEYS))))
    assert_error(
        exc,
        ENTRY1,
        "protocol file 'data/p.pkl': frame-count mismatch: the protocol runs for "
        "90.0 s but the traces cover only 60 frames x 1.0 s = 60.0 s",
    )


def test_protocol_reader_error_names_entry(tmp_path):
    write_data(tmp_path)
    write_protocol(tmp_path / "data" / "p.pkl")
    keys = dict(PROTOCOL_KEYS, stimuli=RawToml('{ stim1 = "prey", stim7 = "dimming" }'))
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(**keys))))
    assert_error(
        exc, ENTRY1, "protocol file 'data/p.pkl': stimulus 'dimming': the protocol has no column 'stim7_presence'"
    )


def test_protocol_needs_stimuli(tmp_path):
    keys = dict(PROTOCOL_KEYS, stimuli=None)
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, **keys)
    assert_error(exc, ENTRY1, "'protocol' needs a stimuli table")


# ---------------------------------------------------------------------------
# errors of one entry


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, traces="data/missing.npy")
    assert_error(exc, ENTRY1, "traces file 'data/missing.npy': not found (looked for ")


def test_missing_events_file(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, events="data/nope.csv")
    assert_error(exc, ENTRY1, "events file 'data/nope.csv': not found")


def test_misspelt_key_suggests(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, frame_periods=1.0)
    assert_error(exc, ENTRY1, "unknown key 'frame_periods'; did you mean 'frame_period_s'?")
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, zzz=1)
    assert_error(exc, "unknown key 'zzz' (accepted: fish, recording")


def test_manifest_keys_cover_documented_keys():
    assert len(MANIFEST_KEYS) == 29 and "split_prey_direction" in MANIFEST_KEYS and "nwb" in MANIFEST_KEYS
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The manifest") : readme.index("## Tables")]
    for key in MANIFEST_KEYS:
        assert f"{key}" in section, f"manifest key {key!r} is not documented in README's manifest section"


@pytest.mark.parametrize("missing", ["region", "sensor", "traces"])
def test_missing_required_key(tmp_path, missing):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, **{missing: None})
    assert_error(exc, ENTRY1, f"missing required key(s): {missing}")


def test_missing_fish_names_entry_by_number(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, fish=None)
    assert_error(exc, "manifest.toml entry #1 (recording R1): missing required key(s): fish")


def test_events_and_protocol_both_or_neither(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, protocol="data/p.pkl")
    assert_error(exc, ENTRY1, "give either 'events' or 'protocol', not both")
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, events=None)
    assert_error(exc, ENTRY1, "give 'events' (a CSV/TSV table) or 'protocol'")


def test_options_that_do_not_apply(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, split_prey_direction=RawToml("true"))
    assert_error(exc, ENTRY1, "'split_prey_direction' only applies to a 'protocol' pickle")
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, include_non_cells=RawToml("true"))
    assert_error(exc, ENTRY1, "'include_non_cells' only applies to suite2p")


def test_no_frame_period(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, frame_period_s=None)
    assert_error(exc, ENTRY1, "no frame period: give frame_period_s (seconds) or femtonics_metadata")


def test_unknown_sensor(tmp_path):
    write_data(tmp_path)
    with pytest.raises(InputError) as exc:
        read_manifest(write_manifest(tmp_path, entry_text(sensor="GCaMP6x")), known_sensors=["GCaMP6s", "jRGECO1a"])
    assert_error(exc, ENTRY1, "unknown sensor 'GCaMP6x'; did you mean 'GCaMP6s'? (known: GCaMP6s, jRGECO1a)")


@pytest.mark.parametrize("value", ["0", "-1.0", "nan", "inf", "0.0"])
def test_bad_frame_period(tmp_path, value):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, frame_period_s=RawToml(value))
    assert_error(exc, ENTRY1, "frame_period_s must be a positive number of seconds")


def test_frame_period_must_be_a_number(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, frame_period_s="1 s")
    assert_error(exc, ENTRY1, "'frame_period_s' must be a number, got '1 s'")


def test_bad_traces_kind(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, traces_kind="deltaF")
    assert_error(exc, ENTRY1, "traces_kind must be 'raw' or 'dff', got 'deltaF'")


def test_femtonics_frame_count_mismatch(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "fem.txt").write_text(femtonics_text(size=61))
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, femtonics_metadata="data/fem.txt")
    assert_error(
        exc,
        ENTRY1,
        "Femtonics metadata file 'data/fem.txt': frame-count mismatch: "
        "D3Size = 61 frames but the traces 'data/r1.npy' have 60",
    )


def test_femtonics_bad_step_names_entry(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "fem.txt").write_text(femtonics_text(step_ms=0))
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, frame_period_s=None, femtonics_metadata="data/fem.txt")
    assert_error(exc, ENTRY1, "Femtonics metadata file 'data/fem.txt': D3Step = '0 ms' must be a positive")


def test_event_after_the_end(tmp_path):
    write_data(tmp_path, n_frames=420, events="stimulus,onset_s,duration_s\nprey,10,2\nlooming,512,5\n")
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text())))
    assert_error(
        exc,
        ENTRY1,
        "events file 'data/r1_events.csv': event 'looming' at 512.0 s is after the end "
        "of the recording (420 frames x 1.0 s = 420.0 s)",
    )


def test_event_at_exactly_the_end_is_after_it(tmp_path):
    write_data(tmp_path, events="stimulus,onset_s,duration_s\ndimming,30,1\n")
    with pytest.raises(InputError, match=r"event 'dimming' at 30.0 s is after the end .*60 frames x 0.5 s"):
        list(read_manifest(write_manifest(tmp_path, entry_text(frame_period_s=0.5))))


def test_negative_onset(tmp_path):
    write_data(tmp_path, events="stimulus,onset_s,duration_s\nprey,-1,2\n")
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text())))
    assert_error(exc, ENTRY1, "events file 'data/r1_events.csv': line 2: onset_s -1")


def test_empty_events(tmp_path):
    write_data(tmp_path, events="stimulus,onset_s,duration_s\n")
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text())))
    assert_error(exc, ENTRY1, "events file 'data/r1_events.csv': no stimulus events")


def test_duplicate_roi_ids(tmp_path):
    traces = write_data(tmp_path)
    pd.DataFrame(traces, index=[1, 2, 2, 3]).to_csv(tmp_path / "data" / "t.csv")
    with pytest.raises(InputError) as exc:
        list(
            read_manifest(
                write_manifest(
                    tmp_path,
                    entry_text(traces="data/t.csv", traces_header=RawToml("true"), traces_index_column=RawToml("true")),
                )
            )
        )
    assert_error(exc, ENTRY1, "traces file 'data/t.csv': duplicate ROI ids: 2")


@pytest.mark.parametrize("shape, message", [((0, 10), "no ROIs"), ((3, 0), "no frames")])
def test_zero_rois_or_frames(tmp_path, shape, message):
    write_data(tmp_path)
    np.save(tmp_path / "data" / "r1.npy", np.zeros(shape, dtype=np.float32))
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text())))
    assert_error(exc, ENTRY1, f"traces file 'data/r1.npy': {message}")


def test_truncated_npy_names_entry_and_file(tmp_path):
    write_data(tmp_path)
    npy = tmp_path / "data" / "r1.npy"
    npy.write_bytes(npy.read_bytes()[:200])
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text())))
    assert_error(exc, ENTRY1, "traces file 'data/r1.npy': truncated or corrupt .npy file")


def test_nan_traces_names_entry_file_and_row(tmp_path):
    traces = write_data(tmp_path)
    traces[2, 5] = np.nan
    np.save(tmp_path / "data" / "r1.npy", traces)
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text())))
    assert_error(exc, ENTRY1, "traces file 'data/r1.npy': ROI row 2: non-finite value nan at frame 5")


def test_ragged_and_non_numeric_csv_via_manifest(tmp_path):
    write_data(tmp_path)
    (tmp_path / "data" / "t.csv").write_text("1,2,3\n4,5\n")
    no_header = RawToml("false")
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(traces="data/t.csv", traces_header=no_header))))
    assert_error(exc, ENTRY1, "traces file 'data/t.csv': line 2: 2 values")
    (tmp_path / "data" / "t.csv").write_text("1,2,3\n4,5,x\n")
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(traces="data/t.csv", traces_header=no_header))))
    assert_error(exc, ENTRY1, "traces file 'data/t.csv': line 2, column 3: non-numeric value 'x'")


def test_unsupported_traces_format(tmp_path):
    write_data(tmp_path)
    (tmp_path / "data" / "t.h5").write_bytes(b"")
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(traces="data/t.h5"))))
    assert_error(exc, ENTRY1, "traces file 'data/t.h5': unsupported traces format '.h5'")


def test_neuropil_and_positions_must_match(tmp_path):
    write_data(tmp_path)
    np.save(tmp_path / "data" / "neu.npy", np.ones((4, 59)))
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(neuropil="data/neu.npy"))))
    assert_error(exc, ENTRY1, "neuropil file 'data/neu.npy': shape (4, 59) does not match the traces (4, 60)")
    np.save(tmp_path / "data" / "pos.npy", np.ones((5, 3)))
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(positions="data/pos.npy"))))
    assert_error(exc, ENTRY1, "positions file 'data/pos.npy': 5 positions for 4 ROIs")


def test_bad_groups(tmp_path):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, groups=RawToml("{ prey = [1, 2] }"))
    assert_error(exc, ENTRY1, "groups must be a table of regressor")


# ---------------------------------------------------------------------------
# errors of the manifest as a whole


def test_bad_toml_names_file_and_line(tmp_path):
    path = tmp_path / "manifest.toml"
    path.write_text('[[recording]]\nfish = "F1"\nrecording = R1\n')
    with pytest.raises(InputError) as exc:
        load_manifest(path)
    assert_error(exc, "manifest file '", "manifest.toml': invalid TOML at line 3, column 13")


def test_missing_manifest(tmp_path):
    with pytest.raises(InputError, match="manifest not found"):
        load_manifest(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no [[recording]] tables"),
        ("recording = []\n", "no [[recording]] tables"),
        ("[[recordings]]\nfish = 'F1'\n", "no [[recording]] tables; did you mean [[recordings]]?"),
        ("[recording]\nfish = 'F1'\n", "write [[recording]], not [recording]"),
        ("recording = [1, 2]\n", "must be an array of tables"),
    ],
)
def test_manifest_without_recordings(tmp_path, text, message):
    (tmp_path / "manifest.toml").write_text(text)
    with pytest.raises(InputError) as exc:
        load_manifest(tmp_path / "manifest.toml")
    assert_error(exc, "manifest.toml'", message)


def test_duplicate_recordings(tmp_path):
    write_data(tmp_path)
    path = write_manifest(tmp_path, entry_text(), entry_text(recording="R2"), entry_text())
    with pytest.raises(InputError) as exc:
        load_manifest(path)
    assert_error(exc, "manifest.toml entry #3 (fish F1, recording R1): fish 'F1', recording 'R1' is already entry #1")


def test_private_keys_rejected_from_toml(tmp_path):
    with pytest.raises(InputError, match="unknown key '_base'"):
        read_one(tmp_path, _base="/etc")


def test_load_manifest_returns_tables_with_entry_and_base(tmp_path):
    write_data(tmp_path)
    path = write_manifest(tmp_path, entry_text(), entry_text(fish="F2", recording="R1"))
    tables = load_manifest(path)
    assert [t["_entry"] for t in tables] == [
        f"{path} entry #1 (fish F1, recording R1)",
        f"{path} entry #2 (fish F2, recording R1)",
    ]
    assert tables[0]["_base"] == tmp_path.resolve() and tables[0]["traces"] == "data/r1.npy"


def test_manifest_structure_checked_before_reading(tmp_path):
    write_data(tmp_path)
    path = write_manifest(tmp_path, entry_text(), entry_text(recording="R2", fish_name="x"))
    with pytest.raises(InputError, match="entry #2 .*unknown key 'fish_name'; did you mean 'fish'"):
        read_manifest(path)


def test_read_manifest_is_lazy(tmp_path):
    write_data(tmp_path)
    path = write_manifest(tmp_path, entry_text(), entry_text(recording="R2", traces="data/gone.npy"))
    recordings = read_manifest(path)
    first = next(recordings)
    assert first.recording == "R1"
    with pytest.raises(InputError, match="entry #2 .*traces file 'data/gone.npy': not found"):
        next(recordings)


# ---------------------------------------------------------------------------
# demo dataset round trip


def test_demo_dataset_round_trip(tmp_path):
    from pipeline import synthetic
    from tectum.demo_data import write_demo_dataset

    n_rois, n_frames = 30, 420
    manifest = write_demo_dataset(tmp_path / "demo", n_recordings=4, n_rois=n_rois, n_frames=n_frames, seed=3)
    truth = pd.read_csv(manifest.parent / "truth.csv")
    recordings = list(read_manifest(manifest, known_sensors=["GCaMP6s"]))
    assert [(r.fish, r.recording) for r in recordings] == [("F1", "R1"), ("F2", "R2"), ("F1", "R3"), ("F2", "R4")]
    assert {r.genotype for r in recordings} == {"gad1b:Gal4; UAS:NTR-mCherry", "wild type"}

    for i, rec in enumerate(recordings):
        expected = synthetic.make_recording(
            n_rois=n_rois, n_frames=n_frames, frame_period_s=1.0, sensor="GCaMP6s", seed=3 + i, neuropil=(i % 3 == 2)
        )
        assert rec.sensor == "GCaMP6s" and rec.region == "right_tectum"
        assert rec.frame_period_s == 1.0 and rec.traces_kind == "raw"
        assert rec.n_rois == n_rois  # suite2p non-cells dropped
        np.testing.assert_array_equal(rec.traces, expected.traces)  # float32 survives every format
        assert rec.groups == {k: list(v) for k, v in expected.groups.items()}
        rec_truth = truth[truth["recording"] == rec.recording]
        assert rec_truth["roi_id"].tolist() == rec.roi_ids.tolist()
        assert rec_truth["truth"].tolist() == list(expected.truth)
        json.dumps(rec.metadata)

        want = expected.events.sort_values("onset_s", kind="mergesort").reset_index(drop=True)
        got = rec.events
        assert got["stimulus"].tolist() == want["stimulus"].tolist()
        np.testing.assert_allclose(got["duration_s"], want["duration_s"])
        if i % 3 == 1:  # protocol pickle: onsets on the nearest sample of its 10 Hz time base
            np.testing.assert_allclose(got["onset_s"], want["onset_s"], rtol=0, atol=0.05 + 1e-9)
            assert rec.metadata["protocol"]["protocol_duration_s"] <= n_frames
        else:
            np.testing.assert_allclose(got["onset_s"], want["onset_s"])
        if i % 3 == 2:  # suite2p
            assert rec.metadata["suite2p"]["n_rois_segmented"] > n_rois
            assert rec.metadata["frame_period"]["source"] == "femtonics"
            np.testing.assert_allclose(rec.neuropil, expected.neuropil, rtol=1e-6)
            n_segmented = rec.metadata["suite2p"]["n_rois_segmented"]
            assert len(set(range(n_segmented)) - set(rec.roi_ids.tolist())) == n_segmented - n_rois
        if expected.positions is not None:
            np.testing.assert_allclose(rec.positions[:, :2], np.asarray(expected.positions)[:, :2])


# ---------------------------------------------------------------------------
# the manifest as a whole: [stimulus_types], per-entry problems


def test_stimulus_types_table(tmp_path):
    from tectum.manifest import parse_manifest

    write_data(tmp_path)
    path = write_manifest(
        tmp_path, '[stimulus_types]\nflash = "whole-field flash"\n"grating-left" = ""\n', entry_text()
    )
    manifest = parse_manifest(path)
    assert manifest.stimulus_types == {"flash": "whole-field flash", "grating-left": ""}
    assert not manifest.problems and len(manifest.entries) == 1


@pytest.mark.parametrize(
    "table, message",
    [
        ('"flash " = "x"', "[stimulus_types] 'flash ': 'stimulus' 'flash ' begins or ends with white space"),
        ('mixed = "x"', "[stimulus_types] 'mixed': the name is reserved for a response class"),
        ("flash = 3", "[stimulus_types] 'flash': the description must be text"),
        (f'flash = "{"d" * 256}"', "the description is 256 characters long; at most 255 fit"),
    ],
)
def test_bad_stimulus_types_table(tmp_path, table, message):
    write_data(tmp_path)
    path = write_manifest(tmp_path, f"[stimulus_types]\n{table}\n", entry_text())
    with pytest.raises(InputError) as exc:
        load_manifest(path)
    assert_error(exc, "manifest file '", message)


def test_unknown_top_level_key(tmp_path):
    write_data(tmp_path)
    path = write_manifest(tmp_path, '[stimulus_type]\nflash = "x"\n', entry_text())
    with pytest.raises(InputError, match=r"unknown top-level key 'stimulus_type'; did you mean 'stimulus_types'\?"):
        load_manifest(path)


def test_a_bad_entry_does_not_hide_the_others(tmp_path):
    from tectum.manifest import parse_manifest

    write_data(tmp_path)
    path = write_manifest(
        tmp_path,
        entry_text(),
        entry_text(fish="X ", recording="R2"),
        entry_text(recording="R3", frame_perod_s=1.0),
        entry_text(recording="R4"),
    )
    manifest = parse_manifest(path)
    assert sorted(manifest.problems) == [1, 2]
    assert "begins or ends with white space" in str(manifest.problems[1])
    assert "entry #3" in str(manifest.problems[2]) and "did you mean 'frame_period_s'" in str(manifest.problems[2])
    with pytest.raises(InputError, match="entry #2"):  # the strict API raises the first
        load_manifest(path)


# ---------------------------------------------------------------------------
# CSV and .npy layout keys; transposed matrices


def test_csv_layout_keys_through_the_manifest(tmp_path):
    traces = write_data(tmp_path)
    pd.DataFrame(traces, index=[5, 6, 7, 9]).to_csv(tmp_path / "data" / "t.csv")
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(traces="data/t.csv"))))
    assert_error(
        exc, ENTRY1, "traces file 'data/t.csv': line 1", "set traces_header = true and traces_index_column = true"
    )
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, traces_header=RawToml("true"))
    assert_error(exc, ENTRY1, "'traces_header' only applies to text traces")
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, traces_orientation="transposed")
    assert_error(exc, ENTRY1, "traces_orientation must be 'rois_x_frames' or 'frames_x_rois'")


def test_frames_x_rois_npy(tmp_path):
    traces = write_data(tmp_path)
    np.save(tmp_path / "data" / "r1.npy", traces.T)
    [rec] = list(read_manifest(write_manifest(tmp_path, entry_text(traces_orientation="frames_x_rois"))))
    np.testing.assert_array_equal(rec.traces, traces)
    assert rec.metadata["traces_layout"] == {"orientation": "frames_x_rois"}


def test_transposed_npy_is_reported_by_the_stimuli(tmp_path):
    # 30 ROIs x 420 frames, stored frames x ROIs
    write_data(tmp_path, n_rois=420, n_frames=30, events="stimulus,onset_s,duration_s\nprey,100,2\nlooming,410,5\n")
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text())))
    assert_error(
        exc,
        ENTRY1,
        "events file 'data/r1_events.csv': event 'prey' at 100.0 s is after the end of the "
        "recording (30 frames x 1.0 s = 30.0 s); the matrix looks transposed: its 420 rows match the "
        "recording's frames (the last stimulus starts at 410.0 s; 420 frames x 1.0 s = 420.0 s); "
        'set traces_orientation = "frames_x_rois"',
    )
    [rec] = list(read_manifest(write_manifest(tmp_path, entry_text(traces_orientation="frames_x_rois"))))
    assert rec.traces.shape == (30, 420)


def test_transposed_csv_is_reported_by_the_femtonics_frame_count(tmp_path):
    write_data(tmp_path)
    traces = np.random.default_rng(1).uniform(50, 150, size=(N_FRAMES, 8))  # 8 ROIs, stored frames x ROIs
    np.savetxt(tmp_path / "data" / "t.csv", traces, delimiter=",")
    (tmp_path / "data" / "fem.txt").write_text(femtonics_text())
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, traces="data/t.csv", frame_period_s=None, femtonics_metadata="data/fem.txt")
    assert_error(
        exc,
        ENTRY1,
        "D3Size = 60 frames but the traces 'data/t.csv' have 8; the matrix looks "
        f"transposed: its {N_FRAMES} rows match the recording's frames (the microscope recorded 60); "
        'set traces_orientation = "frames_x_rois"',
    )


# ---------------------------------------------------------------------------
# implausible values: named with the value and the unit expected


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "500",
            "frame period (frame_period_s) 500.0 s is outside the plausible range 1 ms to 60 s per frame; "
            "was it written in ms? (500.0 ms = 0.5 s)",
        ),
        ("0.0002", "frame period (frame_period_s) 0.0002 s is outside the plausible range 1 ms to 60 s"),
    ],
)
def test_implausible_frame_period(tmp_path, value, message):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, frame_period_s=RawToml(value))
    assert_error(exc, ENTRY1, message)


def test_implausible_femtonics_frame_period_names_the_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "fem.txt").write_text(femtonics_text(step_ms="500 s"))
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, frame_period_s=None, femtonics_metadata="data/fem.txt")
    assert_error(
        exc,
        ENTRY1,
        "Femtonics metadata file 'data/fem.txt': frame period (D3Step of the Femtonics "
        "metadata) 500.0 s is outside the plausible range",
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (dict(age_dpf=RawToml("1e39")), "age_dpf 1e+39 days post fertilisation is not a plausible age"),
        (dict(age_dpf=RawToml("-2")), "age_dpf must be a non-negative number"),
        (dict(recorded_at=RawToml("0999-01-01")), "recorded_at 0999-01-01T00:00:00 is before the year 1000"),
    ],
)
def test_implausible_annotations(tmp_path, extra, message):
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, **extra)
    assert_error(exc, ENTRY1, message)


def test_implausible_positions_name_the_roi(tmp_path):
    write_data(tmp_path)
    positions = np.zeros((N_ROIS, 2))
    positions[2, 1] = 1e39
    np.save(tmp_path / "data" / "pos.npy", positions)
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(positions="data/pos.npy"))))
    assert_error(
        exc, ENTRY1, "positions file 'data/pos.npy': position y = 1e+39 of ROI 2 (row 2) is beyond ±1e+06 pixels"
    )


def test_stimuli_only_in_the_last_second(tmp_path):
    write_data(tmp_path, events="stimulus,onset_s,duration_s\nprey,59.2,0.5\nlooming,59.5,0.5\n")
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text())))
    assert_error(
        exc,
        ENTRY1,
        "events file 'data/r1_events.csv': every stimulus starts in the last frame of the "
        "recording (onsets 59.2 to 59.5 s; the recording is 60 frames x 1.0 s = 60.0 s)",
    )


def test_duplicated_presentation_through_the_manifest(tmp_path):
    write_data(tmp_path, events="stimulus,onset_s,duration_s\nprey,5,1\nlooming,10,1\nprey,5,1\n")
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text())))
    assert_error(
        exc, ENTRY1, "events file 'data/r1_events.csv': lines 2 and 4 are the same presentation ('prey' at 5 s)"
    )


def test_protocol_time_tolerance_key(tmp_path):
    write_data(tmp_path)
    write_protocol(tmp_path / "data" / "p.pkl")
    proto = pd.read_pickle(tmp_path / "data" / "p.pkl")
    proto["protocol"].loc[100, "t"] = proto["protocol"].loc[99, "t"] - 0.02  # one row 20 ms out of order
    pd.to_pickle(proto, tmp_path / "data" / "p.pkl")
    [rec] = list(read_manifest(write_manifest(tmp_path, entry_text(**PROTOCOL_KEYS))))
    assert rec.metadata["protocol"]["rows_out_of_order"] == 1
    with pytest.raises(InputError) as exc:
        list(read_manifest(write_manifest(tmp_path, entry_text(**PROTOCOL_KEYS, protocol_time_tolerance_s=0.0))))
    assert_error(exc, ENTRY1, "protocol file 'data/p.pkl': 't' does not increase at row 100")
    with pytest.raises(InputError) as exc:
        read_one(tmp_path, protocol_time_tolerance_s=0.1)
    assert_error(exc, ENTRY1, "'protocol_time_tolerance_s' only applies to a 'protocol' pickle")
