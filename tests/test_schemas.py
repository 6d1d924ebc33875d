"""The pipeline end to end against the real database server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dbutil import row_counts, synthetic_kwargs

pytestmark = pytest.mark.usefixtures("clean_db")


@pytest.fixture(scope="module")
def small_recording():
    from pipeline.synthetic import make_recording

    return make_recording(n_rois=80, n_frames=420, seed=3)


def test_shipped_parameter_sets(db):
    from pipeline import params

    ref = db.reference
    assert set(ref.ParamSet().to_arrays("paramset")) >= {"default", "seed2020"}
    # stored complete, exactly as the in-memory path resolves them
    assert ref.ParamSet.stage_params("seed2020") == {k: tuple(v) for k, v in params.SEED2020_PARAMSET.items()}
    assert ref.ParamSet.stage_params("default") == {k: tuple(v) for k, v in params.DEFAULT_PARAMSET.items()}
    assert ref.ParamSet.stage_params("seed2020")["dff"][0] == "seed2020"
    assert set(ref.Sensor().to_arrays("sensor")) >= {
        "GCaMP6s",
        "GCaMP6f",
        "GCaMP6m",
        "jGCaMP7f",
        "jGCaMP8s",
        "jGCaMP8m",
        "jGCaMP8f",
    }


def test_parameters_cannot_be_entered_twice(db):
    ref = db.reference
    method, params = ref.ParamSet.stage_params("default")["dff"]
    # the same parameters in another key order find the existing row
    same = dict(reversed(list(params.items())))
    assert ref.DffParams.insert_new(method, same) == 1
    row = (ref.DffParams & {"dff_params_id": 1}).fetch1()
    row["dff_params_id"] = 99
    with pytest.raises(Exception, match="(?i)duplicate"):
        ref.DffParams.insert1(row)


def test_create_paramset_reuses_stage_rows(db):
    ref = db.reference
    stages = ref.ParamSet.stage_params("default")
    name = "sliding_test"
    ref.ParamSet.create(
        name,
        "sliding baseline",
        dff=("sliding_percentile", {"percentile": 10.0, "window_s": 60.0}),
        regressors=stages["regressors"],
        fit=stages["fit"],
        clustering=stages["clustering"],
    )
    try:
        row = (ref.ParamSet & {"paramset": name}).fetch1()
        assert row["regressor_params_id"] == 1 and row["fit_params_id"] == 1
        with pytest.raises(ValueError, match="already exists"):
            ref.ParamSet.create(
                name, "again", **{k: v for k, v in zip(("dff", "regressors", "fit", "clustering"), stages.values())}
            )
    finally:
        (ref.ParamSet & {"paramset": name}).delete(prompt=False)


def test_insert_populate_and_query(db, small_recording):
    import pipeline

    rec = small_recording
    key = db.insert_recording(**synthetic_kwargs(rec))
    reports = db.populate_all()
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    an = db.analysis
    assert len(an.Fit & key) == 2  # default and seed2020
    # the stored fit is the pipeline's fit of the stored dF/F
    dkey = dict(key, paramset="default")
    dff = an.DeltaF.load(dkey)
    regs = an.Regressors.load(dkey)
    names = regs.names
    ols = pipeline.fit_ols(regs.design, dff)
    r2 = (an.Fit.Roi & dkey).to_arrays("r2", order_by="roi").astype(float)
    np.testing.assert_allclose(r2, ols.r2, rtol=1e-9, atol=1e-12)
    assert len(an.Fit.Coefficient & dkey) == rec.traces.shape[0] * len(names)
    # every computed row says what it was computed from
    version = (db.acquisition.Recording & key).fetch1("version")
    params_hash = (db.reference.ParamSet & {"paramset": "default"}).fetch1("params_hash")
    for table in an.COMPUTED_TABLES:
        prov = (table.Provenance & dkey).fetch1("recording_version", "params_hash", "pipeline_version")
        assert prov[:2] == (version, params_hash), table.__name__
    # class counts add up to the classified ROIs
    counts = (an.ClassSummary.Count & dkey).to_arrays("n_in_class")
    assert counts.sum() == (an.Classification & dkey).fetch1("n_classified")
    assert (an.Fit & dkey).fetch1("n_selected") == (an.Classification & dkey).fetch1("n_classified")
    # every ROI is in the 'all' clustering, selected ones in 'selected'
    assert len(an.Clustering.Member & dkey & {"roi_set": "all"}) == rec.traces.shape[0]
    assert len(an.Clustering.Member & dkey & {"roi_set": "selected"}) == (an.Fit & dkey).fetch1("n_selected")
    # selected ROIs per class, with DataJoint ...
    per_class = (an.Classification.Roi & dkey).to_pandas().reset_index().groupby("roi_class").size()
    # ... and with plain SQL
    conn = an.Fit.connection
    q = an.Classification.Roi().adapter.quote_identifier
    sql = (
        f"SELECT {q('roi_class')}, COUNT(*) FROM {an.Classification.Roi.full_table_name} "
        f"WHERE {q('paramset')} = 'default' GROUP BY {q('roi_class')}"
    )
    by_sql = {row[0]: int(row[1]) for row in conn.query(sql).fetchall()}
    assert by_sql == {k: int(v) for k, v in per_class.items()}
    # the tuned ROIs mostly land in their class
    truth = rec.truth
    classes = dict(zip(*(an.Classification.Roi & dkey).to_arrays("roi", "roi_class")))
    tuned = [i for i, t in enumerate(truth) if t in ("prey", "looming", "dimming") and i in classes]
    agree = np.mean([classes[i] == truth[i] for i in tuned])
    assert agree >= 0.9


def test_populate_is_idempotent(db, small_recording):
    db.insert_recording(**synthetic_kwargs(small_recording))
    db.populate_all({"paramset": "default"})
    before = row_counts(db)
    reports = db.populate_all({"paramset": "default"})
    assert sum(r.done for r in reports) == 0
    assert row_counts(db) == before


def test_delete_cascades_to_results(db, small_recording):
    key = db.insert_recording(**synthetic_kwargs(small_recording))
    db.populate_all({"paramset": "default"})
    assert db.analysis.Fit.Roi & key
    (db.acquisition.Recording & key).delete(prompt=False)
    for table in (
        db.analysis.DeltaF,
        db.analysis.Fit.Roi,
        db.analysis.Fit.Coefficient,
        db.analysis.Clustering.Member,
        db.analysis.ClassSummary.Count,
        db.acquisition.RoiTraces.Roi,
        db.acquisition.Presentation,
    ):
        assert not (table & key), table.__name__


def test_bad_roi_is_excluded_not_fatal(db, small_recording):
    """A raw trace whose baseline is <= 0 is excluded and flagged; the other ROIs are analysed."""
    traces = small_recording.traces.copy()
    traces[7] = -5.0  # a baseline <= 0
    key = db.insert_recording(**synthetic_kwargs(small_recording, recording="one_bad", traces=traces))
    reports = db.populate_all({"paramset": "default"})
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    dkey = dict(key, paramset="default")
    assert (db.analysis.DeltaF.Excluded & dkey).to_dicts() == [dict(dkey, roi=7, reason="baseline <= 0")]
    row = (db.analysis.Fit.Roi & dkey & {"roi": 7}).fetch1()
    assert row["excluded"] == "baseline <= 0" and not row["selected"]
    assert (db.analysis.DeltaF & dkey).fetch1("n_excluded") == 1
    assert (db.analysis.Fit & dkey).fetch1("n_selected") > 0
    assert not (db.analysis.Clustering.Member & dkey & {"roi": 7})


def test_failing_make_leaves_no_partial_rows(db, small_recording):
    """A recording whose every ROI has a baseline <= 0 fails DeltaF for that recording only.

    Raw traces like that are refused at ingest; here the raw traces are fine and the neuropil
    subtraction of the default ΔF/F (F - 0.7 Fneu) makes every baseline negative.
    """
    good = db.insert_recording(**synthetic_kwargs(small_recording, recording="good"))
    neuropil = 2.0 * np.abs(small_recording.traces)
    bad = db.insert_recording(**synthetic_kwargs(small_recording, recording="bad", neuropil=neuropil))
    reports = db.populate_all({"paramset": "default"})
    errors = [e for r in reports for e in r.errors]
    assert len(errors) == 1
    message = str(errors[0])
    assert "bad" in message and "baseline" in message
    assert db.analysis.Fit & good
    for table in (
        db.analysis.DeltaF,
        db.analysis.DeltaF.Excluded,
        db.analysis.Fit,
        db.analysis.Fit.Roi,
        db.analysis.Clustering,
    ):
        assert not (table & bad), table.__name__


def test_zero_variance_roi_is_never_selected(db, small_recording):
    traces = small_recording.traces.copy()
    traces[3] = 500.0  # constant: zero variance
    key = db.insert_recording(**synthetic_kwargs(small_recording, traces=traces))
    reports = db.populate_all({"paramset": "default"})
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    row = (db.analysis.Fit.Roi & key & {"roi": 3, "paramset": "default"}).fetch1()
    assert row["r2"] is None or np.isnan(row["r2"])
    assert not row["selected"]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(sensor="GCaMP99"), "unknown sensor"),
        (dict(frame_period_s=0), "frame period"),
        (dict(frame_period_s=-1.0), "frame period"),
        (dict(fish="x" * 65), "at most 64"),
        (dict(events=pd.DataFrame(columns=["stimulus", "onset_s", "duration_s"])), "empty"),
        (
            dict(events=pd.DataFrame([{"stimulus": "prey", "onset_s": 9999.0, "duration_s": 1.0}])),
            "outside the recording",
        ),
        (
            dict(events=pd.DataFrame([{"stimulus": "never-declared-stimulus", "onset_s": 1.0, "duration_s": 1.0}])),
            "unknown stimulus",
        ),
        (dict(roi_ids=[0] * 80), "duplicate ROI"),
        (dict(trace_kind="photons"), "trace_kind"),
    ],
)
def test_bad_input_changes_nothing(db, small_recording, change, message):
    db.insert_recording(**synthetic_kwargs(small_recording, recording="existing"))
    before = row_counts(db)
    with pytest.raises(db.IngestError, match=message):
        db.insert_recording(**synthetic_kwargs(small_recording, recording="new", **change))
    assert row_counts(db) == before


def test_nan_trace_is_named(db, small_recording):
    traces = small_recording.traces.copy()
    traces[11, 5] = np.nan
    before = row_counts(db)
    with pytest.raises(db.IngestError, match="ROI 11"):
        db.insert_recording(**synthetic_kwargs(small_recording, traces=traces))
    assert row_counts(db) == before


def test_reingest_requires_replace(db, small_recording):
    key = db.insert_recording(**synthetic_kwargs(small_recording))
    db.populate_all({"paramset": "default"})
    before = row_counts(db)
    with pytest.raises(db.IngestError, match="already ingested"):
        db.insert_recording(**synthetic_kwargs(small_recording))
    assert row_counts(db) == before
    db.insert_recording(**synthetic_kwargs(small_recording), replace=True)
    assert not (db.analysis.Fit & key)  # results of the old data are gone
    assert len(db.acquisition.RoiTraces.Roi & key) == small_recording.traces.shape[0]


def test_failed_replace_keeps_the_old_recording(db, small_recording):
    """A replace that fails (here: a genotype conflict found inside the transaction) changes nothing."""
    key = db.insert_recording(**synthetic_kwargs(small_recording))
    db.populate_all({"paramset": "default"})
    before = row_counts(db)
    with pytest.raises(db.IngestError, match="genotype"):
        db.insert_recording(**synthetic_kwargs(small_recording, genotype="other line"), replace=True)
    assert row_counts(db) == before
    assert db.analysis.Fit & key


def test_names_differing_by_case_or_accent_are_different(db, small_recording):
    for fish in ("F1", "f1", "Müller", "Muller"):
        db.insert_recording(**synthetic_kwargs(small_recording, fish=fish))
    assert sorted(db.acquisition.Recording().to_arrays("fish")) == sorted(["F1", "f1", "Müller", "Muller"])
    with pytest.raises(db.IngestError, match="white space"):
        db.insert_recording(**synthetic_kwargs(small_recording, fish="F1 "))


def test_paramsets_are_assigned_where_they_fit(db, small_recording):
    """seed2020 needs the notebook's protocol; default analyses any protocol."""
    rec = small_recording
    full = db.insert_recording(**synthetic_kwargs(rec, recording="full"))
    events = rec.events[rec.events["stimulus"].isin(["looming", "dimming"])]
    partial = db.insert_recording(**synthetic_kwargs(rec, recording="no_prey", events=events))
    tasks = db.analysis.AnalysisTask()
    assert set((tasks & full).to_arrays("paramset")) == {"default", "seed2020"}
    assert set((tasks & partial).to_arrays("paramset")) == {"default"}
    reports = db.populate_all()
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    assert set(db.analysis.Regressors.names(dict(partial, paramset="default"))) == {"looming", "dimming"}
    # assigning explicitly says why it does not fit
    assigned, skipped = db.analysis.AnalysisTask.assign("seed2020", partial)
    assert not assigned and "prey" in skipped[0]


