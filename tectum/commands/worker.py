"""``tectum worker [RESTRICTION]``: the long-running populate service.

Each pass re-queues the keys of dead workers and of lost connections
(:func:`tectum.workers.recover_stale_reservations`), then populates every
computed table with job reservation (:func:`schemas.populate_all`); when a
pass made nothing, it sleeps ``--poll-s`` and looks again, so recordings
ingested later are computed without anyone calling ``populate``. SIGTERM or
SIGINT stops it: the make in progress is rolled back and its key re-queued,
it prints one line and exits 0 (130 on Ctrl-C). Its heartbeat row
(:mod:`tectum.heartbeat`) says it is running, and afterwards that it stopped.

One worker is one process: run more of them (``docker compose up --scale
worker=4``, several systemd units) to compute in parallel.
"""

from __future__ import annotations

import sys
import time

from ..errors import TectumError
from ._common import add_restriction, connect, nothing_matches
from .populate import build_restrictions


def _say(line: str) -> None:
    print(line, flush=True)


def run(args) -> int:
    from schemas.populate import PopulateStopped, StopSignals, after_stop, reconnect, signal_in

    from ..access import require_write_access
    from ..heartbeat import Heartbeat
    from ..workers import is_lost_connection, recover_stale_reservations, release_jobs

    if args.poll_s <= 0:
        raise TectumError(f"--poll-s must be positive, not {args.poll_s:g}")
    if args.max_idle_s is not None and args.max_idle_s < 0:
        raise TectumError(f"--max-idle-s must be 0 or more, not {args.max_idle_s:g}")
    schemas = connect()
    tables = schemas.analysis.COMPUTED_TABLES
    require_write_access(tables)
    tasks, restrictions = build_restrictions(schemas, args)
    if args.strict and tasks is not None and not (schemas.analysis.AnalysisTask & tasks):
        nothing_matches(args, "analysis tasks (recording x parameter set)")  # raises; without --strict the
        # restriction may match recordings ingested later
    scope = " ".join([args.restriction] + [f"--paramset {p}" for p in args.paramset or []]).strip()
    heartbeat = Heartbeat(args.poll_s, restriction=scope)

    def recover() -> None:
        for line in recover_stale_reservations(orphan_timeout=args.orphan_timeout):
            _say(line)

    def idle() -> None:  # while a pass waits for other workers' results
        recover()
        heartbeat.beat()

    with StopSignals() as stop:
        try:
            heartbeat.start()
            _say(
                f"worker {heartbeat.host}:{heartbeat.pid} started ({scope or 'everything'}; "
                f"polling every {args.poll_s:g} s)"
            )
            idle_since = time.monotonic()
            while True:
                try:
                    recover()
                    with heartbeat:  # beats on its own connection while a make runs
                        reports = schemas.populate_all(*restrictions, reserve_jobs=True, keep_going=True, on_idle=idle)
                except Exception as err:
                    if not is_lost_connection(err):
                        raise
                    # the make in progress was rolled back by the server; its key is re-queued by the next
                    # recover() (a lost-connection error, or this pid's reservation once we reconnect)
                    _say(
                        f"worker: lost the connection to the database ({type(err).__name__}); reconnecting in "
                        f"{args.poll_s:g} s"
                    )
                    time.sleep(args.poll_s)
                    reconnect(tables)  # failing here ends the worker with exit 1: its supervisor restarts it
                    for line in release_jobs([heartbeat.pid], tables):
                        _say(line)
                    heartbeat.beat()
                    continue
                made = sum(report.done for report in reports)
                errors = [(report.table, message) for report in reports for _, message in report.errors]
                heartbeat.beat(heartbeat.done + made, heartbeat.failed + len(errors))
                if made or errors:
                    _say(
                        "pass: "
                        + ", ".join(f"{r.table} {r.done}" for r in reports if r.done or r.errors)
                        + f" made; {len(errors)} failed"
                    )
                    for table, message in errors:
                        _say(f"  error: {table}: {message}")
                    idle_since = time.monotonic()
                if args.once:
                    break
                if not (made or errors):
                    if args.max_idle_s is not None and time.monotonic() - idle_since >= args.max_idle_s:
                        _say(f"worker: nothing to do for {args.max_idle_s:g} s; exiting")
                        break
                    time.sleep(args.poll_s)
        except BaseException as err:  # only a stop signal is handled; the rest re-raised
            if isinstance(err, PopulateStopped):
                stop.ignore_further()
                result = err
            elif signal_in(err):
                stop.ignore_further()
                result = PopulateStopped(signal_in(err), [], *after_stop(tables, err))
            else:
                _mark_stopped(heartbeat)
                raise
            heartbeat.done += result.made
            _mark_stopped(heartbeat)
            for note in result.notes:
                print(note, file=sys.stderr)
            requeued = len(result.released)
            _say(
                f"worker stopped on {result.signal_name}: {heartbeat.done} made, {heartbeat.failed} failed; "
                + (
                    f"{requeued} key(s) in progress rolled back and re-queued"
                    if requeued
                    else "no make was in progress"
                )
            )
            return 130 if result.signal_name == "SIGINT" else 0
    heartbeat.stop()
    _say(f"worker stopped: {heartbeat.done} made, {heartbeat.failed} failed")
    return 1 if heartbeat.failed else 0


