"""Performance benchmarks of the tectum pipeline (not part of the test suite).

    python benchmarks/run.py                 # all five figures
    python benchmarks/run.py --only populate,ingest
    make bench

Each figure prints what was measured, the value, its target and whether the
target is met. Everything runs against the database configured the usual way
(DJ_HOST, DJ_USER, DJ_PASS, DJ_BACKEND, ...), in schemas of a private prefix
(``bench_<pid>_``) that are dropped at the end, with a temporary file store.

Figures
-------
1. populate ratio: populate() of all computed tables (default parameter set)
   for a 10,000-ROI x 3,000-frame synthetic recording, divided by the same
   analysis in memory (pipeline.analyse_recording). Target <= 1.5.
   Three runs, each in-memory analysis followed by the populate of a fresh
   copy of the recording; the figure is the median ratio. History on the
   2-core machine, MariaDB, populate s / in-memory s:
   - DataJoint's row-by-row inserts: 11.5 / 2.9 s (3.9x);
   - column inserts (schemas/bulk.py) and reuse of the all-ROI distances:
     5.3 s; then foreign-key lookups skipped for a make()'s own part rows and
     rendering in a thread: median 7.9 -> 7.0 s under load, 5.56 / 3.43 s =
     1.62x idle;
   - clustering computed while Fit inserts its rows (schemas/ahead.py),
     2026-11-26 idle, 4 alternated pairs: populate median 5.45 s without,
     4.82 s with (ratio 1.57 -> 1.34); `make bench`: 4.96 / 3.73 s = 1.37x
     (runs 1.33, 1.37, 1.38). PostgreSQL: 6.52 / 4.21 s = 1.52x (1.47-1.65),
     from about 2x; its inserts check every foreign key per row;
   - part rows as COPY on PostgreSQL, 4 alternated pairs: populate median
     8.40 s with INSERT, 6.55 s with COPY (ratio 1.87 -> 1.41, 1.26-1.55).
2. ingest throughput: float32 MB/s of a .npy traces file through
   `tectum ingest` (manifest -> readers -> checks -> database). Target >= 100.
3. whole-brain scale: 100,000 ROIs x 2,000 frames ingested and populated in
   a child process; its peak resident memory. Target <= 8 GB.
4. scale-out: 8 recordings populated by one `tectum populate --reserve-jobs`
   worker vs two started at once. Target >= 1.6x throughput.
5. cross-experiment query: the per-genotype fraction of selected ROIs per
   class over 100 recordings x 10,000 ROIs (1,000,000 ROI rows), one SQL
   query. Target < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

FIGURES = ("populate", "ingest", "wholebrain", "scaleout", "query")
# BLAS threads per worker: the scale-out figure compares processes, so each
# process gets one core's worth of threads in both the 1- and 2-worker runs
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _setup_env(workdir: Path) -> None:
    os.environ.setdefault("TECTUM_SCHEMA_PREFIX", f"bench_{os.getpid()}_")
    os.environ.setdefault("TECTUM_STORE_DIR", str(workdir / "store"))
    os.environ.setdefault("DJ_HOST", "127.0.0.1")
    os.environ.setdefault("DJ_USER", "root")
    os.environ.setdefault("DJ_PASS", "")
    os.environ.setdefault("DJ_LOG_LEVEL", "WARNING")


def _print_figure(name, measured, value, unit, target, ok, detail=""):
    verdict = "MET" if ok else "NOT MET"
    print(f"\n== {name}: {value:.3g} {unit} (target {target}) -> {verdict}")
    print(f"   {measured}")
    if detail:
        print(f"   {detail}")


def _in_memory(rec):
    """The default parameter set's analysis, in memory, on the same arrays."""
    import pipeline

    t0 = time.perf_counter()
    result = pipeline.analyse_recording(
        rec.traces, rec.events, rec.frame_period_s, sensor=rec.sensor, stimulus_groups=rec.groups
    )
    return time.perf_counter() - t0, result


def _insert(rec, fish: str, recording: str, **extra) -> dict:
    """Insert a synthetic recording in the tectum region; returns its key."""
    import schemas

    return schemas.insert_recording(
        fish=fish,
        recording=recording,
        region="tectum",
        sensor=rec.sensor,
        frame_period_s=rec.frame_period_s,
        traces=rec.traces,
        events=rec.events,
        **extra,
    )


