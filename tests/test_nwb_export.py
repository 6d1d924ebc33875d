"""NWB out: ``write_recording_nwb`` from arrays, and ``tectum export --format nwb`` from the database.

Every file written is read back with pynwb and checked with nwbinspector:
no message of CRITICAL importance or above (ERROR, PYNWB_VALIDATION).
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pynwb", reason="the NWB export needs the optional pynwb (pip install tectum-pipeline[nwb])")
pytest.importorskip("nwbinspector", reason="the NWB export tests need nwbinspector (pip install tectum-pipeline[nwb])")

from tectum.nwb_export import write_recording_nwb  # noqa: E402

N_ROIS, N_FRAMES, PERIOD = 6, 50, 0.5
REGRESSORS = ("prey-nasalward", "looming")


def serious_inspector_messages(path) -> list[str]:
    from nwbinspector import Importance, inspect_nwbfile

    return [
        f"{m.importance.name} {m.check_function_name} {m.object_name}: {m.message}"
        for m in inspect_nwbfile(nwbfile_path=str(path))
        if m.importance.value >= Importance.CRITICAL.value
    ]


def arrays(seed=0) -> dict:
    rng = np.random.default_rng(seed)
    results = pd.DataFrame(
        {
            "r2": [0.4, np.nan, 0.1, 0.02, 0.3, 0.25],
            "adj_r2": rng.random(N_ROIS),
            "p_parametric": rng.random(N_ROIS),
            "q_value": rng.random(N_ROIS),
            "selected": [True, False, True, False, True, True],
            "roi_class": ["looming", "", "prey-nasalward", "", "looming", "looming"],
            "cluster": np.array([1, 2, 1, 3, -1, 2]),
            **{f"coef_{r}": rng.normal(size=N_ROIS) for r in REGRESSORS},
            **{f"t_{r}": rng.normal(size=N_ROIS) for r in REGRESSORS},
            **{f"amplitude_{r}": rng.normal(size=N_ROIS) for r in REGRESSORS},
        }
    )
    return dict(
        dff=rng.normal(size=(N_ROIS, N_FRAMES)).astype(np.float32),
        frame_period_s=PERIOD,
        roi_ids=np.array([3, 4, 8, 15, 16, 42]),
        positions=np.column_stack([rng.uniform(0, 100, N_ROIS), rng.uniform(0, 100, N_ROIS), [np.nan] * N_ROIS]),
        regressors={r: rng.random(N_FRAMES) for r in REGRESSORS},
        results=results,
        events=pd.DataFrame(
            {
                "stimulus": ["prey-nasalward", "looming", "looming"],
                "onset_s": [2.0, 8.5, 16.0],
                "duration_s": [1.0, 3.0, 3.0],
                "params": [{"size": 3, "speed": "slow"}, {"size": 30}, {}],
            }
        ),
        fish="F1",
        recording="R1",
        paramset="default",
        sensor="GCaMP6s",
        region="right_tectum",
        genotype="wt",
        age_dpf=6.5,
        recorded_at=dt.datetime(2024, 3, 1, 10, 30),
        experiment="MF343",
        paramset_description="the default analysis",
    )


def test_round_trip_with_pynwb(tmp_path):
    from pynwb import NWBHDF5IO

    given = arrays()
    path = write_recording_nwb(tmp_path / "sub" / "F1_R1.nwb", **given)
    assert path.exists() and not list(path.parent.glob(".*partial*"))
    assert serious_inspector_messages(path) == []

    with NWBHDF5IO(str(path), mode="r") as io:
        nwb = io.read()
        assert (nwb.subject.subject_id, nwb.subject.genotype, nwb.subject.age) == ("F1", "wt", "P6.5D")
        assert nwb.session_id == "R1"
        assert nwb.session_start_time.replace(tzinfo=None) == dt.datetime(2024, 3, 1, 10, 30)
        series = nwb.processing["ophys"]["DfOverF"]["dff"]
        np.testing.assert_array_equal(series.data[:].T, given["dff"])
        assert series.rate == pytest.approx(1 / PERIOD) and series.starting_time == 0.0
        rois = series.rois.table
        assert rois is nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        assert rois.id[:].tolist() == given["roi_ids"].tolist()
        np.testing.assert_allclose(rois["x"].data[:], given["positions"][:, 0])
        assert series.rois.data[:].tolist() == list(range(N_ROIS))
        plane = rois.imaging_plane
        assert (plane.indicator, plane.location) == ("GCaMP6s", "right_tectum")

        for name in REGRESSORS:
            regressor = nwb.analysis[f"regressor_{name}"]
            np.testing.assert_allclose(regressor.data[:], given["regressors"][name])
            assert regressor.rate == pytest.approx(1 / PERIOD)

        table = nwb.analysis["roi_results"]
        assert table["roi"].table is rois and table["roi"].data[:].tolist() == list(range(N_ROIS))
        frame = table.to_dataframe(index=True)
        for column in given["results"]:
            expected = given["results"][column].to_numpy()
            got = np.asarray(table[column].data[:])
            if expected.dtype.kind == "f":
                np.testing.assert_allclose(got, expected, equal_nan=True)
            else:
                assert got.tolist() == expected.tolist(), column
        assert "r2" in frame.columns and len(frame) == N_ROIS

        stim = nwb.intervals["stimulus"]
        assert stim["stimulus"].data[:].tolist() == ["prey-nasalward", "looming", "looming"]
        np.testing.assert_allclose(stim["start_time"].data[:], [2.0, 8.5, 16.0])
        np.testing.assert_allclose(stim["stop_time"].data[:], [3.0, 11.5, 19.0])
        np.testing.assert_allclose(stim["size"].data[:], [3, 30, np.nan])
        assert stim["speed"].data[:].tolist() == ["slow", "", ""]


def test_exported_file_reads_back_through_the_nwb_reader(tmp_path):
    from tectum.readers import read_nwb

    given = arrays()
    path = write_recording_nwb(tmp_path / "x.nwb", **given)
    back = read_nwb(path)
    assert back["traces_kind"] == "dff" and back["frame_period_s"] == pytest.approx(PERIOD)
    np.testing.assert_array_equal(back["traces"], given["dff"])
    assert back["roi_ids"].tolist() == given["roi_ids"].tolist()
    # the file's pixel mask is the centroid's nearest pixel
    np.testing.assert_allclose(back["positions"][:, :2], np.floor(given["positions"][:, :2] + 0.5))
    assert back["subject"] == {"subject_id": "F1", "genotype": "wt", "age": "P6.5D", "age_dpf": 6.5}
    assert back["events"]["params"].tolist() == [{"size": 3.0, "speed": "slow"}, {"size": 30.0}, {}]


def test_unknown_recording_time_and_age(tmp_path):
    from pynwb import NWBHDF5IO

    given = dict(arrays(), recorded_at=None, positions=None, events=None)
    path = write_recording_nwb(tmp_path / "x.nwb", **given)
    with NWBHDF5IO(str(path), mode="r") as io:
        nwb = io.read()
        assert nwb.session_start_time == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        assert "start time is unknown" in nwb.session_description
        assert "stimulus" not in nwb.intervals
        rois = nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        assert all(mask.tolist() == [(0, 0, 0.0)] for mask in rois["pixel_mask"][:])  # weight 0: no pixel
    assert serious_inspector_messages(path) == []
    # without an age NWB's inspector reports the subject as incomplete
    path = write_recording_nwb(tmp_path / "y.nwb", **dict(given, age_dpf=None))
    assert [m.split(":")[0] for m in serious_inspector_messages(path)] == ["CRITICAL check_subject_age subject"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"results": {"mystery": np.zeros(N_ROIS)}}, "result column 'mystery' has no description"),
        ({"results": {"cluster": pd.Series([1, None, 2, 2, 1, 1], dtype="Int64")}}, "has missing values"),
        ({"results": {"r2": np.zeros(N_ROIS - 1)}}, "expected (6,), one value per ROI"),
        ({"results": {"roi": np.arange(N_ROIS)}}, "'roi' is reserved"),
        ({"regressors": {"a/b": np.zeros(N_FRAMES)}}, "regressor name 'a/b' cannot name an NWB object"),
        ({"roi_ids": np.array([1, 1, 2, 3, 4, 5])}, "roi_ids must be unique"),
        ({"frame_period_s": 0.0}, "frame_period_s must be a positive number"),
    ],
)
def test_bad_arguments(tmp_path, change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        write_recording_nwb(tmp_path / "x.nwb", **dict(arrays(), **change))
    assert not list(tmp_path.iterdir())


def test_extra_columns_with_descriptions(tmp_path):
    from pynwb import NWBHDF5IO

    given = arrays()
    results = given["results"].assign(p_permutation=np.linspace(0, 1, N_ROIS))
    path = write_recording_nwb(
        tmp_path / "x.nwb",
        **dict(given, results=results),
        column_descriptions={"p_permutation": "permutation-test p-value"},
    )
    with NWBHDF5IO(str(path), mode="r") as io:
        column = io.read().analysis["roi_results"]["p_permutation"]
        assert column.description == "permutation-test p-value"
        np.testing.assert_allclose(column.data[:], np.linspace(0, 1, N_ROIS))


# ---------------------------------------------------------------------------
# from the database


@pytest.fixture(scope="module")
def populated(db):
    from dbutil import synthetic_kwargs

    from pipeline.synthetic import make_recording

    db.acquisition.Fish.delete(prompt=False)
    for i, n_rois in enumerate((40, 30)):
        rec = make_recording(n_rois=n_rois, n_frames=300, seed=i)
        db.insert_recording(
            **synthetic_kwargs(
                rec, fish="F1", recording=f"R{i}", age_dpf=7.0, recorded_at=dt.datetime(2024, 3, 1, 9 + i)
            )
        )
    db.populate_all({"paramset": "default"}, display_progress=False)
    yield db
    db.acquisition.Fish.delete(prompt=False)


def test_cli_export_nwb(populated, tmp_path, capsys):
    from pynwb import NWBHDF5IO

    from tectum.cli import main
    from tectum.results import results_table

    db = populated
    out = tmp_path / "nwb"
    assert main(["-q", "export", "paramset=default", "--format", "nwb", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"export: 2 NWB file(s) -> {out}"
    files = sorted(out.rglob("*.nwb"))
    assert [f.relative_to(out).as_posix() for f in files] == ["F1/R0/default.nwb", "F1/R1/default.nwb"]

    for path in files:
        recording = path.parent.name
        key = {"fish": "F1", "recording": recording, "paramset": "default"}
        assert serious_inspector_messages(path) == []
        expected = results_table(key)
        with NWBHDF5IO(str(path), mode="r") as io:
            nwb = io.read()
            np.testing.assert_allclose(
                nwb.processing["ophys"]["DfOverF"]["dff"].data[:].T, db.analysis.DeltaF.load(key), rtol=1e-6
            )
            table = nwb.analysis["roi_results"]
            assert table["roi"].table.id[:].tolist() == expected["source_id"].tolist()
            for column in ("r2", "p_parametric", "q_value", "coef_prey", "amplitude_looming"):
                np.testing.assert_allclose(table[column].data[:], expected[column].astype(float), equal_nan=True)
            assert table["selected"].data[:].tolist() == expected["selected"].tolist()
            assert table["roi_class"].data[:].tolist() == expected["roi_class"].tolist()
            assert table["cluster"].data[:].tolist() == expected["cluster"].fillna(-1).astype(int).tolist()
            names = db.analysis.Regressors.names(key)
            assert sorted(n for n in nwb.analysis if n.startswith("regressor_")) == sorted(
                f"regressor_{n}" for n in names
            )
            n_presentations = len(db.acquisition.Presentation & key)
            assert len(nwb.intervals["stimulus"]) == n_presentations
            assert nwb.subject.age == "P7D"


def test_cli_export_format_checks(populated, tmp_path, capsys):
    from tectum.cli import main

    assert main(["-q", "export", "--format", "csv", "--out", str(tmp_path / "r.parquet")]) == 1
    assert "--format csv but --out" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["-q", "export", "--format", "nwb", "--out", str(tmp_path / "file")]) == 1
    assert "NWB export writes a folder" in capsys.readouterr().err
    # the suffix still decides without --format, and --format parquet agrees with it
    assert main(["-q", "export", "fish=F1", "--format", "parquet", "--out", str(tmp_path / "r.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "r.parquet")) == 70
