"""Clustering computed in a background thread while Fit inserts its rows (schemas.ahead)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from dbutil import synthetic_kwargs

import schemas.ahead as ahead

KEY = {"fish": "F1", "recording": "R1", "paramset": "default"}
PROVENANCE = ("v" * 32, "h" * 32)


# ------------------------------------------------------------------ the store itself (no database)


def test_nothing_is_computed_ahead_outside_a_populate():
    assert not ahead.wanted("clustering")
    assert ahead.submit("clustering", KEY, PROVENANCE, lambda: 1) is False
    assert ahead.take("clustering", KEY, PROVENANCE) is None


def test_a_result_is_taken_once_and_only_for_its_own_provenance():
    with ahead.computing_ahead({"clustering"}):
        assert ahead.submit("clustering", KEY, PROVENANCE, lambda: "trees")
        assert ahead.take("clustering", KEY, ("w" * 32, "h" * 32)) is None  # another recording version
        assert ahead.take("clustering", dict(KEY, paramset="seed2020"), PROVENANCE) is None
        future = ahead.take("clustering", KEY, PROVENANCE)
        assert future.result(timeout=10) == "trees"
        assert ahead.take("clustering", KEY, PROVENANCE) is None


def test_one_computation_at_a_time_and_leftovers_are_dropped():
    release = threading.Event()
    with ahead.computing_ahead({"clustering"}):
        assert ahead.submit("clustering", KEY, PROVENANCE, lambda: release.wait(10))
        other = dict(KEY, recording="R2")
        assert not ahead.wanted("clustering")
        assert ahead.submit("clustering", other, PROVENANCE, lambda: 2) is False  # the first still runs
        release.set()
        assert ahead.take("clustering", KEY, PROVENANCE).result(timeout=10) is True
        assert ahead.submit("clustering", other, PROVENANCE, lambda: 2)
    # never taken: dropped when the populate ends
    assert ahead.take("clustering", other, PROVENANCE) is None


def test_an_error_reaches_whoever_takes_the_result():
    def fail():
        raise ValueError("no distances for this recording")

    with ahead.computing_ahead({"clustering"}):
        ahead.submit("clustering", KEY, PROVENANCE, fail)
        with pytest.raises(ValueError, match="no distances"):
            ahead.take("clustering", KEY, PROVENANCE).result(timeout=10)


# ------------------------------------------------------------------ inside populate (database)


@pytest.fixture
def recording(clean_db):
    from pipeline.synthetic import make_recording

    rec = make_recording(n_rois=120, n_frames=420, seed=11)
    return clean_db.insert_recording(**synthetic_kwargs(rec))


@pytest.fixture
def spy(monkeypatch):
    """Counts what is submitted and what Clustering.make() takes."""
    seen = {"submitted": 0, "taken": 0}
    submit, take = ahead.submit, ahead.take

    def counting_submit(*args, **kwargs):
        ok = submit(*args, **kwargs)
        seen["submitted"] += int(ok)
        return ok

    def counting_take(*args, **kwargs):
        future = take(*args, **kwargs)
        seen["taken"] += int(future is not None)
        return future

    monkeypatch.setattr(ahead, "submit", counting_submit)
    monkeypatch.setattr(ahead, "take", counting_take)
    return seen


def _clustering_rows(an, key):
    trees = (an.Clustering.Tree & key).to_dicts(order_by="roi_set")
    members = (an.Clustering.Member & key).to_arrays(
        "roi_set", "roi", "cluster", "leaf_rank", order_by=("roi_set", "roi")
    )
    return trees, members


def test_clustering_computed_ahead_equals_clustering_computed_in_place(db, recording, spy):
    key = dict(recording, paramset="default")
    reports = db.populate_all({"paramset": "default"})
    assert not any(r.errors for r in reports)
    assert spy == {"submitted": 1, "taken": 1}
    an = db.analysis
    ahead_trees, ahead_members = _clustering_rows(an, key)
    assert len(ahead_trees) == 2 and len(ahead_members[0]) > 0

    (an.Clustering & key).delete(prompt=False)
    db.populate_all({"paramset": "default"})  # Fit is there already: computed in place
    assert spy == {"submitted": 1, "taken": 1}
    trees, members = _clustering_rows(an, key)
    for a, b in zip(ahead_trees, trees):
        assert a["roi_set"] == b["roi_set"] and a["n_clusters"] == b["n_clusters"]
        np.testing.assert_array_equal(a["linkage"], b["linkage"])
        np.testing.assert_array_equal(a["leaf_order"], b["leaf_order"])
    for a, b in zip(ahead_members, members):
        np.testing.assert_array_equal(a, b)


def test_nothing_is_computed_ahead_with_job_reservation_or_without_clustering(db, recording, spy):
    an = db.analysis
    db.populate_all({"paramset": "default"}, reserve_jobs=True)
    assert an.Clustering & recording
    assert spy == {"submitted": 0, "taken": 0}
    db.populate_all({"paramset": "seed2020"}, tables=[t for t in an.COMPUTED_TABLES if t is not an.Clustering])
    assert spy["submitted"] == 0
    assert not (an.Clustering & dict(recording, paramset="seed2020"))


def test_an_error_in_the_clustering_computed_ahead_fails_that_key_only(db, recording, spy, monkeypatch):
    from pipeline import stages

    def broken(*args, **kwargs):
        raise ValueError("clustering broke for this test")

    monkeypatch.setattr(stages, "clustering_stage", broken)
    reports = {r.table: r for r in db.populate_all({"paramset": "default"})}
    assert spy == {"submitted": 1, "taken": 1}
    assert [str(e) for e in reports["Clustering"].errors] and "clustering broke" in str(reports["Clustering"].errors)
    an = db.analysis
    assert not (an.Clustering & recording) and not (an.Clustering.Member & recording)
    assert an.ClassSummary & recording  # the other tables are made
