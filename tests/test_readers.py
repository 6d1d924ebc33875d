"""Tests of the file readers: every supported layout and every refusal."""

import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# the package is used from the work tree, not installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tectum.errors import InputError, TectumError  # noqa: E402
from tectum.readers import (  # noqa: E402
    read_events_table,
    read_femtonics_metadata,
    read_protocol_pickle,
    read_positions_npy,
    read_suite2p,
    read_traces_csv,
    read_traces_npy,
    to_jsonable,
)


def traces_matrix(n_rois=4, n_frames=6, seed=0):
    return np.random.default_rng(seed).uniform(50, 150, size=(n_rois, n_frames))


# ---------------------------------------------------------------------------
# errors


def test_input_error_message_names_entry_and_file():
    err = InputError("row 3 is NaN", entry="m.toml entry #2 (fish F1, recording R3)",
                     path="data/r3.npy", role="traces file")
    assert str(err) == "m.toml entry #2 (fish F1, recording R3): traces file 'data/r3.npy': row 3 is NaN"
    assert isinstance(err, TectumError) and isinstance(err, ValueError)
    assert str(InputError("bad")) == "bad"
    assert str(InputError("bad", path="x.csv")) == "file 'x.csv': bad"


def test_input_error_is_one_line_and_picklable():
    err = InputError("two\nlines", entry="e", path="p")
    assert "\n" not in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.entry == "e"


# ---------------------------------------------------------------------------
# .npy traces


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16, np.uint16])
def test_npy_numeric_dtypes_become_float32(tmp_path, dtype):
    data = (traces_matrix() * 10).astype(dtype)
    np.save(tmp_path / "t.npy", data)
    out = read_traces_npy(tmp_path / "t.npy")
    assert out.dtype == np.float32 and out.shape == (4, 6)
    np.testing.assert_allclose(out, data.astype(np.float32))


def test_npy_truncated(tmp_path):
    np.save(tmp_path / "t.npy", traces_matrix(20, 50))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"t\.npy'.*truncated or corrupt"):
        read_traces_npy(tmp_path / "t.npy")


def test_npy_not_npy_at_all(tmp_path):
    (tmp_path / "t.npy").write_text("hello")
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_traces_npy(tmp_path / "t.npy")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_traces_npy(tmp_path / "empty.npy")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_npy_non_finite_names_first_roi_row(tmp_path, bad):
    data = traces_matrix(6, 10)
    data[3, 7] = bad
    data[5, 1] = bad
    np.save(tmp_path / "t.npy", data)
    with pytest.raises(InputError, match=r"ROI row 3: non-finite value .* at frame 7 .*2 ROI rows"):
        read_traces_npy(tmp_path / "t.npy")


def test_npy_float32_overflow_is_reported(tmp_path):
    data = traces_matrix()
    data[1, 2] = 1e300
    np.save(tmp_path / "t.npy", data)
    with pytest.raises(InputError, match="ROI row 1: value .* too large for float32"):
        read_traces_npy(tmp_path / "t.npy")


@pytest.mark.parametrize("shape", [(10,), (2, 3, 4)])
def test_npy_wrong_ndim(tmp_path, shape):
    np.save(tmp_path / "t.npy", np.ones(shape))
    with pytest.raises(InputError, match=r"2-D array \(ROIs x frames\), found shape"):
        read_traces_npy(tmp_path / "t.npy")


