"""Populate every computed table, in dependency order; stop cleanly on SIGTERM/SIGINT.

Stopping. DataJoint runs each ``make()`` in a transaction. While
``populate(reserve_jobs=True)`` runs, DataJoint's own SIGTERM handler raises
``SystemExit("SIGTERM received")``: the make is rolled back and its job row
is set to ``'error'`` with that message before the exception leaves
``populate``. :func:`populate_all` installs the same kind of handler for
SIGTERM and SIGINT around everything else (DataJoint saves it and puts it back
around each of its own calls), so a stop signal always arrives as that
``SystemExit``; a Ctrl-C arriving as ``KeyboardInterrupt`` would instead be
recorded as a failed key and skipped under ``suppress_errors``. When one
arrives, :func:`populate_all` reconnects (the signal may have cut a query in
half), puts the keys this process held back in the queue
(:func:`tectum.workers.release_jobs`: the interrupted key's ``'error'`` row
and any reservation become ``'pending'``) and raises :class:`PopulateStopped`.
A second signal while that happens ends the process at once; its reservations
are then recovered like a dead worker's.

Several processes. ``processes=N`` (N > 1) forks N worker processes once for
the whole run; each runs the single-process loop with job reservation, so
``processes > 1`` implies ``reserve_jobs``. (DataJoint's ``populate(processes=N)``
would build a new pool for every table on every pass.) The children ignore
SIGINT (a Ctrl-C reaches the whole process group; the parent decides) and take
SIGTERM with the default action, or DataJoint's handler inside its populate.
The parent waits for them; on a stop signal it sends them SIGTERM, waits at
most :data:`STOP_TIMEOUT_S`, kills what is left, and re-queues the keys they
held, so nothing hangs and nothing is lost.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from .ahead import computing_ahead
from .analysis import COMPUTED_TABLES, Clustering

#: seconds the parent waits for its worker processes to exit after SIGTERM before it kills them
STOP_TIMEOUT_S = 20.0
#: seconds the parent waits for a worker process that has sent its report to exit
EXIT_TIMEOUT_S = 30.0
#: the signals that stop a populate cleanly
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class TableReport:
    """What one table's populate did."""

    table: str
    done: int
    errors: list = field(default_factory=list)
    remaining: int = 0
    total: int = 0

    def line(self) -> str:
        status = f"{self.done} made, {len(self.errors)} failed, {self.remaining} pending of {self.total}"
        return f"{self.table:<18} {status}"


class PopulateStopped(KeyboardInterrupt):
    """A stop signal ended :func:`populate_all`; the make in progress was rolled back and re-queued.

    A ``KeyboardInterrupt`` so that ``except Exception`` does not swallow it.

    Attributes
    ----------
    signal_name : str
        ``'SIGTERM'`` or ``'SIGINT'``.
    reports : list of TableReport
        What was made before the signal.
    released : list of str
        One line per key put back in the queue.
    notes : list of str
        Anything else worth saying (a worker process that had to be killed).
    """

    def __init__(self, signal_name: str, reports, released, notes=()):
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.reports = list(reports)
        self.released = list(released)
        self.notes = list(notes)

    @property
    def made(self) -> int:
        return sum(report.done for report in self.reports)

    def line(self) -> str:
        """One line saying that it stopped and what happened to the work in progress."""
        requeued = len(self.released)
        tail = f"{requeued} key(s) in progress rolled back and re-queued" if requeued else "no make was in progress"
        return f"stopped on {self.signal_name}: {self.made} made before it, {tail}"


