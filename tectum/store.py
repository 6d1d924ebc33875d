"""Object-store housekeeping: files no row refers to any more.

Deleting rows (``Fish.delete()``, ``tectum ingest --replace``) removes them
from the database only; their ``.npy`` files stay in the ``tectum`` store
(a folder or an S3/MinIO bucket) until DataJoint's garbage collector removes
them.  A failed ``make()`` whose transaction was rolled back can leave an
uploaded file behind too.  :func:`collect_store_garbage` runs that collector
over the project's three schemas; ``tectum db gc`` (alias ``tectum gc``) is
its command line. :func:`check_store` is the read-only check ``tectum status``
prints: the files no row refers to, and the rows whose file is gone.

Collecting is safe for other schemas sharing the bucket (DataJoint lists only
these schemas' folders) but not while anyone ingests or populates: a file
uploaded for a row not yet committed looks orphaned.
"""

from __future__ import annotations

__all__ = [
    "collect_store_garbage",
    "garbage_lines",
    "check_store",
    "StoreCheck",
    "MissingFile",
    "is_file_store",
    "size_text",
]

from dataclasses import dataclass, field


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
    collector = _collector()
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


def _schemas() -> tuple:
    import schemas

    return (schemas.reference.schema, schemas.acquisition.schema, schemas.analysis.schema)


def _collector():
    import datajoint as dj

    from schemas.config import STORE

    return dj.gc.GarbageCollector(*_schemas(), store=STORE)


def is_file_store() -> bool:
    """Whether the ``tectum`` store is a folder (cheap to list) rather than a bucket."""
    import datajoint as dj

    from schemas.config import STORE

    return dj.config.get_store_spec(STORE).get("protocol") == "file"


@dataclass
class MissingFile:
    """A row whose object file is not in the store."""

    table: str  # class-like name, e.g. RoiTraces or DeltaF
    key: dict
    attribute: str
    path: str


@dataclass
class StoreCheck:
    """What :func:`check_store` found."""

    stored: int = 0
    stored_bytes: int = 0
    orphaned: list = field(default_factory=list)  # store paths no row refers to
    orphaned_bytes: int = 0
    missing: list = field(default_factory=list)  # MissingFile
    scan_errors: list = field(default_factory=list)


def _covered(path: str, referenced: set) -> bool:
    """Whether a stored file belongs to a referenced object: the object itself, a file under a
    folder-valued object, or its ``.manifest.json`` (DataJoint's garbage collector's rule)."""
    if path.endswith(".manifest.json"):
        path = path[: -len(".manifest.json")]
    while path:
        if path in referenced:
            return True
        path = path.rpartition("/")[0]
    return False


def _references():
    """Every object reference of the project's rows: ``[(table name, key, attribute, path), ...]``."""
    import datajoint as dj

    from schemas.config import STORE

    refs = []
    for schema in _schemas():
        quote = schema.connection.adapter.quote_identifier
        for name in schema.list_tables():  # every table, as DataJoint's collector scans them
            # FreeTable by full name: schema.get_table() reloads the dependency graph for every table
            table = dj.FreeTable(schema.connection, f"{quote(schema.database)}.{quote(name)}")
            heading = table.heading
            attrs = list(heading.schema_objects) + list(heading.hash_objects)
            if not attrs:
                continue
            label = ".".join(dj.utils.to_camel_case(part) for part in name.lstrip("_#").split("__"))
            for row in table.proj(*attrs).cursor(as_dict=True):
                key = {k: row[k] for k in heading.primary_key}
                for attr in attrs:
                    for path, store in heading.attributes[attr].codec.referenced_paths(row[attr]):
                        if store == STORE:
                            refs.append((label, key, attr, path))
    return refs


def check_store() -> StoreCheck:
    """List the store once and compare it with the rows' references (read-only).

    Returns the files of the project's schemas that no row refers to (what
    ``tectum db gc`` would delete) and the rows whose file is not there (their
    results cannot be read: recompute or re-ingest them).
    """
    collector = _collector()
    refs = _references()
    stored: dict[str, int] = {}
    for schema in _schemas():
        stored.update(collector.list_schema_paths(schema.database))
        stored.update(collector.list_hash_paths(schema.database))
    check = StoreCheck(stored=len(stored), stored_bytes=sum(stored.values()))
    check.scan_errors = list(getattr(collector, "_scan_errors", []))
    referenced = {path for *_, path in refs}
    check.orphaned = sorted(p for p in stored if not _covered(p, referenced))
    check.orphaned_bytes = sum(stored[p] for p in check.orphaned)
    # a folder-valued object is present when any file lies under it
    folders = set()
    for p in stored:
        head = p.rpartition("/")[0]
        while head and head not in folders:
            folders.add(head)
            head = head.rpartition("/")[0]
    check.missing = [MissingFile(t, k, a, p) for t, k, a, p in refs if p not in stored and p not in folders]
    return check


def size_text(n: int) -> str:
    """``n`` bytes for people: 96.3 kB, 1.2 GB."""
    return _size(n)


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
            lines.append("store: nothing deleted (dry run); tectum db gc removes them")
    else:
        left = stats.get("not_deleted", [])
        lines.append(f"store: deleted {stats['deleted']} file(s), {stats['errors']} error(s)")
        if left:
            lines.append(
                f"store: {len(left)} file(s) are still there (no permission to delete from the store?), e.g. {left[0]}"
            )
    return lines