def _write_npy_manifest(folder: Path, recs: list[tuple[str, str, object]], genotype="wild type") -> Path:
    """Write traces .npy + events CSV per recording and a manifest; return its path."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for fish, recording, rec in recs:
        np.save(folder / f"{fish}_{recording}.npy", rec.traces)
        rec.events[["stimulus", "onset_s", "duration_s"]].to_csv(folder / f"{fish}_{recording}_events.csv", index=False)
        lines += [
            "[[recording]]",
            f'fish = "{fish}"',
            f'recording = "{recording}"',
            f'genotype = "{genotype}"',
            'region = "tectum"',
            f'sensor = "{rec.sensor}"',
            f"frame_period_s = {rec.frame_period_s}",
            f'traces = "{fish}_{recording}.npy"',
            f'events = "{fish}_{recording}_events.csv"',
            "",
        ]
    manifest = folder / "manifest.toml"
    manifest.write_text("\n".join(lines))
    return manifest


# ---------------------------------------------------------------- figure 1
def bench_populate(workdir: Path, n_rois=10_000, n_frames=3_000, repeats=3):
    import statistics

    import numpy as np

    import schemas
    from pipeline.synthetic import make_recording
    from schemas.bulk import fetch_columns

    rec = make_recording(n_rois=n_rois, n_frames=n_frames, seed=0)
    runs = []  # (populate s, in-memory s), alternated so both see the same machine
    for i in range(repeats):
        t_mem, result = _in_memory(rec)
        key = _insert(rec, "bench-pop", f"R{i + 1}", genotype="wild type", stimulus_groups=rec.groups)
        restriction = dict(key, paramset="default")
        t0 = time.perf_counter()
        reports = schemas.populate_all(restriction)
        t_db = time.perf_counter() - t0
        assert not any(r.errors for r in reports), [r.errors for r in reports]
        runs.append((t_db, t_mem))
        print(f"   run {i + 1}: populate {t_db:.2f} s, in memory {t_mem:.2f} s, ratio {t_db / t_mem:.2f}")
    r2_db, sel_db = fetch_columns(schemas.analysis.Fit.Roi & restriction, "r2", "selected", order_by="roi")
    r2_diff = float(np.nanmax(np.abs(r2_db - result.fit.r2)))
    same_selection = bool(np.array_equal(sel_db.astype(bool), result.fit.selected))
    t_db = statistics.median(r[0] for r in runs)
    t_mem = statistics.median(r[1] for r in runs)
    ratio = statistics.median(r[0] / r[1] for r in runs)
    _print_figure(
        "1. populate ratio",
        f"populate() of all computed tables, default paramset, {n_rois:,} ROIs x {n_frames:,} frames: "
        f"{t_db:.2f} s; the same analysis in memory: {t_mem:.2f} s (medians of {repeats} alternated runs; "
        f"ratios {', '.join(f'{a / b:.2f}' for a, b in runs)})",
        ratio,
        "x",
        "<= 1.5",
        ratio <= 1.5,
        f"results: max |r2 db - r2 memory| = {r2_diff:.2g} (dF/F stored as float32); same selection: {same_selection}",
    )
    return {"populate_s": t_db, "memory_s": t_mem, "ratio": ratio, "ratios": [a / b for a, b in runs]}


# ---------------------------------------------------------------- figure 2
def bench_ingest(workdir: Path, n_rois=10_000, n_frames=3_000):
    from pipeline.synthetic import make_recording
    from tectum.cli import main

    rec = make_recording(n_rois=n_rois, n_frames=n_frames, seed=1)
    manifest = _write_npy_manifest(workdir / "ingest", [("bench-ingest", "R1", rec)])
    mb = rec.traces.astype("float32").nbytes / 1e6
    t0 = time.perf_counter()
    code = main(["-q", "ingest", str(manifest)])
    t_in = time.perf_counter() - t0
    assert code == 0
    # the same through a fresh process, interpreter start-up and imports included
    manifest2 = _write_npy_manifest(workdir / "ingest2", [("bench-ingest", "R2", rec)])
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tectum.cli", "-q", "ingest", str(manifest2)],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    t_proc = time.perf_counter() - t0
    rate = mb / t_in
    _print_figure(
        "2. ingest throughput",
        f"`tectum ingest` of a {mb:.0f} MB float32 .npy ({n_rois:,} x {n_frames:,}) + events: {t_in:.2f} s in process",
        rate,
        "MB/s",
        ">= 100",
        rate >= 100,
        f"as a new `tectum ingest` process (Python start-up and imports included): {t_proc:.2f} s = {mb / t_proc:.0f} MB/s",
    )
    return {"ingest_s": t_in, "mb": mb, "mb_per_s": rate, "process_s": t_proc}


# ---------------------------------------------------------------- figure 3
def wholebrain_child(workdir: Path, n_rois=100_000, n_frames=2_000):
    """Runs in its own process so its peak memory is its own."""
    import schemas
    from pipeline.synthetic import make_recording
    from tectum.cli import main

    out = {}
    t0 = time.perf_counter()
    rec = make_recording(n_rois=n_rois, n_frames=n_frames, seed=2)
    manifest = _write_npy_manifest(workdir / "wholebrain", [("bench-brain", "R1", rec)])
    out["generate_s"] = time.perf_counter() - t0
    out["mb"] = rec.traces.nbytes / 1e6
    del rec
    t0 = time.perf_counter()
    assert main(["-q", "ingest", str(manifest)]) == 0
    out["ingest_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    reports = schemas.populate_all({"fish": "bench-brain", "paramset": "default"})
    out["populate_s"] = time.perf_counter() - t0
    out["errors"] = [str(e) for r in reports for e in r.errors]
    tree = (schemas.analysis.Clustering.Tree & {"fish": "bench-brain", "paramset": "default"}).to_dicts()
    out["clustered"] = {t["roi_set"]: [int(t["n_clustered"]), bool(t["capped"])] for t in tree}
    out["n_selected"] = int(
        (schemas.analysis.Fit & {"fish": "bench-brain", "paramset": "default"}).fetch1("n_selected")
    )
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
    print("WHOLEBRAIN " + json.dumps(out))


def bench_wholebrain(workdir: Path):
    proc = subprocess.run(
        [sys.executable, __file__, "--child", "wholebrain", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WHOLEBRAIN ")), None)
    if proc.returncode or line is None:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise RuntimeError("whole-brain child failed")
    out = json.loads(line[len("WHOLEBRAIN ") :])
    ok = out["peak_rss_gb"] <= 8 and not out["errors"]
    _print_figure(
        "3. whole-brain scale",
        f"100,000 ROIs x 2,000 frames ({out['mb']:.0f} MB): generate {out['generate_s']:.1f} s, "
        f"ingest {out['ingest_s']:.1f} s, populate {out['populate_s']:.1f} s; peak resident memory of the process",
        out["peak_rss_gb"],
        "GB",
        "<= 8",
        ok,
        f"selected {out['n_selected']:,} ROIs; clustered (n, capped): {out['clustered']}; errors: {out['errors'] or 'none'}",
    )
    return out


# ---------------------------------------------------------------- figure 4
def _server_cpu_s() -> float | None:
    """CPU seconds used so far by a local MySQL/MariaDB server, if there is one.

    (PostgreSQL serves each connection from a process that exits with it, so
    its CPU cannot be read this way.)
    """
    if os.environ.get("DJ_BACKEND", "mysql") != "mysql":
        return None
    for name in ("mariadbd", "mysqld"):
        pids = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
        if pids:
            total = 0
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
                except (OSError, IndexError, ValueError):
                    pass
            return total / os.sysconf("SC_CLK_TCK")
    return None


def _workers(n, restriction):
    """Run n populate workers at once; return (wall s, workers' CPU s, server CPU s)."""
    env = dict(os.environ, **SINGLE_THREAD)
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server0 = _server_cpu_s()
    cmd = [sys.executable, "-m", "tectum.cli", "-q", "populate", restriction, "--paramset", "default", "--reserve-jobs"]
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(n)
    ]
    outputs = [p.communicate()[0] for p in procs]
    elapsed = time.perf_counter() - t0
    if any(p.returncode for p in procs):
        raise RuntimeError("a worker failed:\n" + "\n".join(outputs))
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server1 = _server_cpu_s()
    workers_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    server_cpu = server1 - server0 if server0 is not None and server1 is not None else float("nan")
    return elapsed, workers_cpu, server_cpu


