"""Bad input, as a matrix: every case through ``tectum ingest`` and through the Python API.

Each case of :data:`CASES` is run twice against the real database (the
``clean_db`` fixture, with one good recording ``F0/R0`` already ingested so
that "unchanged" is not trivially true):

* ``cli``: the files are written beside a manifest and ``tectum -q ingest
  MANIFEST`` runs in-process (``tectum.cli.main``); its exit code and printed
  output are checked;
* ``python``: ``schemas.insert_recording`` is called with the same data in
  memory. Problems that only exist in files (a truncated ``.npy``, a missing
  file, a Femtonics or protocol file that disagrees with the traces) have no
  in-memory form; their Python arm is ``tectum.ingest.ingest_manifest(...,
  keep_going=False)``, the Python API for manifests, which raises instead of
  reporting.

A case either is *rejected* (a clear error naming the entry/recording, the file
where one is at fault and what is wrong; non-zero exit; ``row_counts`` of every
table identical before and after), or has a documented result (ingests and
populates; ingests and fails at populate with an error naming the recording and
ROI and no partial rows; an already-ingested recording is left unchanged).
The outcome table is in ``docs/bad-input.md``; a summary of the run is printed
at the end of the module (and written to ``$TECTUM_BAD_INPUT_SUMMARY`` if set).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dbutil import row_counts

N_ROIS, N_FRAMES, PERIOD = 6, 100, 1.0
SENSOR, REGION = "GCaMP6s", "right_tectum"

#: analysis tables that must hold no row of a recording whose DeltaF failed
DOWNSTREAM = (
    "DeltaF",
    "Fit",
    "Fit.Roi",
    "Fit.Coefficient",
    "Classification",
    "Classification.Roi",
    "ResponseAmplitude",
    "ResponseAmplitude.Roi",
    "Clustering",
    "Clustering.Tree",
    "Clustering.Member",
    "ClassSummary",
    "ClassSummary.Count",
)

SUMMARY: list[dict] = []


# ---------------------------------------------------------------------------
# data


def base_events() -> pd.DataFrame:
    """Two presentations of each of the three default regressors' stimuli."""
    return pd.DataFrame(
        {
            "stimulus": ["prey", "looming", "dimming", "prey", "looming", "dimming"],
            "onset_s": [10.0, 25.0, 40.0, 55.0, 70.0, 85.0],
            "duration_s": [2.0] * 6,
        }
    )


def base_traces(n_rois: int = N_ROIS, n_frames: int = N_FRAMES, seed: int = 0) -> np.ndarray:
    """Raw fluorescence around 500 with noise; ROI 0 answers prey, ROI 1 looming."""
    rng = np.random.default_rng(seed)
    traces = 500.0 + rng.normal(0.0, 5.0, size=(n_rois, n_frames))
    decay = np.exp(-np.arange(8) / 2.0)
    for roi, stimulus in ((0, "prey"), (1, "looming")):  # noqa: B007  (pandas query: @stimulus)
        if roi >= n_rois:
            continue
        for onset in base_events().query("stimulus == @stimulus")["onset_s"]:
            start = int(onset / PERIOD)
            stop = min(start + len(decay), n_frames)
            if start < n_frames:
                traces[roi, start:stop] += 150.0 * decay[: stop - start]
    return traces.astype(np.float32)


def api_kwargs(**change) -> dict:
    """``insert_recording`` keyword arguments of a good recording F1/R1, with changes."""
    kwargs = dict(
        fish="F1",
        recording="R1",
        region=REGION,
        sensor=SENSOR,
        frame_period_s=PERIOD,
        traces=base_traces(),
        events=base_events(),
        genotype="wild type",
    )
    kwargs.update(change)
    return kwargs


# ---------------------------------------------------------------------------
# files and manifests


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # nan, inf and -inf are TOML too
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(type(value))


@dataclass
class Files:
    """One recording laid out on disk with its manifest."""

    folder: Path
    entry: dict = field(default_factory=dict)

    @property
    def manifest(self) -> Path:
        return self.folder / "manifest.toml"

    def write_manifest(self) -> Path:
        lines = ["[[recording]]"] + [f"{k} = {toml_value(v)}" for k, v in self.entry.items() if v is not None]
        self.manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.manifest


def write_recording(folder: Path, *, traces=None, events=None, fmt: str = "npy", **entry) -> Files:
    """Traces (``npy`` or ``csv``), an events CSV and a manifest entry; ``entry`` overrides keys.

    An override of ``None`` removes the key.
    """
    folder.mkdir(parents=True, exist_ok=True)
    traces = base_traces() if traces is None else traces
    events = base_events() if events is None else events
    if fmt == "npy":
        np.save(folder / "traces.npy", np.asarray(traces))
        traces_name = "traces.npy"
    else:
        pd.DataFrame(np.asarray(traces)).to_csv(folder / "traces.csv", index=False, float_format="%.6g")
        traces_name = "traces.csv"
    events.to_csv(folder / "events.csv", index=False)
    keys = dict(
        fish="F1",
        recording="R1",
        region=REGION,
        sensor=SENSOR,
        genotype="wild type",
        frame_period_s=PERIOD,
        traces=traces_name,
        events="events.csv",
    )
    if fmt == "csv":  # DataFrame.to_csv(index=False) writes a header of column numbers
        keys["traces_header"] = True
    keys.update(entry)
    files = Files(folder, {k: v for k, v in keys.items() if v is not None})
    files.write_manifest()
    return files


