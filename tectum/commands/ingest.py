"""``tectum ingest MANIFEST``: insert the recordings of a manifest, each all or nothing."""

from __future__ import annotations

from ._common import connect


def run(args) -> int:
    from ..access import require_write_access
    from ..ingest import ingest_manifest

    schemas = connect()
    acq = schemas.acquisition
    # a read-only role is told so once, not once per manifest entry
    require_write_access(
        [acq.Fish, acq.Recording, acq.Presentation, acq.RoiTraces, acq.RoiTraces.Roi, schemas.analysis.AnalysisTask]
    )
    report = ingest_manifest(
        args.manifest, replace=args.replace, progress=not args.quiet, absolute_paths=args.absolute_paths
    )
    if report.stimulus_types_added:
        print(f"stimulus types added: {', '.join(report.stimulus_types_added)}")
    for line in report.skipped:
        print(line)
    for line in report.warnings:
        print(f"warning: {line}")
    print(f"ingest: {report.line()}")
    return 0 if report.ok else 1


def register(sub) -> None:
    p = sub.add_parser(
        "ingest",
        help="insert the recordings of a TOML manifest (each all or nothing)",
        description="Insert every [[recording]] of MANIFEST, after the stimulus types its "
        "[stimulus_types] table declares. A bad entry is reported and leaves the database "
        "unchanged, and the other entries are still attempted; an existing recording is "
        "reported and left alone unless --replace is given.",
    )
    p.add_argument("manifest", help="path of the manifest (TOML)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace recordings that already exist (drops their results), each in one transaction",
    )
    p.add_argument(
        "--absolute-paths",
        action="store_true",
        help="record the source files' absolute paths in each recording's metadata "
        "(default: relative to the manifest's folder; every database user can read them)",
    )
    p.set_defaults(func=run)
