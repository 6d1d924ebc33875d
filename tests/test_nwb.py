"""NWB in: ``nwb = "file.nwb"`` in a manifest, read by ``tectum.readers.read_nwb``.

The files are written with pynwb by :mod:`nwbfiles`. Reading needs no
database; the last tests ingest and populate through ``tectum ingest`` on the
test database (run them with DJ_BACKEND=mysql and DJ_BACKEND=postgresql).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pynwb", reason="the NWB reader needs the optional pynwb (pip install tectum-pipeline[nwb])")

from nwbfiles import START, default_events, write_nwb  # noqa: E402

from tectum.errors import InputError  # noqa: E402
from tectum.manifest import load_manifest, read_entry  # noqa: E402
from tectum.readers import parse_iso_age_days, read_nwb  # noqa: E402

ENTRY = "manifest.toml entry #1"


def manifest(folder, **keys):
    """A one-entry manifest in ``folder`` (``nwb = "rec.nwb"`` unless given); return its path."""
    values = {"recording": "R1", "region": "right_tectum", "nwb": "rec.nwb"}
    values.update(keys)
    lines = ["[[recording]]"]
    for key, value in values.items():
        if value is not None:
            lines.append(f"{key} = {value if isinstance(value, RawToml) else json.dumps(value)}")
    path = folder / "manifest.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class RawToml(str):
    """A value written into the TOML as is (dates, numbers)."""


def read_one(folder, **keys):
    path = manifest(folder, **keys)
    (raw,) = load_manifest(path)
    return read_entry(
        raw,
        known_sensors=["GCaMP6s", "GCaMP6f"],
        known_stimuli=["prey", "prey-nasalward", "prey-temporalward", "looming", "dimming"],
    )


def error_of(folder, **keys) -> str:
    with pytest.raises(InputError) as exc:
        read_one(folder, **keys)
    return str(exc.value)


# ---------------------------------------------------------------------------
# the happy paths


def test_fluorescence_with_pixel_masks(tmp_path):
    traces = write_nwb(
        tmp_path / "rec.nwb", n_rois=4, n_frames=100, rate=2.0, starting_time=5.0, roi_ids=[10, 11, 12, 20]
    )
    rec = read_one(tmp_path)
    assert (rec.fish, rec.recording, rec.region, rec.sensor) == ("F1", "R1", "right_tectum", "GCaMP6s")
    assert rec.genotype == "wt" and rec.age_dpf == 7.0
    assert rec.recorded_at == START.replace(tzinfo=None)
    assert rec.traces_kind == "raw" and rec.frame_period_s == 0.5
    assert rec.traces.dtype == np.float32 and rec.traces.shape == (4, 100)
    np.testing.assert_allclose(rec.traces, traces, rtol=1e-6)
    assert rec.roi_ids.tolist() == [10, 11, 12, 20]
    # pixel masks (x, y), (x + 1, y) with x = 3 + 2i, y = 5 + i: centroid x + 0.5; planar, so no z
    np.testing.assert_allclose(rec.positions[:, :2], [[3.5 + 2 * i, 5 + i] for i in range(4)])
    assert np.isnan(rec.positions[:, 2]).all()
    # onsets count from the first frame (5 s into the session), durations are stop - start
    expected = default_events().sort_values("onset_s")
    np.testing.assert_allclose(rec.events["onset_s"], expected["onset_s"])
    np.testing.assert_allclose(rec.events["duration_s"], expected["duration_s"])
    assert rec.events["stimulus"].tolist() == expected["stimulus"].tolist()
    assert rec.events["params"].tolist() == [{"size": 3.0}, {"size": 30.0}, {}, {"size": 30.0}]
    nwb = rec.metadata["nwb"]
    assert nwb["series"] == "Fluorescence/RoiResponseSeries" and nwb["roi_centroids_from"] == "pixel_mask"
    assert nwb["stimulus_table"] == {
        "table": "intervals/stimulus",
        "stimulus_column": "stimulus",
        "parameter_columns": ["size"],
        "skipped_reference_columns": [],
    }
    assert rec.metadata["frame_period"]["source"] == "nwb"


def test_dff_with_regular_timestamps_and_image_masks(tmp_path):
    period = 0.25
    times = 100.0 + period * np.arange(200)
    times[1:-1] += np.random.default_rng(3).uniform(-0.004, 0.004, 198)  # jitter of 1.6 % at most
    write_nwb(tmp_path / "rec.nwb", n_frames=200, timestamps=times, series={"DfOverF": ["dff"]}, masks="image")
    rec = read_one(tmp_path)
    assert rec.traces_kind == "dff"
    assert rec.frame_period_s == pytest.approx(period)
    assert rec.events["onset_s"].min() == pytest.approx(2.5)
    # image[x, y] = 1, image[x, y + 1] = 3: axis 1 of the mask is x
    np.testing.assert_allclose(rec.positions[:, :2], [[3 + 2 * i, 5 + i + 0.75] for i in range(4)])


def test_voxel_masks_give_z(tmp_path):
    write_nwb(tmp_path / "rec.nwb", masks="voxel")
    rec = read_one(tmp_path)
    np.testing.assert_allclose(rec.positions, [[3 + 2 * i, 5 + i + 1.5, 3.5] for i in range(4)])


def test_masks_without_weight_give_no_position(tmp_path):
    write_nwb(tmp_path / "rec.nwb", masks=None)
    assert np.isnan(read_one(tmp_path).positions).all()


def test_conversion_and_offset_are_applied(tmp_path):
    traces = write_nwb(tmp_path / "rec.nwb", conversion=2.0, offset=10.0)
    np.testing.assert_allclose(read_one(tmp_path).traces, traces, rtol=1e-6)


@pytest.mark.parametrize(
    "column, values",
    [
        ("iscell", [[1.0, 0.9], [0.0, 0.2], [1.0, 0.7], [0.0, 0.1]]),  # suite2p's own NWB output
        ("Accepted", [1, 0, 1, 0]),  # neuroconv's
    ],
)
def test_non_cells_are_dropped_unless_asked_for(tmp_path, column, values):
    traces = write_nwb(tmp_path / "rec.nwb", roi_ids=[10, 11, 12, 13], roi_columns={column: values})
    rec = read_one(tmp_path)
    assert rec.roi_ids.tolist() == [10, 12]
    np.testing.assert_allclose(rec.traces, traces[[0, 2]], rtol=1e-6)
    np.testing.assert_allclose(rec.positions[:, 0], [3.5, 7.5])
    assert (rec.metadata["nwb"]["n_rois_segmented"], rec.metadata["nwb"]["n_rois_kept"]) == (4, 2)
    assert rec.metadata["nwb"]["cells_from"] == column
    rec = read_one(tmp_path, include_non_cells=True)
    assert rec.roi_ids.tolist() == [10, 11, 12, 13] and rec.metadata["nwb"]["cells_from"] is None


def test_no_cells_at_all(tmp_path):
    write_nwb(tmp_path / "rec.nwb", roi_columns={"Accepted": [0, 0, 0, 0]})
    assert (
        "no ROIs: all 4 ROIs of series 'Fluorescence/RoiResponseSeries' are non-cells by the ROI table's "
        "'Accepted' column (include_non_cells = true keeps them)"
    ) in error_of(tmp_path)


def test_values_the_manifest_repeats_must_agree_and_do(tmp_path):
    write_nwb(tmp_path / "rec.nwb", rate=2.0, n_frames=100)
    rec = read_one(
        tmp_path,
        fish="F1",
        genotype="wt",
        age_dpf=7,
        frame_period_s=0.5,
        traces_kind="raw",
        sensor="gcamp6s",
        recorded_at=RawToml("2024-03-01T10:30:00"),
    )
    assert (rec.fish, rec.sensor, rec.frame_period_s) == ("F1", "GCaMP6s", 0.5)


def test_fish_and_sensor_from_the_manifest_when_the_file_lacks_them(tmp_path):
    write_nwb(tmp_path / "rec.nwb", subject={}, indicator=None)
    rec = read_one(tmp_path, fish="F9", sensor="GCaMP6f")
    assert (rec.fish, rec.sensor, rec.genotype, rec.age_dpf) == ("F9", "GCaMP6f", None, None)


def test_series_chosen_by_name(tmp_path):
    write_nwb(
        tmp_path / "rec.nwb",
        series={"Fluorescence": ["RoiResponseSeries", "Neuropil"], "DfOverF": ["RoiResponseSeries"]},
    )
    assert read_one(tmp_path, nwb_series="Neuropil").metadata["nwb"]["series"] == "Fluorescence/Neuropil"
    rec = read_one(tmp_path, nwb_series="DfOverF/RoiResponseSeries")
    assert rec.traces_kind == "dff"
    message = error_of(tmp_path, nwb_series="RoiResponseSeries")
    assert "'RoiResponseSeries' is ambiguous (DfOverF/RoiResponseSeries, Fluorescence/RoiResponseSeries)" in message
    assert "no RoiResponseSeries 'F'" in error_of(tmp_path, nwb_series="F")


def test_stimulus_table_and_column_chosen_by_name(tmp_path):
    events = default_events()
    trials = events.assign(stimulus=["dimming"] * 4)
    write_nwb(tmp_path / "rec.nwb", tables={"stimulus/shown": events, "trials": trials}, stimulus_column="stim_name")
    rec = read_one(tmp_path, nwb_stimulus_table="shown", nwb_stimulus_column="stim_name")
    assert rec.events["stimulus"].tolist() == events["stimulus"].tolist()
    rec = read_one(tmp_path, nwb_stimulus_table="intervals/trials", nwb_stimulus_column="stim_name")
    assert set(rec.events["stimulus"]) == {"dimming"}


def test_stimuli_from_an_events_file_instead(tmp_path):
    write_nwb(tmp_path / "rec.nwb", tables={})
    (tmp_path / "events.csv").write_text("stimulus,onset_s,duration_s\nlooming,4,2\n")
    rec = read_one(tmp_path, events="events.csv")
    assert rec.events["stimulus"].tolist() == ["looming"]
    assert "nwb_stimulus_table' does not apply when the stimuli come from 'events'" in error_of(
        tmp_path, events="events.csv", nwb_stimulus_table="trials"
    )


# ---------------------------------------------------------------------------
# bad files and entries: InputError naming the entry and the file


def assert_names_entry_and_file(message: str) -> None:
    assert f"{ENTRY} (recording R1): NWB file 'rec.nwb': " in message, message


def test_no_ophys_module(tmp_path):
    write_nwb(tmp_path / "rec.nwb", ophys=False)
    message = error_of(tmp_path)
    assert_names_entry_and_file(message)
    assert "no 'ophys' processing module (processing modules: none)" in message


def test_two_series_and_none_named(tmp_path):
    write_nwb(tmp_path / "rec.nwb", series={"Fluorescence": ["RoiResponseSeries"], "DfOverF": ["dff"]})
    message = error_of(tmp_path)
    assert_names_entry_and_file(message)
    assert (
        "holds 2 RoiResponseSeries (DfOverF/dff, Fluorescence/RoiResponseSeries); name one with nwb_series" in message
    )


def test_irregular_timestamps(tmp_path):
    times = np.arange(60, dtype=float)
    times[30:] += 1.0  # a dropped frame
    write_nwb(tmp_path / "rec.nwb", timestamps=times)
    message = error_of(tmp_path)
    assert_names_entry_and_file(message)
    assert "irregular timestamps: frame 29 to 30 takes 2 s against a median of 1 s" in message


def test_timestamps_that_do_not_increase(tmp_path):
    times = np.arange(60, dtype=float)
    times[10] = times[9]
    write_nwb(tmp_path / "rec.nwb", timestamps=times)
    assert "timestamps do not increase (frame 10)" in error_of(tmp_path)


def test_missing_stimulus_column(tmp_path):
    write_nwb(tmp_path / "rec.nwb", stimulus_column="stim_name")
    message = error_of(tmp_path)
    assert_names_entry_and_file(message)
    assert (
        "table 'intervals/stimulus' has no column 'stimulus' naming the stimulus "
        "(columns: start_time, stop_time, stim_name, size); name it with nwb_stimulus_column"
    ) in message
    assert "no column 'name'" in error_of(tmp_path, nwb_stimulus_column="name")


def test_several_tables_and_none_named(tmp_path):
    write_nwb(tmp_path / "rec.nwb", tables={"stimulus": default_events(), "trials": default_events()})
    message = error_of(tmp_path)
    assert (
        "holds 2 TimeIntervals tables (intervals/stimulus, intervals/trials); name the stimulus table "
        "with nwb_stimulus_table" in message
    )
    assert "no TimeIntervals table 'epochs' (found: intervals/stimulus, intervals/trials)" in error_of(
        tmp_path, nwb_stimulus_table="epochs"
    )


def test_no_stimulus_table(tmp_path):
    write_nwb(tmp_path / "rec.nwb", tables={})
    assert "no TimeIntervals table of stimulus presentations" in error_of(tmp_path)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("fish", "F2", "fish = 'F2' in the manifest disagrees with the NWB file's subject_id 'F1'"),
        ("genotype", "nacre", "genotype = 'nacre' in the manifest disagrees with the NWB file's subject genotype 'wt'"),
        ("age_dpf", 6, "age_dpf = 6.0 in the manifest disagrees with the NWB file's subject age 'P7D' (7 days)"),
        (
            "frame_period_s",
            1.0,
            "frame_period_s = 1.0 in the manifest disagrees with the NWB file's frame period "
            "0.5 s (series 'Fluorescence/RoiResponseSeries')",
        ),
        (
            "traces_kind",
            "dff",
            "traces_kind = 'dff' in the manifest disagrees with the NWB file's series "
            "'Fluorescence/RoiResponseSeries' ('raw')",
        ),
        (
            "sensor",
            "GCaMP6f",
            "sensor = 'GCaMP6f' in the manifest disagrees with the NWB file's imaging plane indicator 'GCaMP6s'",
        ),
        (
            "recorded_at",
            RawToml("2024-03-02T10:30:00"),
            "recorded_at = '2024-03-02T10:30:00' in the manifest "
            "disagrees with the NWB file's session_start_time "
            "'2024-03-01T10:30:00+00:00'",
        ),
    ],
)
def test_mismatched_values(tmp_path, key, value, expected):
    write_nwb(tmp_path / "rec.nwb", rate=2.0, n_frames=100)
    message = error_of(tmp_path, **{key: value})
    assert_names_entry_and_file(message.replace(" (fish F2, recording R1)", " (recording R1)"))
    assert expected in message


def test_no_fish_anywhere(tmp_path):
    write_nwb(tmp_path / "rec.nwb", subject={"age": "P7D"})
    assert "no fish: the NWB file has no subject_id; give fish in the manifest" in error_of(tmp_path)


def test_unknown_indicator(tmp_path):
    write_nwb(tmp_path / "rec.nwb", indicator="jRGECO1a")
    message = error_of(tmp_path)
    assert_names_entry_and_file(message)
    assert "imaging plane indicator: unknown sensor 'jRGECO1a'" in message and "give sensor in the manifest" in message


def test_event_after_the_end_names_the_nwb_file(tmp_path):
    late = pd.DataFrame({"stimulus": ["looming"], "onset_s": [90.0], "duration_s": [1.0]})
    write_nwb(tmp_path / "rec.nwb", tables={"stimulus": late})
    message = error_of(tmp_path)
    assert_names_entry_and_file(message)
    assert "event 'looming' at 90.0 s is after the end of the recording (60 frames x 1.0 s = 60.0 s)" in message


def test_stop_before_start(tmp_path):
    bad = pd.DataFrame({"stimulus": ["looming"], "onset_s": [9.0], "duration_s": [-1.0]})
    write_nwb(tmp_path / "rec.nwb", tables={"stimulus": bad})
    assert "row id 0: stop_time 8 is before start_time 9" in error_of(tmp_path)


def test_not_an_nwb_file(tmp_path):
    (tmp_path / "rec.nwb").write_bytes(b"not hdf5 at all")
    message = error_of(tmp_path)
    assert_names_entry_and_file(message)
    assert "cannot open as an NWB file" in message


def test_missing_file(tmp_path):
    assert "NWB file 'rec.nwb': not found" in error_of(tmp_path)


@pytest.mark.parametrize(
    "keys, expected",
    [
        ({"traces": "x.npy"}, "'traces' does not apply with 'nwb'"),
        ({"positions": "p.npy"}, "'positions' does not apply with 'nwb'"),
        (
            {
                "nwb": None,
                "fish": "F1",
                "sensor": "GCaMP6s",
                "traces": "x.npy",
                "frame_period_s": 1.0,
                "events": "e.csv",
                "nwb_series": "dff",
            },
            "'nwb_series' only applies to an 'nwb' file",
        ),
        ({"region": None}, "missing required key(s): region"),
        ({"nwb": ""}, "'nwb' must not be empty"),
    ],
)
def test_entry_keys_checked_before_reading(tmp_path, keys, expected):
    with pytest.raises(InputError) as exc:
        load_manifest(manifest(tmp_path, **keys))
    assert expected in str(exc.value)


@pytest.mark.parametrize(
    "text, days", [("P7D", 7.0), ("P1W", 7.0), ("P6DT12H", 6.5), ("p7d", 7.0), ("PT36H", 1.5), ("P6,5D", 6.5)]
)
def test_iso_ages(text, days):
    assert parse_iso_age_days(text) == pytest.approx(days)


@pytest.mark.parametrize(
    "text, problem",
    [("P1M", "years or months"), ("P7D/P9D", "range"), ("7 days", "not an ISO 8601 duration"), ("P", "not an ISO")],
)
def test_bad_iso_ages(tmp_path, text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_iso_age_days(text)
    write_nwb(tmp_path / "rec.nwb", subject={"subject_id": "F1", "age": text})
    assert f"subject age {text!r}" in error_of(tmp_path)


def test_reader_alone_names_the_file(tmp_path):
    write_nwb(tmp_path / "rec.nwb", ophys=False)
    with pytest.raises(InputError, match=r"^file '.*rec\.nwb': no 'ophys' processing module"):
        read_nwb(tmp_path / "rec.nwb")


# ---------------------------------------------------------------------------
# through the database


def test_ingest_populate_and_reingest(clean_db, tmp_path, capsys):
    from tectum.cli import main

    db = clean_db
    write_nwb(tmp_path / "rec.nwb", n_rois=6, n_frames=100, rate=2.0, roi_ids=[5, 6, 7, 8, 9, 40])
    path = manifest(tmp_path)
    assert main(["-q", "ingest", str(path)]) == 0
    assert "1 inserted" in capsys.readouterr().out
    key = {"fish": "F1", "recording": "R1"}
    rec = (db.acquisition.Recording & key).fetch1()
    assert (rec["sensor"], rec["frame_period_s"], rec["n_rois"], rec["n_frames"]) == ("GCaMP6s", 0.5, 6, 100)
    assert rec["recorded_at"] == dt.datetime(2024, 3, 1, 10, 30)
    assert (db.acquisition.Fish & key).fetch1("genotype", "age_dpf") == ("wt", 7.0)
    source_ids = (db.acquisition.RoiTraces.Roi & key).to_arrays("source_id", order_by="roi")
    assert list(source_ids) == [5, 6, 7, 8, 9, 40]
    onsets = (db.acquisition.Presentation & key).to_arrays("onset_s", order_by="presentation")
    np.testing.assert_allclose(onsets, sorted(default_events()["onset_s"]))

    # the fish is known only from the file: a second ingest still finds the recording and leaves it alone
    assert main(["-q", "ingest", str(path)]) == 0
    out = capsys.readouterr().out
    assert "already ingested as fish F1" in out and "0 inserted, 1 already ingested" in out

    assert main(["-q", "populate", "fish=F1", "--paramset", "default"]) == 0
    assert len(db.analysis.Fit.Roi & key) == 6


def test_bad_nwb_leaves_the_database_unchanged(clean_db, tmp_path, capsys):
    from dbutil import row_counts

    from tectum.cli import main

    write_nwb(tmp_path / "rec.nwb", series={"Fluorescence": ["a", "b"]})
    before = row_counts(clean_db)
    assert main(["-q", "ingest", str(manifest(tmp_path))]) == 1
    err = capsys.readouterr()
    assert "NWB file 'rec.nwb': holds 2 RoiResponseSeries" in err.out + err.err
    assert row_counts(clean_db) == before


# ---------------------------------------------------------------------------
# docs/nwb.md


def doc_blocks(language: str) -> list[str]:
    """The fenced blocks of docs/nwb.md whose opening fence names ``language`` ("" for none)."""
    from pathlib import Path

    lines = (Path(__file__).resolve().parents[1] / "docs" / "nwb.md").read_text(encoding="utf-8").splitlines()
    blocks, current, fence = [], None, None
    for line in lines:
        if current is None and line.startswith("```"):
            current, fence = [], line[3:].strip()
        elif current is not None and line.strip() == "```":
            if fence == language:
                blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_doc_manifest_example(tmp_path):
    (toml,) = doc_blocks("toml")
    (error,) = [b.strip() for b in doc_blocks("") if "NWB file" in b]
    events = default_events()
    write_nwb(
        tmp_path / "F1_R1.nwb",
        series={"Fluorescence": ["RoiResponseSeries", "Neuropil", "Deconvolved"]},
        tables={"stimulus": events, "trials": events.assign(stimulus="dimming")},
        stimulus_column="stimulus_name",
    )
    (tmp_path / "manifest.toml").write_text(toml)
    (raw,) = load_manifest(tmp_path / "manifest.toml")
    rec = read_entry(raw, known_sensors=["GCaMP6s"])
    assert (rec.fish, rec.recording, rec.traces_kind) == ("F1", "R1", "raw")
    assert rec.events["stimulus"].tolist() == events["stimulus"].tolist()

    # the error the document shows, when the series is not named
    (tmp_path / "manifest.toml").write_text(toml.replace('nwb_series = "RoiResponseSeries"', ""))
    (raw,) = load_manifest(tmp_path / "manifest.toml")
    with pytest.raises(InputError) as exc:
        read_entry(raw)
    assert str(exc.value).endswith(error), str(exc.value)
    assert error.startswith("manifest.toml entry #1 (recording R1): ")
