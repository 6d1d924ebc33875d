"""``tectum ingest`` and ``insert_recording`` against the database: names, groups, stimulus types,
one bad entry among good ones, source paths, real protocol logs.

Run on both backends (``DJ_BACKEND=postgresql DJ_USER=postgres`` for PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from dbutil import row_counts
from test_bad_input import N_ROIS, api_kwargs, base_events, base_traces, store_files, toml_value, write_protocol

pytestmark = pytest.mark.usefixtures("clean_db")


def cli(*argv) -> int:
    from tectum.cli import main

    return main(["-q", *argv])


def write_manifest(folder, entries, *, stimulus_types=None, seed=0):
    """One .npy traces file and one events CSV per entry (``traces``/``events`` overridable)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    if stimulus_types:
        lines.append("[stimulus_types]")
        lines += [f"{toml_value(k)} = {toml_value(v)}" for k, v in stimulus_types.items()]
        lines.append("")
    for i, entry in enumerate(entries):
        entry = dict(entry)
        traces = entry.pop("traces_array", None)
        events = entry.pop("events_frame", None)
        np.save(folder / f"traces{i}.npy", base_traces(seed=seed + i) if traces is None else traces)
        (base_events() if events is None else events).to_csv(folder / f"events{i}.csv", index=False)
        keys = dict(
            fish="F1",
            recording="R1",
            region="right_tectum",
            sensor="GCaMP6s",
            frame_period_s=1.0,
            traces=f"traces{i}.npy",
            events=f"events{i}.csv",
        )
        keys.update(entry)
        lines.append("[[recording]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in keys.items() if v is not None]
        lines.append("")
    path = folder / "manifest.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# names are exact on both backends


PAIRS = [
    ("F1", "R1"),
    ("f1", "r1"),
    ("Müller", "R1"),
    ("Muller", "R1"),
    ("🐟", "R1"),
    ("🐠", "R1"),
    ("X", "R1"),
]


def test_names_differing_only_in_case_accent_or_emoji_are_different_recordings(db, tmp_path, capsys):
    # refused: "Müller" with the umlaut as a separate character would be a second fish that looks like the
    # first, and "X " would compare equal to "X" on MySQL
    refused = [dict(fish="Mu\u0308ller"), dict(fish="X ")]
    manifest = write_manifest(tmp_path, [dict(fish=f, recording=r) for f, r in PAIRS] + refused)
    assert cli("ingest", str(manifest)) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert f"{len(PAIRS)} inserted, 0 already ingested (unchanged), 2 failed" in text, text
    assert "entry #8 (fish Mu\u0308ller, recording R1): 'fish' 'Mu\u0308ller' is not in Unicode normal form C" in text
    assert "write it as 'Müller'" in text
    assert "entry #9 (fish X , recording R1): 'fish' 'X ' begins or ends with white space" in text
    assert sorted(zip(*db.acquisition.Recording().to_arrays("fish", "recording"))) == sorted(PAIRS)
    # every recording has its own traces, not another's
    for i, (fish, recording) in enumerate(PAIRS):
        stored = (db.acquisition.RoiTraces & {"fish": fish, "recording": recording}).fetch1("traces")
        np.testing.assert_array_equal(stored, base_traces(seed=i))

    # running the manifest again reports each as already ingested: none is mistaken for another
    assert cli("ingest", str(manifest)) == 1
    out = capsys.readouterr().out
    assert out.count("already ingested; nothing changed") == len(PAIRS)


def test_replace_touches_only_the_exact_name(db, tmp_path, capsys):
    manifest = write_manifest(tmp_path / "a", [dict(fish="F1", recording="R1"), dict(fish="f1", recording="r1")])
    assert cli("ingest", str(manifest)) == 0
    db.populate_all({"fish": "F1", "paramset": "default"})
    capsys.readouterr()
    upper = {"fish": "F1", "recording": "R1"}
    version = (db.acquisition.Recording & upper).fetch1("version")
    fit_rows = len(db.analysis.Fit.Roi & upper)
    assert fit_rows == N_ROIS

    replacement = write_manifest(tmp_path / "b", [dict(fish="f1", recording="r1")], seed=7)
    assert cli("ingest", "--replace", str(replacement)) == 0
    lower = {"fish": "f1", "recording": "r1"}
    np.testing.assert_array_equal((db.acquisition.RoiTraces & lower).fetch1("traces"), base_traces(seed=7))
    assert (db.acquisition.Recording & upper).fetch1("version") == version
    np.testing.assert_array_equal((db.acquisition.RoiTraces & upper).fetch1("traces"), base_traces(seed=0))
    assert len(db.analysis.Fit.Roi & upper) == fit_rows

    # the same through Python
    db.insert_recording(**api_kwargs(fish="f1", recording="r1", traces=base_traces(seed=8)), replace=True)
    assert (db.acquisition.Recording & upper).fetch1("version") == version
    assert len(db.analysis.Fit.Roi & upper) == fit_rows


def test_python_names_with_emoji(db):
    for fish in ("🐟", "🐠", "🐟" * 16):
        db.insert_recording(**api_kwargs(fish=fish))
    assert sorted(db.acquisition.Fish().to_arrays("fish")) == sorted(["🐟", "🐠", "🐟" * 16])
    before = row_counts(db)
    with pytest.raises(db.IngestError, match=r"'fish' '🐟+' takes \d+ bytes in the object store's file names"):
        db.insert_recording(**api_kwargs(fish="🐟" * 64))
    assert row_counts(db) == before


# ---------------------------------------------------------------------------
# one bad entry among good ones: every entry is attempted and reported


BAD_ENTRIES = [
    (dict(fish="F2", age_dpf=1e39), r"entry #2 \(fish F2, recording R1\): age_dpf 1e\+39 days"),
    (dict(fish="🐟" * 64), r"entry #3 \(fish 🐟+, recording R1\): 'fish' .* bytes in the object store"),
    (dict(fish="F4", recorded_at="yesterday"), r"entry #4 \(fish F4, recording R1\): recorded_at 'yesterday'"),
    (dict(fish="F5", frame_period_s=500.0), r"entry #5 \(fish F5, recording R1\): frame period .*was it written in ms"),
    (dict(fish="F6", frame_perod_s=1.0), r"entry #6 \(fish F6, recording R1\): unknown key 'frame_perod_s'"),
    (
        dict(fish="F7", events_frame=base_events().replace({"stimulus": {"dimming": "flash"}})),
        r"entry #7 \(fish F7, recording R1\): events file 'events6.csv': unknown stimulus 'flash'",
    ),
    (
        dict(fish="F8", positions="positions.npy"),
        r"entry #8 \(fish F8, recording R1\): positions file "
        r"'positions.npy': position x = 1e\+39",
    ),
]


def test_every_entry_is_attempted_and_reported(db, tmp_path, capsys):
    entries = [dict(fish="F1")] + [e for e, _ in BAD_ENTRIES] + [dict(fish="F9")]
    manifest = write_manifest(tmp_path, entries)
    np.save(tmp_path / "positions.npy", np.full((N_ROIS, 2), 1e39))
    before, files = row_counts(db), store_files()
    assert cli("ingest", str(manifest)) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "2 inserted, 0 already ingested (unchanged), 7 failed" in text, text
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(BAD_ENTRIES)
    for line, (_, pattern) in zip(errors, BAD_ENTRIES):
        assert re.search(pattern, line), (pattern, line)
    assert "Traceback" not in text
    assert sorted(db.acquisition.Fish().to_arrays("fish")) == ["F1", "F9"]
    # only the two good recordings were written: their rows and their two files
    after = row_counts(db)
    changed = {k for k in after if after[k] != before[k]}
    assert all(k.split(".")[0].endswith(("acquisition", "analysis")) for k in changed), changed
    assert len(store_files() - files) == 2


def test_python_path_errors_name_the_recording(db):
    before, files = row_counts(db), store_files()
    cases = [
        (dict(age_dpf=1e39), r"recording F1/R1: age_dpf 1e\+39 days post fertilisation is not a plausible age"),
        (dict(positions=np.full((N_ROIS, 3), 1e39)), r"recording F1/R1: position x = 1e\+39 of ROI 0 \(row 0\)"),
        (dict(recorded_at="yesterday"), r"recording F1/R1: recorded_at 'yesterday' is not an ISO date-time"),
        (dict(recorded_at=12), r"recorded_at must be a date-time"),
        (dict(metadata={"scope": object()}), r"recording F1/R1: metadata\['scope'\] is a object"),
        (dict(metadata={"gain": float("inf")}), r"metadata\['gain'\] is inf, which JSON cannot hold"),
        (
            dict(events=base_events().assign(params=[{"size": {1, 2}}] + [{}] * 5)),
            r"event #0 \('prey' at 10.0 s\): params\['size'\] is a set",
        ),
        (dict(frame_period_s=0.0002), r"frame period 0.0002 s is outside the plausible range 1 ms to 60 s"),
        (dict(roi_ids=np.arange(N_ROIS) + 0.5), r"ROI id 0.5 \(row 0\) is not an integer"),
        (dict(roi_ids=[str(i) for i in range(N_ROIS)]), r"ROI ids must be integers"),
    ]
    for change, pattern in cases:
        with pytest.raises(db.IngestError, match=pattern):
            db.insert_recording(**api_kwargs(**change))
    assert row_counts(db) == before
    assert store_files() == files


def test_recorded_at_is_the_same_wall_clock_on_both_backends(db):
    when = dt.datetime(2024, 3, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    key = db.insert_recording(**api_kwargs(recorded_at=when, metadata={"objective": "20x"}))
    row = (db.acquisition.Recording & key).fetch1()
    assert row["recorded_at"] == dt.datetime(2024, 3, 1, 10, 30)
    assert row["imaging_metadata"] == {"objective": "20x", "recorded_at_utc_offset": "+01:00"}
    key = db.insert_recording(**api_kwargs(recording="R2", recorded_at="2024-03-02"))
    assert (db.acquisition.Recording & key).fetch1("recorded_at") == dt.datetime(2024, 3, 2)


# ---------------------------------------------------------------------------
# groups, stimulus types, warnings, source paths


def test_manifest_groups_reach_the_database(db, tmp_path):
    from tectum.ingest import ingest_manifest

    events = base_events().replace({"stimulus": {"prey": "prey-nasalward"}})
    events.loc[3, "stimulus"] = "prey-temporalward"
    groups = {"prey": ["prey-nasalward", "prey-temporalward"], "looming": ["looming"]}
    manifest = write_manifest(tmp_path, [dict(events_frame=events, groups=groups)])
    report = ingest_manifest(manifest, progress=False)
    assert report.ok and len(report.inserted) == 1
    stored = (db.acquisition.Recording & {"fish": "F1", "recording": "R1"}).fetch1("stimulus_groups")
    assert stored == groups


def test_stimulus_types_declared_in_the_manifest(db, tmp_path, capsys):
    events = base_events().replace({"stimulus": {"dimming": "flash"}})
    plain = write_manifest(tmp_path / "plain", [dict(events_frame=events)])
    assert cli("ingest", str(plain)) == 1
    text = capsys.readouterr().out
    assert "unknown stimulus 'flash'" in text and "[stimulus_types]" in text and "tectum stimulus add flash" in text, (
        text
    )

    declared = write_manifest(
        tmp_path / "declared", [dict(events_frame=events)], stimulus_types={"flash": "whole-field flash of light"}
    )
    try:
        assert cli("ingest", str(declared)) == 0
        out = capsys.readouterr().out
        assert "stimulus types added: flash" in out and "1 inserted" in out
        assert (db.reference.StimulusType & {"stimulus": "flash"}).fetch1("description") == "whole-field flash of light"
        assert sorted(set((db.acquisition.Presentation & {"fish": "F1"}).to_arrays("stimulus"))) == [
            "flash",
            "looming",
            "prey",
        ]
        # again: the type exists with the same description, nothing is added
        assert cli("ingest", str(declared)) == 0
        assert "stimulus types added" not in capsys.readouterr().out
    finally:
        db.acquisition.Fish.delete(prompt=False)
        (db.reference.StimulusType & {"stimulus": "flash"}).delete(prompt=False)


def test_bad_roi_warning_names_entry_and_roi_ids(db, tmp_path, capsys):
    traces = base_traces()
    traces[[1, 4]] = -3.0
    manifest = write_manifest(tmp_path, [dict(traces_array=traces)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI reports it; nothing escapes as a Python warning
        assert cli("ingest", str(manifest)) == 0
    out = capsys.readouterr().out
    assert (
        "warning: " + str(manifest) + " entry #1 (fish F1, recording R1): 2 of 6 ROIs (ids 1, 4): "
        "the 8th percentile of the raw fluorescence"
    ) in out, out


def test_source_paths_are_relative_unless_asked(db, tmp_path, capsys):
    manifest = write_manifest(tmp_path, [dict()])
    assert cli("ingest", str(manifest)) == 0
    key = {"fish": "F1", "recording": "R1"}
    meta = (db.acquisition.Recording & key).fetch1("imaging_metadata")
    assert meta["sources"] == {"traces": "traces0.npy", "events": "events0.csv"}
    assert str(tmp_path) not in str(meta)
    assert cli("ingest", "--replace", "--absolute-paths", str(manifest)) == 0
    meta = (db.acquisition.Recording & key).fetch1("imaging_metadata")
    assert meta["sources"]["traces"] == str((tmp_path / "traces0.npy").resolve())
    assert meta["sources"]["manifest_dir"] == str(tmp_path.resolve())


def test_protocol_logged_out_of_order_ingests(db, tmp_path, capsys):
    """A protocol whose state-machine rows of one display frame are logged out of order ingests,
    its presentations in onset order; a step back of 0.5 s is refused naming the row."""
    folder = tmp_path / "log"
    manifest = write_manifest(folder, [dict()])
    stimuli = write_protocol(folder / "protocol.p", 99.0, base_events())
    content = pd.read_pickle(folder / "protocol.p")
    proto = content["protocol"]
    rng = np.random.default_rng(4)
    rows = rng.choice(np.arange(1, len(proto) - 1), 11, replace=False)
    for row in rows:  # the row logged after its successor, up to 35 ms later in time
        proto.loc[row, "t"] = proto.loc[row + 1, "t"] + rng.uniform(0.001, 0.035)
    pd.to_pickle(content, folder / "protocol.p")
    text = manifest.read_text(encoding="utf-8").replace(
        'events = "events0.csv"', f'protocol = "protocol.p"\nstimuli = {toml_value(stimuli)}'
    )
    manifest.write_text(text, encoding="utf-8")
    assert cli("ingest", str(manifest)) == 0, capsys.readouterr()
    key = {"fish": "F1", "recording": "R1"}
    onsets = (db.acquisition.Presentation & key).to_arrays("onset_s", order_by="presentation")
    assert len(onsets) == len(base_events()) and np.all(np.diff(onsets) > 0)
    meta = (db.acquisition.Recording & key).fetch1("imaging_metadata")
    assert meta["protocol"]["rows_out_of_order"] >= 11 and meta["protocol"]["largest_step_back_s"] < 0.1