def test_custom_sensor_and_kernel_change_the_stored_kernel(db, small_recording):
    ref = db.reference
    ref.Sensor.add("H2B-GCaMP6s", tau_decay_s=3.5, reference="lab measurement, nuclear GCaMP6s")
    key = db.insert_recording(**synthetic_kwargs(small_recording, sensor="H2B-GCaMP6s"))
    ref.ParamSet.create("sensor_kernel", "literature kernel", regressors=("sensor", {}))
    ref.ParamSet.create("tau1", "fixed 1 s kernel", regressors=("exponential", {"tau_decay_s": 1.0}))
    for name in ("sensor_kernel", "tau1"):
        assigned, _ = db.analysis.AnalysisTask.assign(name, key)
        assert assigned
    reports = db.populate_all(
        {"paramset": "sensor_kernel"},
    )
    reports += db.populate_all({"paramset": "tau1"})
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    sensor_kernel = (db.analysis.Regressors & key & {"paramset": "sensor_kernel"}).fetch1("kernel")
    tau1 = (db.analysis.Regressors & key & {"paramset": "tau1"}).fetch1("kernel")
    assert "H2B-GCaMP6s" in (db.analysis.Regressors & key & {"paramset": "sensor_kernel"}).fetch1("kernel_name")
    assert len(sensor_kernel) > len(tau1)  # a 3.5 s decay lasts longer than a 1 s one
    assert not np.allclose(sensor_kernel[: len(tau1)], tau1)