def bench_scaleout(workdir: Path, n_recordings=8, n_rois=4_000, n_frames=1_500):
    import schemas
    from pipeline.synthetic import make_recording

    for i in range(n_recordings):
        rec = make_recording(n_rois=n_rois, n_frames=n_frames, seed=100 + i)
        _insert(rec, "bench-scale", f"R{i}")
    restriction = "fish=bench-scale"
    t1, cpu1, srv1 = _workers(1, restriction)
    # forget the results and the finished jobs, then again with two workers
    for table in (schemas.analysis.DeltaF, schemas.analysis.Regressors):
        (table & {"fish": "bench-scale"}).delete(prompt=False)
    for table in schemas.analysis.COMPUTED_TABLES:
        (table().jobs & {"fish": "bench-scale"}).delete_quick()
    t2, cpu2, srv2 = _workers(2, restriction)
    n_fit = len(schemas.analysis.ClassSummary & {"fish": "bench-scale", "paramset": "default"})
    speedup = t1 / t2
    _print_figure(
        "4. scale-out",
        f"{n_recordings} recordings ({n_rois:,} ROIs x {n_frames:,} frames), all tables: one "
        f"`tectum populate --reserve-jobs` worker {t1:.1f} s; two workers started at once {t2:.1f} s",
        speedup,
        "x throughput",
        ">= 1.6",
        speedup >= 1.6 and n_fit == n_recordings,
        f"each worker limited to one BLAS thread in both runs; {n_fit}/{n_recordings} recordings complete; "
        f"CPU time, workers + database server: one worker {cpu1:.1f} + {srv1:.1f} s, two workers {cpu2:.1f} + "
        f"{srv2:.1f} s, on {os.cpu_count()} cores (the server shares them; nan: not measurable on this backend)",
    )
    return {
        "one_worker_s": t1,
        "two_workers_s": t2,
        "speedup": speedup,
        "cpu_one": [cpu1, srv1],
        "cpu_two": [cpu2, srv2],
    }


