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
    read_positions_npy,
    read_protocol_pickle,
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
    err = InputError(
        "row 3 is NaN", entry="m.toml entry #2 (fish F1, recording R3)", path="data/r3.npy", role="traces file"
    )
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
    traces, ids = read_traces_csv(tmp_path / "t.csv", header=True, index_column=True)
    assert ids.dtype == np.int64 and ids.tolist() == [10, 11, 15, 20]
    np.testing.assert_allclose(traces, data, rtol=1e-6)


def test_csv_pandas_without_index(tmp_path):
    data = traces_matrix()
    pd.DataFrame(data).to_csv(tmp_path / "t.csv", index=False)
    traces, ids = read_traces_csv(tmp_path / "t.csv", header=True)
    assert ids is None and traces.shape == (4, 6)
    np.testing.assert_allclose(traces, data, rtol=1e-6)


def test_csv_roi_id_header_and_tsv(tmp_path):
    data = traces_matrix(3, 5)
    frame = pd.DataFrame(data, index=pd.Index([7, 8, 9], name="roi_id"))
    frame.to_csv(tmp_path / "t.tsv", sep="\t")
    traces, ids = read_traces_csv(tmp_path / "t.tsv", header=True, index_column=True)
    assert ids.tolist() == [7, 8, 9]
    np.testing.assert_allclose(traces, data, rtol=1e-6)


def test_txt_whitespace_with_comment(tmp_path):
    data = traces_matrix()
    np.savetxt(tmp_path / "t.txt", data, header="ROIs x frames")  # space separated, '# ' header
    traces, ids = read_traces_csv(tmp_path / "t.txt")
    assert ids is None
    np.testing.assert_allclose(traces, data, rtol=1e-6)


# the layout is stated, never guessed: a file contradicting the defaults names the key to set


@pytest.mark.parametrize(
    "first_row",
    [
        "0,1,2,3,4,5",  # frame numbers, as to_csv(index=False) writes them
        "1,2,3,4,5,6",  # frame numbers from 1
        "0.0,0.5,1.0,1.5,2.0,2.5",  # frame times
    ],
)
def test_csv_numeric_header_is_not_read_as_roi_0(tmp_path, first_row):
    data = traces_matrix()
    lines = [first_row] + [",".join(f"{v:.6g}" for v in row) for row in data]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"t\.csv': line 1 \(.*\) holds .*like a header.*set traces_header = true"):
        read_traces_csv(tmp_path / "t.csv")
    traces, _ = read_traces_csv(tmp_path / "t.csv", header=True)
    np.testing.assert_allclose(traces, data, rtol=1e-5)
    # stated explicitly, the first line is data
    traces, _ = read_traces_csv(tmp_path / "t.csv", header=False)
    assert traces.shape == (5, 6)


def test_csv_pandas_default_names_both_keys(tmp_path):
    pd.DataFrame(traces_matrix()).to_csv(tmp_path / "t.csv")
    with pytest.raises(
        InputError,
        match=r"line 1 \('', 0, 1, 2, \.\.\.\) is not numbers.*set traces_header = "
        r"true and traces_index_column = true",
    ):
        read_traces_csv(tmp_path / "t.csv")
    with pytest.raises(InputError, match=r"header's first cell is empty.*set traces_index_column = true"):
        read_traces_csv(tmp_path / "t.csv", header=True)


@pytest.mark.parametrize("labels", [[0, 1, 2, 3], [1, 2, 3, 4], [5, 9, 12, 40]])
def test_csv_index_column_without_header_is_not_read_as_frame_0(tmp_path, labels):
    data = traces_matrix()
    pd.DataFrame(data, index=labels).to_csv(tmp_path / "t.csv", header=False, float_format="%.6g")
    with pytest.raises(
        InputError,
        match=r"column 1 \(.*\) holds whole numbers counting up, like an index "
        r"column.*set traces_index_column = true",
    ):
        read_traces_csv(tmp_path / "t.csv")
    traces, ids = read_traces_csv(tmp_path / "t.csv", index_column=True)
    assert ids.tolist() == labels
    np.testing.assert_allclose(traces, data, rtol=1e-5)


