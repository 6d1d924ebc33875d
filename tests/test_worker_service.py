"""Stopping cleanly, worker processes and the ``tectum worker`` service, with real processes.

A make is held open with the test hook ``TECTUM_TEST_PAUSE_<TABLE>=flag``
(:func:`schemas.analysis._test_pause`: the make waits inside its transaction
while the file exists, after creating ``flag.reached``); the process gets
SIGTERM/SIGINT there. Recordings are small (30 ROIs x 300 frames) so every
test takes seconds.
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

import numpy as np
import pytest
from dbutil import row_counts, synthetic_kwargs
from test_workers import (
    ROOT,
    made_counts,
    no_jobs,  # noqa: F401  (an autouse fixture: job tables emptied around each test)
    run_tectum,
    tectum_cmd,
    worker_env,
)

#: every wait for a process in this module is bounded by this
BOUND_S = 30


def small_recording(db, fish: str, recording: str = "R1", seed: int = 3) -> dict:
    from pipeline.synthetic import make_recording

    rec = make_recording(n_rois=30, n_frames=300, seed=seed)
    return dict(db.insert_recording(**synthetic_kwargs(rec, fish=fish, recording=recording)), paramset="default")


def start(*args, new_session: bool = False, **env) -> subprocess.Popen:
    return subprocess.Popen(
        tectum_cmd(*args),
        cwd=ROOT,
        env=worker_env(**env),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=new_session,
    )


def wait_for_file(proc: subprocess.Popen, path: Path, timeout: float = BOUND_S) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited ({proc.returncode}) before {path.name}: {out[-2000:]} {err[-2000:]}")
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.05)


def wait_until(predicate, proc: subprocess.Popen | None = None, timeout: float = BOUND_S, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited ({proc.returncode}) before {what}: {out[-2000:]} {err[-2000:]}")
        assert time.monotonic() < deadline, f"not {what} after {timeout} s"
        time.sleep(0.1)


def finish(proc: subprocess.Popen, timeout: float = BOUND_S) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"still running {timeout} s after the signal: {out[-2000:]} {err[-2000:]}") from None


def paused(tmp_path: Path, table: str = "DeltaF") -> tuple[Path, dict]:
    flag = tmp_path / f"pause-{table}"
    flag.touch()
    return flag, {f"TECTUM_TEST_PAUSE_{table.upper()}": str(flag)}


def job_status(table, key) -> str | None:
    rows = (table.jobs & {k: key[k] for k in table.jobs.primary_key}).to_arrays("status")
    return rows[0] if len(rows) else None


def forget_results(db, key: dict) -> None:
    """Delete every computed row and job row of ``key``, quickly."""
    from test_workers import delete_computed

    delete_computed(db, key)
    for table_cls in db.analysis.COMPUTED_TABLES:
        (table_cls.jobs & key).delete()


def drop_fish(db, fish: str) -> None:
    from test_workers import drop_recordings

    drop_recordings(db, fish)


# --------------------------------------------------------------------------- tectum populate


@pytest.mark.parametrize(
    "mode,signum",
    [
        ("reserve-jobs", signal.SIGTERM),
        ("reserve-jobs", signal.SIGINT),
        ("direct", signal.SIGTERM),
        ("processes", signal.SIGTERM),
        ("processes-ctrl-c", signal.SIGINT),
    ],
)
def test_populate_stops_cleanly_mid_make(db, tmp_path, mode, signum):
    """A stop signal inside a make: rolled back, key re-queued (not 'error'), one line, exit 0 (130 on SIGINT)."""
    an = db.analysis
    fish = f"STOP{mode[0].upper()}{signum}"
    key = small_recording(db, fish)
    try:
        before = row_counts(db)
        flag, env = paused(tmp_path)
        extra = {
            "reserve-jobs": ["--reserve-jobs"],
            "direct": [],
            "processes": ["--processes", "2"],
            "processes-ctrl-c": ["--processes", "2"],
        }[mode]
        proc = start(
            "populate", f"fish={fish}", "--paramset", "default", *extra, **env, new_session=mode == "processes-ctrl-c"
        )
        wait_for_file(proc, Path(str(flag) + ".reached"))
        if mode != "direct":
            assert job_status(an.DeltaF, key) == "reserved"
        sent = time.monotonic()
        if mode == "processes-ctrl-c":
            os.killpg(proc.pid, signum)  # what a terminal's Ctrl-C does: the parent and its worker processes
        else:
            proc.send_signal(signum)
        out, err = finish(proc)
        took = time.monotonic() - sent
        assert proc.returncode == (130 if signum == signal.SIGINT else 0), out + err
        assert "Traceback" not in err, err
        stop_lines = [line for line in out.splitlines() if line.startswith("stopped on")]
        assert len(stop_lines) == 1, out
        assert stop_lines[0].startswith(f"stopped on {signal.Signals(signum).name}: 0 made"), out
        if mode != "direct":
            assert "1 key(s) in progress rolled back and re-queued" in stop_lines[0], out
            assert job_status(an.DeltaF, key) == "pending"  # not 'error', and not left reserved
            assert not an.DeltaF.jobs.errors
        after = row_counts(db)
        changed = {n for n in after if after[n] != before[n] and "~~" not in n and "jobs" not in n}
        assert changed == set(), changed  # nothing of the make was committed
        assert not an.DeltaF & key
        print(f"\n{mode} {signal.Signals(signum).name}: stopped in {took:.1f} s")

        rerun = run_tectum("populate", f"fish={fish}", "--paramset", "default", *extra)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert all(len(t & key) == 1 for t in an.COMPUTED_TABLES), rerun.stdout
    finally:
        drop_fish(db, fish)


def test_processes_runs_never_hang(db):
    """Repeated runs of two `populate --reserve-jobs --processes 2` workers all end, each key made once."""
    an = db.analysis
    fish = "POOL"
    keys = [small_recording(db, fish, f"R{i}", seed=i) for i in range(2)]
    runs = int(os.environ.get("TECTUM_TEST_POOL_RUNS", "4"))
    durations = []
    try:
        for run in range(runs):
            if run:
                forget_results(db, {"fish": fish})  # compute everything again
            started = time.monotonic()
            procs = [
                start("populate", f"fish={fish}", "--paramset", "default", "--reserve-jobs", "--processes", "2")
                for _ in range(2)
            ]
            outputs = [finish(proc, timeout=BOUND_S) for proc in procs]
            durations.append(time.monotonic() - started)
            for proc, (out, err) in zip(procs, outputs):
                assert proc.returncode == 0, out + err
                assert "Traceback" not in err and "killed" not in err, err
            made = [made_counts(out) for out, _ in outputs]
            for table_cls in an.COMPUTED_TABLES:
                name = table_cls.__name__
                assert len(table_cls & {"fish": fish}) == len(keys), (run, name)
                assert sum(m.get(name, 0) for m in made) == len(keys), (run, name, made)  # each key once
                assert not table_cls.jobs.reserved and not table_cls.jobs.errors
        print(f"\n{runs} runs of 2 x `populate --processes 2`: {', '.join(f'{d:.1f}' for d in durations)} s")
    finally:
        drop_fish(db, fish)


def test_signal_errors_of_older_releases_are_recovered(db):
    """'SystemExit: SIGTERM received' / KeyboardInterrupt job errors go back to the queue; real errors stay."""
    from tectum.workers import (
        find_stale_jobs,
        recover_stale_reservations,
        was_interrupted,
    )

    an = db.analysis
    fish = "OLDSIG"
    keys = [small_recording(db, fish, f"R{i}") for i in range(4)]
    jobs = an.DeltaF.jobs
    messages = [
        "SystemExit: SIGTERM received",
        "KeyboardInterrupt",
        "SystemExit: SIGINT received",
        "AnalysisError: recording OLDSIG/R3: KeyboardInterrupt in the notes",
    ]
    try:
        for key, message in zip(keys, messages):
            jobs.insert1(
                dict(
                    {k: key[k] for k in jobs.primary_key},
                    status="error",
                    priority=4,
                    error_message=message,
                    host="elsewhere.example",
                    pid=7,
                )
            )
        assert [was_interrupted(m) for m in messages] == [True, True, True, False]
        stale = find_stale_jobs(an.DeltaF)
        assert len(stale) == 3 and all("interrupted by a stop signal" in s.reason for s in stale)
        assert find_stale_jobs(an.DeltaF, lost_connections=False) == []  # reservations only (what status counts)
        lines = recover_stale_reservations(tables=[an.DeltaF])
        assert len(lines) == 3, lines
        assert [job_status(an.DeltaF, key) for key in keys] == ["pending", "pending", "pending", "error"]
    finally:
        drop_fish(db, fish)


# --------------------------------------------------------------------------- tectum worker


def heartbeat_of(db, pid: int) -> dict | None:
    rows = (db.operations.WorkerHeartbeat & {"host": platform.node(), "pid": pid}).to_dicts()
    return rows[0] if rows else None


def test_worker_computes_a_recording_ingested_after_it_started(clean_db):
    """The service polls: a recording ingested later is computed with no populate call; SIGTERM when idle."""
    from tectum.heartbeat import worker_lines
    from tectum.status import status_lines

    db = clean_db
    an = db.analysis
    proc = start("worker", "--paramset", "default", "--poll-s", "0.5")
    try:
        wait_until(lambda: heartbeat_of(db, proc.pid), proc, what="heartbeat row")
        key = small_recording(db, "LATE")
        ingested = time.monotonic()
        wait_until(lambda: an.ClassSummary & key, proc, what="ClassSummary of the late recording")
        took = time.monotonic() - ingested
        wait_until(
            lambda: (heartbeat_of(db, proc.pid) or {}).get("jobs_done") == len(an.COMPUTED_TABLES),
            proc,
            what="counted jobs",
        )
        line = [line for line in worker_lines() if f":{proc.pid} " in line]
        assert len(line) == 1 and re.search(r"  running  since .*  last seen \d+ s ago  done 7 failed 0$", line[0]), (
            line
        )
        assert line[0] in status_lines()  # tectum status shows the running worker
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err, err
    assert re.search(r"^worker stopped on SIGTERM: 7 made, 0 failed; no make was in progress$", out, re.M), out
    row = heartbeat_of(db, proc.pid)
    assert (row["state"], row["jobs_done"], row["jobs_failed"], row["poll_s"]) == ("stopped", 7, 0, 0.5)
    assert any(f":{proc.pid}  stopped  " in line for line in worker_lines())
    shown = status_lines()
    assert not any(f":{proc.pid} " in line for line in shown) and any(line.startswith("workers: ") for line in shown)
    assert any(f":{proc.pid}  stopped  " in line for line in status_lines(keys=True))
    print(f"\nworker: a late recording computed {took:.1f} s after its ingest")


def test_worker_sigterm_mid_make_requeues_and_a_rerun_completes(clean_db, tmp_path):
    db = clean_db
    an = db.analysis
    key = small_recording(db, "WSIG")
    flag, env = paused(tmp_path, "Fit")
    proc = start("worker", "fish=WSIG", "--paramset", "default", "--poll-s", "0.5", **env)
    try:
        wait_for_file(proc, Path(str(flag) + ".reached"))
        assert job_status(an.Fit, key) == "reserved"
        # inside a make the heartbeat goes on (a thread, its own connection)
        first = heartbeat_of(db, proc.pid)["last_seen"]
        wait_until(
            lambda: heartbeat_of(db, proc.pid)["last_seen"] > first, proc, timeout=5, what="a heartbeat mid-make"
        )
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err, err
    assert re.search(
        r"^worker stopped on SIGTERM: 2 made, 0 failed; 1 key\(s\) in progress rolled back and "
        r"re-queued$",
        out,
        re.M,
    ), out
    assert job_status(an.Fit, key) == "pending" and not an.Fit & key and not an.Fit.jobs.errors
    assert an.Regressors & key  # made before the signal
    assert heartbeat_of(db, proc.pid)["state"] == "stopped"

    rerun = run_tectum("worker", "--once", "--paramset", "default")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert all(len(t & key) == 1 for t in an.COMPUTED_TABLES), rerun.stdout
    assert "worker stopped: 5 made, 0 failed" in rerun.stdout, rerun.stdout


def test_worker_lines_stale_and_stopped(db):
    """A running row whose heartbeat is older than 3 poll intervals, or whose pid is gone here, is stale."""
    from tectum.heartbeat import worker_lines

    table = db.operations.WorkerHeartbeat
    now = table.connection.query("SELECT LOCALTIMESTAMP(3)").fetchone()[0]
    gone = subprocess.Popen(["true"])
    gone.wait()
    rows = [
        dict(host="elsewhere.example", pid=11, last_seen=now - dt.timedelta(seconds=5), state="running"),
        dict(host="elsewhere.example", pid=12, last_seen=now - dt.timedelta(seconds=100), state="running"),
        dict(host=platform.node(), pid=gone.pid, last_seen=now, state="running"),
        dict(host="elsewhere.example", pid=13, last_seen=now - dt.timedelta(seconds=100), state="stopped"),
    ]
    try:
        for row in rows:
            table.insert1(dict(row, started=now - dt.timedelta(hours=1), poll_s=10, jobs_done=3, jobs_failed=1))
        lines = {line.split()[1]: line for line in worker_lines(now=now)}
        assert re.fullmatch(
            r"worker elsewhere\.example:11  running  since \S+ \S+  last seen 5 s ago  done 3 failed 1",
            lines["elsewhere.example:11"],
        ), lines
        assert "  stale  " in lines["elsewhere.example:12"]
        assert "  stale  " in lines[f"{platform.node()}:{gone.pid}"]
        assert "  stopped  " in lines["elsewhere.example:13"]
    finally:
        (table & [{"host": r["host"], "pid": r["pid"]} for r in rows]).delete_quick()


def test_forget_workers_deletes_only_old_stopped_and_stale_rows(db):
    """tectum db forget-workers: rows of workers gone for more than --days days; never a running worker's."""
    from conftest import cli_env

    table = db.operations.WorkerHeartbeat
    now = table.connection.query("SELECT LOCALTIMESTAMP(3)").fetchone()[0]
    old, recent = now - dt.timedelta(days=10), now - dt.timedelta(days=2)
    rows = {
        21: dict(last_seen=old, state="stopped"),  # forgotten
        22: dict(last_seen=old, state="running"),  # stale for 10 days: forgotten
        23: dict(last_seen=recent, state="stopped"),  # kept: within 7 days
        24: dict(last_seen=now, state="running"),  # kept: alive
    }
    keys = [{"host": "elsewhere.example", "pid": pid} for pid in rows]
    try:
        for pid, row in rows.items():
            table.insert1(
                dict(row, host="elsewhere.example", pid=pid, started=old, poll_s=10, jobs_done=1, jobs_failed=0)
            )

        def cli(*args):
            return subprocess.run(
                [sys.executable, "-m", "tectum.cli", "db", "forget-workers", *args],
                env=cli_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )

        dry = cli("--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would forget worker elsewhere.example:21  stopped" in dry.stdout
        assert "would forget worker elsewhere.example:22  stale" in dry.stdout
        assert len(table & keys) == 4  # nothing deleted
        done = cli()
        assert done.returncode == 0, done.stderr
        assert "2 worker row(s) forgotten" in done.stdout
        assert sorted((table & keys).to_arrays("pid")) == [23, 24]
        assert "1 worker row(s) forgotten" in cli("--days", "1").stdout  # now the recent stopped one too
        assert sorted((table & keys).to_arrays("pid")) == [24]
        bad = cli("--days", "-1")
        assert bad.returncode != 0 and "--days must be 0 or more" in bad.stderr
    finally:
        (table & keys).delete_quick()


def test_worker_max_idle_and_strict(db):
    """--max-idle-s ends an idle worker (exit 0); --strict refuses a restriction that matches nothing."""
    started = time.monotonic()
    idle = run_tectum("worker", "fish=NOBODY", "--poll-s", "0.3", "--max-idle-s", "1")
    assert idle.returncode == 0, idle.stdout + idle.stderr
    assert "worker: nothing to do for 1 s; exiting" in idle.stdout and "worker stopped: 0 made, 0 failed" in idle.stdout
    assert time.monotonic() - started < BOUND_S
    assert heartbeat_of(db, idle.pid)["state"] == "stopped"
    strict = run_tectum("worker", "fish=NOBODY", "--strict")
    assert strict.returncode == 1 and "tectum worker: error: 0 analysis tasks" in strict.stderr, strict.stderr
    bad = run_tectum("worker", "--poll-s", "0")
    assert bad.returncode == 1 and "--poll-s must be positive" in bad.stderr, bad.stderr


# --------------------------------------------------------------------------- replace during a make


@pytest.mark.parametrize("reserve_jobs", [False, True], ids=["direct", "reserve-jobs"])
def test_replace_during_a_paused_make_leaves_no_result_of_the_old_traces(db, tmp_path, reserve_jobs):
    """A worker paused inside DeltaF.make() after reading the traces; meanwhile the recording is
    replaced with other traces of the same shape. Nothing computed from the old traces is saved:
    the make aborts, the key is computed again, and every stored row is the new traces' result."""
    from pipeline.params import DEFAULT_PARAMSET
    from pipeline.stages import dff_stage
    from pipeline.synthetic import make_recording

    an = db.analysis
    fish = f"REPL{int(reserve_jobs)}"
    key = small_recording(db, fish)
    new = make_recording(n_rois=30, n_frames=300, seed=99)  # same shape, other values
    extra = ["--reserve-jobs"] if reserve_jobs else []
    proc = None
    try:
        flag, env = paused(tmp_path)
        proc = start("populate", f"fish={fish}", "--paramset", "default", *extra, **env)
        wait_for_file(proc, Path(str(flag) + ".reached"))  # the old traces are read, the result computed
        replaced = db.insert_recording(**synthetic_kwargs(new, fish=fish, recording="R1"), replace=True)
        assert dict(replaced, paramset="default") == key
        flag.unlink()  # let the worker go on to its insert
        out, err = finish(proc)
        assert "Traceback" not in err, err
        assert "was replaced while DeltaF was being computed" in out, out
        assert not an.DeltaF & key or (an.DeltaF.Provenance & key).fetch1("recording_version") == (
            db.acquisition.Recording & key
        ).fetch1("version")
        # the next run computes the key from the new traces (a failed job of this kind is re-queued)
        rerun = run_tectum("populate", f"fish={fish}", "--paramset", "default", *extra)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        version = (db.acquisition.Recording & key).fetch1("version")
        for table in an.COMPUTED_TABLES:
            assert (table.Provenance & key).fetch1("recording_version") == version, table.__name__
        method, params = DEFAULT_PARAMSET["dff"]
        expected = dff_stage(new.traces, method, params, frame_period_s=new.frame_period_s).dff
        np.testing.assert_allclose(an.DeltaF.load(key), expected, rtol=1e-6, atol=1e-6)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        drop_fish(db, fish)
