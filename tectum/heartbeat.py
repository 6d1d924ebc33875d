"""Heartbeats of ``tectum worker`` processes, and the status lines about them.

A worker keeps its row of :class:`schemas.operations.WorkerHeartbeat` up to
date: :meth:`Heartbeat.start` when it starts, :meth:`Heartbeat.beat` after
every pass and every idle poll, and a background thread on a connection of
its own while a long ``make()`` runs (the main connection is inside the make's
transaction then, and DataJoint connections are not for sharing between
threads). :meth:`Heartbeat.stop` marks the row ``'stopped'``.

Times are the database server's (``LOCALTIMESTAMP(3)``, the same on
MySQL/MariaDB and PostgreSQL), so workers on machines with skewed clocks are
judged alike. :func:`worker_lines` calls a running worker **stale** when its
last heartbeat is older than :data:`STALE_FACTOR` times its poll interval, or
when it ran on this host under a pid that no longer exists: killed outright,
or its machine or connection lost.
"""

from __future__ import annotations

import os
import threading

from .workers import pid_alive, this_host

#: a running worker whose last heartbeat is older than this many poll intervals is stale
STALE_FACTOR = 3
#: the database's clock, without time zone, on both backends
NOW_SQL = "LOCALTIMESTAMP(3)"


def _table():
    from schemas.operations import WorkerHeartbeat

    return WorkerHeartbeat()


def _now(conn):
    return conn.query(f"SELECT {NOW_SQL}").fetchone()[0]


class Heartbeat:
    """The heartbeat row of this worker process.

    Parameters
    ----------
    poll_s : float
        The worker's poll interval (stored, so readers can tell a stale worker).
    restriction : str
        What the worker populates, for the status lines.
    """

    def __init__(self, poll_s: float, restriction: str = ""):
        self.host = this_host()
        self.pid = os.getpid()
        self.poll_s = float(poll_s)
        self.restriction = restriction[:1000]
        self.done = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = None
        self._conn = None

    @property
    def key(self) -> dict:
        return {"host": self.host, "pid": self.pid}

    def start(self) -> None:
        """Insert (or replace: same host and pid means an earlier, gone process) the row as running."""
        table = _table()
        now = _now(table.connection)
        (table & self.key).delete_quick()  # (REPLACE is MySQL's only)
        table.insert1(
            dict(
                self.key,
                started=now,
                last_seen=now,
                poll_s=self.poll_s,
                jobs_done=0,
                jobs_failed=0,
                state="running",
                restriction=self.restriction,
            )
        )

    def beat(self, done: int | None = None, failed: int | None = None, *, state: str = "running") -> None:
        """Record that the worker is alive, with its counts so far."""
        if done is not None:
            self.done = int(done)
        if failed is not None:
            self.failed = int(failed)
        table = _table()
        table.update1(
            dict(self.key, last_seen=_now(table.connection), jobs_done=self.done, jobs_failed=self.failed, state=state)
        )

    def stop(self) -> None:
        """Mark the row stopped (the worker exits cleanly) and close the thread's connection."""
        self.close()
        self.beat(state="stopped")

    # ---- while a pass runs: a thread with its own connection keeps last_seen fresh

    def __enter__(self):
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._keep_beating, args=(_table(),), name="tectum-heartbeat", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return False

    def _own_connection(self, main):
        """The thread's connection, opened once per worker (DataJoint connections are not shared between threads)."""
        if self._conn is None:
            import datajoint as dj

            info = main.conn_info
            self._conn = dj.Connection(
                info["host"],
                info["user"],
                info["passwd"],
                info["port"],
                use_tls=info.get("ssl_input"),
                database_name=info.get("database_name"),
                backend=main.adapter.backend,
            )
        return self._conn

    def _keep_beating(self, table) -> None:
        try:
            conn = self._own_connection(table.connection)
        except Exception:  # no second connection: the beats between makes still happen
            return
        q = conn.adapter.quote_identifier
        sql = (
            f"UPDATE {table.full_table_name} SET {q('last_seen')} = {NOW_SQL} "
            f"WHERE {q('host')} = %s AND {q('pid')} = %s"
        )
        while not self._stop.wait(max(0.2, self.poll_s)):
            try:
                conn.query(sql, args=(self.host, self.pid))  # DataJoint connections autocommit
            except Exception:  # a missed beat; the next one may succeed
                pass

    def close(self) -> None:
        """Close the thread's connection."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None


def worker_lines(*, now=None) -> list[str]:
    """One status line per worker known to the database, most recently seen first.

    ``worker host:pid  running|stale|stopped  since START  last seen N s ago  done N failed N``

    Returns ``[]`` when the operations schema is not there (a database from before it existed,
    opened read-only).
    """
    import schemas
    from schemas import operations

    if not schemas.is_bound(operations):
        return []
    table = _table()
    rows = table.to_dicts(order_by="last_seen DESC")
    if not rows:
        return []
    now = _now(table.connection) if now is None else now
    here = this_host()
    lines = []
    for row in rows:
        age = max(0.0, (now - row["last_seen"]).total_seconds())
        state = _state(row, age, here)
        since = row["started"].strftime("%Y-%m-%d %H:%M:%S")
        lines.append(
            f"worker {row['host']}:{row['pid']}  {state}  since {since}  last seen {age:.0f} s ago  "
            f"done {row['jobs_done']} failed {row['jobs_failed']}"
        )
    return lines


def _state(row: dict, age_s: float, here: str) -> str:
    """running, stale (killed, or its machine or connection lost) or stopped."""
    state = row["state"]
    if state == "running" and (
        age_s > STALE_FACTOR * float(row["poll_s"]) or (row["host"] == here and not pid_alive(row["pid"]))
    ):
        return "stale"
    return state


def forget_workers(days: float, *, dry_run: bool = False, now=None) -> list[str]:
    """Delete the heartbeat rows of workers stopped or stale for more than ``days`` days; one line per row.

    A running worker's row is never deleted, however old its start. With
    ``dry_run`` nothing is deleted and the lines say what would be.
    """
    if days < 0:
        raise ValueError(f"days must be 0 or more, not {days:g}")
    table = _table()
    now = _now(table.connection) if now is None else now
    here = this_host()
    gone = []
    for row in table.to_dicts(order_by="last_seen"):
        age = max(0.0, (now - row["last_seen"]).total_seconds())
        state = _state(row, age, here)
        if state != "running" and age > days * 86400:
            gone.append((row, state, age))
    if gone and not dry_run:
        (table & [{"host": r["host"], "pid": r["pid"]} for r, _, _ in gone]).delete_quick()
    verb = "would forget" if dry_run else "forgot"
    return [
        f"{verb} worker {r['host']}:{r['pid']}  {state}  last seen {age / 86400:.1f} days ago  "
        f"done {r['jobs_done']} failed {r['jobs_failed']}"
        for r, state, age in gone
    ]