def write_protocol(path: Path, duration_s: float, events: pd.DataFrame, rate_hz: float = 10.0) -> dict:
    """The lab's stimulus-software pickle covering ``duration_s``; returns the stimuli table."""
    t = np.arange(int(round(duration_s * rate_hz))) / rate_hz
    stems = {"prey": "stim1", "looming": "stim2", "dimming": "stim3"}
    protocol = pd.DataFrame({"t": t})
    for stem in stems.values():
        protocol[f"{stem}_presence"] = 0
    for name, onset, dur in zip(events["stimulus"], events["onset_s"], events["duration_s"]):
        rows = (t >= onset) & (t < onset + dur)
        protocol.loc[rows, f"{stems[name]}_presence"] = 1
    pd.to_pickle({"metadata": {"rate_hz": rate_hz}, "protocol": protocol}, path)
    return {stem: name for name, stem in stems.items()}


# ---------------------------------------------------------------------------
# the cases


@dataclass
class Case:
    """One bad input.

    ``python(db)`` performs the Python call; ``cli(folder)`` writes the files
    and returns the manifest. ``expect``: ``reject`` (error, nothing written),
    ``ingest`` (ingests and populates; ``check`` looks at the result),
    ``populate_error`` (ingests; populate fails for ``failing_paramsets`` with
    a message matching ``match``), ``unchanged`` (already ingested: reported,
    nothing written). ``match`` must occur in the error (both arms);
    ``cli_names`` in the CLI's error line besides the manifest entry (an
    error of the manifest as a whole, ``entry_named=False``, names the
    manifest file instead). ``warns``: a warning matching it must be
    printed (CLI) or issued (Python).
    """

    id: str
    outcome: str  # what happens, for the summary and docs/bad-input.md
    python: Callable
    cli: Callable
    expect: str = "reject"
    match: str = ""
    cli_match: str | None = None
    python_errors: tuple = ()
    cli_names: tuple = ()
    python_names: tuple = ("F1/R1",)
    key: dict = field(default_factory=lambda: {"fish": "F1", "recording": "R1"})
    failing_paramsets: tuple = ("default",)
    check: Callable | None = None
    warns: str | None = None
    entry_named: bool = True


def insert(**change):
    return lambda db: db.insert_recording(**api_kwargs(**change))


def via_manifest(write):
    """Python arm of a file-only problem: ``ingest_manifest`` raising the first error."""

    def run(db, folder):
        from tectum.ingest import ingest_manifest

        return ingest_manifest(write(folder), progress=False, keep_going=False)

    run.needs_folder = True
    return run


def npy_with(traces):
    return lambda folder: write_recording(folder, traces=traces).manifest


def events_with(events, **entry):
    return lambda folder: write_recording(folder, events=events, **entry).manifest


def manifest_with(**entry):
    return lambda folder: write_recording(folder, **entry).manifest


def _nan_traces():
    t = base_traces()
    t[3, 17] = np.nan
    return t


def _inf_traces():
    t = base_traces()
    t[4, 5] = np.inf
    return t


def _negative_roi_traces():
    t = base_traces()
    t[2] = -5.0 - np.abs(t[2] - 500.0)  # raw fluorescence all negative: baseline F0 < 0
    return t


def _constant_roi_traces():
    t = base_traces()
    t[2] = 500.0
    return t


def _csv_with_duplicate_labels(folder):
    files = write_recording(folder, fmt="csv", traces_index_column=True)
    frame = pd.DataFrame(base_traces(), index=[10, 11, 12, 12, 14, 15])
    frame.to_csv(folder / "traces.csv", float_format="%.6g")  # first column: ROI labels
    return files.manifest


def _csv_with_cell(folder, line: int, column: int, text: str):
    """A CSV-traces recording whose cell (line, column) of traces.csv reads ``text``."""
    files = write_recording(folder, fmt="csv")
    lines = (folder / "traces.csv").read_text().splitlines()
    cells = lines[line].split(",")
    cells[column] = text
    lines[line] = ",".join(cells)
    (folder / "traces.csv").write_text("\n".join(lines) + "\n")
    return files.manifest


def _non_numeric_csv(folder):
    return _csv_with_cell(folder, 3, 7, "n/a?")


def _ragged_csv(folder):
    files = write_recording(folder, fmt="csv")
    lines = (folder / "traces.csv").read_text().splitlines()
    lines[4] = ",".join(lines[4].split(",")[:-3])  # ROI row 3 lacks its last three frames
    (folder / "traces.csv").write_text("\n".join(lines) + "\n")
    return files.manifest


def _inf_csv(folder):
    return _csv_with_cell(folder, 5, 5, "inf")


