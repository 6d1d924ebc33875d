"""``tectum report [RESTRICTION] --out DIR [--group-by ATTRIBUTE]``: figures and pages per recording, and across them."""

from __future__ import annotations

from ._common import connect


def run(args) -> int:
    from ..report import write_report
    from ..restriction import parse_restriction

    connect()
    index = write_report(args.out, parse_restriction(args.restriction), paramsets=args.paramset or None,
                         group_by=args.group_by, progress=not args.quiet)
    print(f"report: {index}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="write figures and an index.html per recording and parameter set")
    p.add_argument("restriction", nargs="?", default="", help="limit to keys, e.g. 'fish=F1'")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--paramset", action="append", help="only this parameter set (repeatable)")
    p.add_argument("--group-by", default="genotype", metavar="ATTRIBUTE",
                   help="attribute of the fish or recording grouping the cross-recording page "
                        "(default genotype; e.g. experiment, region, sensor, age_dpf)")
    p.set_defaults(func=run)
