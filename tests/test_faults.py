"""Faults during ``tectum populate``: a dropped database connection, a failing recording.

A worker killed outright (SIGKILL) in the middle of a make is covered in
``test_workers.py`` (no partial rows; its reservation is recovered).
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from dbutil import overwrite_stored_traces, row_counts, synthetic_kwargs
from test_workers import (  # noqa: F401  (no_jobs: an autouse fixture, shared)
    CLUSTERING_DONE,
    MID_CLUSTERING,
    ROOT,
    TIMEOUT_S,
    big_recording_key,
    computed_rows,
    drop_recordings,
    made_counts,
    no_jobs,
    run_tectum,
    start_clustering_worker,
    tectum_cmd,
    wait_for_log,
    wait_for_reservation,
    worker_env,
)


@pytest.fixture(scope="module")
def big_key(db):
    key = big_recording_key(db, fish="BIGF")
    yield key
    drop_recordings(db, key["fish"])


def kill_connection(conn, connection_id: int) -> None:
    """End another session from the server side, as an admin or a server restart would."""
    if conn.adapter.backend == "mysql":
        conn.query(f"KILL {int(connection_id)}")
    else:
        conn.query(f"SELECT pg_terminate_backend({int(connection_id)})")


@pytest.mark.parametrize("reserve_jobs", [False, True], ids=["direct", "reserve-jobs"])
def test_failing_recording_does_not_stop_the_others(clean_db, reserve_jobs):
    """keep-going is the default: the other recordings are computed, the exit code is 1 at the end."""
    from pipeline.synthetic import make_recording

    db = clean_db
    an = db.analysis
    rec = make_recording(n_rois=120, n_frames=420, seed=4)
    good = [db.insert_recording(**synthetic_kwargs(rec, fish="K1", recording=f"R{i}")) for i in range(2)]
    bad = db.insert_recording(**synthetic_kwargs(rec, fish="K1", recording="bad"))
    overwrite_stored_traces(db, bad)  # every baseline <= 0: DeltaF fails for this recording
    before = row_counts(db)

    args = ["populate", "--paramset", "default"] + (["--reserve-jobs"] if reserve_jobs else [])
    proc = subprocess.run(
        tectum_cmd(*args), cwd=ROOT, env=worker_env(), text=True, capture_output=True, timeout=TIMEOUT_S
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    made = made_counts(proc.stdout)
    assert re.search(r"^DeltaF\s+2 made, 1 failed, 1 pending of 3", proc.stdout, re.M), proc.stdout
    assert made == {name: 2 for name in made}, proc.stdout
    errors = [line for line in proc.stdout.splitlines() if line.startswith("  error:")]
    assert len(errors) == 1 and "K1/bad" in errors[0] and "baseline" in errors[0], errors
    for key in good:
        key = dict(key, paramset="default")
        assert all(computed_rows(db, key)[t.__name__] == 1 for t in an.COMPUTED_TABLES), key
    bad_default = dict(bad, paramset="default")
    assert computed_rows(db, bad_default)["DeltaF"] == 0 and not an.Fit & bad_default
    assert row_counts(db) != before

    status = run_tectum("status", "--keys")
    # failures live in the job tables, so only then can status count and list them
    counted = "1 failed, 3 not started" if reserve_jobs else "4 not started"
    assert re.search(rf"^DeltaF\s+2/6 made, {counted}$", status.stdout, re.M), status.stdout
    if reserve_jobs:
        assert "  DeltaF [fish=K1, recording=bad, paramset=default] failed: " in status.stdout, status.stdout


def test_connection_killed_mid_make(db, big_key, tmp_path):
    """The server drops the worker's connection in the middle of a make: the make is
    rolled back, the worker says so in one line and exits 1, and a rerun completes."""
    an = db.analysis
    key = big_key
    worker, log, before = start_clustering_worker(db, key, tmp_path)
    try:
        job = wait_for_reservation(worker, an.Clustering, key)
        wait_for_log(worker, log, MID_CLUSTERING)
        killed_at = time.monotonic()
        kill_connection(db.analysis.schema.connection, job["connection_id"])
        _, stderr = worker.communicate(timeout=TIMEOUT_S)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    exited_in = time.monotonic() - killed_at
    output = log.read_text(errors="replace")
    assert worker.returncode == 1, stderr
    assert "Traceback" not in stderr
    # the error is one readable line: per key in the summary (MySQL: DataJoint reconnects and records
    # the failed key) or for the whole run (PostgreSQL: DataJoint does not reconnect)
    errors = [
        line
        for line in output.splitlines() + stderr.splitlines()
        if line.startswith("  error:") or line.startswith("tectum populate: error:")
    ]
    assert errors, output[-3000:] + stderr
    assert all("connection" in line.lower() for line in errors), errors
    # nothing of the interrupted make was committed
    assert not CLUSTERING_DONE.search(output)
    after = row_counts(db)
    changed = {name for name in after if after[name] != before[name]}
    # where DataJoint reconnects, the worker goes on with ClassSummary (it does not need
    # Clustering); no other table changed, Clustering and its parts have no rows of the key
    assert changed <= {name for name in after if "class_summary" in name}, changed
    assert computed_rows(db, key)["Clustering"] == 0
    job = (an.Clustering.jobs & key).proj("status", "pid", "error_message").fetch1()
    assert (job["status"] == "error" and "connection" in job["error_message"].lower()) or (
        job["status"] == "reserved" and job["pid"] == worker.pid
    ), job

    status = run_tectum("status")
    assert re.search(r"^Clustering .*(1 failed|1 left by a dead worker)", status.stdout, re.M), status.stdout

    rerun = run_tectum("populate", f"fish={key['fish']}", "--paramset", "default", "--reserve-jobs")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"re-queued Clustering [fish={key['fish']}, recording=R1, paramset=default]" in rerun.stdout
    assert made_counts(rerun.stdout)["Clustering"] == 1
    rows = computed_rows(db, key)
    assert rows["Clustering"] == 1 and rows["ClassSummary"] == 1
    assert len(an.Clustering.Member & key) == sum((an.Clustering.Tree & key).to_arrays("n_clustered"))
    assert (an.Clustering.jobs & key).fetch1("status") == "success"
    backend = db.analysis.schema.connection.adapter.backend
    print(
        f"\n{backend}: connection killed -> worker exited in {exited_in:.1f} s with {errors[0].strip()!r}; "
        f"first job status {job['status']!r}"
    )