def _truncated_npy(folder):
    files = write_recording(folder)
    data = (folder / "traces.npy").read_bytes()
    (folder / "traces.npy").write_bytes(data[: len(data) // 2])
    return files.manifest


def _missing_traces(folder):
    files = write_recording(folder)
    (folder / "traces.npy").unlink()
    return files.manifest


def _protocol_longer(folder):
    """A protocol pickle of 150 s for 100 frames of 1 s."""
    files = write_recording(folder, events=None)
    stimuli = write_protocol(folder / "protocol.p", 150.0, base_events())
    files.entry.pop("events")
    files.entry.update(protocol="protocol.p", stimuli=stimuli)
    return files.write_manifest()


def _femtonics(folder, d3size, d3step="1000 ms"):
    files = write_recording(folder)
    (folder / "mes.txt").write_text(f"D3Step = {d3step}\nD3Size = {d3size}\nWidth = 512\nHeight = 512\n")
    files.entry.pop("frame_period_s")
    files.entry["femtonics_metadata"] = "mes.txt"
    return files.write_manifest()


def _misspelt_key(folder):
    files = write_recording(folder)
    files.entry["frame_perod_s"] = files.entry.pop("frame_period_s")
    return files.write_manifest()


def _missing_sensor_key(folder):
    return write_recording(folder, sensor=None).manifest


def _missing_sensor_kwarg(db):
    kwargs = api_kwargs()
    del kwargs["sensor"]
    return db.insert_recording(**kwargs)


def _misspelt_kwarg(db):
    kwargs = api_kwargs()
    kwargs["frame_perod_s"] = kwargs.pop("frame_period_s")
    return db.insert_recording(**kwargs)


def _ragged_list(db):
    rows = [list(map(float, row)) for row in base_traces()]
    rows[3] = rows[3][:-3]
    return db.insert_recording(**api_kwargs(traces=rows))


def _non_numeric_array(db):
    traces = base_traces().astype(object)
    traces[2, 7] = "n/a?"
    return db.insert_recording(**api_kwargs(traces=traces))


def _reingest_python(db):
    db.insert_recording(**api_kwargs())
    db.populate_all({"fish": "F1", "recording": "R1", "paramset": "default"})
    return "setup-done"


def _one_frame_events():
    return pd.DataFrame({"stimulus": ["prey", "looming", "dimming"], "onset_s": [0.0] * 3, "duration_s": [0.5] * 3})


def _check_one_roi(db, key, paramset_errors):
    an = db.analysis
    k = dict(key, paramset="default")
    assert (an.Fit & k).fetch1("n_rois") == 1
    tree = (an.Clustering.Tree & k & {"roi_set": "all"}).fetch1()
    assert tree["n_clustered"] == 1 and tree["n_clusters"] == 1
    assert (an.Clustering.Member & k & {"roi_set": "all"}).fetch1("cluster") == 1
    # seed2020's F0 across ROIs would be the only ROI itself (dF/F 0): not assigned, and the reason is given
    assert set((an.AnalysisTask & key).to_arrays("paramset")) == {"default"}
    assigned, skipped = an.AnalysisTask.assign("seed2020", key)
    assert not assigned and "across ROIs" in skipped[0]
    return "populates default; Clustering: 1 ROI, 1 cluster; seed2020 not assigned (its F0 would be the ROI itself)"


def _check_zero_variance(db, key, paramset_errors):
    an = db.analysis
    row = (an.Fit.Roi & key & {"roi": 2, "paramset": "default"}).fetch1()
    assert row["r2"] is None and row["p_parametric"] is None and not row["selected"]
    assert not (an.Classification.Roi & key & {"roi": 2})
    assert row["excluded"] == "zero variance"
    assert len(an.Clustering.Member & key & {"paramset": "default", "roi_set": "all"}) == N_ROIS - 1
    seed = (an.Fit.Roi & key & {"roi": 2, "paramset": "seed2020"}).fetch1()
    return (
        f"default: excluded ('zero variance'), r2 NULL, never selected, classified or clustered; "
        f"seed2020 r2 = {seed['r2']!r} (F0 varies per frame)"
    )


def _check_round_trip(name):
    def check(db, key, paramset_errors):
        assert (db.acquisition.Recording & key).fetch1("fish") == name
        assert len(db.analysis.Fit & key) == 2
        return "ingests, populates, the name round-trips exactly"

    return check


def _check_baseline_excluded(db, key, paramset_errors):
    an = db.analysis
    k = dict(key, paramset="default")
    assert (an.DeltaF.Excluded & k).to_dicts() == [dict(k, roi=2, reason="baseline <= 0")]
    row = (an.Fit.Roi & k & {"roi": 2}).fetch1()
    assert row["excluded"] == "baseline <= 0" and not row["selected"]
    assert (an.DeltaF & k).fetch1("n_excluded") == 1
    assert len(an.Fit.Roi & k) == N_ROIS
    assert an.ClassSummary & dict(key, paramset="seed2020")  # F0 across ROIs: unaffected
    return "ingests with a warning naming ROI 2; default: ROI 2 in DeltaF.Excluded (baseline <= 0), the others analysed"


def _all_negative_traces():
    return -5.0 - np.abs(base_traces() - 500.0)


def _late_events():
    """Every stimulus in the last frame of the 100 s recording."""
    return pd.DataFrame(
        {"stimulus": ["prey", "looming", "dimming"], "onset_s": [99.1, 99.4, 99.7], "duration_s": [0.2] * 3}
    )


def _duplicated_events():
    return pd.concat([base_events(), base_events().iloc[[3]]], ignore_index=True)


def _positions_1e39():
    positions = np.zeros((N_ROIS, 3))
    positions[4, 0] = 1e39
    return positions


def _positions_file(folder):
    files = write_recording(folder, positions="positions.npy")
    np.save(folder / "positions.npy", _positions_1e39())
    return files.manifest


def _inf_param_events(folder):
    files = write_recording(folder)
    events = base_events()
    events["size"] = [10.0, 20.0, float("inf"), 10.0, 20.0, 30.0]
    events.to_csv(folder / "events.csv", index=False)
    return files.manifest


def _set_param_events():
    events = base_events()
    events["params"] = [{"size": 10}, {}, {"colours": {"red", "green"}}, {}, {}, {}]
    return events


def _csv_frame_time_header(folder):
    """A traces CSV whose first line holds frame times (no key says it is a header)."""
    files = write_recording(folder, fmt="csv", traces_header=None)
    data = [",".join(f"{v:.6g}" for v in row) for row in base_traces()]
    header = ",".join(f"{t:g}" for t in np.arange(N_FRAMES) * PERIOD)
    (folder / "traces.csv").write_text("\n".join([header] + data) + "\n")
    return files.manifest


def _csv_index_without_header(folder):
    """A traces CSV written with an index column and no header (no key says so)."""
    files = write_recording(folder, fmt="csv", traces_header=None)
    pd.DataFrame(base_traces()).to_csv(folder / "traces.csv", header=False, float_format="%.6g")
    return files.manifest


def _csv_float_roi_ids(folder):
    files = write_recording(folder, fmt="csv", traces_header=False, traces_index_column=True)
    pd.DataFrame(base_traces(), index=[0, 1, 2.5, 3, 4, 5]).to_csv(
        folder / "traces.csv", header=False, float_format="%.6g"
    )
    return files.manifest


def _transposed_npy(folder):
    return write_recording(folder, traces=base_traces().T).manifest


def _protocol_step_back(folder):
    """The lab's protocol pickle with one row 0.5 s earlier than the row before (beyond the tolerance)."""
    files = write_recording(folder, events=None)
    stimuli = write_protocol(folder / "protocol.p", 99.0, base_events())
    content = pd.read_pickle(folder / "protocol.p")
    content["protocol"].loc[400, "t"] = content["protocol"].loc[399, "t"] - 0.5
    pd.to_pickle(content, folder / "protocol.p")
    files.entry.pop("events")
    files.entry.update(protocol="protocol.p", stimuli=stimuli)
    return files.write_manifest()


def _conflicting_stimulus_type(folder):
    files = write_recording(folder)
    text = files.manifest.read_text(encoding="utf-8")
    files.manifest.write_text('[stimulus_types]\nlooming = "a dark bar sweeping across"\n\n' + text, encoding="utf-8")
    return files.manifest


NON_ASCII = "Fisch-Ä-日本"
QUOTED = "F1'; DROP TABLE fish; --"
LONG_CJK = "日" * 64
EMOJI_64 = "🐟" * 64

CASES = [
    Case(
        "nan_in_traces",
        "rejected at ingest: names the ROI (and for files the row and frame)",
        insert(traces=_nan_traces()),
        npy_with(_nan_traces()),
        match=r"ROI (row )?3\b.*(NaN|nan)|NaN.*ROI 3",
        cli_names=("traces.npy",),
    ),
    Case(
        "inf_in_traces",
        "rejected at ingest: names the ROI (CSV: line, ROI row and frame)",
        insert(traces=_inf_traces()),
        _inf_csv,
        match=r"ROI (row )?\d+.*(infinite|inf)",
        cli_names=("traces.csv", "line 6"),
    ),
    Case(
        "baseline_not_positive",
        "ingests with a warning naming the ROI; the default analysis excludes it "
        "(DeltaF.Excluded) and analyses the others; seed2020 (F0 across ROIs) is unaffected",
        insert(traces=_negative_roi_traces()),
        npy_with(_negative_roi_traces()),
        expect="ingest",
        check=_check_baseline_excluded,
        warns=r"(recording F1/R1|manifest.toml entry #1 \(fish F1, recording R1\)): 1 of 6 ROIs \(ids 2\): "
        r"the 8th percentile of the raw fluorescence .* is <= 0",
    ),
    Case(
        "every_roi_bad",
        "rejected: every ROI's raw baseline is <= 0",
        insert(traces=_all_negative_traces()),
        npy_with(_all_negative_traces()),
        match=r"every ROI is unusable: the 8th percentile of the raw fluorescence .* <= 0.*ROI ids 0, 1, 2",
    ),
    Case(
        "protocol_longer_than_traces",
        "rejected: frame-count mismatch naming the protocol file",
        via_manifest(_protocol_longer),
        _protocol_longer,
        match=r"frame-count mismatch.*protocol runs for 149.9 s",
        cli_names=("protocol.p",),
        python_names=("protocol.p",),
    ),
    Case(
        "femtonics_d3size_mismatch",
        "rejected: D3Size differs from the traces' frame count",
        via_manifest(lambda f: _femtonics(f, 120)),
        lambda f: _femtonics(f, 120),
        match=r"D3Size = 120.*have 100",
        cli_names=("mes.txt",),
        python_names=("mes.txt",),
    ),
    Case(
        "event_after_end",
        "rejected: names the event, its time and the recording's extent",
        insert(
            events=pd.concat(
                [base_events(), pd.DataFrame([{"stimulus": "looming", "onset_s": 130.0, "duration_s": 2.0}])],
                ignore_index=True,
            )
        ),
        events_with(
            pd.concat(
                [base_events(), pd.DataFrame([{"stimulus": "looming", "onset_s": 130.0, "duration_s": 2.0}])],
                ignore_index=True,
            )
        ),
        match=r"130.*(after the end|outside the recording)",
        cli_names=("events.csv",),
    ),
    Case(
        "empty_protocol",
        "rejected: the stimulus protocol is empty",
        insert(events=base_events().iloc[:0]),
        events_with(base_events().iloc[:0]),
        match=r"(protocol is empty|no stimulus events)",
        cli_names=("events.csv",),
    ),
    Case(
        "unknown_sensor",
        "rejected: unknown sensor, known ones listed",
        insert(sensor="GCaMP99"),
        manifest_with(sensor="GCaMP99"),
        match=r"unknown sensor 'GCaMP99'",
    ),
    Case(
        "unknown_stimulus",
        "rejected: unknown stimulus, known ones listed, and how to declare it",
        insert(events=base_events().replace({"stimulus": {"dimming": "flash"}})),
        events_with(base_events().replace({"stimulus": {"dimming": "flash"}})),
        match=r"unknown stimulus 'flash'.*(\[stimulus_types\]|tectum stimulus add flash)",
        cli_names=("events.csv",),
    ),
    Case(
        "duplicate_roi_ids",
        "rejected: the duplicated ROI id is named",
        insert(roi_ids=[10, 11, 12, 12, 14, 15]),
        _csv_with_duplicate_labels,
        match=r"duplicate ROI id.*12",
        cli_names=("traces.csv",),
    ),
    Case(
        "non_numeric_csv",
        "rejected: CSV names line, column and value; Python: not a numeric matrix",
        _non_numeric_array,
        _non_numeric_csv,
        match=r"(non-numeric value 'n/a\?'|numeric ROIs x frames matrix)",
        cli_names=("traces.csv", "line 4"),
    ),
    Case(
        "ragged_csv",
        "rejected: CSV names the short line; Python: rows of different lengths",
        _ragged_list,
        _ragged_csv,
        match=r"(ragged|different lengths)",
        cli_names=("traces.csv", "line 5"),
    ),
    Case(
        "truncated_npy",
        "rejected: truncated or corrupt .npy file",
        via_manifest(_truncated_npy),
        _truncated_npy,
        match=r"truncated or corrupt",
        cli_names=("traces.npy",),
        python_names=("traces.npy",),
    ),
    Case(
        "missing_file",
        "rejected: traces file not found (the path looked for is shown)",
        via_manifest(_missing_traces),
        _missing_traces,
        match=r"not found",
        cli_names=("traces.npy",),
        python_names=("traces.npy",),
    ),
    Case(
        "misspelt_key",
        "rejected: unknown key with a suggestion (Python: TypeError for the keyword)",
        _misspelt_kwarg,
        _misspelt_key,
        match=r"(unknown key 'frame_perod_s'; did you mean 'frame_period_s'|unexpected keyword argument "
        r"'frame_perod_s')",
        python_errors=(TypeError,),
        python_names=(),
    ),
    Case(
        "missing_key",
        "rejected: missing required key sensor (Python: TypeError)",
        _missing_sensor_kwarg,
        _missing_sensor_key,
        match=r"(missing required key\(s\): sensor|missing 1 required keyword-only argument: 'sensor')",
        python_errors=(TypeError,),
        python_names=(),
    ),
    Case(
        "reingest",
        "Python: error 'already ingested (use replace)'; CLI: reported as already ingested, "
        "exit 0; nothing changes either way; replace=True / --replace re-inserts",
        insert(),
        manifest_with(),
        expect="unchanged",
        match=r"already ingested",
    ),
    Case(
        "one_roi",
        "ingests and populates default; clustering trivial (one cluster); seed2020 not assigned",
        insert(traces=base_traces()[:1]),
        npy_with(base_traces()[:1]),
        expect="ingest",
        check=_check_one_roi,
    ),
    Case(
        "one_frame",
        "rejected at ingest: need more frames than regressors + 1",
        insert(traces=base_traces()[:, :1], events=_one_frame_events()),
        lambda f: write_recording(f, traces=base_traces()[:, :1], events=_one_frame_events()).manifest,
        match=r"1 frame.*more frames than regressors \+ 1",
        cli_names=("traces.npy",),
    ),
    Case(
        "zero_variance_roi",
        "ingests and populates; the constant ROI is excluded (zero variance), never selected",
        insert(traces=_constant_roi_traces()),
        npy_with(_constant_roi_traces()),
        expect="ingest",
        check=_check_zero_variance,
    ),
    Case(
        "frame_period_zero",
        "rejected: frame period must be positive",
        insert(frame_period_s=0),
        manifest_with(frame_period_s=0.0),
        match=r"frame.period.*positive",
    ),
    Case(
        "frame_period_negative",
        "rejected: frame period must be positive",
        insert(frame_period_s=-1.0),
        manifest_with(frame_period_s=-1.0),
        match=r"frame.period.*positive",
    ),
    Case(
        "frame_period_nan",
        "rejected: frame period must be positive (TOML nan)",
        insert(frame_period_s=float("nan")),
        manifest_with(frame_period_s=float("nan")),
        match=r"frame.period.*positive",
    ),
    Case(
        "femtonics_d3step_zero",
        "rejected: D3Step must be a positive frame period",
        via_manifest(lambda f: _femtonics(f, 100, "0 ms")),
        lambda f: _femtonics(f, 100, "0 ms"),
        match=r"D3Step = '0 ms' must be a positive",
        cli_names=("mes.txt",),
        python_names=("mes.txt",),
    ),
    Case(
        "long_fish_name",
        "rejected: 65 characters, at most 64 fit",
        insert(fish="x" * 65),
        manifest_with(fish="x" * 65),
        match=r"'fish' 'x+' is 65 characters long; at most 64",
        python_names=("x" * 65,),
        key={"fish": "x" * 65, "recording": "R1"},
    ),
    Case(
        "long_recording_name",
        "rejected: 300 characters, at most 64 fit",
        insert(recording="r" * 300),
        manifest_with(recording="r" * 300),
        match=r"'recording' 'r+' is 300 characters long; at most 64",
        python_names=("r" * 300,),
        key={"fish": "F1", "recording": "r" * 300},
    ),
    Case(
        "emoji_fish_name",
        "rejected: 64 emoji fit the column but not the object store's file names",
        insert(fish=EMOJI_64),
        manifest_with(fish=EMOJI_64),
        match=r"'fish' '🐟+' takes \d+ bytes in the object store's file names \(at most 200\)",
        python_names=(EMOJI_64,),
        key={"fish": EMOJI_64, "recording": "R1"},
    ),
    Case(
        "trailing_space_name",
        "rejected: a name that ends with white space (MySQL would match it to 'X')",
        insert(fish="X "),
        manifest_with(fish="X "),
        match=r"'fish' 'X ' begins or ends with white space",
        python_names=("X ",),
        key={"fish": "X ", "recording": "R1"},
    ),
    Case(
        "bad_group_name",
        "rejected: a regressor group named with surrounding white space",
        insert(stimulus_groups={"prey ": ["prey"]}),
        manifest_with(groups={"prey ": ["prey"]}),
        match=r"'group' 'prey ' begins or ends with white space",
    ),
    Case(
        "long_genotype",
        "rejected: genotype of 256 characters, at most 255 fit",
        insert(genotype="g" * 256),
        manifest_with(genotype="g" * 256),
        match=r"'genotype' is 256 characters long; at most 255",
    ),
    Case(
        "name_at_limit_non_ascii",
        "64 CJK characters fit varchar(64): ingests and populates",
        insert(fish=LONG_CJK),
        manifest_with(fish=LONG_CJK),
        expect="ingest",
        key={"fish": LONG_CJK, "recording": "R1"},
        check=_check_round_trip(LONG_CJK),
    ),
    Case(
        "non_ascii_name",
        "ingests and populates; the name round-trips exactly",
        insert(fish=NON_ASCII),
        manifest_with(fish=NON_ASCII),
        expect="ingest",
        key={"fish": NON_ASCII, "recording": "R1"},
        check=_check_round_trip(NON_ASCII),
    ),
    Case(
        "quote_in_name",
        "ingests and populates: values are parameters, never SQL text",
        insert(fish=QUOTED),
        manifest_with(fish=QUOTED),
        expect="ingest",
        key={"fish": QUOTED, "recording": "R1"},
        check=_check_round_trip(QUOTED),
    ),
    Case(
        "frame_period_ms_as_s",
        "rejected: 500 s per frame is outside 1 ms - 60 s (ms written as s)",
        insert(frame_period_s=500.0),
        manifest_with(frame_period_s=500.0),
        match=r"frame period.* 500(\.0)? s is outside the plausible range 1 ms to 60 s.*500(\.0)? ms = 0.5 s",
    ),
    Case(
        "femtonics_d3step_in_s",
        "rejected: D3Step = 500 s (a period in ms written with the unit s)",
        via_manifest(lambda f: _femtonics(f, 100, "500 s")),
        lambda f: _femtonics(f, 100, "500 s"),
        match=r"D3Step of the Femtonics metadata\) 500.0 s is outside the plausible range",
        cli_names=("mes.txt",),
        python_names=("mes.txt",),
    ),
    Case(
        "stimuli_only_at_last_frame",
        "rejected: no stimulus before the last second/frame of the recording",
        insert(events=_late_events()),
        events_with(_late_events()),
        match=r"every stimulus starts in the last frame of the recording \(onsets 99.1 to 99.7 s",
        cli_names=("events.csv",),
    ),
    Case(
        "duplicated_presentation",
        "rejected: the same stimulus at the same onset twice",
        insert(events=_duplicated_events()),
        events_with(_duplicated_events()),
        match=r"(lines 5 and 8 are the same presentation|events #3 and #6 are the same presentation) "
        r"\('prey' at 55(\.0)? s\)",
        cli_names=("events.csv",),
    ),
    Case(
        "age_1e39",
        "rejected: age_dpf = 1e39 is not a plausible age",
        insert(age_dpf=1e39),
        manifest_with(age_dpf=1e39),
        match=r"age_dpf 1e\+39 days post fertilisation is not a plausible age \(at most 10000\)",
    ),
    Case(
        "positions_1e39",
        "rejected: a ROI position of 1e39 pixels",
        insert(positions=_positions_1e39()),
        _positions_file,
        match=r"position x = 1e\+39 of ROI 4 \(row 4\) is beyond ±1e\+06 pixels",
        cli_names=("positions.npy",),
    ),
    Case(
        "recorded_at_not_a_date",
        "rejected: recorded_at = 'yesterday' is not an ISO date-time",
        insert(recorded_at="yesterday"),
        manifest_with(recorded_at="yesterday"),
        match=r"recorded_at 'yesterday' is not an ISO date-time",
    ),
    Case(
        "non_json_params",
        "rejected: stimulus parameters JSON cannot hold (a set; an inf in the events file)",
        insert(events=_set_param_events()),
        _inf_param_events,
        match=r"event #2 \('dimming' at 40(\.0)? s\): params\['(colours|size)'\] is (a set|inf)",
    ),
    Case(
        "csv_frame_time_header",
        "rejected: a first line of frame times with no traces_header key",
        via_manifest(_csv_frame_time_header),
        _csv_frame_time_header,
        match=r"line 1 \(0, 1, 2, 3, \.\.\.\) holds whole numbers counting up, like a header.*"
        r"set traces_header = true",
        cli_names=("traces.csv",),
        python_names=("traces.csv",),
    ),
    Case(
        "csv_index_without_header",
        "rejected: a first column 0..n-1 with no traces_index_column key",
        via_manifest(_csv_index_without_header),
        _csv_index_without_header,
        match=r"column 1 \(0, 1, 2, 3, \.\.\.\) holds whole numbers counting up, like an index column.*"
        r"set traces_index_column = true",
        cli_names=("traces.csv",),
        python_names=("traces.csv",),
    ),
    Case(
        "non_integer_roi_ids",
        "rejected: a ROI id of 2.5 (CSV index column / roi_ids)",
        insert(roi_ids=[0, 1, 2.5, 3, 4, 5]),
        _csv_float_roi_ids,
        match=r"ROI id '?2.5'? .*not an integer",
        cli_names=("traces.csv", "line 3"),
    ),
    Case(
        "transposed_matrix",
        "rejected: frames x ROIs given where ROIs x frames is expected; says so",
        insert(traces=base_traces().T),
        _transposed_npy,
        match=r"(after the end|outside) .*the (traces )?matrix looks transposed: its 100 rows match the "
        r"recording's frames",
        cli_names=("traces_orientation",),
    ),
    Case(
        "protocol_step_back",
        "rejected: protocol 't' going back 0.5 s (beyond the 0.1 s tolerance)",
        via_manifest(_protocol_step_back),
        _protocol_step_back,
        match=r"'t' does not increase at row 400 .*0.5 s back; rows may step back by less than "
        r"protocol_time_tolerance_s = 0.1 s",
        cli_names=("protocol.p",),
        python_names=("protocol.p",),
    ),
    Case(
        "conflicting_stimulus_type",
        "rejected before anything is written: [stimulus_types] gives 'looming' another description than the database's",
        via_manifest(_conflicting_stimulus_type),
        _conflicting_stimulus_type,
        match=r"\[stimulus_types\] 'looming': the database already has this stimulus type with the "
        r"description 'expanding dark disc'",
        python_names=("manifest.toml",),
        entry_named=False,
    ),
    Case(
        "backslash_in_name",
        "rejected: names with a backslash or control character",
        insert(fish="F\\1"),
        manifest_with(fish="F\\1"),
        match=r"contains a backslash",
        python_names=("F\\1",),
        key={"fish": "F\\1", "recording": "R1"},
    ),
    Case(
        "decomposed_accent_in_name",
        "rejected: a name not in Unicode normal form C (it would differ from the same name composed)",
        insert(fish="Fe\u0301"),
        manifest_with(fish="Fe\u0301"),
        match=r"is not in Unicode normal form C",
        python_names=("Fe\u0301",),
        key={"fish": "Fe\u0301", "recording": "R1"},
    ),
]

CASE_BY_ID = {case.id: case for case in CASES}
assert len(CASE_BY_ID) == len(CASES) >= 20


# ---------------------------------------------------------------------------
# running one case


def cli(*argv) -> int:
    from tectum.cli import main

    return main(["-q", *argv])


def restriction(key) -> str:
    return ",".join(f"{k}={v}" for k, v in key.items())


def run_python(case: Case, db, folder: Path):
    if getattr(case.python, "needs_folder", False):
        return case.python(db, folder)
    return case.python(db)


def populate(db, case: Case, interface: str, capsys) -> tuple[list[str], str]:
    """Populate the case's recording; return (error messages, printed output)."""
    if interface == "python":
        reports = db.populate_all(case.key)
        return [str(message) for r in reports for _, message in r.errors], ""
    rc = cli("populate", restriction(case.key))
    out = capsys.readouterr()
    text = out.out + out.err
    errors = [line.strip()[len("error: ") :] for line in text.splitlines() if line.strip().startswith("error: ")]
    assert (rc != 0) == bool(errors), text
    return errors, text


def table(db, dotted: str):
    obj = db.analysis
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def store_files() -> set[str]:
    """Files in the test session's object store (a failed ingest must leave none behind)."""
    root = Path(os.environ["TECTUM_STORE_DIR"])
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _record(case, interface, result, detail, folder=None):
    if folder is not None:
        detail = detail.replace(f"{folder}/", "")
    SUMMARY.append({"case": case.id, "interface": interface, "result": result, "detail": " ".join(detail.split())})


@pytest.fixture
def existing(clean_db):
    """A good recording F0/R0 already in the database."""
    clean_db.insert_recording(**api_kwargs(fish="F0", recording="R0", traces=base_traces(seed=9)))
    return clean_db


@pytest.mark.parametrize("interface", ["python", "cli"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, interface: str, existing, tmp_path, capsys):
    db = existing
    folder = tmp_path / case.id

    if case.expect == "unchanged":  # the recording is there, with results
        if interface == "python":
            run_python(case, db, folder)
        else:
            assert cli("ingest", str(case.cli(folder))) == 0
        db.populate_all(dict(case.key, paramset="default"))
        capsys.readouterr()

    before = row_counts(db)
    files_before = store_files()
    if interface == "python":
        error, result = None, None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = run_python(case, db, folder)
            except Exception as err:  # noqa: BLE001 - the type is checked below
                error = err
        text = "" if error is None else str(error)
        warned = [str(w.message) for w in caught]
        rc = None
    else:
        manifest = case.cli(folder)
        rc = cli("ingest", str(manifest))
        out = capsys.readouterr()
        text = out.out + out.err
        warned = [ln[len("warning: ") :] for ln in text.splitlines() if ln.startswith("warning: ")]

    if case.expect in ("reject", "unchanged") and not (case.expect == "unchanged" and interface == "cli"):
        # an error, and the database exactly as before
        if interface == "python":
            from tectum.errors import InputError

            assert error is not None, f"{case.id}: no error, returned {result!r}"
            assert isinstance(error, (db.IngestError, InputError) + case.python_errors), repr(error)
            line = text
            for name in case.python_names:
                assert name in line, f"{name!r} not named in: {line}"
        else:
            assert rc != 0, text
            lines = [ln for ln in text.splitlines() if re.search(case.cli_match or case.match, ln)]
            assert lines, f"no line matches {case.cli_match or case.match!r}:\n{text}"
            line = lines[0]
            assert ("manifest.toml entry #1" if case.entry_named else "manifest.toml") in line, line
            for name in case.cli_names:
                assert name in line, f"{name!r} not named in: {line}"
            assert "Traceback" not in text
        assert re.search(case.match, line), line
        assert row_counts(db) == before
        assert store_files() == files_before, "files left in the object store"
        _record(
            case,
            interface,
            "rejected" if case.expect == "reject" else "unchanged",
            line if interface == "python" else f"exit {rc}: {line}",
            folder,
        )
        if case.expect == "unchanged":  # replace re-inserts and drops the old results
            if interface == "python":
                db.insert_recording(**api_kwargs(), replace=True)
            else:
                assert cli("ingest", "--replace", str(case.cli(folder))) == 0
            assert not (db.analysis.Fit & case.key)
            assert len(db.acquisition.RoiTraces.Roi & case.key) == N_ROIS
        return

    if case.expect == "unchanged":  # CLI: reported, exit 0, nothing changed
        assert rc == 0, text
        assert re.search(case.match, text) and "0 inserted" in text, text
        assert row_counts(db) == before
        _record(case, interface, "unchanged", f"exit {rc}: " + " / ".join(text.strip().splitlines()), folder)
        assert cli("ingest", "--replace", str(case.cli(folder))) == 0
        assert not (db.analysis.Fit & case.key)
        return

    # it ingests ...
    if interface == "python":
        assert error is None, text
    else:
        assert rc == 0 and "1 inserted" in text, text
    if case.warns:
        assert any(re.search(case.warns, w) for w in warned), f"no warning matches {case.warns!r}: {warned}"
    else:
        assert not [w for w in warned if "ROI" in w], warned
    assert db.acquisition.Recording & case.key
    assert len(db.acquisition.Recording()) == 2

    # ... and populates, or fails at populate
    errors, printed = populate(db, case, interface, capsys)
    if case.expect == "ingest":
        assert not errors, errors
        detail = case.check(db, case.key, errors) if case.check else "ingests and populates"
        _record(case, interface, "ingested", detail)
        return

    assert case.expect == "populate_error"
    assert errors, "populate reported no error"
    for paramset in case.failing_paramsets:
        assert any(re.search(case.match, e) and f"paramset {paramset}" in e for e in errors), errors
        k = dict(case.key, paramset=paramset)
        for name in DOWNSTREAM:
            assert not (table(db, name) & k), f"partial rows in {name}"
    good = dict(case.key, paramset="seed2020")
    assert db.analysis.ClassSummary & good  # the other parameter set is unaffected
    _record(case, interface, "populate error", errors[0])


@pytest.fixture(scope="module", autouse=True)
def summary(request):
    """Print (and optionally save) the case -> outcome table after the module."""
    yield
    if not SUMMARY:
        return
    lines = [f"{'case':<28} {'interface':<7} {'result':<15} detail"]
    for row in SUMMARY:
        lines.append(f"{row['case']:<28} {row['interface']:<7} {row['result']:<15} {row['detail'][:150]}")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
            reporter.write_line("")
            reporter.write_sep("-", "bad-input matrix")
            for line in lines:
                reporter.write_line(line)
    import os

    target = os.environ.get("TECTUM_BAD_INPUT_SUMMARY")
    if target:
        Path(target).write_text(json.dumps(SUMMARY, indent=1, ensure_ascii=False), encoding="utf-8")


def test_docs_list_every_case():
    """docs/bad-input.md has one table row per case, and the headline count matches the matrix."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "bad-input.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9_]+)`", doc, flags=re.M)
    assert sorted(rows) == sorted(case.id for case in CASES)
    n_reject = sum(case.expect == "reject" for case in CASES)
    assert f"**{n_reject} bad inputs, all clear errors with nothing written**" in doc
