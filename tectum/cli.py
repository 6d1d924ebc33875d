"""The ``tectum`` command: ingest, populate, report, status, export, demo.

Every subcommand exits 0 on success and non-zero on any error, printing one
readable line (the traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
import warnings

from . import __version__
from .errors import TectumError


def _connect():
    """Import the schemas (this connects with DataJoint's settings)."""
    warnings.filterwarnings("ignore", message=".*MariaDB is not officially supported.*")
    warnings.filterwarnings("ignore", message=".*No datajoint.json found.*")
    import schemas

    return schemas


def cmd_ingest(args) -> int:
    from .ingest import ingest_manifest

    _connect()
    report = ingest_manifest(args.manifest, replace=args.replace, progress=not args.quiet)
    for line in report.skipped:
        print(line)
    print(f"ingest: {report.line()}")
    return 0 if report.ok else 1


def _recover(orphan_timeout) -> None:
    """Re-queue reservations of workers that died (see tectum.workers)."""
    from .workers import recover_stale_reservations

    for line in recover_stale_reservations(orphan_timeout=orphan_timeout):
        print(line)


def cmd_populate(args) -> int:
    from .restriction import parse_restriction

    schemas = _connect()
    if args.reserve_jobs:
        _recover(args.orphan_timeout)
    restrictions = [parse_restriction(args.restriction)]
    if args.paramset:
        restrictions.append([{"paramset": p} for p in args.paramset])
    try:
        reports = schemas.populate_all(
            *restrictions,
            reserve_jobs=args.reserve_jobs,
            processes=args.processes,
            display_progress=not args.quiet,
            keep_going=True,
            on_idle=(lambda: _recover(args.orphan_timeout)) if args.reserve_jobs else None,
        )
    except Exception as err:
        from .workers import is_lost_connection

        if is_lost_connection(err):
            raise TectumError(
                f"lost the connection to the database server ({type(err).__name__}: {err}); the computation in "
                "progress was rolled back, run the command again to finish"
            ) from err
        raise
    failed = 0
    for report in reports:
        print(report.line())
        for key, message in report.errors:
            print(f"  error: {message}")
        failed += len(report.errors)
    return 1 if failed else 0


def cmd_report(args) -> int:
    from .report import write_report
    from .restriction import parse_restriction

    _connect()
    index = write_report(args.out, parse_restriction(args.restriction), paramsets=args.paramset or None,
                         progress=not args.quiet)
    print(f"report: {index}")
    return 0


def cmd_status(args) -> int:
    from .status import status_lines

    _connect()
    for line in status_lines():
        print(line)
    return 0


def cmd_export(args) -> int:
    from .restriction import parse_restriction
    from .results import export_results

    _connect()
    if args.format == "nwb":
        from .nwb_db import export_nwb

        paths, pending = export_nwb(args.out, parse_restriction(args.restriction), progress=not args.quiet)
        print(f"export: {len(paths)} NWB file(s) -> {args.out}")
        if pending:
            print(f"export: {pending} fitted recording/parameter set(s) skipped: not yet classified, clustered "
                  "and with response amplitudes (run tectum populate)")
        return 0
    n = export_results(args.out, parse_restriction(args.restriction), fmt=args.format)
    print(f"export: {n} rows -> {args.out}")
    return 0


def cmd_gc(args) -> int:
    from .store import collect_store_garbage, garbage_lines

    _connect()
    stats = collect_store_garbage(delete=args.delete)
    for line in garbage_lines(stats):
        print(line)
    return 1 if stats["errors"] else 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    _connect()
    index = run_demo(args.out, n_recordings=args.recordings, n_rois=args.rois, progress=not args.quiet)
    print(f"demo: report at {index}")
    return 0


def cmd_db(args) -> int:
    from .roles import run_db_command

    return run_db_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tectum",
        description="Regression-based functional classification of neurons in calcium imaging "
        "(DataJoint pipeline). Database settings: DJ_HOST, DJ_USER, DJ_PASS, DJ_PORT, DJ_BACKEND "
        "or datajoint.json; schema names start with TECTUM_SCHEMA_PREFIX (default tectum_).",
    )
    parser.add_argument("--version", action="version", version=f"tectum {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the full traceback on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="insert the recordings of a TOML manifest (each all or nothing)",
                       description="Insert every [[recording]] of MANIFEST. A bad entry is reported and "
                       "leaves the database unchanged; an existing recording is reported and left alone "
                       "unless --replace is given.")
    p.add_argument("manifest", help="path of the manifest (TOML)")
    p.add_argument("--replace", action="store_true",
                   help="delete and re-insert recordings that already exist (drops their results)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("populate", help="compute every analysis table, in order",
                       description="Populate DeltaF, Regressors, Fit, Classification, ResponseAmplitude, "
                       "Clustering and ClassSummary. A failing recording does not stop the others; the "
                       "exit code is 1 if any failed.")
    p.add_argument("restriction", nargs="?", default="",
                   help="limit to keys, e.g. 'fish=F1,recording=R2' or a SQL condition")
    p.add_argument("--paramset", action="append", help="only this parameter set (repeatable)")
    p.add_argument("--reserve-jobs", action="store_true",
                   help="use DataJoint's job reservation so several workers can run at once")
    p.add_argument("--processes", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--orphan-timeout", type=float, default=None, metavar="SECONDS",
                   help="with --reserve-jobs: also re-queue reservations older than this from other machines "
                   "(reservations of dead workers on this machine are always recovered)")
    p.set_defaults(func=cmd_populate)

    p = sub.add_parser("report", help="write figures and an index.html per recording and parameter set")
    p.add_argument("restriction", nargs="?", default="", help="limit to keys, e.g. 'fish=F1'")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--paramset", action="append", help="only this parameter set (repeatable)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("status", help="what is ingested, populated, pending or failed")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("export", help="per-ROI results as CSV or Parquet, or one NWB file per recording",
                       description="Without --format, the suffix of --out chooses CSV or Parquet (*.parquet). "
                       "--format nwb writes OUT/<fish>/<recording>/<paramset>.nwb with the dF/F, the regressors, "
                       "the stimulus presentations and the per-ROI results (needs pynwb).")
    p.add_argument("restriction", nargs="?", default="", help="limit to keys, e.g. 'paramset=default'")
    p.add_argument("--out", required=True, help="output file (.csv or .parquet), or folder for --format nwb")
    p.add_argument("--format", choices=("csv", "parquet", "nwb"), default=None,
                   help="output format (default: by the suffix of --out)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("gc", help="find (and with --delete remove) store files no row refers to",
                       description="Deleted rows leave their .npy files in the object store; DataJoint's garbage "
                       "collector finds the files of the project's schemas that no row refers to. Without "
                       "--delete nothing is removed. Run it when nobody ingests or populates (a file uploaded "
                       "for a row not yet committed looks orphaned). See docs/object-store.md.")
    p.add_argument("--delete", action="store_true", help="remove the files found")
    p.set_defaults(func=cmd_gc)

    p = sub.add_parser("db", help="lab roles and users on a shared server (admin, analyst, viewer)")
    from .roles import add_db_arguments

    add_db_arguments(p)
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("demo", help="synthetic recordings -> manifest -> ingest -> populate -> report")
    p.add_argument("--out", default="demo_out", help="output directory (default demo_out)")
    p.add_argument("--recordings", type=int, default=3, help="number of synthetic recordings (default 3)")
    p.add_argument("--rois", type=int, default=300, help="ROIs per recording (default 300)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        os.environ.setdefault("DJ_LOG_LEVEL", "WARNING")
    logging.getLogger("datajoint").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("tectum: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one readable line unless --debug
        if args.debug:
            traceback.print_exc()
        kind = "" if isinstance(err, (TectumError, ValueError)) else f"{type(err).__name__}: "
        message = " ".join(str(err).split())
        print(f"tectum {args.command}: error: {kind}{message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