@pytest.mark.parametrize("label, shown", [("2.5", "'2.5'"), ("b", "'b'")])
def test_csv_non_integer_roi_ids_are_refused(tmp_path, label, shown):
    (tmp_path / "t.csv").write_text(f",0,1,2\n1,5,6,7\n{label},8,9,10\n3,4,2,1\n")
    with pytest.raises(InputError, match=rf"line 3: ROI id {shown} in the index column is not an integer"):
        read_traces_csv(tmp_path / "t.csv", header=True, index_column=True)


def test_csv_frames_x_rois(tmp_path):
    data = traces_matrix(3, 7)
    frame = pd.DataFrame(data.T, columns=[4, 8, 15], index=np.arange(7) * 0.5)  # rows: frame times
    frame.to_csv(tmp_path / "t.csv", float_format="%.9g")
    traces, ids = read_traces_csv(tmp_path / "t.csv", header=True, index_column=True, orientation="frames_x_rois")
    assert ids.tolist() == [4, 8, 15]
    np.testing.assert_allclose(traces, data, rtol=1e-6)
    frame.to_csv(tmp_path / "u.csv", float_format="%.9g", index=False, header=False)
    traces, ids = read_traces_csv(tmp_path / "u.csv", orientation="frames_x_rois")
    assert ids is None and traces.shape == (3, 7)
    frame.rename(columns={8: "roi8"}).to_csv(tmp_path / "v.csv")
    with pytest.raises(InputError, match=r"header column 3: ROI id 'roi8' is not an integer"):
        read_traces_csv(tmp_path / "v.csv", header=True, index_column=True, orientation="frames_x_rois")


def test_npy_frames_x_rois(tmp_path):
    data = traces_matrix(3, 7)
    np.save(tmp_path / "t.npy", data.T)
    np.testing.assert_allclose(read_traces_npy(tmp_path / "t.npy", orientation="frames_x_rois"), data, rtol=1e-6)
    with pytest.raises(InputError, match="traces_orientation must be one of"):
        read_traces_npy(tmp_path / "t.npy", orientation="columns")


def test_csv_ragged_names_line(tmp_path):
    (tmp_path / "t.csv").write_text("1,2,3\n4,5,6\n7,8\n")
    with pytest.raises(InputError, match=r"t\.csv': line 3: 2 values where line 1 has 3 \(ragged"):
        read_traces_csv(tmp_path / "t.csv", header=False)


def test_csv_ragged_after_header(tmp_path):
    (tmp_path / "t.csv").write_text(",0,1,2\n0,1,2,3\n1,4,5,6,7\n")
    with pytest.raises(InputError, match="line 3: 5 values"):
        read_traces_csv(tmp_path / "t.csv", header=True, index_column=True)


def test_csv_non_numeric_names_line_and_column(tmp_path):
    (tmp_path / "t.csv").write_text("1,2,3\n4,five,6\n")
    with pytest.raises(InputError, match=r"line 2, column 2: non-numeric value 'five'"):
        read_traces_csv(tmp_path / "t.csv", header=False)
    (tmp_path / "e.csv").write_text(",0,1\n0,1,2\n1,3,\n")
    with pytest.raises(InputError, match=r"line 3, column 3: non-numeric value ''"):
        read_traces_csv(tmp_path / "e.csv", header=True, index_column=True)


def test_csv_nan_names_line_and_row(tmp_path):
    (tmp_path / "t.csv").write_text(",0,1\n0,1,2\n\n1,3,nan\n")
    with pytest.raises(InputError, match=r"line 4 \(ROI row 1\): non-finite value nan at frame 1"):
        read_traces_csv(tmp_path / "t.csv", header=True, index_column=True)


def test_csv_empty(tmp_path):
    (tmp_path / "t.csv").write_text(",0,1,2\n")
    with pytest.raises(InputError, match="no data rows"):
        read_traces_csv(tmp_path / "t.csv", header=True, index_column=True)


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
        np.save(
            folder / "ops.npy",
            np.array({"fs": fs, "nplanes": 1, "Ly": 256, "Lx": 512, "tau": 1.25, "other": "ignored"}),
            allow_pickle=True,
        )
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
    assert out["metadata"] == {
        "fs": 2.0,
        "nplanes": 1,
        "Ly": 256,
        "Lx": 512,
        "tau": 1.25,
        "n_rois_segmented": 6,
        "n_rois_kept": 4,
    }


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