# ---------------------------------------------------------------- figure 5
QUERY_TABLES = ("DeltaF", "Regressors", "Fit", "Classification", "ClassSummary")


def cross_experiment_sql(per_roi: bool = False):
    """The per-genotype fraction of selected ROIs in each class, as one SQL query.

    By default from the per-recording class summary (what it is for); with
    ``per_roi`` straight from the per-ROI rows of Fit.Roi and Classification.Roi.
    """
    from schemas import acquisition, analysis

    q = analysis.Fit.connection.adapter.quote_identifier
    fish = acquisition.Fish.full_table_name
    if not per_roi:
        return f"""
SELECT f.{q("genotype")}, c.{q("roi_class")}, SUM(c.{q("n_in_class")}) AS n_rois,
       1.0 * SUM(c.{q("n_in_class")}) / SUM(s.{q("n_selected")}) AS fraction_of_selected,
       1.0 * SUM(c.{q("n_in_class")}) / SUM(s.{q("n_rois")}) AS fraction_of_all
FROM {analysis.ClassSummary.Count.full_table_name} AS c
JOIN {analysis.Fit.full_table_name} AS s
  ON s.{q("fish")} = c.{q("fish")} AND s.{q("recording")} = c.{q("recording")} AND s.{q("paramset")} = c.{q("paramset")}
JOIN {fish} AS f ON f.{q("fish")} = c.{q("fish")}
WHERE c.{q("paramset")} = 'default'
GROUP BY f.{q("genotype")}, c.{q("roi_class")}
ORDER BY f.{q("genotype")}, c.{q("roi_class")}"""
    fit_roi, cls_roi = analysis.Fit.Roi.full_table_name, analysis.Classification.Roi.full_table_name
    return f"""
SELECT f.{q("genotype")}, c.{q("roi_class")}, COUNT(*) AS n_rois,
       1.0 * COUNT(*) / MAX(g.n_selected) AS fraction_of_selected,
       1.0 * COUNT(*) / MAX(g.n_all) AS fraction_of_all
FROM {cls_roi} AS c
JOIN {fish} AS f ON f.{q("fish")} = c.{q("fish")}
JOIN (SELECT f2.{q("genotype")} AS genotype, COUNT(*) AS n_all,
             SUM(CASE WHEN r.{q("selected")} THEN 1 ELSE 0 END) AS n_selected
      FROM {fit_roi} AS r JOIN {fish} AS f2 ON f2.{q("fish")} = r.{q("fish")}
      WHERE r.{q("paramset")} = 'default'
      GROUP BY f2.{q("genotype")}) AS g ON g.genotype = f.{q("genotype")}
WHERE c.{q("paramset")} = 'default'
GROUP BY f.{q("genotype")}, c.{q("roi_class")}
ORDER BY f.{q("genotype")}, c.{q("roi_class")}"""


