"""``tectum report [RESTRICTION] --out DIR [--group-by ATTRIBUTE]``: figures and pages per recording, and across them."""

from __future__ import annotations

from ._common import add_restriction, connect, nothing_matches


def run(args) -> int:
    from ..report import write_report
    from ..restriction import key_restriction, recording_tables

    schemas = connect()
    fits = key_restriction(schemas.analysis.Fit, args.restriction, allowed_extra=recording_tables())
    if fits is not None and not (schemas.analysis.Fit & fits):
        return nothing_matches(args, "fitted recordings")
    index = write_report(
        args.out, fits, paramsets=args.paramset or None, group_by=args.group_by, progress=not args.quiet
    )
    print(f"report: {index}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="write figures and an index.html per recording and parameter set")
    add_restriction(
        p,
        example="fish=F1",
        names="attributes of analysis.Fit, and the recording's and the fish's, e.g. genotype, "
        "experiment, region, sensor",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--paramset", action="append", help="only this parameter set (repeatable)")
    p.add_argument(
        "--group-by",
        default="genotype",
        metavar="ATTRIBUTE",
        help="attribute of the fish or recording grouping the cross-recording page "
        "(default genotype; e.g. experiment, region, sensor, age_dpf)",
    )
    p.set_defaults(func=run)
