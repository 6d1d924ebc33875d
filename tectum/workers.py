"""Job-table housekeeping for several ``tectum populate --reserve-jobs`` workers.

With ``--reserve-jobs`` every computed table uses DataJoint's job table
(``table.jobs``): a worker sets a key's job row to ``'reserved'`` (recording
``host``, ``pid`` and ``connection_id``), runs ``make()`` in one transaction
and then marks the row ``'success'`` (or deletes it) or ``'error'``. A worker
that dies in between (SIGKILL, the OOM killer, a reboot) never does the last
step: its transaction is rolled back by the server, but the row stays
``'reserved'`` and DataJoint's ``refresh()`` never re-queues it, so the key
would never be computed. :func:`recover_stale_reservations` (run by
``tectum populate --reserve-jobs`` before populating) puts such keys back in
the queue:

* a reservation made on **this host** (DataJoint records ``platform.node()``)
  by a process that no longer exists (or is a zombie) is stale;
* with ``orphan_timeout``, a reservation older than that many seconds is
  stale whatever host made it (DataJoint's notion of an orphaned job) — for
  workers on other machines that died; choose it longer than any ``make()``;
* a job that failed with a lost database connection (the server restarted,
  the connection was killed) is re-queued too: the failure says nothing about
  the data, and a rerun should simply compute it;
* so is a job whose ``make()`` was interrupted by a stop signal and recorded
  as an error (``SystemExit: SIGTERM received`` is what DataJoint's SIGTERM
  handler in ``populate(reserve_jobs=True)`` leaves; ``KeyboardInterrupt``
  what Ctrl-C left before ``tectum populate`` handled signals itself).
  Current releases re-queue their own interrupted key as they stop
  (:func:`release_jobs`); this catches the rows older releases left.

What is deliberately *not* used: whether the reserving ``connection_id`` is
still open on the server. DataJoint 2.3.5 does not update
``Connection.connection_id`` after a silent reconnect, so a live worker can
hold reservations under a connection id that is gone; MySQL shows other
accounts' sessions only with the PROCESS privilege; and the query differs per
backend (``information_schema.PROCESSLIST`` / ``pg_stat_activity``). A dead
id would therefore not prove a dead worker.

Re-queueing deletes the job row only while it is still the same stale
reservation (same status, host, pid, connection id), then inserts it as
``'pending'`` with its old priority if the key still needs computing, so two
workers recovering at once, or a worker reserving the key in between, cannot
lose or duplicate a job. (DataJoint's own ``jobs.refresh(orphan_timeout=...)``
deletes by key alone, which could delete a reservation a live worker made a
moment earlier, and it also queues every key of the unrestricted key source;
hence the conditional delete here.) Everything goes through DataJoint's table
API; the only SQL is the age condition, written with DataJoint's backend
adapter, so it works on MySQL/MariaDB and PostgreSQL alike.

Limits: the same-host rule assumes host names are unique among the machines
sharing the database (two machines both called ``localhost`` would judge each
other's pids); a dead worker's pid reused by an unrelated process makes its
reservation look alive (nothing is recovered wrongly, ``orphan_timeout`` still
catches it).
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass

#: markers of an error message left by a lost database connection
LOST_CONNECTION_MARKERS = (
    "LostConnectionError",
    "Lost connection to MySQL server",
    "MySQL server has gone away",
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",
    "connection already closed",
)

#: how the error message of a ``make()`` interrupted by a stop signal begins: DataJoint's SIGTERM handler
#: raises ``SystemExit("SIGTERM received")``, tectum's own handlers the same for SIGINT, and a Ctrl-C that
#: reached DataJoint as such was recorded as ``KeyboardInterrupt``
INTERRUPTED_MARKERS = ("SystemExit: SIGTERM received", "SystemExit: SIGINT received", "KeyboardInterrupt")


def is_lost_connection(err: BaseException) -> bool:
    """Whether ``err`` (or an exception it was raised from) is a lost database connection.

    DataJoint raises :class:`datajoint.errors.LostConnectionError` on MySQL; on PostgreSQL a
    terminated session surfaces as psycopg2's ``OperationalError``/``InterfaceError``.
    """
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if type(err).__name__ == "LostConnectionError":
            return True
        if type(err).__name__ in ("OperationalError", "InterfaceError") and any(
            marker in str(err) for marker in LOST_CONNECTION_MARKERS
        ):
            return True
        err = err.__cause__ or err.__context__
    return False


def this_host() -> str:
    """The host name as DataJoint records it in a job's ``host`` column (``platform.node()``)."""
    return platform.node()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie.

    A pid that cannot be judged (0, negative) counts as alive, so nothing is
    recovered on a guess; so does a process of another user (``PermissionError``).
    """
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return True
    if pid <= 0:
        return True  # os.kill(0, ...) would address our own process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped by its parent still answers signal 0
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True  # no /proc (macOS): signal 0 is all we know


@dataclass
class StaleJob:
    """A job row that should go back to the queue, and why."""

    table: str
    key: dict
    row: dict
    reason: str

    def line(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        return f"re-queued {self.table} [{key}]: {self.reason}"


def _job_key(jobs, row: dict) -> dict:
    return {k: row[k] for k in jobs.primary_key}


def _orphan_condition(jobs, orphan_timeout: float) -> str:
    seconds = max(1, int(math.ceil(float(orphan_timeout))))
    return f"reserved_time < CURRENT_TIMESTAMP - {jobs.adapter.interval_expr(seconds, 'second')}"


def find_stale_jobs(table, orphan_timeout: float | None = None, *, lost_connections: bool = True) -> list[StaleJob]:
    """The job rows of one computed table that :func:`recover_stale_reservations` would re-queue.

    Read-only. ``table`` is a computed table class or instance. With ``lost_connections``
    (default) also the failed jobs whose error says nothing about the data: a lost database
    connection, a make interrupted by a stop signal; without it only stale reservations.
    """
    jobs = table.jobs
    name = table.__name__ if isinstance(table, type) else type(table).__name__
    columns = ("host", "pid", "connection_id", "reserved_time", "priority", "status")
    stale = []
    reserved = jobs.reserved.proj(*columns).to_dicts()
    if reserved:
        old = set()
        if orphan_timeout is not None and orphan_timeout > 0:
            old = {tuple(sorted(k.items())) for k in (jobs.reserved & _orphan_condition(jobs, orphan_timeout)).keys()}
        host = this_host()
        me = os.getpid()
        for row in reserved:
            key = _job_key(jobs, row)
            if row["host"] == host and (row["pid"] == me or not pid_alive(row["pid"])):
                # our own pid: this process reserves nothing before it populates, so the
                # row is from an earlier process that had the same pid (containers: pid 1)
                reason = f"worker pid {row['pid']} on {row['host']} is no longer running"
            elif tuple(sorted(key.items())) in old:
                reason = (
                    f"reserved by pid {row['pid']} on {row['host'] or '?'} at {row['reserved_time']}, "
                    f"more than {orphan_timeout:g} s ago"
                )
            else:
                continue
            stale.append(StaleJob(name, key, row, reason))
    if lost_connections:  # errors that say nothing about the data
        for row in jobs.errors.proj("error_message", "priority", "status").to_dicts():
            message = row["error_message"] or ""
            if was_interrupted(message):
                stale.append(StaleJob(name, _job_key(jobs, row), row, f"interrupted by a stop signal ({message})"))
            elif was_superseded(message):
                stale.append(StaleJob(name, _job_key(jobs, row), row, "its recording was replaced during the make"))
            elif any(marker in message for marker in LOST_CONNECTION_MARKERS):
                stale.append(
                    StaleJob(
                        name,
                        _job_key(jobs, row),
                        row,
                        f"failed on a lost database connection ({message.split(':')[0]})",
                    )
                )
    return stale


def was_interrupted(error_message: str | None) -> bool:
    """Whether a job's error message is that of a ``make()`` stopped by SIGTERM/SIGINT (not a failure)."""
    message = (error_message or "").strip()
    return any(message == marker or message.startswith(marker + ":") for marker in INTERRUPTED_MARKERS)


