"""``tectum export [RESTRICTION] --out FILE``: per-ROI results as one flat table."""

from __future__ import annotations

from ._common import connect


def run(args) -> int:
    from ..restriction import parse_restriction
    from ..results import export_results

    connect()
    n = export_results(args.out, parse_restriction(args.restriction))
    print(f"export: {n} rows -> {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("export", help="per-ROI results as CSV (or Parquet for *.parquet)")
    p.add_argument("restriction", nargs="?", default="", help="limit to keys, e.g. 'paramset=default'")
    p.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    p.set_defaults(func=run)
