"""``tectum populate [RESTRICTION]``: compute every analysis table, in order."""

from __future__ import annotations

from ..errors import TectumError
from ._common import connect


def _recover(orphan_timeout) -> None:
    """Re-queue reservations of workers that died (see tectum.workers)."""
    from ..workers import recover_stale_reservations

    for line in recover_stale_reservations(orphan_timeout=orphan_timeout):
        print(line)


def run(args) -> int:
    from ..restriction import parse_restriction

    from ..access import require_write_access

    schemas = connect()
    require_write_access(schemas.analysis.COMPUTED_TABLES)  # a viewer is refused before computing anything
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
        from ..workers import is_lost_connection

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


def register(sub) -> None:
    p = sub.add_parser("populate", help="compute every analysis table, in order",
                       description="Populate DeltaF, Regressors, Fit, Classification, ResponseAmplitude, "
                       "Clustering and ClassSummary for the (recording, parameter set) pairs assigned in "
                       "AnalysisTask. A failing recording does not stop the others; the exit code is 1 if "
                       "any failed.")
    p.add_argument("restriction", nargs="?", default="",
                   help="limit to keys, e.g. 'fish=F1,recording=R2' or a SQL condition")
    p.add_argument("--paramset", action="append", help="only this parameter set (repeatable)")
    p.add_argument("--reserve-jobs", action="store_true",
                   help="use DataJoint's job reservation so several workers can run at once")
    p.add_argument("--processes", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--orphan-timeout", type=float, default=None, metavar="SECONDS",
                   help="with --reserve-jobs: also re-queue reservations older than this from other machines "
                   "(reservations of dead workers on this machine are always recovered)")
    p.set_defaults(func=run)
