"""``tectum export [RESTRICTION] --out FILE``: per-ROI results as one flat table, or NWB files."""

from __future__ import annotations

from ._common import connect


def run(args) -> int:
    from ..restriction import parse_restriction
    from ..results import export_results

    connect()
    if args.format == "nwb":
        from ..nwb_db import export_nwb

        paths, pending = export_nwb(args.out, parse_restriction(args.restriction), progress=not args.quiet)
        print(f"export: {len(paths)} NWB file(s) -> {args.out}")
        if pending:
            print(f"export: {pending} fitted recording/parameter set(s) skipped: not yet classified, clustered "
                  "and with response amplitudes (run tectum populate)")
        return 0
    n = export_results(args.out, parse_restriction(args.restriction), fmt=args.format)
    print(f"export: {n} rows -> {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("export", help="per-ROI results as CSV or Parquet, or one NWB file per recording",
                       description="Without --format, the suffix of --out chooses CSV or Parquet (*.parquet). "
                       "--format nwb writes OUT/<fish>/<recording>/<paramset>.nwb with the dF/F, the regressors, "
                       "the stimulus presentations and the per-ROI results (needs pynwb).")
    p.add_argument("restriction", nargs="?", default="", help="limit to keys, e.g. 'paramset=default'")
    p.add_argument("--out", required=True, help="output file (.csv or .parquet), or folder for --format nwb")
    p.add_argument("--format", choices=("csv", "parquet", "nwb"), default=None,
                   help="output format (default: by the suffix of --out)")
    p.set_defaults(func=run)
