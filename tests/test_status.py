"""``tectum status``: every analysis task counted once per table, keys, retries, stale rows, store checks.

One fish ``ST`` with five small synthetic recordings; under the parameter set
``default`` its DeltaF keys are made (R0), failed (R1), reserved by a live
worker (R2), left by a dead worker (R3) and not started (R4); Regressors is
made for R0 and waits for DeltaF elsewhere; Fit is not started for R0 (one
queued job) and waits elsewhere. Job rows are written directly (as a worker
would), results by ``populate`` of single keys in this process.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys

import pytest
from dbutil import synthetic_kwargs

FISH = "ST"
WHERE = f"fish={FISH},paramset=default"


def key_of(recording: str) -> dict:
    return {"fish": FISH, "recording": recording, "paramset": "default"}


def run(capsys, *argv) -> tuple[int, str, str]:
    """``tectum -q ARGV`` in this process; (exit code, stdout, stderr)."""
    from tectum.cli import main

    code = main(["-q", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def counts(lines, table: str) -> dict:
    """The state counts of ``table``'s status line, e.g. {'made': 1, 'failed': 1, ..., 'total': 5}."""
    from tectum.status import STATES

    (line,) = [line for line in lines if re.match(rf"{table}\s+\d+/\d+ made", line)]
    made, total = map(int, re.search(r"(\d+)/(\d+) made", line).groups())
    found = {"made": made, "total": total}
    for state in STATES[1:]:
        m = re.search(rf"(\d+) {re.escape(state)}\b", line)
        found[state] = int(m.group(1)) if m else 0
    return found


@pytest.fixture(scope="module")
def lab(db):
    """The fish, its keys in every state, and a live and a dead worker process."""
    from pipeline.synthetic import make_recording

    an = db.analysis
    rec = make_recording(n_rois=30, n_frames=300, seed=11)
    for i in range(5):
        db.insert_recording(**synthetic_kwargs(rec, fish=FISH, recording=f"R{i}"))
    an.DeltaF.populate(key_of("R0"))
    an.Regressors.populate(key_of("R0"))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    here = platform.node()
    jobs = an.DeltaF.jobs
    now = jobs.connection.query("SELECT CURRENT_TIMESTAMP(3)").fetchone()[0]
    for row in (
        dict(key_of("R1"), status="error", error_message="AnalysisError: recording ST/R1: every\nbaseline <= 0"),
        dict(key_of("R2"), status="reserved", host=here, pid=sleeper.pid, reserved_time=now),
        dict(key_of("R3"), status="reserved", host=here, pid=finished.pid, reserved_time=now),
    ):
        jobs.insert1(dict(row, priority=5))
    an.Fit.jobs.insert1(dict(key_of("R0"), status="pending", priority=5))
    yield db
    sleeper.kill()
    sleeper.wait()
    for table in (an.DeltaF, an.Fit):
        (table.jobs & {"fish": FISH}).delete()
    (db.acquisition.Fish & {"fish": FISH}).delete(prompt=False)


def test_each_key_is_counted_once_in_its_state(lab):
    from tectum.status import status_lines

    lines = status_lines(WHERE)
    assert lines[0].startswith("schemas: ") and lines[1].startswith("ingested: ")
    assert "analysis tasks (recording x parameter set) matching 'fish=ST,paramset=default': 5" in lines
    expected = {
        "DeltaF": {"made": 1, "failed": 1, "running": 1, "left by a dead worker": 1, "not started": 1},
        "Regressors": {"made": 1, "waiting for upstream": 4},
        "Fit": {"not started": 1, "waiting for upstream": 4},
        "ClassSummary": {"waiting for upstream": 5},
    }
    for table, states in expected.items():
        found = counts(lines, table)
        assert {s: n for s, n in found.items() if n and s != "total"} == states, (table, found)
        assert found["total"] == 5
    assert re.search(r"^Fit\s+0/5 made, 4 waiting for upstream, 1 not started \(1 queued\)$", "\n".join(lines), re.M), (
        lines
    )
    # unrestricted: other fish and parameter sets too, still each key once
    everything = status_lines()
    for table in lab.analysis.COMPUTED_TABLES:
        found = counts(everything, table.__name__)
        assert sum(n for s, n in found.items() if s != "total") == found["total"] == len(lab.analysis.AnalysisTask())


def test_keys_lists_what_is_not_made(lab, capsys):
    code, out, err = run(capsys, "status", WHERE, "--keys")
    assert code == 0, err
    key = "fish=ST, recording={}, paramset=default"
    assert f"  DeltaF [{key.format('R1')}] failed: AnalysisError: recording ST/R1: every baseline <= 0\n" in out
    assert re.search(rf"^  DeltaF \[{key.format('R2')}\] running: pid \d+ on ", out, re.M), out
    assert re.search(rf"^  DeltaF \[{key.format('R3')}\] left by a dead worker: pid \d+ .*re-queues it", out, re.M)
    assert f"  DeltaF [{key.format('R4')}] not started\n" in out
    assert f"  Regressors [{key.format('R3')}] waiting for upstream: no DeltaF row\n" in out
    assert f"  Fit [{key.format('R0')}] not started: queued\n" in out
    assert f"[{key.format('R0')}] made" not in out
    # without --keys: no key lines, a hint instead
    code, out, _ = run(capsys, "status", WHERE)
    assert "  DeltaF [" not in out and "tectum status --keys" in out


