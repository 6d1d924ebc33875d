"""Several ``tectum populate --reserve-jobs`` processes on one database, and dead workers.

Every worker here is a real OS process (``python -m tectum.cli``) inheriting the
session's settings (``TECTUM_SCHEMA_PREFIX``, ``TECTUM_STORE_DIR``, ``DJ_*``).
``DJ_JOBS_KEEP_COMPLETED=true`` makes DataJoint keep a ``'success'`` job row
(with the worker's pid) for every key instead of deleting it, so the tests
can see who computed what. The helpers are shared with ``test_faults.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dbutil import overwrite_stored_traces, row_counts, synthetic_kwargs

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 180

#: DataJoint's debug log line of the first part-row insert of a Clustering make (COPY on PostgreSQL): the
#: make's transaction has written its master row and a Tree row by then, and the
#: clustering of the selected ROIs (about a second) is still ahead
MID_CLUSTERING = re.compile(r"Executing SQL:(INSERT INTO|COPY) \S*__clustering__member")
#: DataJoint's log line of a committed Clustering make
CLUSTERING_DONE = re.compile(r"Success making .* -> \S*__clustering\W*$", re.M)


# --------------------------------------------------------------------------- helpers


def worker_env(**extra) -> dict:
    env = dict(os.environ, DJ_JOBS_KEEP_COMPLETED="true", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def tectum_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "tectum.cli", "-q", *args]


def run_tectum(*args, **env) -> subprocess.CompletedProcess:
    """Run ``tectum -q ARGS`` to the end; returns the completed process (pid in ``.pid``)."""
    proc = subprocess.Popen(
        tectum_cmd(*args), cwd=ROOT, env=worker_env(**env), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = proc.communicate(timeout=TIMEOUT_S)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    done.pid = proc.pid
    return done


def start_logged_worker(log_path: Path, *args) -> subprocess.Popen:
    """Start ``tectum -q populate ARGS`` with DataJoint's debug log (every SQL statement) in ``log_path``."""
    log = open(log_path, "w")
    proc = subprocess.Popen(
        tectum_cmd("populate", *args),
        cwd=ROOT,
        env=worker_env(DJ_LOG_LEVEL="DEBUG"),
        text=True,
        stdout=log,
        stderr=subprocess.PIPE,
    )
    log.close()
    return proc


def wait_for_log(proc: subprocess.Popen, log_path: Path, pattern: re.Pattern, timeout: float = TIMEOUT_S) -> float:
    """Wait until ``pattern`` appears in the worker's log; return the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pattern.search(log_path.read_text(errors="replace")):
            return time.monotonic() - start
        if proc.poll() is not None:
            raise AssertionError(
                f"worker exited ({proc.returncode}) before {pattern.pattern!r}: {proc.stderr.read()[-2000:]}"
            )
        time.sleep(0.02)
    raise AssertionError(f"no {pattern.pattern!r} in the worker's log after {timeout} s")


def wait_for_reservation(proc: subprocess.Popen, table, key: dict, timeout: float = TIMEOUT_S) -> dict:
    """Poll the job table until ``key`` is reserved; return the job row."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        rows = (table.jobs.reserved & key).proj("host", "pid", "connection_id").to_dicts()
        if rows:
            return rows[0]
        if proc.poll() is not None:
            raise AssertionError(f"worker exited ({proc.returncode}) before reserving {key}")
        time.sleep(0.02)
    raise AssertionError(f"{key} not reserved after {timeout} s")