def test_misspelt_parameter_is_refused(db):
    from pipeline.params import ParamError

    with pytest.raises(ParamError, match="percentile"):
        db.reference.ParamSet.create("typo", "typo", dff=("percentile", {"percentil": 10}))
    assert not (db.reference.ParamSet & {"paramset": "typo"})


def test_large_recording_fits_default_packet_size(db):
    """40 MB of traces go in against a server with the default 16 MB max_allowed_packet."""
    rng = np.random.default_rng(0)
    traces = rng.normal(1000, 10, size=(5000, 2000)).astype(np.float32)
    events = pd.DataFrame(
        {"stimulus": ["prey", "looming", "dimming"], "onset_s": [10.0, 50.0, 90.0], "duration_s": [1.0] * 3}
    )
    key = db.insert_recording(
        fish="big", recording="R1", region="tectum", sensor="GCaMP6s", frame_period_s=1.0, traces=traces, events=events
    )
    stored = np.asarray((db.acquisition.RoiTraces & key).fetch1("traces").load())
    np.testing.assert_array_equal(stored, traces)
    assert len(db.acquisition.RoiTraces.Roi & key) == 5000


def test_other_protocols_populate_next_to_the_published_one(db, small_recording):
    """A spot protocol (9 positions), looming + a new 'grating' only, and the published protocol in one
    database: each is populated with the shipped default and classified by its own stimuli; exit 0."""
    from test_workers import run_tectum

    from pipeline.synthetic import make_recording

    ref, an = db.reference, db.analysis
    spots = make_recording(n_rois=60, protocol="spots", seed=7)
    for name in sorted(set(spots.events["stimulus"])):
        ref.StimulusType.add(name, "a small spot at one of 9 positions", exist_ok=True)
    ref.StimulusType.add("grating", "drifting square-wave grating", exist_ok=True)
    published = db.insert_recording(**synthetic_kwargs(small_recording, fish="P1"))
    spot_key = db.insert_recording(**synthetic_kwargs(spots, fish="S1"))
    events = small_recording.events
    events = events[events["stimulus"].isin(["looming", "dimming"])].replace({"stimulus": {"dimming": "grating"}})
    grating_key = db.insert_recording(
        **synthetic_kwargs(small_recording, fish="G1", events=events, stimulus_groups=None)
    )

    done = run_tectum("populate")
    assert done.returncode == 0, done.stdout + done.stderr
    # seed2020 only where its protocol fits; default everywhere
    assert {(k["fish"], k["paramset"]) for k in an.ClassSummary.keys()} == {
        ("P1", "default"),
        ("P1", "seed2020"),
        ("S1", "default"),
        ("G1", "default"),
    }
    expected = {
        "P1": {"prey", "looming", "dimming"},
        "S1": {f"spot-{i}" for i in range(1, 10)},
        "G1": {"looming", "grating"},
    }
    neutral = {"mixed", "inhibited", "unclassified"}
    for key in (published, spot_key, grating_key):
        dkey = dict(key, paramset="default")
        names = set((an.Regressors.Regressor & dkey).to_arrays("regressor"))
        assert names == expected[key["fish"]], key
        classes = set((an.Classification.Roi & dkey).to_arrays("roi_class"))
        assert classes and classes <= names | neutral, (key, classes)
        assert classes & names, (key, classes)  # tuned ROIs get their own stimulus' class


