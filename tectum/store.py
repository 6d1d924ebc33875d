"""Object-store housekeeping: files no row refers to any more.

Deleting rows (``Fish.delete()``, ``tectum ingest --replace``) removes them
from the database only; their ``.npy`` files stay in the ``tectum`` store
(a folder or an S3/MinIO bucket) until DataJoint's garbage collector removes
them.  A failed ``make()`` whose transaction was rolled back can leave an
uploaded file behind too.  :func:`collect_store_garbage` runs that collector
over the project's three schemas; ``tectum gc`` is its command line.

Collecting is safe for other schemas sharing the bucket (DataJoint lists only
these schemas' folders) but not while anyone ingests or populates: a file
uploaded for a row not yet committed looks orphaned.
"""

from __future__ import annotations

__all__ = ["collect_store_garbage", "garbage_lines"]


def collect_store_garbage(*, delete: bool = False) -> dict:
    """Report (and with ``delete=True`` remove) files of the ``tectum`` store that no row refers to.

    Returns DataJoint's statistics (``datajoint.gc.GarbageCollector.collect``):
    ``schema_paths_referenced``, ``schema_paths_stored``,
    ``schema_paths_orphaned``, ``schema_paths_orphaned_bytes``,
    ``orphaned_schema_paths``, ``deleted``, ``bytes_freed``, ``errors`` ...
    With ``delete=True`` the store is listed again afterwards: ``deleted``
    counts the files that are really gone, ``not_deleted`` lists those still
    there (an S3 user without delete permission gets no error from
    DataJoint otherwise), and each counts as an error.
    """
    import datajoint as dj

    import schemas
    from schemas.config import STORE

    collector = dj.gc.GarbageCollector(
        schemas.reference.schema, schemas.acquisition.schema, schemas.analysis.schema, store=STORE
    )
    stats = collector.collect(dry_run=not delete)
    if delete:
        # S3 bulk deletes answer 200 with per-file errors (e.g. AccessDenied), which s3fs drops;
        # so DataJoint's count is checked against a second listing
        after = collector.collect(dry_run=True)
        targeted = set(stats["orphaned_schema_paths"]) | set(stats["orphaned_hash_paths"])
        left = sorted(targeted & (set(after["orphaned_schema_paths"]) | set(after["orphaned_hash_paths"])))
        stats["not_deleted"] = left
        stats["deleted"] = len(targeted) - len(left)
        stats["errors"] = max(stats["errors"], len(left))
    return stats


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def garbage_lines(stats: dict) -> list[str]:
    """What :func:`collect_store_garbage` found or did, for the command line."""
    stored = stats["schema_paths_stored"] + stats["hash_paths_stored"]
    orphaned = stats["schema_paths_orphaned"] + stats["hash_paths_orphaned"]
    size = stats["schema_paths_orphaned_bytes"] + stats["hash_paths_orphaned_bytes"]
    lines = [f"store: {stored} file(s), {orphaned} not referenced by any row ({_size(size)})"]
    if stats["dry_run"]:
        if orphaned:
            lines.append("store: nothing deleted; run with --delete to remove them")
    else:
        left = stats.get("not_deleted", [])
        lines.append(f"store: deleted {stats['deleted']} file(s), {stats['errors']} error(s)")
        if left:
            lines.append(f"store: {len(left)} file(s) are still there (no permission to delete from the "
                         f"store?), e.g. {left[0]}")
    return lines
