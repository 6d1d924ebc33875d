"""Populate every computed table, in dependency order."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .analysis import COMPUTED_TABLES


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
        Worker processes on this machine.
    display_progress : bool
        Show a progress bar per table.
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
    """
    reports = {cls.__name__: TableReport(table=cls.__name__, done=0) for cls in tables}
    idle_since = None
    while True:
        made = 0
        for table_cls in tables:
            result = table_cls().populate(
                *restrictions,
                reserve_jobs=reserve_jobs,
                processes=processes,
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
    for table_cls in tables:
        remaining, total = table_cls().progress(*restrictions, display=False)
        reports[table_cls.__name__].remaining = int(remaining)
        reports[table_cls.__name__].total = int(total)
    return list(reports.values())


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