def test_npy_non_numeric(tmp_path):
    np.save(tmp_path / "s.npy", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(InputError, match="must be numeric, found dtype <U1"):
        read_traces_npy(tmp_path / "s.npy")
    np.save(tmp_path / "c.npy", np.ones((2, 2), dtype=complex))
    with pytest.raises(InputError, match="must be numeric"):
        read_traces_npy(tmp_path / "c.npy")
    np.save(tmp_path / "o.npy", np.array([[{}, 1]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="Python objects"):
        read_traces_npy(tmp_path / "o.npy")


def test_npy_missing_and_npz(tmp_path):
    with pytest.raises(InputError, match=r"nope\.npy': file not found"):
        read_traces_npy(tmp_path / "nope.npy")
    np.savez(tmp_path / "a.npz", x=np.ones((2, 2)))
    with pytest.raises(InputError, match="npz archive"):
        read_traces_npy(tmp_path / "a.npz")


def test_positions_npy(tmp_path):
    np.save(tmp_path / "p2.npy", np.array([[1, 2], [3, 4]], dtype=np.int32))
    np.testing.assert_array_equal(read_positions_npy(tmp_path / "p2.npy"), [[1, 2, 0], [3, 4, 0]])
    np.save(tmp_path / "p3.npy", np.arange(6.0).reshape(2, 3))
    out = read_positions_npy(tmp_path / "p3.npy")
    assert out.dtype == np.float64 and out.tolist() == [[0, 1, 2], [3, 4, 5]]
    np.save(tmp_path / "p4.npy", np.ones((2, 4)))
    with pytest.raises(InputError, match=r"ROIs x 2 or ROIs x 3 array, found float64 \(2, 4\)"):
        read_positions_npy(tmp_path / "p4.npy")
    np.save(tmp_path / "pn.npy", np.array([[1.0, 2.0], [np.nan, 1.0]]))
    with pytest.raises(InputError, match="ROI row 1 has a NaN/inf position"):
        read_positions_npy(tmp_path / "pn.npy")


# ---------------------------------------------------------------------------
# CSV traces


def test_csv_headerless(tmp_path):
    data = traces_matrix()
    np.savetxt(tmp_path / "t.csv", data, delimiter=",")
    traces, ids = read_traces_csv(tmp_path / "t.csv")
    assert ids is None and traces.dtype == np.float32
    np.testing.assert_allclose(traces, data, rtol=1e-6)


def test_csv_pandas_index_column_becomes_roi_ids(tmp_path):
    data = traces_matrix()
    pd.DataFrame(data, index=[10, 11, 15, 20]).to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().startswith(",0,1,2")
    traces, ids = read_traces_csv(tmp_path / "t.csv")
    assert ids.dtype == np.int64 and ids.tolist() == [10, 11, 15, 20]
    np.testing.assert_allclose(traces, data, rtol=1e-6)


def test_csv_pandas_without_index(tmp_path):
    data = traces_matrix()
    pd.DataFrame(data).to_csv(tmp_path / "t.csv", index=False)
    traces, ids = read_traces_csv(tmp_path / "t.csv")
    assert ids is None and traces.shape == (4, 6)
    np.testing.assert_allclose(traces, data, rtol=1e-6)


def test_csv_text_labels_are_dropped(tmp_path):
    pd.DataFrame(traces_matrix(), index=list("abcd")).to_csv(tmp_path / "t.csv")
    traces, ids = read_traces_csv(tmp_path / "t.csv")
    assert ids is None and traces.shape == (4, 6)


def test_csv_roi_id_header_and_tsv(tmp_path):
    data = traces_matrix(3, 5)
    frame = pd.DataFrame(data, index=pd.Index([7, 8, 9], name="roi_id"))
    frame.to_csv(tmp_path / "t.tsv", sep="\t")
    traces, ids = read_traces_csv(tmp_path / "t.tsv")
    assert ids.tolist() == [7, 8, 9]
    np.testing.assert_allclose(traces, data, rtol=1e-6)


def test_txt_whitespace_with_comment(tmp_path):
    data = traces_matrix()
    np.savetxt(tmp_path / "t.txt", data, header="ROIs x frames")  # space separated, '# ' header
    traces, ids = read_traces_csv(tmp_path / "t.txt")
    assert ids is None
    np.testing.assert_allclose(traces, data, rtol=1e-6)


def test_csv_ragged_names_line(tmp_path):
    (tmp_path / "t.csv").write_text("1,2,3\n4,5,6\n7,8\n")
    with pytest.raises(InputError, match=r"t\.csv': line 3: 2 values where line 1 has 3 \(ragged"):
        read_traces_csv(tmp_path / "t.csv")


def test_csv_ragged_after_header(tmp_path):
    (tmp_path / "t.csv").write_text(",0,1,2\n0,1,2,3\n1,4,5,6,7\n")
    with pytest.raises(InputError, match="line 3: 5 values"):
        read_traces_csv(tmp_path / "t.csv")


def test_csv_non_numeric_names_line_and_column(tmp_path):
    (tmp_path / "t.csv").write_text("1,2,3\n4,five,6\n")
    with pytest.raises(InputError, match=r"line 2, column 2: non-numeric value 'five'"):
        read_traces_csv(tmp_path / "t.csv")
    (tmp_path / "e.csv").write_text(",0,1\n0,1,2\n1,3,\n")
    with pytest.raises(InputError, match=r"line 3, column 3: non-numeric value ''"):
        read_traces_csv(tmp_path / "e.csv")


def test_csv_nan_names_line_and_row(tmp_path):
    (tmp_path / "t.csv").write_text(",0,1\n0,1,2\n\n1,3,nan\n")
    with pytest.raises(InputError, match=r"line 4 \(ROI row 1\): non-finite value nan at frame 1"):
        read_traces_csv(tmp_path / "t.csv")


def test_csv_empty(tmp_path):
    (tmp_path / "t.csv").write_text(",0,1,2\n")
    with pytest.raises(InputError, match="no ROI rows"):
        read_traces_csv(tmp_path / "t.csv")


def test_csv_binary_file(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"\x93NUMPY\xff\xfe\x00")
    with pytest.raises(InputError, match="not a text file"):
        read_traces_csv(tmp_path / "t.csv")


# ---------------------------------------------------------------------------
# suite2p


def make_suite2p(folder, *, n=6, n_frames=20, noncells=(1, 4), fs=2.0, ops=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    F = rng.uniform(100, 200, size=(n, n_frames)).astype(np.float32)
    np.save(folder / "F.npy", F)
    np.save(folder / "Fneu.npy", 0.5 * F)
    iscell = np.ones((n, 2))
    iscell[list(noncells), 0] = 0
    np.save(folder / "iscell.npy", iscell)
    stat = np.array([{"med": [10 + i, 100 + i], "npix": 50} for i in range(n)], dtype=object)
    np.save(folder / "stat.npy", stat, allow_pickle=True)
    if ops:
        np.save(folder / "ops.npy", np.array({"fs": fs, "nplanes": 1, "Ly": 256, "Lx": 512,
                                              "tau": 1.25, "other": "ignored"}), allow_pickle=True)
    return F


def test_suite2p_drops_non_cells(tmp_path):
    F = make_suite2p(tmp_path / "plane0")
    out = read_suite2p(tmp_path / "plane0")
    keep = [0, 2, 3, 5]
    assert out["roi_ids"].dtype == np.int64 and out["roi_ids"].tolist() == keep
    np.testing.assert_array_equal(out["traces"], F[keep])
    np.testing.assert_array_equal(out["neuropil"], 0.5 * F[keep])
    assert out["traces"].dtype == out["neuropil"].dtype == np.float32
    # med is (y, x); positions are (x, y, z)
    np.testing.assert_array_equal(out["positions"][1], [102, 12, 0])
    assert out["positions"].shape == (4, 3)
    assert out["frame_period_s"] == 0.5
    assert out["metadata"] == {"fs": 2.0, "nplanes": 1, "Ly": 256, "Lx": 512, "tau": 1.25,
                               "n_rois_segmented": 6, "n_rois_kept": 4}


def test_suite2p_keep_all_and_no_ops(tmp_path):
    make_suite2p(tmp_path / "plane0", ops=False)
    out = read_suite2p(tmp_path / "plane0", iscell_only=False)
    assert out["roi_ids"].tolist() == list(range(6))
    assert out["frame_period_s"] is None
    assert "fs" not in out["metadata"]


def test_suite2p_root_with_one_plane(tmp_path):
    make_suite2p(tmp_path / "suite2p" / "plane0")
    assert read_suite2p(tmp_path)["traces"].shape == (4, 20)
    assert read_suite2p(tmp_path / "suite2p")["traces"].shape == (4, 20)
    make_suite2p(tmp_path / "suite2p" / "plane1")
    with pytest.raises(InputError, match="2 suite2p planes"):
        read_suite2p(tmp_path / "suite2p")


def test_suite2p_missing_f(tmp_path):
    make_suite2p(tmp_path / "plane0")
    (tmp_path / "plane0" / "F.npy").unlink()
    with pytest.raises(InputError, match="no F.npy"):
        read_suite2p(tmp_path / "plane0")
    with pytest.raises(InputError, match="folder not found"):
        read_suite2p(tmp_path / "elsewhere")


@pytest.mark.parametrize("name, bad, message", [
    ("Fneu.npy", np.ones((6, 19)), r"Fneu\.npy': shape \(6, 19\) does not match F\.npy \(6, 20\)"),
    ("iscell.npy", np.ones((5, 2)), r"iscell\.npy': has 5 ROIs but F\.npy has 6"),
    ("stat.npy", np.array([{"med": [0, 0]}] * 7, dtype=object), r"stat\.npy': has 7 ROIs"),
    ("stat.npy", np.array([{"npix": 3}] * 6, dtype=object), r"ROI 0 has no usable 'med'"),
    ("ops.npy", np.array({"fs": 0.0}), r"ops\.npy': ops\['fs'\] = 0\.0 is not a positive"),
])
def test_suite2p_inconsistent_files(tmp_path, name, bad, message):
    make_suite2p(tmp_path / "plane0")
    np.save(tmp_path / "plane0" / name, bad, allow_pickle=True)
    with pytest.raises(InputError, match=message):
        read_suite2p(tmp_path / "plane0")


def test_suite2p_nan_in_f(tmp_path):
    F = make_suite2p(tmp_path / "plane0")
    F[2, 3] = np.nan
    np.save(tmp_path / "plane0" / "F.npy", F)
    with pytest.raises(InputError, match=r"F\.npy': ROI row 2: non-finite value nan at frame 3 of the F"):
        read_suite2p(tmp_path / "plane0")


# ---------------------------------------------------------------------------
# events tables


def test_events_csv_with_parameter_columns(tmp_path):
    (tmp_path / "ev.csv").write_text(
        "stimulus,onset_s,duration_s,size_deg,speed,direction\n"
        "looming,30,5,10,,\n"
        "prey-nasalward, 10.5 ,2,3,90.5,nasalward\n"
    )
    ev = read_events_table(tmp_path / "ev.csv")
    assert list(ev.columns) == ["stimulus", "onset_s", "duration_s", "params"]
    assert ev["stimulus"].tolist() == ["prey-nasalward", "looming"]  # sorted by onset
    assert ev["onset_s"].tolist() == [10.5, 30.0] and ev["duration_s"].tolist() == [2.0, 5.0]
    assert ev["params"][0] == {"size_deg": 3, "speed": 90.5, "direction": "nasalward"}
    assert ev["params"][1] == {"size_deg": 10}  # NaN cells dropped
    assert type(ev["params"][0]["size_deg"]) is int and type(ev["params"][0]["speed"]) is float


@pytest.mark.parametrize("name", ["ev.tsv", "ev.tab", "ev.txt"])
def test_events_tab_separated(tmp_path, name):
    (tmp_path / name).write_text("stimulus\tonset_s\tduration_s\tcontrast\ndimming\t5\t1.5\t0.8\n")
    ev = read_events_table(tmp_path / name)
    assert ev.loc[0, "stimulus"] == "dimming" and ev.loc[0, "duration_s"] == 1.5
    assert ev.loc[0, "params"] == {"contrast": 0.8}


def test_events_missing_columns_listed(tmp_path):
    (tmp_path / "ev.csv").write_text("stim,onset\nprey,1\n")
    with pytest.raises(InputError, match=r"ev\.csv': missing required column\(s\) stimulus, onset_s, "
                                         r"duration_s \(found: stim, onset\)"):
        read_events_table(tmp_path / "ev.csv")


def test_events_non_numeric_onset_names_line(tmp_path):
    (tmp_path / "ev.csv").write_text("stimulus,onset_s,duration_s\nprey,1,1\n\nprey,ten,1\n")
    with pytest.raises(InputError, match=r"line 4: onset_s 'ten' is not a non-negative number"):
        read_events_table(tmp_path / "ev.csv")
    (tmp_path / "ev2.csv").write_text("stimulus,onset_s,duration_s\nprey,1,\n")
    with pytest.raises(InputError, match="line 2: duration_s missing"):
        read_events_table(tmp_path / "ev2.csv")
    (tmp_path / "ev3.csv").write_text("stimulus,onset_s,duration_s\n,1,1\n")
    with pytest.raises(InputError, match="line 2: empty stimulus name"):
        read_events_table(tmp_path / "ev3.csv")


@pytest.mark.parametrize("text", ["stimulus,onset_s,duration_s\n", "stimulus,onset_s,duration_s\n\n\n", ""])
def test_events_empty(tmp_path, text):
    (tmp_path / "ev.csv").write_text(text)
    with pytest.raises(InputError, match="no stimulus events"):
        read_events_table(tmp_path / "ev.csv")


def test_events_ragged_row(tmp_path):
    (tmp_path / "ev.csv").write_text("stimulus,onset_s,duration_s\nprey,1,1\nprey,2,1,4,5\n")
    with pytest.raises(InputError, match="cannot parse the table.*line 3"):
        read_events_table(tmp_path / "ev.csv")


# ---------------------------------------------------------------------------
# protocol pickle

STIMULI = {"stim1": "prey", "stim2": "looming", "stim3": "dimming"}


def make_protocol(path, *, directions=("nasalward", "temporalward"), drop=(), content=None):
    t = np.arange(300) / 10  # 30 s at 10 Hz
    proto = pd.DataFrame({"t": t})
    proto["stim1_presence"] = ((t >= 2) & (t < 4)) | ((t >= 10) & (t < 12))
    proto["stim1_speed"] = np.where(t < 8, 20.0, 40.0)
    proto["prey_direction"] = np.where(t < 8, directions[0], directions[1])
    proto["stim2_presence"] = ((t >= 15) & (t < 18)).astype(float)
    proto["stim2_dur"] = np.where((t >= 15) & (t < 18), 3.0, np.nan)
    proto["stim2_size"] = 30
    proto["stim3_presence"] = ((t >= 20) & (t < 21)).astype(int)
    proto = proto.drop(columns=list(drop))
    if content is None:
        content = {"metadata": {"fish": "F1", "rate": np.float64(10.0), "arr": np.arange(2)},
                   "protocol": proto}
    with open(path, "wb") as fh:
        pickle.dump(content, fh)
    return proto


def test_protocol_presentations(tmp_path):
    make_protocol(tmp_path / "p.pkl")
    ev, meta = read_protocol_pickle(tmp_path / "p.pkl", STIMULI)
    assert ev["stimulus"].tolist() == ["prey", "prey", "looming", "dimming"]
    np.testing.assert_allclose(ev["onset_s"], [2.0, 10.0, 15.0, 20.0])
    # prey/dimming: last row minus first; looming: stim2_dur
    np.testing.assert_allclose(ev["duration_s"], [1.9, 1.9, 3.0, 0.9])
    assert ev["params"][0] == {"speed": 20.0, "prey_direction": "nasalward"}
    assert ev["params"][1] == {"speed": 40.0, "prey_direction": "temporalward"}
    assert ev["params"][2] == {"size": 30}
    assert ev["params"][3] == {}
    assert meta == {"fish": "F1", "rate": 10.0, "arr": [0, 1], "protocol_duration_s": 29.9}


def test_protocol_split_prey_direction(tmp_path):
    make_protocol(tmp_path / "p.pkl", directions=("Nasalward", "temporal"))
    ev, _ = read_protocol_pickle(tmp_path / "p.pkl", STIMULI, split_prey_direction=True)
    assert ev["stimulus"].tolist() == ["prey-nasalward", "prey-temporalward", "looming", "dimming"]


def test_protocol_numeric_prey_direction_by_sign(tmp_path):
    make_protocol(tmp_path / "p.pkl", directions=(-1.0, 1.0))
    ev, _ = read_protocol_pickle(tmp_path / "p.pkl", STIMULI, split_prey_direction=True)
    assert ev["stimulus"].tolist()[:2] == ["prey-temporalward", "prey-nasalward"]


def test_protocol_bad_prey_direction(tmp_path):
    make_protocol(tmp_path / "p.pkl", directions=("up", "down"))
    with pytest.raises(InputError, match=r"prey at 2.0 s: cannot split by prey_direction 'up'"):
        read_protocol_pickle(tmp_path / "p.pkl", STIMULI, split_prey_direction=True)


def test_protocol_unknown_stimulus_column(tmp_path):
    make_protocol(tmp_path / "p.pkl")
    with pytest.raises(InputError, match=r"p\.pkl': stimulus 'flash': the protocol has no column "
                                         r"'stim4_presence' \(it has: stim1_presence"):
        read_protocol_pickle(tmp_path / "p.pkl", {**STIMULI, "stim4": "flash"})


def test_protocol_stimulus_never_shown(tmp_path):
    proto = make_protocol(tmp_path / "p.pkl")
    proto["stim3_presence"] = 0
    pd.to_pickle({"metadata": {}, "protocol": proto}, tmp_path / "p.pkl")
    with pytest.raises(InputError, match=r"stimulus 'dimming' \(stim3_presence\) is never shown"):
        read_protocol_pickle(tmp_path / "p.pkl", STIMULI)


def test_protocol_missing_t(tmp_path):
    make_protocol(tmp_path / "p.pkl", drop=["t"])
    with pytest.raises(InputError, match="no time column 't'"):
        read_protocol_pickle(tmp_path / "p.pkl", STIMULI)


@pytest.mark.parametrize("content, message", [
    ([1, 2], "expected a pickled dict .* found list"),
    ({"metadata": {}}, "'protocol' must be a pandas DataFrame \\(no 'protocol' key\\)"),
    ({"protocol": {"t": [1]}}, "'protocol' must be a pandas DataFrame \\(dict\\)"),
    ({"metadata": 3, "protocol": pd.DataFrame({"t": [0.0]})}, "'metadata' must be a dict"),
])
def test_protocol_wrong_structure(tmp_path, content, message):
    make_protocol(tmp_path / "p.pkl", content=content)
    with pytest.raises(InputError, match=message):
        read_protocol_pickle(tmp_path / "p.pkl", STIMULI)


def test_protocol_not_a_pickle(tmp_path):
    (tmp_path / "p.pkl").write_text("not a pickle")
    with pytest.raises(InputError, match=r"p\.pkl': cannot unpickle"):
        read_protocol_pickle(tmp_path / "p.pkl", STIMULI)


def test_protocol_time_must_increase(tmp_path):
    proto = make_protocol(tmp_path / "p.pkl")
    proto.loc[5, "t"] = 0.1
    pd.to_pickle({"protocol": proto}, tmp_path / "p.pkl")
    with pytest.raises(InputError, match="'t' does not increase at row 5"):
        read_protocol_pickle(tmp_path / "p.pkl", STIMULI)


# ---------------------------------------------------------------------------
# Femtonics metadata


@pytest.mark.parametrize("text", [
    "D3Step = 1000 ms\nD3Size = 420\nWidth = 512\nHeight = 256\n",
    "D3Step: 1000\nD3Size: 420\nWidth: 512\nHeight: 256\n",
    "D3Step\t1000\nD3Size\t420\nWidth\t512\nHeight\t256\n",
    "  D3Step   =   1000.0 ms  \r\n\r\nD3Size=420\r\nWidth =512 px\r\nHeight= 256 \r\n",
    "D3Step    1000\nD3Size    420\nWidth     512\nHeight    256\n",
    "D3Step = 1 s\nD3Size = 420\nWidth = 512\nHeight = 256\n",
])
def test_femtonics_variants(tmp_path, text):
    (tmp_path / "m.txt").write_text("MeasurementDate = 2024.03.01. 10:30:00\n" + text)
    meta = read_femtonics_metadata(tmp_path / "m.txt")
    assert meta["frame_period_s"] == 1.0
    assert (meta["width"], meta["height"], meta["n_frames"]) == (512, 256, 420)
    assert type(meta["n_frames"]) is int
    assert meta["raw"]["MeasurementDate"] == "2024.03.01. 10:30:00"
    assert "D3Step" in meta["raw"]


def test_femtonics_decimal_comma_and_latin1(tmp_path):
    (tmp_path / "m.txt").write_bytes("Comment = r\xe9gi\nD3Step = 33,5 ms\n".encode("latin-1"))
    meta = read_femtonics_metadata(tmp_path / "m.txt")
    assert meta["frame_period_s"] == pytest.approx(0.0335)
    assert meta["n_frames"] is None and meta["raw"]["Comment"] == "r\xe9gi"


@pytest.mark.parametrize("text, message", [
    ("D3Size = 420\nWidth = 512\n", "no D3Step"),
    ("D3Step = 0\n", "D3Step = '0' must be a positive"),
    ("D3Step = -33 ms\n", "D3Step = '-33 ms' must be a positive"),
    ("D3Step = fast\n", "D3Step = 'fast' is not a time"),
    ("D3Step = 10\nD3Size = 4.5\n", "D3Size = '4.5' is not a whole number"),
    ("\n\n", "no 'Key = Value' lines"),
])
def test_femtonics_errors(tmp_path, text, message):
    (tmp_path / "m.txt").write_text(text)
    with pytest.raises(InputError, match=rf"m\.txt': {message}"):
        read_femtonics_metadata(tmp_path / "m.txt")


# ---------------------------------------------------------------------------


def test_to_jsonable():
    import datetime as dt
    value = {"a": np.int64(3), "b": np.array([1.5, np.nan]), "c": (np.bool_(True), Path("/x")),
             "d": dt.datetime(2024, 1, 2, 3, 4), 5: float("inf")}
    assert to_jsonable(value) == {"a": 3, "b": [1.5, None], "c": [True, "/x"],
                                  "d": "2024-01-02T03:04:00", "5": None}
