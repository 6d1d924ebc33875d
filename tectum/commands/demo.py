"""``tectum demo``: synthetic recordings -> manifest -> ingest -> populate -> report."""

from __future__ import annotations

from ._common import connect


def run(args) -> int:
    from ..demo import run_demo

    connect()
    index = run_demo(args.out, n_recordings=args.recordings, n_rois=args.rois, progress=not args.quiet)
    print(f"demo: report at {index}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="synthetic recordings -> manifest -> ingest -> populate -> report")
    p.add_argument("--out", default="demo_out", help="output directory (default demo_out)")
    p.add_argument("--recordings", type=int, default=3, help="number of synthetic recordings (default 3)")
    p.add_argument("--rois", type=int, default=300, help="ROIs per recording (default 300)")
    p.set_defaults(func=run)