def populate_all(
    *restrictions,
    reserve_jobs: bool = False,
    processes: int = 1,
    display_progress: bool = False,
    keep_going: bool = True,
    tables=COMPUTED_TABLES,
    poll_s: float = 0.5,
    idle_timeout_s: float = 600.0,
    on_idle=None,
) -> list[TableReport]:
    """Populate the computed tables in order and report per table.

    Parameters
    ----------
    *restrictions
        DataJoint restrictions applied to every table's key source, e.g.
        ``{"paramset": "default"}`` or ``{"fish": "F1"}``.
    reserve_jobs : bool
        Use DataJoint's job reservation, so several workers on one or many
        machines can populate the same database at once.
    processes : int
        Worker processes on this machine; more than 1 implies ``reserve_jobs``
        (the processes are workers sharing the job tables).
    display_progress : bool
        Show a progress bar per table (single process only).
    keep_going : bool
        Record a failing key and go on with the others (default). With False
        the first error is raised.
    tables : sequence of table classes
        Which computed tables, in dependency order (default: all).
    poll_s : float
        With ``reserve_jobs``, how long to wait before looking again for keys
        that other workers' results make available.
    idle_timeout_s : float
        With ``reserve_jobs``, stop waiting for other workers' reservations
        (of keys within the restrictions) after this long without progress.
    on_idle : callable, optional
        Called before each wait, e.g. to re-queue reservations of dead workers.

    Returns
    -------
    list of TableReport

    Raises
    ------
    PopulateStopped
        On SIGTERM or SIGINT (in the main thread; elsewhere signals are not handled here).
    """
    processes = max(1, int(processes))
    tables = tuple(tables)
    reports = {cls.__name__: TableReport(table=cls.__name__, done=0) for cls in tables}
    loop = dict(
        reserve_jobs=reserve_jobs or processes > 1,
        display_progress=display_progress and processes == 1,
        keep_going=keep_going,
        tables=tables,
        poll_s=poll_s,
        idle_timeout_s=idle_timeout_s,
        on_idle=on_idle,
    )
    # without job reservation this process makes every key it is given, so a later table's result can be
    # computed while it inserts rows (schemas.ahead); with reservation another worker might take that key
    ahead_kinds = {"clustering"} if not loop["reserve_jobs"] and Clustering in tables else set()
    with StopSignals() as stop, computing_ahead(ahead_kinds):
        try:
            if processes > 1:
                _fan_out(reports, restrictions, processes, loop)
            else:
                _populate_loop(reports, restrictions, **loop)
        except BaseException as err:  # only a stop signal is handled; the rest re-raised
            name = signal_in(err)
            if name is None:
                raise
            stop.ignore_further()
            raise PopulateStopped(name, reports.values(), *after_stop(tables, err)) from None
    _fill_progress(reports, restrictions, tables)
    return list(reports.values())


def _populate_loop(
    reports, restrictions, *, reserve_jobs, display_progress, keep_going, tables, poll_s, idle_timeout_s, on_idle
) -> None:
    """Populate in this process, adding to ``reports`` as keys are made (so a stop keeps the counts)."""
    idle_since = None
    while True:
        made = 0
        for table_cls in tables:
            result = table_cls().populate(
                *restrictions,
                reserve_jobs=reserve_jobs,
                display_progress=display_progress,
                suppress_errors=keep_going,
            )
            report = reports[table_cls.__name__]
            report.done += int(result.get("success_count", 0))
            report.errors.extend(result.get("error_list", []))
            made += int(result.get("success_count", 0))
        # Alone, one pass in dependency order does everything. With several
        # workers, keys whose upstream another worker is still computing are
        # skipped in this pass: go round again while others hold reservations
        # within our restrictions, so no worker idles while work can appear.
        if not reserve_jobs:
            break
        if made:
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since > idle_timeout_s or not _others_working(tables, restrictions):
            break
        if on_idle is not None:
            on_idle()
        time.sleep(poll_s)


def _fill_progress(reports, restrictions, tables) -> None:
    for table_cls in tables:
        remaining, total = table_cls().progress(*restrictions, display=False)
        reports[table_cls.__name__].remaining = int(remaining)
        reports[table_cls.__name__].total = int(total)


def _others_working(tables, restrictions) -> bool:
    """Whether another worker holds a reservation of a key within ``restrictions``."""
    for table_cls in tables:
        table = table_cls()
        reserved = table.jobs.reserved.keys()  # few: one per busy worker
        if not reserved:
            continue
        todo = table.key_source
        for restriction in restrictions:
            todo = todo & restriction
        if any(todo & key for key in reserved):
            return True
    return False


# --------------------------------------------------------------------------- stop signals


def _raise_stop(signum, frame):
    # the same exception DataJoint's SIGTERM handler raises inside populate(reserve_jobs=True), so the make
    # in progress is rolled back and the exception leaves populate even with suppress_errors
    raise SystemExit(f"{signal.Signals(signum).name} received")


