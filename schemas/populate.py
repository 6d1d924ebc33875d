"""Populate every computed table, in dependency order."""

from __future__ import annotations

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

    Returns
    -------
    list of TableReport
    """
    reports = []
    for table_cls in tables:
        table = table_cls()
        result = table.populate(
            *restrictions,
            reserve_jobs=reserve_jobs,
            processes=processes,
            display_progress=display_progress,
            suppress_errors=keep_going,
        )
        remaining, total = table.progress(*restrictions, display=False)
        reports.append(
            TableReport(
                table=table_cls.__name__,
                done=int(result.get("success_count", 0)),
                errors=list(result.get("error_list", [])),
                remaining=int(remaining),
                total=int(total),
            )
        )
    return reports