def test_per_presentation_amplitudes_unpack_to_rows(db, small_recording):
    """ResponseAmplitude.presentations(): a row per ROI and presentation, the in-memory values."""
    import pipeline

    rec = small_recording
    key = dict(db.insert_recording(**synthetic_kwargs(rec)), paramset="default")
    db.populate_all(key)
    an = db.analysis
    trials = an.ResponseAmplitude.presentations(key)
    n_rois, n_events = rec.traces.shape[0], len(rec.events)
    assert len(trials) == n_rois * n_events  # every regressor here uses each of its stimuli's presentations
    assert set(trials["paramset"]) == {"default"} and set(trials["fish"]) == {key["fish"]}
    # the mean over a ROI's presentations of a regressor is the stored mean
    means = trials.groupby(["roi", "regressor"])["amplitude"].mean()
    roi, reg, stored = (an.ResponseAmplitude.Roi & key).to_arrays("roi", "regressor", "mean_amplitude")
    np.testing.assert_allclose(means.loc[list(zip(roi, reg))].to_numpy(), stored.astype(float), rtol=1e-5, atol=1e-6)
    # each value is the in-memory analysis' amplitude of that presentation (dF/F stored as float32)
    res = pipeline.analyse_recording(
        rec.traces, rec.events, rec.frame_period_s, sensor=rec.sensor, stimulus_groups=rec.groups, clustering=False
    )
    onsets = rec.events["onset_s"].to_numpy()[np.asarray(res.amplitudes.presentation_row)]
    expected = pd.DataFrame(
        {
            "roi": np.repeat(np.arange(n_rois), len(onsets)),
            "onset_s": np.tile(onsets, n_rois),
            "expected": np.asarray(res.amplitudes.per_presentation).ravel(),
        }
    )
    both = trials.merge(expected, on=["roi", "onset_s"], validate="one_to_one")
    assert len(both) == len(trials)
    np.testing.assert_allclose(both["amplitude"], both["expected"], rtol=1e-4, atol=1e-5)
    stimulus_at = dict(zip(rec.events["onset_s"], rec.events["stimulus"]))
    assert (both["stimulus"] == both["onset_s"].map(stimulus_at)).all()
    # a restriction that matches nothing gives an empty frame with the same columns
    empty = an.ResponseAmplitude.presentations({"fish": "nobody"})
    assert len(empty) == 0 and list(empty.columns) == list(trials.columns)


