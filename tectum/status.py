"""What is ingested, populated, pending or failed."""

from __future__ import annotations


def status_lines() -> list[str]:
    """Human-readable status of the database, one line per item."""
    import schemas
    from schemas import acquisition, analysis, reference

    schemas.activate()

    from .workers import find_stale_jobs

    lines = [
        f"schemas: {reference.schema.database}, {acquisition.schema.database}, {analysis.schema.database}",
        f"ingested: {len(acquisition.Fish())} fish, {len(acquisition.Recording())} recordings, "
        f"{len(acquisition.RoiTraces.Roi())} ROIs; parameter sets: "
        + ", ".join(reference.ParamSet().to_arrays("paramset")),
    ]
    failures = []
    for table_cls in analysis.COMPUTED_TABLES:
        table = table_cls()
        remaining, total = table.progress(display=False)
        jobs = table.jobs.progress()
        extra = ""
        if jobs["total"]:
            stale = len(find_stale_jobs(table, lost_connections=False)) if jobs["reserved"] else 0
            extra = f"; jobs: {jobs['reserved'] - stale} running, {jobs['error']} failed, {jobs['pending']} queued"
            if stale:
                extra += f", {stale} left by a dead worker (populate --reserve-jobs re-queues them)"
        lines.append(f"{table_cls.__name__:<18} {total - remaining}/{total} populated, {remaining} pending{extra}")
        if jobs["error"]:
            for row in table.jobs.errors.to_dicts():
                key = ", ".join(f"{k}={row[k]}" for k in table.primary_key if k in row)
                failures.append(f"  failed {table_cls.__name__} [{key}]: {row['error_message']}")
    return lines + failures