def test_restriction_is_strict(lab, capsys):
    code, out, err = run(capsys, "status", "fsh=ST")
    assert code == 1 and "fsh" in err and "fish" in err, err
    code, out, err = run(capsys, "status", "genotype = 'no such genotype'")
    assert code == 0 and "status: 0 analysis tasks (recording x parameter set) match" in out, out
    code, out, err = run(capsys, "status", "fish=NOPE", "--strict")
    assert code == 1 and "0 analysis tasks" in err


def test_missing_job_table_is_not_created(lab):
    """Status reads job tables only where they exist: it never declares one."""
    from tectum.status import existing_jobs, status_lines

    summary = lab.analysis.ClassSummary()
    jobs = existing_jobs(summary)
    if jobs is not None:
        # not jobs.drop_quick(): on PostgreSQL DataJoint 2.3 then drops the job-status enum type with CASCADE,
        # which takes the status column out of every other job table of the schema
        jobs.connection.query(f"DROP TABLE {jobs.full_table_name}")
    lines = status_lines(WHERE)
    assert existing_jobs(summary) is None
    assert any(line.startswith("job tables not declared yet for ") and "ClassSummary" in line for line in lines)
    assert counts(lines, "ClassSummary")["waiting for upstream"] == 5


def test_stale_rows(lab, capsys):
    an = lab.analysis
    code, out, _ = run(capsys, "status", WHERE, "--stale")
    assert re.search(r"^stale DeltaF\s+0 row\(s\)$", out, re.M), out
    an.DeltaF.Provenance.update1(dict(key_of("R0"), pipeline_version="0.0.1"))
    try:
        code, out, _ = run(capsys, "status", WHERE, "--stale", "--keys")
        assert code == 0
        assert re.search(r"^stale DeltaF\s+1 row\(s\) \(1 another tectum version\)$", out, re.M), out
        assert re.search(r"^stale Regressors\s+0 row\(s\)$", out, re.M), out
        from tectum import __version__

        assert (
            f"  DeltaF [fish=ST, recording=R0, paramset=default] stale: computed by tectum 0.0.1 "
            f"(this is {__version__})"
        ) in out
        assert "tectum populate --recompute-stale [RESTRICTION] deletes them" in out
    finally:
        an.DeltaF.Provenance.update1(dict(key_of("R0"), pipeline_version=an.pipeline_version()))


def test_store_orphans_and_missing_files(lab, capsys, store_dir, tmp_path):
    import json
    import shutil

    an = lab.analysis
    table = an.DeltaF
    q = table.connection.adapter.quote_identifier
    ((raw,),) = table.connection.query(
        f"SELECT {q('dff')} FROM {table.full_table_name} WHERE {q('fish')} = %s AND {q('recording')} = %s "
        f"AND {q('paramset')} = %s",
        args=("ST", "R0", "default"),
    ).fetchall()
    path = store_dir / (raw if isinstance(raw, dict) else json.loads(raw))["path"]
    stray = path.parent / "stray_file.npy"

    def store_line(out):
        (line,) = [line for line in out.splitlines() if line.startswith("store: ") and "file(s)" in line]
        files, orphans = map(int, re.search(r"store: (\d+) file\(s\) .*, (\d+) not referenced", line).groups())
        return files, orphans

    _, out, _ = run(capsys, "status", WHERE)
    files, orphans = store_line(out)
    stray.write_bytes(b"x" * 1000)
    moved = tmp_path / path.name  # out of the store: the row's file is missing
    shutil.move(path, moved)
    try:
        _, out, _ = run(capsys, "status", WHERE, "--keys")
        assert store_line(out) == (files, orphans + 1), out
        assert "tectum db gc removes them" in out
        assert "store: 1 row(s) refer to a missing file (DeltaF)" in out, out
        assert "  DeltaF [fish=ST, recording=R0, paramset=default] dff: file missing (" in out
        _, out, _ = run(capsys, "status", WHERE, "--no-store")
        assert not any(line.startswith("store:") for line in out.splitlines())
        # tectum db gc --dry-run counts, tectum db gc deletes (only what no row refers to)
        code, out, _ = run(capsys, "db", "gc", "--dry-run")
        assert code == 0 and stray.exists() and "nothing deleted (dry run); tectum db gc removes them" in out
        code, out, _ = run(capsys, "db", "gc")
        assert code == 0 and not stray.exists() and "store: deleted" in out, out
    finally:
        path.parent.mkdir(parents=True, exist_ok=True)  # gc prunes a folder it emptied
        shutil.move(moved, path)
        stray.unlink(missing_ok=True)
    _, out, _ = run(capsys, "status", WHERE)
    assert "missing file" not in out and store_line(out)[1] == 0


def test_retry_failed(lab, capsys):
    """Last: it clears the failed job the other tests count."""
    code, out, err = run(capsys, "status", WHERE, "--retry-failed")
    assert code == 0, err
    assert out.startswith(
        "retry-failed: deleted 1 failed job(s) matching 'fish=ST,paramset=default' (1 DeltaF); "
        "the next tectum populate --reserve-jobs computes them again\n"
    ), out
    assert re.search(r"^DeltaF\s+1/5 made, 1 running, 1 left by a dead worker, 2 not started$", out, re.M), out
    assert not lab.analysis.DeltaF.jobs.errors & {"fish": FISH}
    code, out, _ = run(capsys, "status", WHERE, "--retry-failed")
    assert out.startswith("retry-failed: deleted 0 failed job(s)")