def _time_query(conn, sql, repeats=5):
    conn.query(sql).fetchall()  # warm the server's caches once, as a lab's server would be
    times, rows = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = conn.query(sql).fetchall()
        times.append(time.perf_counter() - t0)
    return times, rows


def bench_query(workdir: Path, n_recordings=100, n_rois=10_000, n_frames=500):
    import schemas
    from pipeline.synthetic import make_recording

    genotypes = ["wild type", "gad1b:Gal4; UAS:NTR-mCherry", "isl2b:Gal4; UAS:GCaMP6s", "mutant"]
    t0 = time.perf_counter()
    for i in range(n_recordings):
        rec = make_recording(n_rois=n_rois, n_frames=n_frames, seed=1000 + i)
        _insert(
            rec,
            f"bench-q{i // 2}",
            f"R{i % 2}",
            genotype=genotypes[(i // 2) % len(genotypes)],
            stimulus_groups=rec.groups,
        )
    t_ingest = time.perf_counter() - t0
    env = dict(os.environ, **SINGLE_THREAD)
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "--child", "query-populate", "--workdir", str(workdir)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env) for _ in range(2)]
    if any(p.wait() for p in procs):
        raise RuntimeError("query populate worker failed")
    t_populate = time.perf_counter() - t0
    n_roi_rows = len(schemas.analysis.Fit.Roi & "fish LIKE 'bench-q%%'")
    conn = schemas.analysis.Fit.connection
    times, rows = _time_query(conn, cross_experiment_sql())
    roi_times, roi_rows = _time_query(conn, cross_experiment_sql(per_roi=True))
    best, best_roi = min(times), min(roi_times)
    same = [tuple(r[:3]) for r in rows] == [tuple(r[:3]) for r in roi_rows]
    print(
        f"\n   setup: {n_recordings} recordings ingested in {t_ingest:.0f} s, populated (2 workers) in {t_populate:.0f} s"
    )
    print("   genotype | class | n ROIs | fraction of selected | fraction of all")
    for row in rows:
        print(f"   {row[0]} | {row[1]} | {row[2]} | {float(row[3]):.3f} | {float(row[4]):.4f}")
    _print_figure(
        "5. cross-experiment query",
        f"one SQL query over the class summary of {n_recordings} recordings with "
        f"{n_roi_rows:,} ROIs (best of 5: {', '.join(f'{t:.4f}' for t in times)} s)",
        best,
        "s",
        "< 1",
        best < 1,
        f"the same straight from the {n_roi_rows:,} per-ROI rows (Fit.Roi + Classification.Roi): best of 5 "
        f"{best_roi:.2f} s ({', '.join(f'{t:.2f}' for t in roi_times)}); same counts: {same}",
    )
    return {"query_s": best, "per_roi_query_s": best_roi, "roi_rows": n_roi_rows}


def query_populate_child():
    import schemas
    from schemas import analysis

    tables = [getattr(analysis, name) for name in QUERY_TABLES]
    schemas.populate_all("fish LIKE 'bench-q%%'", {"paramset": "default"}, reserve_jobs=True, tables=tables)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(FIGURES), help=f"comma-separated subset of {','.join(FIGURES)}")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark schemas and files")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        workdir = Path(args.workdir)
        _setup_env(workdir)
        import schemas

        schemas.activate()
        {"wholebrain": lambda: wholebrain_child(workdir), "query-populate": query_populate_child}[args.child]()
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="tectum_bench_"))
    _setup_env(workdir)
    print(
        f"tectum benchmarks: schema prefix {os.environ['TECTUM_SCHEMA_PREFIX']}, work dir {workdir}, "
        f"{os.cpu_count()} cores, backend {os.environ.get('DJ_BACKEND', 'mysql')}"
    )
    import schemas

    schemas.activate()

    benches = {
        "populate": bench_populate,
        "ingest": bench_ingest,
        "wholebrain": bench_wholebrain,
        "scaleout": bench_scaleout,
        "query": bench_query,
    }
    results = {}
    try:
        for name in args.only.split(","):
            t0 = time.perf_counter()
            results[name] = benches[name.strip()](workdir)
            print(f"   ({name} took {time.perf_counter() - t0:.0f} s in all)")
    finally:
        if not args.keep:
            for module in (schemas.analysis, schemas.acquisition, schemas.reference):
                module.schema.drop(prompt=False)
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nsummary: " + json.dumps(results, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
