"""``tectum demo``: synthetic recordings -> manifest -> ingest -> populate -> report, in schemas of its own."""

from __future__ import annotations

from ._common import connect


def run(args) -> int:
    from ..demo import check_prefix, run_demo

    connect(prefix=check_prefix(args.prefix))
    index = run_demo(
        args.out, prefix=args.prefix, n_recordings=args.recordings, n_rois=args.rois, progress=not args.quiet
    )
    print(f"demo: report at {index}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="synthetic recordings -> manifest -> ingest -> populate -> report",
        description="Runs the whole pipeline on synthetic recordings in schemas of its own "
        "(prefix tectum_demo_ unless --prefix), so a lab's data is never touched; it refuses a "
        "prefix that holds other recordings.",
    )
    p.add_argument("--out", default="demo_out", help="output directory (default demo_out)")
    p.add_argument(
        "--prefix", default="tectum_demo_", help="schema-name prefix of the demo's tables (default tectum_demo_)"
    )
    p.add_argument("--recordings", type=int, default=3, help="number of synthetic recordings (default 3)")
    p.add_argument("--rois", type=int, default=300, help="ROIs per recording (default 300)")
    p.set_defaults(func=run)