def made_counts(stdout: str) -> dict[str, int]:
    """``{table: n}`` from the ``Table  N made, M failed, ...`` summary lines of ``tectum populate``."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+) made, \d+ failed", stdout, re.M)}


def jobs_of(table) -> list[dict]:
    return table.jobs.proj("status", "host", "pid", "error_message", "duration").to_dicts()


def key_set(rows, primary_key) -> set:
    return {tuple(row[k] for k in primary_key) for row in rows}


def computed_rows(db, key: dict) -> dict[str, int]:
    """Rows of every computed table and part table for one recording-level key."""
    counts = {}
    for table_cls in db.analysis.COMPUTED_TABLES:
        counts[table_cls.__name__] = len(table_cls & key)
        for part in table_cls().parts(as_objects=True):
            counts[part.full_table_name] = len(part & key)
    return counts


def big_recording_key(db, fish: str, n_rois: int = 10000, n_frames: int = 1000) -> dict:
    """Ingest a recording large enough that its Clustering make takes seconds, and
    compute everything upstream of Clustering (paramset default) in this process."""
    from pipeline.synthetic import make_recording

    rec = make_recording(n_rois=n_rois, n_frames=n_frames, seed=11)
    key = db.insert_recording(**synthetic_kwargs(rec, fish=fish, recording="R1"))
    key = dict(key, paramset="default")
    an = db.analysis
    for table in (an.DeltaF, an.Regressors, an.Fit, an.Classification, an.ResponseAmplitude):
        table().populate(key)
    assert an.Fit & key and not an.Clustering & key
    return key


def delete_computed(db, key: dict) -> None:
    """Delete every computed row of ``key`` with ``delete_quick``, parts first, children before parents.

    DataJoint's cascading ``delete`` takes ~13 s for one 10,000-ROI recording on PostgreSQL, this < 1 s.
    """
    tables = [
        part for table_cls in reversed(db.analysis.COMPUTED_TABLES) for part in table_cls().parts(as_objects=True)
    ] + list(reversed(db.analysis.COMPUTED_TABLES))
    for _ in range(len(tables)):
        left = []
        for table in tables:
            try:
                (table & key).delete_quick()
            except Exception:  # a child of it still has rows: next round
                left.append(table)
        tables = left
        if not tables:
            break


def drop_recordings(db, fish: str) -> None:
    """Delete one fish and everything computed from it (the computed rows first, quickly)."""
    key = {"fish": fish}
    delete_computed(db, key)
    (db.acquisition.Fish & key).delete(prompt=False)


def reset_clustering(db, key: dict) -> None:
    """Make ``key``'s Clustering (and ClassSummary) pending again, with no job rows."""
    an = db.analysis
    (an.Clustering & key).delete(prompt=False)
    (an.ClassSummary & key).delete(prompt=False)
    for table in (an.Clustering, an.ClassSummary):
        (table.jobs & key).delete()


def start_clustering_worker(db, key: dict, tmp_path: Path):
    """Forget the key's Clustering and start a logged ``--reserve-jobs`` worker on it.

    Returns the worker, its log file and the row counts of every table before it started.
    """
    reset_clustering(db, key)
    before = row_counts(db)
    log = tmp_path / "worker.log"
    worker = start_logged_worker(log, f"fish={key['fish']}", "--paramset", "default", "--reserve-jobs")
    return worker, log, before


def clear_job_tables(db) -> None:
    for table_cls in db.analysis.COMPUTED_TABLES:
        table_cls.jobs.delete()


@pytest.fixture(autouse=True)
def no_jobs(db):
    """Empty job tables before and after each test (deleting recordings leaves their job rows)."""
    clear_job_tables(db)
    yield
    clear_job_tables(db)


# --------------------------------------------------------------------------- tests


