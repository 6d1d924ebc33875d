"""``tectum populate [RESTRICTION]``: compute every analysis table, in order."""

from __future__ import annotations

import sys

from ..errors import TectumError
from ._common import add_restriction, connect, nothing_matches


def stopped(stop) -> int:
    """Say in one line that a stop signal ended the run; exit 0 on SIGTERM, 130 on SIGINT (Ctrl-C)."""
    for note in stop.notes:
        print(note, file=sys.stderr)
    print(stop.line(), flush=True)
    return 130 if stop.signal_name == "SIGINT" else 0


def _recover(orphan_timeout) -> None:
    """Re-queue reservations of workers that died (see tectum.workers)."""
    from ..workers import recover_stale_reservations

    for line in recover_stale_reservations(orphan_timeout=orphan_timeout):
        print(line)


def build_restrictions(schemas, args) -> tuple:
    """``(tasks, restrictions)`` from RESTRICTION and ``--paramset``: the AnalysisTask restriction
    (None without RESTRICTION) and the list to pass to :func:`schemas.populate_all`."""
    from ..restriction import key_restriction, recording_tables

    tasks = key_restriction(schemas.analysis.AnalysisTask, args.restriction, allowed_extra=recording_tables())
    restrictions = [tasks] if tasks is not None else []
    if args.paramset:
        known = set(schemas.reference.ParamSet().to_arrays("paramset"))
        unknown = [p for p in args.paramset if p not in known]
        if unknown:
            raise TectumError(
                f"unknown parameter set(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}"
            )
        restrictions.append([{"paramset": p} for p in args.paramset])
    return tasks, restrictions


def run(args) -> int:
    from schemas.populate import PopulateStopped

    from ..access import require_write_access

    schemas = connect()
    require_write_access(schemas.analysis.COMPUTED_TABLES)  # a viewer is refused before computing anything
    tasks, restrictions = build_restrictions(schemas, args)
    if tasks is not None and not (schemas.analysis.AnalysisTask & tasks):
        return nothing_matches(args, "analysis tasks (recording x parameter set)")
    if args.processes < 1:
        raise TectumError(f"--processes must be at least 1, not {args.processes}")
    reserve_jobs = args.reserve_jobs or args.processes > 1  # worker processes share the job tables
    if args.recompute_stale:
        from ..status import delete_stale

        scope = None  # everything, or the tasks within RESTRICTION and --paramset
        for restriction in restrictions:
            scope = (schemas.analysis.AnalysisTask.proj() if scope is None else scope) & restriction
        deleted = delete_stale(scope)
        for table, n in deleted.items():
            print(f"recompute-stale: deleted {n} stale {table} row(s), with their downstream rows")
        if not deleted:
            print("recompute-stale: nothing is stale")
    if reserve_jobs:
        _recover(args.orphan_timeout)
    try:
        reports = schemas.populate_all(
            *restrictions,
            reserve_jobs=reserve_jobs,
            processes=args.processes,
            display_progress=not args.quiet,
            keep_going=True,
            on_idle=(lambda: _recover(args.orphan_timeout)) if reserve_jobs else None,
        )
    except PopulateStopped as stop:
        return stopped(stop)
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
        for _key, message in report.errors:
            print(f"  error: {message}")
        failed += len(report.errors)
    return 1 if failed else 0


def register(sub) -> None:
    p = sub.add_parser(
        "populate",
        help="compute every analysis table, in order",
        description="Populate DeltaF, Regressors, Fit, Classification, ResponseAmplitude, "
        "Clustering and ClassSummary for the (recording, parameter set) pairs assigned in "
        "AnalysisTask. A failing recording does not stop the others; the exit code is 1 if "
        "any failed.",
    )
    add_restriction(
        p,
        example="fish=F1,recording=R2",
        names="fish, recording, paramset, and the recording's and the fish's attributes, e.g. genotype, "
        "experiment, region, sensor",
    )
    p.add_argument("--paramset", action="append", help="only this parameter set (repeatable)")
    p.add_argument(
        "--recompute-stale",
        action="store_true",
        help="first delete the rows computed by another tectum version, with parameters the parameter set no "
        "longer has, or from a recording replaced since (tectum status --stale lists them), with their "
        "downstream rows; the populate then computes them again",
    )
    p.add_argument(
        "--reserve-jobs", action="store_true", help="use DataJoint's job reservation so several workers can run at once"
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="worker processes on this machine (default 1); more than 1 implies --reserve-jobs",
    )
    p.add_argument(
        "--orphan-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --reserve-jobs: also re-queue reservations older than this from other machines "
        "(reservations of dead workers on this machine are always recovered)",
    )
    p.set_defaults(func=run)