def was_superseded(error_message: str | None) -> bool:
    """Whether a job failed only because its recording was replaced or deleted during the make.

    ``make()`` then saved nothing (``schemas.analysis.InputsChanged``); computing the key again
    reads the new inputs, so the job is queued again rather than left as a failure.
    """
    message = (error_message or "").strip()
    return message.startswith("InputsChanged:") and "while" in message and "was being computed" in message


def _requeue(table, stale: StaleJob) -> bool:
    """Delete the stale row if it is unchanged; queue the key again if it still needs computing."""
    jobs = table.jobs
    row = stale.row
    if row["status"] == "reserved":
        condition = dict(
            stale.key, status="reserved", host=row["host"], pid=row["pid"], connection_id=row["connection_id"]
        )
    else:
        condition = dict(stale.key, status=row["status"])
    if not (jobs & condition).delete_quick(get_count=True):
        return False  # someone else got there first
    if (table.key_source & stale.key) and not (table & stale.key):
        from datajoint.errors import DuplicateError

        try:
            jobs.insert1(dict(stale.key, status="pending", priority=row["priority"]))
        except DuplicateError:
            pass  # another worker's refresh queued it meanwhile
    return True


def recover_stale_reservations(orphan_timeout: float | None = None, tables=None) -> list[str]:
    """Re-queue reservations left by workers that died; return what was done, one line each.

    Parameters
    ----------
    orphan_timeout : float, optional
        Also re-queue reservations older than this many seconds, from any host.
        Without it only reservations of dead processes on this host are recovered.
    tables : sequence of computed tables, optional
        Default: every table of :data:`schemas.analysis.COMPUTED_TABLES`.

    Call it while this process is not populating (``tectum populate`` does, before it starts).
    """
    if tables is None:
        from schemas.analysis import COMPUTED_TABLES as tables
    lines = []
    for table_cls in tables:
        table = table_cls() if isinstance(table_cls, type) else table_cls
        for stale in find_stale_jobs(table, orphan_timeout):
            if _requeue(table, stale):
                lines.append(stale.line())
    return lines