@pytest.mark.parametrize(
    "name, bad, message",
    [
        ("Fneu.npy", np.ones((6, 19)), r"Fneu\.npy': shape \(6, 19\) does not match F\.npy \(6, 20\)"),
        ("iscell.npy", np.ones((5, 2)), r"iscell\.npy': has 5 ROIs but F\.npy has 6"),
        ("stat.npy", np.array([{"med": [0, 0]}] * 7, dtype=object), r"stat\.npy': has 7 ROIs"),
        ("stat.npy", np.array([{"npix": 3}] * 6, dtype=object), r"ROI 0 has no usable 'med'"),
        ("ops.npy", np.array({"fs": 0.0}), r"ops\.npy': ops\['fs'\] = 0\.0 is not a positive"),
    ],
)
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
    with pytest.raises(
        InputError,
        match=r"ev\.csv': missing required column\(s\) stimulus, onset_s, "
        r"duration_s \(found: stim, onset\)",
    ):
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


def test_events_duplicated_presentation_names_both_lines(tmp_path):
    (tmp_path / "ev.csv").write_text("stimulus,onset_s,duration_s\nprey,1,1\nlooming,5,1\nprey,1,2\n")
    with pytest.raises(InputError, match=r"ev\.csv': lines 2 and 4 are the same presentation \('prey' at 1 s\)"):
        read_events_table(tmp_path / "ev.csv")
    # the same onset for different stimuli is two presentations
    (tmp_path / "ok.csv").write_text("stimulus,onset_s,duration_s\nprey,1,1\nlooming,1,1\n")
    assert len(read_events_table(tmp_path / "ok.csv")) == 2


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
        content = {"metadata": {"fish": "F1", "rate": np.float64(10.0), "arr": np.arange(2)}, "protocol": proto}
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
    with pytest.raises(
        InputError,
        match=r"p\.pkl': stimulus 'flash': the protocol has no column "
        r"'stim4_presence' \(it has: stim1_presence",
    ):
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


@pytest.mark.parametrize(
    "content, message",
    [
        ([1, 2], "expected a pickled dict .* found list"),
        ({"metadata": {}}, "'protocol' must be a pandas DataFrame \\(no 'protocol' key\\)"),
        ({"protocol": {"t": [1]}}, "'protocol' must be a pandas DataFrame \\(dict\\)"),
        ({"metadata": 3, "protocol": pd.DataFrame({"t": [0.0]})}, "'metadata' must be a dict"),
    ],
)
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


def state_machine_log(path, *, jitter_s=0.035, seed=0):
    """A protocol logged like the lab's stimulus software: two state-machine rows per display
    frame, and in 11 of the 25 frames the two rows written out of order (the second ``t`` up to
    ``jitter_s`` earlier than the row before), as in the published recording's protocol pickle."""
    rng = np.random.default_rng(seed)
    frames = np.arange(25) * 1.2  # 30 s
    gaps = rng.uniform(0.001, jitter_s, len(frames))
    swapped = np.zeros(len(frames), bool)
    swapped[3] = True  # the first prey presentation starts on a frame logged out of order
    swapped[rng.choice(np.delete(np.arange(len(frames)), 3), 10, replace=False)] = True
    t = []
    for frame, gap, swap in zip(frames, gaps, swapped):
        t += [frame + gap, frame] if swap else [frame, frame + gap]
    proto = pd.DataFrame({"t": t})
    proto["stim1_presence"] = ((proto["t"] >= 3) & (proto["t"] < 6)) | ((proto["t"] >= 15) & (proto["t"] < 18))
    proto["stim2_presence"] = (proto["t"] >= 9) & (proto["t"] < 12)
    proto["stim3_presence"] = (proto["t"] >= 21) & (proto["t"] < 24)
    pd.to_pickle({"metadata": {}, "protocol": proto}, path)
    return proto