def _mark_stopped(heartbeat) -> None:
    """Best effort: the row says stopped (if the database is gone, it goes stale instead)."""
    try:
        heartbeat.stop()
    except Exception:
        pass


def register(sub) -> None:
    p = sub.add_parser(
        "worker",
        help="keep populating as recordings arrive (a service; stop with SIGTERM)",
        description="Populate every analysis table with job reservation, again and again: "
        "after a pass that made nothing, sleep --poll-s and look again. Re-queues the keys of dead "
        "workers each pass. SIGTERM/SIGINT: the make in progress is rolled back and re-queued, "
        "exit 0. Records a heartbeat row (host, pid, last seen, jobs done/failed). Run several "
        "workers (processes, machines, containers) to compute in parallel.",
    )
    add_restriction(
        p,
        example="fish=F1,recording=R2",
        names="fish, recording, paramset, and the recording's and the fish's attributes",
    )
    p.add_argument("--paramset", action="append", help="only this parameter set (repeatable)")
    p.add_argument(
        "--poll-s",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds to sleep when there is nothing to do (default 10)",
    )
    p.add_argument(
        "--max-idle-s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit (0, or 1 if a make failed) after this long with nothing to do (default: never)",
    )
    p.add_argument("--once", action="store_true", help="one pass, then exit (for cron)")
    p.add_argument(
        "--orphan-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="also re-queue reservations older than this from other machines "
        "(reservations of dead workers on this machine are always recovered)",
    )
    p.set_defaults(func=run)


def forget(args) -> int:
    """``tectum db forget-workers``: drop old heartbeat rows of stopped and stale workers."""
    from ..heartbeat import forget_workers

    if args.days < 0:
        raise TectumError(f"--days must be 0 or more, not {args.days:g}")
    connect(create_tables=False)
    lines = forget_workers(args.days, dry_run=args.dry_run)
    for line in lines:
        print(line)
    done = "would be forgotten" if args.dry_run else "forgotten"
    print(f"{len(lines)} worker row(s) {done} (stopped or stale for more than {args.days:g} days)")
    return 0


def add_db_action(sub) -> None:
    """Add ``forget-workers`` to the ``tectum db`` actions."""
    p = sub.add_parser(
        "forget-workers",
        help="delete the heartbeat rows of workers stopped or stale for more than --days days",
        description="Every tectum worker leaves a row in <prefix>operations.WorkerHeartbeat; the rows of "
        "workers that stopped (or were killed: stale) stay, and tectum status counts them. This deletes "
        "those last seen more than --days days ago; a running worker's row is never deleted.",
    )
    p.add_argument("--days", type=float, default=7.0, help="only rows last seen more than this many days ago (7)")
    p.add_argument("--dry-run", action="store_true", help="only list the rows; delete nothing")
    p.set_defaults(db_func=forget)
