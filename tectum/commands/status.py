"""``tectum status [RESTRICTION]``: what is ingested, made, running, failed, waiting or stale (read-only)."""

from __future__ import annotations

from ._common import add_restriction, connect, nothing_matches


def run(args) -> int:
    from ..status import bind_restriction, retry_failed, status_lines

    schemas = connect(create_tables=False)  # read-only: a viewer may run it, nothing is ever declared
    tasks = bind_restriction(args.restriction)
    if tasks is not None and not (schemas.analysis.AnalysisTask & tasks):
        return nothing_matches(args, "analysis tasks (recording x parameter set)")
    if args.retry_failed:
        deleted = retry_failed(tasks)
        where = f" matching {args.restriction!r}" if tasks is not None else ""
        detail = ", ".join(f"{n} {table}" for table, n in deleted.items())
        print(
            f"retry-failed: deleted {sum(deleted.values())} failed job(s){where}"
            + (f" ({detail}); the next tectum populate --reserve-jobs computes them again" if deleted else "")
        )
    for line in status_lines(args.restriction, keys=args.keys, stale=args.stale, store=args.store):
        print(line)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "status",
        help="what is ingested, made, running, failed, waiting or stale (read-only)",
        description="Per computed table, every analysis task (recording x parameter set) within the restriction "
        "counted once: made, failed, running, left by a dead worker, ignored, waiting for upstream (an upstream "
        "row is missing) or not started; the counts add up to the tasks. Failures and reservations come from "
        "DataJoint's job tables (populate --reserve-jobs). Also checks the object store (files no row refers "
        "to, rows whose file is missing). Nothing is written except by --retry-failed; no table is ever "
        "created, so a viewer may run it.",
    )
    add_restriction(
        p,
        example="fish=F1,paramset=default",
        names="fish, recording, paramset, and the recording's and the fish's attributes, e.g. genotype",
    )
    p.add_argument(
        "--keys", action="store_true", help="list the keys that are not made, by state (failed ones with their error)"
    )
    p.add_argument(
        "--stale",
        action="store_true",
        help="also count rows computed by another tectum version, with parameters the parameter set "
        "no longer has, or from a recording replaced since (with --keys: which and why)",
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="delete the failed jobs (within the restriction) first, so the next populate "
        "--reserve-jobs computes those keys again",
    )
    store = p.add_mutually_exclusive_group()
    store.add_argument(
        "--store",
        action="store_true",
        default=None,
        help="check the object store even when it is a bucket (default: only a file store)",
    )
    store.add_argument("--no-store", dest="store", action="store_false", help="do not check the object store")
    p.set_defaults(func=run)