def test_protocol_rows_out_of_order_within_tolerance(tmp_path):
    proto = state_machine_log(tmp_path / "p.pkl")
    back = np.maximum.accumulate(proto["t"].to_numpy())[:-1] - proto["t"].to_numpy()[1:]
    assert (back > 0).sum() == 11 and 0 < back.max() < 0.1  # like the published log: 11 of 50 rows
    ev, meta = read_protocol_pickle(tmp_path / "p.pkl", STIMULI)
    ordered = proto.sort_values("t", kind="stable").reset_index(drop=True)
    expected = []
    for stem, name in STIMULI.items():  # in time order, a run starts where presence switches on
        on = ordered[f"{stem}_presence"].astype(int).to_numpy()
        starts = np.flatnonzero(np.diff(np.concatenate(([0], on))) == 1)
        expected += [(name, ordered["t"][i]) for i in starts]
    expected.sort(key=lambda x: x[1])
    assert list(zip(ev["stimulus"], ev["onset_s"])) == expected
    assert ev["onset_s"].is_monotonic_increasing and len(ev) == 4
    assert ev["onset_s"][0] == pytest.approx(3.6)  # the earlier of its frame's two rows
    assert meta["rows_out_of_order"] == 11 and meta["largest_step_back_s"] == pytest.approx(back.max())
    # the same log with no tolerance is refused, naming the first row that steps back
    first = int(np.flatnonzero(back > 0)[0]) + 1
    with pytest.raises(
        InputError,
        match=rf"'t' does not increase at row {first} .*"
        r"protocol_time_tolerance_s = 0 requires t to increase",
    ):
        read_protocol_pickle(tmp_path / "p.pkl", STIMULI, time_tolerance_s=0)


def test_protocol_large_step_back_names_the_row(tmp_path):
    proto = state_machine_log(tmp_path / "p.pkl")
    proto.loc[30, "t"] = proto.loc[29, "t"] - 0.5
    pd.to_pickle({"metadata": {}, "protocol": proto}, tmp_path / "p.pkl")
    with pytest.raises(
        InputError,
        match=r"'t' does not increase at row 30 \(.* 0\.5 s back; rows may step back "
        r"by less than protocol_time_tolerance_s = 0\.1 s\)",
    ):
        read_protocol_pickle(tmp_path / "p.pkl", STIMULI)
    read_protocol_pickle(tmp_path / "p.pkl", STIMULI, time_tolerance_s=0.6)  # a wider tolerance accepts it
    with pytest.raises(InputError, match="protocol_time_tolerance_s must be a number of seconds >= 0"):
        read_protocol_pickle(tmp_path / "p.pkl", STIMULI, time_tolerance_s=-1)


# ---------------------------------------------------------------------------
# Femtonics metadata


@pytest.mark.parametrize(
    "text",
    [
        "D3Step = 1000 ms\nD3Size = 420\nWidth = 512\nHeight = 256\n",
        "D3Step: 1000\nD3Size: 420\nWidth: 512\nHeight: 256\n",
        "D3Step\t1000\nD3Size\t420\nWidth\t512\nHeight\t256\n",
        "  D3Step   =   1000.0 ms  \r\n\r\nD3Size=420\r\nWidth =512 px\r\nHeight= 256 \r\n",
        "D3Step    1000\nD3Size    420\nWidth     512\nHeight    256\n",
        "D3Step = 1 s\nD3Size = 420\nWidth = 512\nHeight = 256\n",
    ],
)
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


@pytest.mark.parametrize(
    "text, message",
    [
        ("D3Size = 420\nWidth = 512\n", "no D3Step"),
        ("D3Step = 0\n", "D3Step = '0' must be a positive"),
        ("D3Step = -33 ms\n", "D3Step = '-33 ms' must be a positive"),
        ("D3Step = fast\n", "D3Step = 'fast' is not a time"),
        ("D3Step = 10\nD3Size = 4.5\n", "D3Size = '4.5' is not a whole number"),
        ("\n\n", "no 'Key = Value' lines"),
    ],
)
def test_femtonics_errors(tmp_path, text, message):
    (tmp_path / "m.txt").write_text(text)
    with pytest.raises(InputError, match=rf"m\.txt': {message}"):
        read_femtonics_metadata(tmp_path / "m.txt")


# ---------------------------------------------------------------------------


def test_to_jsonable():
    import datetime as dt

    value = {
        "a": np.int64(3),
        "b": np.array([1.5, np.nan]),
        "c": (np.bool_(True), Path("/x")),
        "d": dt.datetime(2024, 1, 2, 3, 4),
        5: float("inf"),
    }
    assert to_jsonable(value) == {"a": 3, "b": [1.5, None], "c": [True, "/x"], "d": "2024-01-02T03:04:00", "5": None}
