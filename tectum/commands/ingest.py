"""``tectum ingest MANIFEST``: insert the recordings of a manifest, each all or nothing."""

from __future__ import annotations

from ._common import connect


def run(args) -> int:
    from ..ingest import ingest_manifest

    connect()
    report = ingest_manifest(args.manifest, replace=args.replace, progress=not args.quiet)
    for line in report.skipped:
        print(line)
    print(f"ingest: {report.line()}")
    return 0 if report.ok else 1


def register(sub) -> None:
    p = sub.add_parser("ingest", help="insert the recordings of a TOML manifest (each all or nothing)",
                       description="Insert every [[recording]] of MANIFEST. A bad entry is reported and "
                       "leaves the database unchanged; an existing recording is reported and left alone "
                       "unless --replace is given.")
    p.add_argument("manifest", help="path of the manifest (TOML)")
    p.add_argument("--replace", action="store_true",
                   help="replace recordings that already exist (drops their results), each in one transaction")
    p.set_defaults(func=run)