def signal_in(err: BaseException) -> str | None:
    """``'SIGTERM'``/``'SIGINT'`` when ``err`` (or what it was raised from) is a stop signal's SystemExit."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, SystemExit) and str(err.code).endswith(" received"):
            name = str(err.code).split()[0]
            if name in ("SIGTERM", "SIGINT"):
                return name
        err = err.__cause__ or err.__context__
    return None


class StopSignals:
    """Install the stop handlers for the duration of a populate (main thread only), then restore the old ones."""

    def __init__(self):
        self.active = threading.current_thread() is threading.main_thread()
        self._old = {}

    def __enter__(self):
        if self.active:
            for signum in STOP_SIGNALS:
                self._old[signum] = signal.signal(signum, _raise_stop)
        return self

    def ignore_further(self) -> None:
        """While stopping: a second signal ends the process at once (the default action)."""
        if self.active:
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)

    def __exit__(self, *exc):
        for signum, handler in self._old.items():
            signal.signal(signum, handler)
        return False


def reconnect(tables) -> None:
    """A fresh connection: the signal may have cut a query in half; closing rolls back what was open."""
    conn = tables[0]().connection
    try:
        conn.close()
    except Exception:  # already broken: reconnecting is the point
        pass
    conn.connect()
    if conn.in_transaction:
        conn.cancel_transaction()


def after_stop(tables, err, child_pids=()) -> tuple[list, list]:
    """Reconnect and re-queue what this process (and its children) held; returns (released, notes)."""
    from tectum.workers import release_jobs

    reconnect(tables)
    notes = list(getattr(err, "notes", ()))
    released = release_jobs([os.getpid(), *getattr(err, "child_pids", child_pids)], tables)
    return released, notes


# --------------------------------------------------------------------------- worker processes


class _StopChildren(BaseException):
    """Raised in the parent after it stopped its worker processes (carries their pids and notes)."""

    def __init__(self, cause: SystemExit, child_pids, notes):
        super().__init__(str(cause))
        self.__cause__ = cause
        self.child_pids = list(child_pids)
        self.notes = list(notes)


def _fan_out(reports, restrictions, processes, loop) -> None:
    """Run ``processes`` worker processes (forked once) until all are done; merge their reports into ``reports``."""
    from tectum.workers import release_jobs

    tables = loop["tables"]
    conn = tables[0]().connection
    # the children must not share the parent's socket: close it, each child opens its own (as DataJoint does)
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    ctx = mp.get_context("fork")
    children = {}
    try:
        for i in range(processes):
            receiver, sender = ctx.Pipe(duplex=False)
            child = ctx.Process(
                target=_child_main, args=(sender, restrictions, loop), name=f"tectum-populate-{i + 1}", daemon=False
            )
            child.start()
            sender.close()
            children[receiver] = child
    finally:
        conn.connect()
    notes = []
    waiting = dict(children)
    try:
        while waiting:
            for receiver in mp.connection.wait(list(waiting), timeout=1.0):
                child = waiting.pop(receiver)
                try:
                    kind, payload = receiver.recv()
                except (EOFError, OSError):
                    kind, payload = "died", None
                child.join(EXIT_TIMEOUT_S)
                if child.is_alive():
                    child.kill()
                    child.join(5)
                    notes.append(
                        f"worker process {child.pid} did not exit {EXIT_TIMEOUT_S:g} s after finishing; killed"
                    )
                if kind in ("done", "stopped"):
                    _merge(reports, payload)
                    if kind == "stopped":
                        notes.append(
                            f"worker process {child.pid} was stopped by a signal; its key in progress is re-queued"
                        )
                elif kind == "failed":
                    raise RuntimeError(f"worker process {child.pid} failed: {payload}")
                else:
                    notes.append(
                        f"worker process {child.pid} ended without a report "
                        f"(exit code {child.exitcode}); its keys are re-queued"
                    )
    except SystemExit as stop:
        if signal_in(stop) is None:
            raise
        notes += _stop_children(children.values())
        raise _StopChildren(stop, [c.pid for c in children.values()], notes) from stop
    except BaseException:
        _stop_children(children.values())
        raise
    for note in notes:
        print(note, file=sys.stderr)
    # the children have exited: whatever they still hold (a child killed or stopped mid-make) is stale
    for line in release_jobs([c.pid for c in children.values()], tables):
        print(line)


def _stop_children(children) -> list[str]:
    """SIGTERM every live child, wait at most STOP_TIMEOUT_S, SIGKILL the rest; returns what had to be said."""
    notes = []
    alive = [c for c in children if c.is_alive()]
    for child in alive:
        child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in alive:
        child.join(max(0.0, deadline - time.monotonic()))
    for child in alive:
        if child.is_alive():
            child.kill()
            child.join(5)
            notes.append(f"worker process {child.pid} did not stop within {STOP_TIMEOUT_S:g} s of SIGTERM; killed")
    return notes


def _merge(reports, child_reports) -> None:
    for child in child_reports:
        report = reports[child.table]
        report.done += child.done
        report.errors.extend(child.errors)


def _child_main(sender, restrictions, loop) -> None:
    """A worker process: the reserve-jobs loop over every table; the parent handles the signals."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the whole process group: the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's SIGTERM (or DataJoint's handler) ends us
    tables = loop["tables"]
    tables[0]().connection.connect()  # our own connection: the parent closed its socket before forking
    reports = {cls.__name__: TableReport(table=cls.__name__, done=0) for cls in tables}
    try:
        _populate_loop(reports, restrictions, **dict(loop, reserve_jobs=True, display_progress=False))
        message = ("done", list(reports.values()))
    except SystemExit as err:
        if signal_in(err) is None:
            message = ("failed", f"SystemExit: {err}")
        else:
            message = ("stopped", list(reports.values()))  # the parent re-queues our keys once we are gone
    except BaseException as err:  # reported to the parent in one line
        message = ("failed", f"{type(err).__name__}: {' '.join(str(err).split())}")
    try:
        sender.send(message)
    except (OSError, ValueError):
        pass
    sender.close()