def test_two_workers_compute_every_key_once(clean_db):
    """Two concurrent workers: every key made exactly once, the failure recorded and shown."""
    from pipeline.synthetic import make_recording

    db = clean_db
    an = db.analysis
    rec = make_recording(n_rois=300, n_frames=420, seed=5)
    n_good = 6
    for i in range(n_good):
        db.insert_recording(**synthetic_kwargs(rec, fish=f"W{i // 2}", recording=f"R{i}"))
    bad = db.insert_recording(**synthetic_kwargs(rec, fish="W9", recording="bad"))
    overwrite_stored_traces(db, bad)  # every baseline <= 0: DeltaF fails for this recording, deterministically
    (an.AnalysisTask & dict(bad, paramset="seed2020")).delete_quick()  # so only (bad, default) fails
    bad_default = dict(bad, paramset="default")

    start = time.monotonic()
    procs = [
        subprocess.Popen(
            tectum_cmd("populate", "--reserve-jobs"),
            cwd=ROOT,
            env=worker_env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=TIMEOUT_S) for proc in procs]
    elapsed = time.monotonic() - start
    for _proc, (_out, err) in zip(procs, outputs):
        assert "Traceback" not in err, err
    # the worker that drew the bad recording reports it and exits 1; the other exits 0
    assert sorted(proc.returncode for proc in procs) == [0, 1], outputs
    failing_out = outputs[[proc.returncode for proc in procs].index(1)][0]
    assert re.search(r"^DeltaF\s+\d+ made, 1 failed", failing_out, re.M), failing_out
    assert re.search(r"error: .*W9/bad.*default", failing_out), failing_out

    pids = {proc.pid for proc in procs}
    per_worker = {pid: 0 for pid in pids}
    made = [made_counts(out) for out, _ in outputs]
    for table_cls in an.COMPUTED_TABLES:
        name = table_cls.__name__
        table = table_cls()
        remaining, total = table.progress(display=False)
        blocked = 1 if table_cls is an.DeltaF else 0  # only DeltaF (bad, default) is left undone
        assert (remaining, len(table)) == (blocked, total - blocked), name
        jobs = jobs_of(table)
        done = [j for j in jobs if j["status"] == "success"]
        # one success job per computed key, and nothing else left in the queue
        assert key_set(done, table.primary_key) == key_set(table.keys(), table.primary_key), name
        assert len(done) == len(table), name
        others = [j for j in jobs if j["status"] != "success"]
        if table_cls is an.DeltaF:
            assert [(j["status"], {k: j[k] for k in table.primary_key}) for j in others] == [("error", bad_default)]
            assert "baseline" in others[0]["error_message"] and "W9/bad" in others[0]["error_message"]
        else:
            assert others == [], name
        # no make ran twice: the makes the two workers report add up to the rows
        assert sum(m.get(name, 0) for m in made) == len(table), (name, made)
        assert {j["pid"] for j in done} <= pids and {j["host"] for j in done} == {platform.node()}
        for j in done:
            per_worker[j["pid"]] += 1
    total_keys = sum(per_worker.values())
    print(
        f"\n2 workers, {n_good + 1} recordings x 2 paramsets: {total_keys} keys in {elapsed:.1f} s; "
        f"per worker {sorted(per_worker.values(), reverse=True)}"
    )
    assert all(n > 0 for n in per_worker.values()), per_worker  # both took part

    status = run_tectum("status", "--keys")
    assert status.returncode == 0, status.stderr
    assert re.search(r"^DeltaF .*1 failed", status.stdout, re.M), status.stdout
    assert re.search(
        r"^  DeltaF \[fish=W9, recording=bad, paramset=default\] failed: .*baseline", status.stdout, re.M
    ), status.stdout

    # a second worker finds nothing to do; the failed key stays failed (not retried) until its job is cleared
    again = run_tectum("populate", "--reserve-jobs")
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(made_counts(again.stdout).values()) == {0}, again.stdout
    assert len(an.DeltaF.jobs.errors) == 1


