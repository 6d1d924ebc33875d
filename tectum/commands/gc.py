"""``tectum db gc [--dry-run]`` (alias ``tectum gc [--delete]``): store files no row refers to.

One implementation, two spellings: ``tectum db gc`` deletes unless
``--dry-run``; the older ``tectum gc`` only counts unless ``--delete``.
"""

from __future__ import annotations

from ._common import connect

DESCRIPTION = (
    "Deleted rows leave their .npy files in the object store; DataJoint's garbage collector finds the "
    "files of the project's schemas that no row refers to. Run it when nobody ingests or populates (a "
    "file uploaded for a row not yet committed looks orphaned). Deleting needs delete permission on "
    "the store. See docs/object-store.md."
)


def collect(delete: bool) -> int:
    """Count (and with ``delete`` remove) the unreferenced store files; print what was done; exit code."""
    from ..store import collect_store_garbage, garbage_lines

    connect(create_tables=False)
    stats = collect_store_garbage(delete=delete)
    for line in garbage_lines(stats):
        print(line)
    return 1 if stats["errors"] else 0


def add_db_action(sub) -> None:
    """Add ``gc`` to the ``tectum db`` actions (see :func:`tectum.roles.add_db_arguments`)."""
    p = sub.add_parser(
        "gc", help="remove store files no row refers to (--dry-run: only count them)", description=DESCRIPTION
    )
    p.add_argument("--dry-run", action="store_true", help="only count the files; delete nothing")
    p.set_defaults(db_func=lambda args: collect(delete=not args.dry_run))


def register(sub) -> None:
    p = sub.add_parser(
        "gc",
        help="alias of tectum db gc, counting only unless --delete",
        description=DESCRIPTION + " Without --delete nothing is removed (tectum db gc --dry-run).",
    )
    p.add_argument("--delete", action="store_true", help="remove the files found")
    p.set_defaults(func=lambda args: collect(delete=args.delete))
