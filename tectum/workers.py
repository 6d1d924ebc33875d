"""Job-table housekeeping for several ``tectum populate --reserve-jobs`` workers."""

from __future__ import annotations


def recover_stale_reservations(orphan_timeout: float | None = None) -> list[str]:
    """Re-queue reservations left by workers that died; return what was done, one line each."""
    return []