def release_jobs(pids, tables=None, *, host: str | None = None) -> list[str]:
    """Put the keys that processes ``pids`` of this host hold back in the queue; return one line each.

    For a worker that is stopping (or its child processes, once they have
    exited): its reservations, and the keys whose ``make()`` a stop signal
    interrupted (recorded by DataJoint as an error), become ``'pending'``
    again, so the next worker computes them. Other errors stay errors.
    """
    if tables is None:
        from schemas.analysis import COMPUTED_TABLES as tables
    host = this_host() if host is None else host
    pids = [int(pid) for pid in pids]
    lines = []
    for table_cls in tables:
        table = table_cls() if isinstance(table_cls, type) else table_cls
        jobs = table.jobs
        name = type(table).__name__
        mine = jobs & {"host": host} & [{"pid": pid} for pid in pids]
        columns = ("host", "pid", "connection_id", "reserved_time", "priority", "status", "error_message")
        for row in (mine & "status in ('reserved', 'error')").proj(*columns).to_dicts():
            if row["status"] == "error" and not was_interrupted(row["error_message"]):
                continue
            reason = "its worker stopped" if row["status"] == "reserved" else "interrupted by a stop signal"
            stale = StaleJob(name, _job_key(jobs, row), row, f"{reason} (pid {row['pid']})")
            if _requeue(table, stale):
                lines.append(stale.line())
    return lines