def test_populate_recompute_stale_within_its_restriction_only(db, small_recording, capsys):
    """tectum populate --recompute-stale: stale rows of the restriction deleted with their downstream, recomputed."""
    from tectum.cli import main
    from tectum.status import stale_rows

    an = db.analysis
    key = db.insert_recording(**synthetic_kwargs(small_recording))
    db.populate_all()
    before = row_counts(db)
    fit_before = (an.Fit.Roi & dict(key, paramset="default")).to_arrays("r2", order_by="roi")
    for paramset in ("default", "seed2020"):
        an.DeltaF.Provenance.update1(dict(key, paramset=paramset, pipeline_version="0.0.1"))
    code = main(["-q", "populate", "--recompute-stale", "--paramset", "default"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "recompute-stale: deleted 1 stale DeltaF row(s), with their downstream rows" in out
    # recomputed: the same rows and values again, fresh provenance
    assert not stale_rows(an.DeltaF, {"paramset": "default"})
    np.testing.assert_array_equal(
        (an.Fit.Roi & dict(key, paramset="default")).to_arrays("r2", order_by="roi"), fit_before
    )
    after = row_counts(db)
    assert {t: n for t, n in after.items() if "~" not in t} == {t: n for t, n in before.items() if "~" not in t}
    # the other parameter set's stale row is left alone: --paramset is not widened
    assert [k["paramset"] for k, _ in stale_rows(an.DeltaF)] == ["seed2020"]
    code = main(["-q", "populate", "--recompute-stale", "fish=F1"])
    out = capsys.readouterr().out
    assert "deleted 1 stale DeltaF row(s)" in out and not stale_rows(an.DeltaF)
    code = main(["-q", "populate", "--recompute-stale"])
    assert "recompute-stale: nothing is stale" in capsys.readouterr().out