def test_recovery_rules(db):
    """Which reservations recover_stale_reservations re-queues, and which it leaves alone."""
    from pipeline.synthetic import make_recording
    from tectum.workers import find_stale_jobs, pid_alive, recover_stale_reservations

    an = db.analysis
    rec = make_recording(n_rois=20, n_frames=300, seed=2)
    fish = "RULES"
    keys = []
    for i in range(4):
        key = db.insert_recording(**synthetic_kwargs(rec, fish=fish, recording=f"R{i}"))
        keys += [dict(key, paramset="default"), dict(key, paramset="seed2020")]
    jobs = an.DeltaF.jobs
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # exits, never reaped until the end
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    try:
        deadline = time.monotonic() + 30
        while pid_alive(zombie.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid_alive(sleeper.pid) and not pid_alive(finished.pid) and not pid_alive(zombie.pid)
        assert pid_alive(0)  # unknown pids never count as dead

        now = jobs.connection.query("SELECT CURRENT_TIMESTAMP(3)").fetchone()[0]  # server time
        here = platform.node()
        rows = {
            "dead pid here": dict(keys[0], status="reserved", host=here, pid=finished.pid, reserved_time=now),
            "zombie here": dict(keys[1], status="reserved", host=here, pid=zombie.pid, reserved_time=now),
            "live pid here": dict(keys[2], status="reserved", host=here, pid=sleeper.pid, reserved_time=now),
            "other host, recent": dict(
                keys[3], status="reserved", host="elsewhere.example", pid=finished.pid, reserved_time=now
            ),
            "other host, old": dict(
                keys[4],
                status="reserved",
                host="elsewhere.example",
                pid=sleeper.pid,
                reserved_time=now - dt.timedelta(hours=2),
            ),
            "lost connection": dict(
                keys[5], status="error", error_message="LostConnectionError: Connection was lost during a transaction."
            ),
            "data error": dict(keys[6], status="error", error_message="AnalysisError: recording RULES/R3: baseline"),
        }
        for row in rows.values():
            jobs.insert1(dict(row, priority=3, connection_id=12345))

        def status_of(name):
            return (jobs & {k: rows[name][k] for k in jobs.primary_key}).fetch1("status")

        stale = {tuple(s.key.values()): s for s in find_stale_jobs(an.DeltaF)}
        expected = {
            tuple(rows[n][k] for k in jobs.primary_key) for n in ("dead pid here", "zombie here", "lost connection")
        }
        assert set(stale) == expected
        with_timeout = {tuple(s.key.values()) for s in find_stale_jobs(an.DeltaF, orphan_timeout=3600)}
        assert with_timeout == expected | {tuple(rows["other host, old"][k] for k in jobs.primary_key)}

        lines = recover_stale_reservations(tables=[an.DeltaF])
        assert len(lines) == 3, lines
        assert any(f"worker pid {finished.pid} on {here} is no longer running" in line for line in lines), lines
        assert all(line.startswith(f"re-queued DeltaF [fish={fish}, recording=R") for line in lines), lines
        for name in ("dead pid here", "zombie here", "lost connection"):
            assert status_of(name) == "pending", name
            assert (jobs & {k: rows[name][k] for k in jobs.primary_key}).fetch1("priority") == 3  # kept
        for name in ("live pid here", "other host, recent", "other host, old"):
            assert status_of(name) == "reserved", name
        assert status_of("data error") == "error"

        # `tectum status` counts a dead worker's reservation apart from running ones (those of another
        # host cannot be judged from here), each of the fish's 8 keys once
        sleeper.kill()
        sleeper.wait()
        status = run_tectum("status", f"fish={fish}")
        assert re.search(
            r"^DeltaF\s+0/8 made, 1 failed, 2 running, 1 left by a dead worker, 4 not started "
            r"\(3 queued\)$",
            status.stdout,
            re.M,
        ), status.stdout

        # the command line: `populate --reserve-jobs --orphan-timeout` recovers the dead worker's and the
        # old reservation, then computes every key except the failed one (failures are not retried)
        (jobs & {k: rows["other host, recent"][k] for k in jobs.primary_key}).delete()  # a live worker elsewhere
        # would otherwise keep this populate waiting for it (schemas.populate_all polls while others work)
        rerun = run_tectum("populate", f"fish={fish}", "--reserve-jobs", "--orphan-timeout", "3600")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        recovered = [line for line in rerun.stdout.splitlines() if line.startswith("re-queued")]
        assert len(recovered) == 2, rerun.stdout
        assert any(f"worker pid {sleeper.pid} on {here} is no longer running" in line for line in recovered)
        assert any("on elsewhere.example" in line and "more than 3600 s ago" in line for line in recovered)
        assert re.search(r"^DeltaF\s+7 made, 0 failed, 1 pending of 8", rerun.stdout, re.M), rerun.stdout
        assert status_of("data error") == "error"
        assert recover_stale_reservations(orphan_timeout=3600, tables=[an.DeltaF]) == []  # nothing left
    finally:
        for proc in (sleeper, zombie):
            proc.kill()
            proc.wait()
        (jobs & [{k: key[k] for k in jobs.primary_key} for key in keys]).delete()
        (db.acquisition.Fish & {"fish": fish}).delete(prompt=False)


@pytest.fixture(scope="module")
def big_key(db):
    key = big_recording_key(db, fish="BIGW")
    yield key
    drop_recordings(db, key["fish"])


def test_sigkilled_worker_leaves_no_rows_and_is_recovered(db, big_key, tmp_path):
    """SIGKILL a worker in the middle of a make: nothing of it is committed, its
    reservation stays behind, and the next ``--reserve-jobs`` run re-queues and computes it once."""
    from tectum.workers import recover_stale_reservations

    an = db.analysis
    key = big_key
    worker, log, before = start_clustering_worker(db, key, tmp_path)
    try:
        job = wait_for_reservation(worker, an.Clustering, key)
        assert (job["host"], job["pid"]) == (platform.node(), worker.pid)
        # a live worker's reservation is not touched
        assert recover_stale_reservations() == []
        assert an.Clustering.jobs.reserved & key
        wait_for_log(worker, log, MID_CLUSTERING)
        killed_at = time.monotonic()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL
    # the make was rolled back: every table has exactly the rows it had before the worker started
    assert not CLUSTERING_DONE.search(log.read_text(errors="replace"))
    assert row_counts(db) == before
    assert computed_rows(db, key)["Clustering"] == 0
    # ... and the dead worker's reservation is still there
    assert (an.Clustering.jobs.reserved & key).fetch1("pid") == worker.pid

    status = run_tectum("status")
    assert re.search(r"^Clustering .*1 left by a dead worker", status.stdout, re.M), status.stdout

    rerun = run_tectum("populate", f"fish={key['fish']}", "--paramset", "default", "--reserve-jobs")
    recovered_in = time.monotonic() - killed_at
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert (
        f"re-queued Clustering [fish={key['fish']}, recording=R1, paramset=default]: "
        f"worker pid {worker.pid} on {platform.node()} is no longer running"
    ) in rerun.stdout
    assert made_counts(rerun.stdout) == {
        "DeltaF": 0,
        "Regressors": 0,
        "Fit": 0,
        "Classification": 0,
        "ResponseAmplitude": 0,
        "Clustering": 1,
        "ClassSummary": 1,
    }
    # exactly once: one row, its parts complete, one success job by the new worker
    rows = computed_rows(db, key)
    assert rows["Clustering"] == 1 and rows["ClassSummary"] == 1
    assert len(an.Clustering.Tree & key) == 2
    assert len(an.Clustering.Member & key) == sum((an.Clustering.Tree & key).to_arrays("n_clustered"))
    job = (an.Clustering.jobs & key).proj("status", "pid", "duration").fetch1()
    assert (job["status"], job["pid"]) == ("success", rerun.pid)
    assert not an.Clustering.jobs.reserved and not an.Clustering.jobs.errors
    print(f"\nSIGKILL -> recovered and complete in {recovered_in:.1f} s (Clustering make {job['duration']:.1f} s)")
