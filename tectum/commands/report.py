"""``tectum report [RESTRICTION] --out DIR``: figures and an index.html per recording and parameter set."""

from __future__ import annotations

from ._common import connect


def run(args) -> int:
    from ..report import write_report
    from ..restriction import parse_restriction

    connect()
    index = write_report(args.out, parse_restriction(args.restriction), paramsets=args.paramset or None,
                         progress=not args.quiet)
    print(f"report: {index}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="write figures and an index.html per recording and parameter set")
    p.add_argument("restriction", nargs="?", default="", help="limit to keys, e.g. 'fish=F1'")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--paramset", action="append", help="only this parameter set (repeatable)")
    p.set_defaults(func=run)
